//! Where the facts about instances come from: the latest minor version of an engine's
//! major version, derived from the versions API (no API states it per instance), and
//! [`Catalog`], the per-process cache behind the plan checks and data sources: one paginated listing of the
//! project's instances and one versions lookup per engine and major version, shared by
//! every resource and data source, so planning 500 upgrades costs a handful of requests;
//! one listing of the running upgrades for the creates of an apply, and one of the
//! disaster-recovery relations for the plans of PostgreSQL instances. The instance
//! listing and a latest version are read again, when asked for one no older than some
//! age or read after some moment, for the last look before a submission
//! ([`super::last_look`]), for the checks' second reading of an instance after a look
//! at the task center ([`super::under_way`]), and for the versions of instances whose
//! jobs the tracker saw finish ([`super::tracking`]); readers keep the one before
//! meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{Mutex, OnceCell};

use super::facts::{InstanceFacts, compare_versions};
use super::job;
use crate::rds::models::{DrRelation, Instance, ScheduledTask, Task};
use crate::rds::{CallCtx, InstanceFilter, RdsClient, RdsError};

/// Why the facts of an instance could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum FactsError {
    /// No instance has the id in this project and region.
    NotFound,
    /// Looking the instance up failed.
    Lookup(RdsError),
    /// Listing the versions of its engine failed.
    Versions { engine: String, error: RdsError },
}

/// An engine (lower case) and one of its major versions, e.g. (`mysql`, `8.0`).
type MajorVersion = (String, String);

/// Cached instance listing and latest versions of one provider process.
#[derive(Default)]
pub struct Catalog {
    /// The instance listing, and when it was read.
    listing: std::sync::Mutex<Option<(Instant, Arc<Vec<Instance>>)>>,
    /// Held while the listing is read again: one reading at a time, while the others
    /// keep using the listing before it.
    relisting: Mutex<()>,
    /// Per (engine, major version): the latest minor version, and when it was read.
    latest: Mutex<HashMap<MajorVersion, (Instant, Option<String>)>>,
    running: OnceCell<Arc<Vec<Task>>>,
    /// The project's scheduled tasks, until this process submits a delayed upgrade.
    scheduled: Mutex<Option<Arc<Vec<ScheduledTask>>>>,
    /// The project's disaster-recovery relations, listed once per process.
    dr_relations: OnceCell<Arc<Vec<DrRelation>>>,
}

impl Catalog {
    /// Every instance of the project, listed once per process (errors are not cached).
    pub async fn all(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
    ) -> Result<Arc<Vec<Instance>>, RdsError> {
        self.listed(client, ctx, None).await
    }

    /// Every instance of the project as listed at most `max_age` before this call: the
    /// shared listing, or a new one that replaces it (callers at once share one).
    pub async fn listed_within(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        max_age: Duration,
    ) -> Result<Arc<Vec<Instance>>, RdsError> {
        // (Older than the monotonic clock itself: any listing will do.)
        let since = Instant::now().checked_sub(max_age);
        self.listed(client, ctx, since).await
    }

    /// Every instance of the project as listed at or after `since`: the shared listing
    /// when it is that recent, else a new one that replaces it (callers at once share
    /// one). The job tracker reads an instance's version after its job finished so.
    pub async fn listed_since(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        since: Instant,
    ) -> Result<Arc<Vec<Instance>>, RdsError> {
        self.listed(client, ctx, Some(since)).await
    }

    /// The listing and its age, without waiting for a reading under way.
    pub fn snapshot(&self) -> Option<(Duration, Arc<Vec<Instance>>)> {
        let cached = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().map(|(at, all)| (at.elapsed(), all.clone()))
    }

    /// Whether the listing is being read again right now.
    pub fn relisting(&self) -> bool {
        self.relisting.try_lock().is_err()
    }

    /// The shared listing when it was read at or after `since` (any, without one), else
    /// a new reading that replaces it; callers waiting meanwhile share that reading.
    async fn listed(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        since: Option<Instant>,
    ) -> Result<Arc<Vec<Instance>>, RdsError> {
        let fresh = || {
            let cached = self.listing.lock().unwrap_or_else(|e| e.into_inner());
            cached
                .as_ref()
                .filter(|(at, _)| since.is_none_or(|since| *at >= since))
                .map(|(_, all)| all.clone())
        };
        if let Some(all) = fresh() {
            return Ok(all);
        }
        let _one = self.relisting.lock().await;
        if let Some(all) = fresh() {
            return Ok(all);
        }
        let at = Instant::now();
        let all = Arc::new(client.instances(ctx, &InstanceFilter::default()).await?);
        tracing::debug!(count = all.len(), "listed the project's instances");
        *self.listing.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, all.clone()));
        Ok(all)
    }

    /// One instance by id: from the shared listing, or asked directly when the listing
    /// does not hold it (an instance created since).
    pub async fn instance(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        id: &str,
    ) -> Result<Option<Instance>, RdsError> {
        if let Some(found) = self.all(client, ctx).await?.iter().find(|i| i.id == id) {
            return Ok(Some(found.clone()));
        }
        client.instance(ctx, id).await
    }

    /// The project's running upgrades when this process first asked (for the first
    /// adoption check of each create; later checks ask afresh).
    pub async fn running_upgrades(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
    ) -> Result<Arc<Vec<Task>>, RdsError> {
        self.running
            .get_or_try_init(|| async { Ok(Arc::new(job::running_upgrades(client, ctx).await?)) })
            .await
            .cloned()
    }

    /// The project's operations waiting for a maintenance window, listed once per process
    /// (again after [`Catalog::forget_scheduled`]; errors are not cached).
    pub async fn scheduled(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
    ) -> Result<Arc<Vec<ScheduledTask>>, RdsError> {
        let mut cached = self.scheduled.lock().await;
        if let Some(found) = cached.as_ref() {
            return Ok(found.clone());
        }
        let listed = Arc::new(client.scheduled_tasks(ctx, None).await?);
        *cached = Some(listed.clone());
        Ok(listed)
    }

    /// The project's disaster-recovery relations, listed once per process (errors are
    /// not cached).
    pub async fn dr_relations(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
    ) -> Result<Arc<Vec<DrRelation>>, RdsError> {
        self.dr_relations
            .get_or_try_init(|| async { Ok(Arc::new(client.dr_relations(ctx).await?)) })
            .await
            .cloned()
    }

    /// Drops the scheduled tasks listed so far: this process just scheduled an upgrade.
    pub async fn forget_scheduled(&self) {
        *self.scheduled.lock().await = None;
    }

    /// The latest minor version for an engine and major version, asked once per process.
    pub async fn latest_version(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        engine: &str,
        version: &str,
    ) -> Result<Option<String>, RdsError> {
        self.latest(client, ctx, engine, version, None).await
    }

    /// [`Catalog::latest_version`] as read at most `max_age` ago: the cached one, or one
    /// read again that replaces it.
    pub async fn latest_version_within(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        engine: &str,
        version: &str,
        max_age: Duration,
    ) -> Result<Option<String>, RdsError> {
        self.latest(client, ctx, engine, version, Some(max_age))
            .await
    }

    async fn latest(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        engine: &str,
        version: &str,
        max_age: Option<Duration>,
    ) -> Result<Option<String>, RdsError> {
        let key = (engine.to_ascii_lowercase(), version.to_string());
        let mut cache = self.latest.lock().await;
        if let Some((at, found)) = cache.get(&key)
            && max_age.is_none_or(|limit| at.elapsed() <= limit)
        {
            return Ok(found.clone());
        }
        let at = Instant::now();
        let latest = latest_version(client, ctx, engine, version).await?;
        cache.insert(key, (at, latest.clone()));
        Ok(latest)
    }

    /// The facts of instance `id`, latest version included.
    pub async fn checked_facts(
        &self,
        client: &RdsClient,
        call: &CallCtx,
        id: &str,
    ) -> Result<InstanceFacts, FactsError> {
        let instance = match self.instance(client, call, id).await {
            Ok(Some(instance)) => instance,
            Ok(None) => return Err(FactsError::NotFound),
            Err(e) => return Err(FactsError::Lookup(e)),
        };
        self.instance_facts(client, call, &instance).await
    }

    /// The facts of instance `id` as a listing read after `since` shows them (the shared
    /// listing when it is that recent, else a new one that replaces it): to check again
    /// facts that a look at the task center may have outdated.
    pub async fn facts_read_since(
        &self,
        client: &RdsClient,
        call: &CallCtx,
        id: &str,
        since: Instant,
    ) -> Result<InstanceFacts, FactsError> {
        let listed = self.listed(client, call, Some(since)).await;
        let instance = match listed {
            Ok(all) => match all.iter().find(|i| i.id == id) {
                Some(found) => found.clone(),
                None => return Err(FactsError::NotFound),
            },
            Err(e) => return Err(FactsError::Lookup(e)),
        };
        self.instance_facts(client, call, &instance).await
    }

    /// [`Catalog::facts`] of an instance found, with a failure to read its engine's
    /// versions told as such.
    async fn instance_facts(
        &self,
        client: &RdsClient,
        call: &CallCtx,
        instance: &Instance,
    ) -> Result<InstanceFacts, FactsError> {
        self.facts(client, call, instance)
            .await
            .map_err(|error| FactsError::Versions {
                engine: instance.datastore.engine.clone(),
                error,
            })
    }

    /// The facts the checks need about an instance (latest version included).
    pub async fn facts(
        &self,
        client: &RdsClient,
        ctx: &CallCtx,
        instance: &Instance,
    ) -> Result<InstanceFacts, RdsError> {
        let latest = self
            .latest_version(
                client,
                ctx,
                &instance.datastore.engine,
                &instance.datastore.version,
            )
            .await?;
        Ok(InstanceFacts::from_instance(instance, latest))
    }
}

/// The latest minor version of `engine` `version` (e.g. MySQL `8.0`), when known.
pub async fn latest_version(
    client: &RdsClient,
    ctx: &CallCtx,
    engine: &str,
    version: &str,
) -> Result<Option<String>, RdsError> {
    let names: Vec<String> = if engine.eq_ignore_ascii_case("postgresql") {
        client
            .minor_versions(ctx, "postgresql", version)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else if engine.eq_ignore_ascii_case("mysql") {
        client
            .engine_versions(ctx, "mysql")
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        return Ok(None);
    };
    let prefix = format!("{version}.");
    Ok(names
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .max_by(|a, b| compare_versions(a, b)))
}
