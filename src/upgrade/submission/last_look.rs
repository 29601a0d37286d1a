//! The last look before an upgrade is submitted ([`LastLook`], its [`Verdict`]; where it
//! stands in a submission: [`super`]). After however long flow control made the
//! submission wait for its quota, an upgrade run meanwhile by another configuration, the
//! console or an interrupted apply has changed the version ([`Stop::UpgradedMeanwhile`]);
//! an instance shown busy may be running one that ends before the request arrives, when
//! no busy answer would stop it ([`Stop::Busy`]); and a minor version released meanwhile
//! changes the target nobody reviewed ([`Stop::TargetMoved`], unless newer targets are
//! accepted).
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

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::rds::{Api, CallCtx, RdsClient, RdsError};
use crate::upgrade::catalog::Catalog;
use crate::upgrade::target::{Drift, Target};

/// The youngest [`max_age`].
const MIN_AGE: Duration = Duration::from_secs(5);

/// How old the shared listing may be for the last look: `MIN_AGE` (5 s), or eight times
/// what reading `instances` instances again costs of the listing API's quota (pages of
/// 100 at `spacing` each), when that is more.
pub fn max_age(instances: usize, spacing: Duration) -> Duration {
    let pages = Api::ListInstances.pages(instances) as u32;
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

/// What the last look concluded ([`LastLook::verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send the upgrade. `target`: how its target compared with the reviewed one (None:
    /// no reviewed target, or the versions could not be read again); a moved target is
    /// only sent when newer ones are accepted.
    Send { target: Option<Drift> },
    /// Do not send it: the slot reserved for it is given back unspent.
    Stop(Stop),
}

/// Why the last look keeps an upgrade from being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The instance runs `now`, not the version the checks saw (`checked`): it was
    /// upgraded meanwhile.
    UpgradedMeanwhile { checked: String, now: String },
    /// The listing shows the instance with `status`, not ACTIVE: an operation is under
    /// way.
    Busy { status: String },
    /// The upgrade would install `now`, not the `reviewed` target the plan showed (and
    /// newer targets are not accepted).
    TargetMoved { reviewed: String, now: String },
}

impl Stop {
    /// Why, in a sentence about instance `instance_id`.
    pub fn reason(&self, instance_id: &str) -> String {
        match self {
            Stop::UpgradedMeanwhile { checked, now } => format!(
                "instance {instance_id} runs {now}, not {checked} as checked: it was upgraded meanwhile"
            ),
            Stop::Busy { status } => {
                format!("instance {instance_id} has status {status}: an operation is under way")
            }
            Stop::TargetMoved { reviewed, now } => format!(
                "the upgrade of instance {instance_id} would install {now}, not {reviewed} as the plan showed"
            ),
        }
    }
}

/// The last look at an instance before its upgrade is sent: that it still runs
/// `version`, is ACTIVE, and that the upgrade still installs the reviewed target.
pub struct LastLook<'a> {
    catalog: &'a Arc<Catalog>,
    client: &'a RdsClient,
    ctx: &'a CallCtx,
    instance_id: &'a str,
    version: &'a str,
    target: Option<ReviewedTarget<'a>>,
}

impl<'a> LastLook<'a> {
    pub fn new(
        catalog: &'a Arc<Catalog>,
        client: &'a RdsClient,
        ctx: &'a CallCtx,
        instance_id: &'a str,
        version: &'a str,
    ) -> Self {
        LastLook {
            catalog,
            client,
            ctx,
            instance_id,
            version,
            target: None,
        }
    }

    /// Checks the upgrade's target too.
    pub fn with_target(mut self, target: ReviewedTarget<'a>) -> Self {
        self.target = Some(target);
        self
    }

    /// Takes the last look, once the submission's quota slot is reserved and right before it
    /// is sent (again each time the request is sent back to wait for its quota). `Err`
    /// is a cancellation or the deadline only: a listing or versions that cannot be read
    /// leave the upgrade to be sent, as it would have been without the last look (the busy
    /// answer and the task center still guard against a second upgrade).
    pub async fn verdict(&self) -> Result<Verdict, RdsError> {
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
                    tracing::debug!(instance_id = self.instance_id, error = %e, "cannot read the instance listing before submitting; submitting");
                    None
                }
            },
        };
        if let Some(instance) = all
            .iter()
            .flat_map(|all| all.iter())
            .find(|i| i.id == self.instance_id)
        {
            match &instance.datastore.complete_version {
                Some(now) if now != self.version => {
                    return Ok(Verdict::Stop(Stop::UpgradedMeanwhile {
                        checked: self.version.to_string(),
                        now: now.clone(),
                    }));
                }
                _ if !instance.status.eq_ignore_ascii_case("active") => {
                    return Ok(Verdict::Stop(Stop::Busy {
                        status: instance.status.clone(),
                    }));
                }
                _ => {}
            }
        }
        match self.target {
            Some(target) => self.check_target(target).await,
            None => Ok(Verdict::Send { target: None }),
        }
    }

    /// The latest minor version read again (within the same age as the listing): a
    /// moved target keeps the request from being sent unless newer ones are accepted.
    async fn check_target(&self, target: ReviewedTarget<'_>) -> Result<Verdict, RdsError> {
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
            Ok(None) => return Ok(Verdict::Send { target: None }),
            Err(e @ (RdsError::Cancelled | RdsError::Timeout(_))) => return Err(e),
            Err(e) => {
                // As with the listing: the plan's target stands when it cannot be read again.
                tracing::warn!(instance_id = self.instance_id, error = %e, "cannot read the versions again before submitting; submitting for the target the plan showed");
                return Ok(Verdict::Send { target: None });
            }
        };
        let drift = Drift::between(target.version, &now);
        match drift {
            Drift::Moved { reviewed, now } if !target.accept_newer => {
                Ok(Verdict::Stop(Stop::TargetMoved { reviewed, now }))
            }
            Drift::Moved {
                ref reviewed,
                ref now,
            } => {
                tracing::info!(
                    instance_id = self.instance_id,
                    reviewed,
                    now,
                    "a newer minor version than the plan showed; installing it (accept_newer_target)"
                );
                Ok(Verdict::Send {
                    target: Some(drift),
                })
            }
            Drift::Unchanged => Ok(Verdict::Send {
                target: Some(drift),
            }),
        }
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
