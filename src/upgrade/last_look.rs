//! The last look before an upgrade is submitted ([`VersionUnchanged`]): once the
//! submission's quota slot is granted, and right before it is sent, the instance must
//! still run the version the checks saw, and be ACTIVE, and the upgrade must still
//! install the target the plan showed ([`ReviewedTarget`]). Under flow control a
//! submission can wait many minutes for its slot (a fleet's last one (N − 1)/60
//! minutes); an upgrade another configuration, the console or an interrupted apply ran
//! meanwhile changed the version, and submitting then would upgrade the instance a
//! second time. An instance the listing shows busy (not ACTIVE) may be running such an
//! upgrade that ends before the request arrives, when the busy answer that would have
//! stopped it no longer comes: it is not sent, and the submission finds out what keeps
//! the instance busy as after a busy answer ([`super::submit_once`]). A minor version
//! released meanwhile changed the target, and submitting then would install a version
//! nobody reviewed (unless the user accepts newer targets).
//!
//! What it costs: nothing per submission. It reads the process's shared instance
//! listing ([`Catalog::snapshot`]) when that is no older than [`max_age`] (5 s, or more
//! for a large project under a small quota, so that reading it again spends at most a
//! quarter of the listing API's quota), and reads it again in the background at half
//! that age, so that the submissions queued behind do not wait for it. The latest
//! version of the instance's engine and major version is read again on the same terms
//! ([`Catalog::latest_version_within`]): one versions request per such age, shared by
//! the fleet. What it leaves out: an upgrade that did not show yet in the listing it read
//! and finished before the request was sent, all within that age and a new job's delay
//! in showing (upgrades take minutes); one still running is refused as busy by the API,
//! and adopted; a version released within that age.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::catalog::Catalog;
use super::target::{Drift, Target};
use crate::rds::{Api, BeforeSend, CallCtx, RdsClient, RdsError};

/// The youngest [`max_age`].
const MIN_AGE: Duration = Duration::from_secs(5);

/// How old the shared listing may be for the last look: `MIN_AGE` (5 s), or eight times
/// what reading `instances` instances again costs of the listing API's quota (pages of
/// 100 at `spacing` each), when that is more.
pub fn max_age(instances: usize, spacing: Duration) -> Duration {
    let pages = instances.div_ceil(100).max(1) as u32;
    MIN_AGE.max(spacing * pages * 8)
}

/// The target an upgrade was planned with, for the last look to check.
#[derive(Debug, Clone, Copy)]
pub struct ReviewedTarget<'a> {
    /// The version the plan showed (`target_version`).
    pub version: &'a str,
    /// The instance's engine and major version, whose latest minor version is the target.
    pub engine: &'a str,
    pub major: &'a str,
    /// Submit all the same when the target moved (`accept_newer_target`).
    pub accept_newer: bool,
}

/// Checks that the instance still runs `version`, is ACTIVE, and that the upgrade still
/// installs the reviewed target, right before its upgrade is sent.
pub struct VersionUnchanged<'a> {
    catalog: &'a Arc<Catalog>,
    client: &'a RdsClient,
    ctx: &'a CallCtx,
    instance_id: &'a str,
    version: &'a str,
    target: Option<ReviewedTarget<'a>>,
    /// The version found instead, once the look refused.
    changed: Mutex<Option<String>>,
    /// How the target compared, once it was looked at.
    drift: Mutex<Option<Drift>>,
    /// The status found instead of ACTIVE by the latest look, when it refused for it.
    busy: Mutex<Option<String>>,
}

impl<'a> VersionUnchanged<'a> {
    pub fn new(
        catalog: &'a Arc<Catalog>,
        client: &'a RdsClient,
        ctx: &'a CallCtx,
        instance_id: &'a str,
        version: &'a str,
    ) -> Self {
        VersionUnchanged {
            catalog,
            client,
            ctx,
            instance_id,
            version,
            target: None,
            changed: Mutex::new(None),
            drift: Mutex::new(None),
            busy: Mutex::new(None),
        }
    }

    /// Checks the upgrade's target too.
    pub fn with_target(mut self, target: ReviewedTarget<'a>) -> Self {
        self.target = Some(target);
        self
    }

    /// How the target compared with the reviewed one at the last look (None: not looked
    /// at). A moved target kept the request from being sent unless newer ones are accepted.
    pub fn drift(&self) -> Option<Drift> {
        self.drift.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The version the instance ran instead, when the look kept the upgrade from being sent.
    pub fn changed(&self) -> Option<String> {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The status the instance had instead of ACTIVE, when the latest look kept the
    /// upgrade from being sent for it.
    pub fn busy(&self) -> Option<String> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the listing again in the background unless it is younger than `age` by
    /// then (one reading at a time).
    fn relist_in_background(&self, age: Duration) {
        if self.catalog.relisting() {
            return;
        }
        let (catalog, client) = (self.catalog.clone(), self.client.clone());
        tokio::spawn(async move {
            let ctx = CallCtx::new(CancellationToken::new())
                .with_deadline(tokio::time::Instant::now() + Duration::from_secs(120));
            if let Err(e) = catalog.listed_within(&client, &ctx, age).await {
                tracing::debug!(error = %e, "reading the instance listing again failed");
            }
        });
    }
}

#[async_trait]
impl BeforeSend for VersionUnchanged<'_> {
    async fn before_send(&self) -> Result<(), RdsError> {
        let spacing = self.client.api_pace(Api::ListInstances).spacing();
        let snapshot = self.catalog.snapshot();
        let size = snapshot.as_ref().map_or(0, |(_, all)| all.len());
        let limit = max_age(size, spacing);
        let all = match snapshot {
            Some((age, all)) if age <= limit => {
                if age > limit / 2 {
                    self.relist_in_background(limit / 2);
                }
                Some(all)
            }
            _ => match self
                .catalog
                .listed_within(self.client, self.ctx, limit)
                .await
            {
                Ok(all) => Some(all),
                Err(e @ (RdsError::Cancelled | RdsError::Timeout(_))) => return Err(e),
                Err(e) => {
                    // Not worse than sending without the look; the busy answer and the
                    // task center still guard against a second upgrade.
                    tracing::debug!(instance_id = self.instance_id, error = %e, "cannot read the instance listing before submitting; submitting");
                    None
                }
            },
        };
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(instance) = all
            .iter()
            .flat_map(|all| all.iter())
            .find(|i| i.id == self.instance_id)
        {
            match &instance.datastore.complete_version {
                Some(now) if now != self.version => {
                    let reason = format!(
                        "instance {} runs {now}, not {} as checked: it was upgraded meanwhile",
                        self.instance_id, self.version
                    );
                    *self.changed.lock().unwrap_or_else(|e| e.into_inner()) = Some(now.clone());
                    return Err(RdsError::NotSent(reason));
                }
                _ if !instance.status.eq_ignore_ascii_case("active") => {
                    let reason = format!(
                        "instance {} has status {}: an operation is under way",
                        self.instance_id, instance.status
                    );
                    *self.busy.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(instance.status.clone());
                    return Err(RdsError::NotSent(reason));
                }
                _ => {}
            }
        }
        match self.target {
            Some(target) => self.check_target(target).await,
            None => Ok(()),
        }
    }
}

impl VersionUnchanged<'_> {
    /// The latest minor version read again (within the same age as the listing): a
    /// moved target keeps the request from being sent unless newer ones are accepted.
    async fn check_target(&self, target: ReviewedTarget<'_>) -> Result<(), RdsError> {
        let api = if target.engine.eq_ignore_ascii_case("postgresql") {
            Api::SmallVersions
        } else {
            Api::Datastores
        };
        let limit = max_age(0, self.client.api_pace(api).spacing());
        let latest = self
            .catalog
            .latest_version_within(self.client, self.ctx, target.engine, target.major, limit)
            .await;
        let now = match latest {
            Ok(Some(latest)) => Target::Version(latest),
            Ok(None) => return Ok(()),
            Err(e @ (RdsError::Cancelled | RdsError::Timeout(_))) => return Err(e),
            Err(e) => {
                // As with the listing: the plan's target stands when it cannot be read again.
                tracing::warn!(instance_id = self.instance_id, error = %e, "cannot read the versions again before submitting; submitting for the target the plan showed");
                return Ok(());
            }
        };
        let drift = Drift::between(target.version, &now);
        *self.drift.lock().unwrap_or_else(|e| e.into_inner()) = Some(drift.clone());
        match drift {
            Drift::Moved { reviewed, now } if !target.accept_newer => {
                Err(RdsError::NotSent(format!(
                    "the upgrade of instance {} would install {now}, not {reviewed} as the plan showed",
                    self.instance_id
                )))
            }
            Drift::Moved { reviewed, now } => {
                tracing::info!(
                    instance_id = self.instance_id,
                    reviewed,
                    now,
                    "a newer minor version than the plan showed; installing it (accept_newer_target)"
                );
                Ok(())
            }
            Drift::Unchanged => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_may_age_with_the_cost_of_reading_it_again() {
        let second = Duration::from_secs(1);
        // A small project: 5 s whatever the quota.
        assert_eq!(max_age(40, second / 10), MIN_AGE);
        assert_eq!(max_age(0, second), Duration::from_secs(8));
        // 1000 instances are 10 pages: at the standard 60 per minute, 80 s.
        assert_eq!(max_age(1000, second), Duration::from_secs(80));
        assert_eq!(max_age(1000, second / 10), Duration::from_secs(8));
    }
}
