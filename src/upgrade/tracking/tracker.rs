//! The one tracker of every job a provider process waits for ([`JobTracker`], made with
//! the process's client and catalog): waiters register the job ids they follow, and one loop follows
//! all of them with as few requests as the API allows.
//!
//! When: each job has a window for its next look — a quick first and second look; then,
//! once its progress predicts the earliest moment it can end (`Pace`),
//! right after that moment, with check-ins between that are [`CHECK_IN_STRETCH`] times
//! further apart than the regular cadence (so a job that fails on the way is still
//! noticed); a job whose progress predicts nothing keeps the regular cadence (a share of
//! the time waited). A sweep comes when the first window closes, never sooner than the
//! quota allows (at most half of the task center's quota in any window, or all of a
//! share refusals have cut, see [`super::sweep_budget`]) nor than the jobs' cadences
//! allow after the last sweep, and serves every job whose window is open.
//!
//! [`CHECK_IN_STRETCH`]: super::cadence::CHECK_IN_STRETCH
//!
//! How: a sweep lists the task center by creation time (pages of 50). Jobs created
//! close together (a fleet's submissions, which are also due together) are listed
//! together: one listing by any status of each cluster of creation times of the jobs it
//! serves (a job's own, once a listing showed it; before, the time it was registered
//! moved to the API's clock as other jobs showed it) — unless listing every running job
//! of the window costs less (or a served job's place is unknown), then that, with jobs
//! that left it found by any status in the stretch of creation times their last views
//! showed. Jobs no listing shows (a
//! delayed job waiting for its window, a job too new to be listed) are looked for in one
//! listing of the scheduled tasks and, past the grace period, with `GET /jobs` one by
//! one. The version after an upgrade comes from the process's [`Catalog`], in a listing
//! read after the sweep saw the jobs complete (at most one per such sweep, none when a
//! reader of the catalog has just listed).
//!
//! A waiter's cancellation or deadline ends only its own wait; a job nobody waits for
//! any more is dropped at the next sweep. The tracker only reads. Which sweep to make is
//! planned in [`super::sweep_plan`]; what is known of each job is kept in
//! [`super::registry`]; a waiter's side is [`super::follow`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::cadence::{Pace, PollCadence};
use super::registry::{CLOCK_MARGIN, Finished, Followed, JobState, Registry};
use super::sweep_budget::{Share, SweepBudget};
use super::sweep_plan::{Sweep, created_stretch, pages, plan_sweep};
use crate::rds::models::{Job, Task};
use crate::rds::{Api, CallCtx, RdsClient, RdsError, TaskFilter};
use crate::upgrade::catalog::Catalog;

/// Consecutive failed sweeps after which every waiter is told the error.
const MAX_FAILED_SWEEPS: u32 = 10;

/// The one tracker of a provider process's jobs: a cheap-to-clone handle; every clone
/// shares the registry and the one tracking loop. The loop, and the requests of its
/// sweeps, end when the token it was made with is cancelled, or when its last handle is
/// dropped.
#[derive(Clone)]
pub struct JobTracker {
    shared: Arc<Shared>,
    /// Cancels `shared.cancel` once the last handle is gone (the loop holds none).
    _last_handle: Arc<DropGuard>,
}

/// What the handles and the loop share.
struct Shared {
    client: RdsClient,
    /// Where an instance's version after its job is read: a listing no older than the
    /// sweep that saw the job finished.
    catalog: Arc<Catalog>,
    registry: Mutex<Registry>,
    wake: Notify,
    cancel: CancellationToken,
}

impl JobTracker {
    /// A tracker that follows jobs with `client`'s requests, until `cancel` is cancelled
    /// or its last handle is dropped; it reads versions after jobs through a catalog of
    /// its own.
    pub fn new(client: RdsClient, cancel: CancellationToken) -> Self {
        Self::with_catalog(client, Arc::default(), cancel)
    }

    /// [`JobTracker::new`], reading versions after jobs through the process's `catalog`
    /// (whose listing each such reading renews).
    pub fn with_catalog(
        client: RdsClient,
        catalog: Arc<Catalog>,
        cancel: CancellationToken,
    ) -> Self {
        let cancel = cancel.child_token();
        JobTracker {
            _last_handle: Arc::new(cancel.clone().drop_guard()),
            shared: Arc::new(Shared {
                client,
                catalog,
                registry: Mutex::default(),
                wake: Notify::new(),
                cancel,
            }),
        }
    }

    /// Follows job `job_id` of `instance_id` (created no earlier than `since`, when
    /// known) until it finishes; returns a receiver of what the tracker sees.
    pub(super) fn track_job(
        &self,
        job_id: &str,
        instance_id: &str,
        since: Option<time::OffsetDateTime>,
        cadence: PollCadence,
    ) -> watch::Receiver<JobState> {
        let mut registry = self.shared.lock();
        if let Some(followed) = registry.jobs.get(job_id) {
            return followed.tx.subscribe();
        }
        let now = Instant::now();
        let wall = time::OffsetDateTime::now_utc();
        let (tx, rx) = watch::channel(JobState::Pending(None));
        let since = since.unwrap_or_else(|| wall - time::Duration::days(1));
        let first = cadence.interval(0, Duration::ZERO);
        registry.jobs.insert(
            job_id.to_string(),
            Followed {
                tx,
                instance_id: instance_id.to_string(),
                since: since - CLOCK_MARGIN,
                registered: now,
                registered_at: wall,
                cadence,
                looks: 0,
                pace: Pace::default(),
                open: now + first.saturating_sub(cadence.min / 2),
                due: now + first,
                last: None,
                unplaced: false,
            },
        );
        if !registry.running {
            registry.running = true;
            let shared = self.shared.clone();
            tokio::spawn(async move { shared.track().await });
        }
        drop(registry);
        self.shared.wake.notify_one();
        rx
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loop: sweeps when a followed job's look is due, until none is followed or
    /// the tracker is cancelled (its waiters are then told so).
    async fn track(&self) {
        let mut budget = SweepBudget::default();
        let mut last_sweep: Option<(Instant, bool)> = None;
        let mut failures = 0;
        loop {
            let wake = {
                let mut registry = self.lock();
                registry.jobs.retain(|_, f| f.tx.receiver_count() > 0);
                if self.cancel.is_cancelled() {
                    for (_, followed) in registry.jobs.drain() {
                        let _ = followed.tx.send(JobState::Done(Err(RdsError::Cancelled)));
                    }
                }
                if registry.jobs.is_empty() {
                    registry.running = false;
                    return;
                }
                self.next_sweep(&registry, &mut budget, last_sweep)
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.wake.notified() => continue,
                _ = self.cancel.cancelled() => continue,
            }
            let started = Instant::now();
            match self.sweep(started).await {
                Ok(requests) => {
                    failures = 0;
                    budget.spent(started, requests);
                    last_sweep = Some((started, true));
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(error = %e, failures, "sweeping the task center failed");
                    budget.spent(started, 1);
                    last_sweep = Some((started, false));
                    if e.is_auth() || failures >= MAX_FAILED_SWEEPS {
                        let mut registry = self.lock();
                        for (_, followed) in registry.jobs.drain() {
                            let _ = followed.tx.send(JobState::Done(Err(e.clone())));
                        }
                    }
                }
            }
        }
    }

    /// When the next sweep comes: when the first look falls due, but no sooner than
    /// the sweeps' part of the task center's quota has room ([`SweepBudget`]), and no
    /// sooner after the last sweep than the jobs' cadences allow: their quick second look
    /// while the sweeps of the window spent little (jobs registered together are served
    /// together), else their shortest regular wait, as after a sweep that failed.
    fn next_sweep(
        &self,
        registry: &Registry,
        budget: &mut SweepBudget,
        last: Option<(Instant, bool)>,
    ) -> Instant {
        let now = Instant::now();
        let due = registry.jobs.values().map(|f| f.due).min().unwrap_or(now);
        let Some((at, worked)) = last else {
            return due;
        };
        // Half of this process's share of the task center's quota while it is the whole
        // policy, all of it once learned: K processes of one access key sweeping
        // together stay inside it.
        let pace = self.client.api_pace(Api::ListTasks);
        let share = if pace.limit < self.client.api_policy(Api::ListTasks).0.limit {
            Share::Learned
        } else {
            Share::Whole
        };
        let quick = worked && budget.quick(now, pace, share);
        let gap = registry
            .jobs
            .values()
            .map(|f| {
                if quick {
                    f.cadence.second
                } else {
                    f.cadence.min
                }
            })
            .min()
            .unwrap_or_default();
        let allowed = budget.next_allowed(now, pace, share);
        if allowed > now.max(due) {
            // The share holds a sweep back: it may grow (and search for room) as when
            // the bucket itself holds a request back.
            self.client.api_held_back(Api::ListTasks);
        }
        due.max(at + gap).max(allowed)
    }

    /// One sweep at `now`; returns the number of requests it made.
    async fn sweep(&self, now: Instant) -> Result<usize, RdsError> {
        let (plan, mut served, window) = {
            let registry = self.lock();
            let (plan, served) = plan_sweep(&registry, now);
            let since = registry.jobs.values().map(|f| f.since).min();
            (plan, served, since)
        };
        let Some(since) = window else {
            return Ok(0);
        };
        let ctx = CallCtx::new(self.cancel.clone())
            .with_deadline(Instant::now() + Duration::from_secs(300));
        let between = Some((since, time::OffsetDateTime::now_utc() + CLOCK_MARGIN));
        let mut requests = 0;
        let mut seen: HashMap<String, Job> = HashMap::new();
        let followed =
            |tasks: &[Task], seen: &mut HashMap<String, Job>, wanted: &dyn Fn(&str) -> bool| {
                for task in tasks.iter().filter(|t| wanted(&t.id)) {
                    seen.insert(task.id.clone(), task.as_job());
                }
            };

        match plan {
            Sweep::Everything => {
                served = self.lock().jobs.keys().cloned().collect();
                let running = self
                    .client
                    .tasks(
                        &ctx,
                        &TaskFilter {
                            status: Some("Running".into()),
                            created_between: between,
                            ..Default::default()
                        },
                    )
                    .await?;
                requests += pages(running.len());
                followed(&running, &mut seen, &|id| served.contains(id));
                let left: Vec<String> = served
                    .iter()
                    .filter(|id| !seen.contains_key(*id))
                    .cloned()
                    .collect();
                if !left.is_empty() {
                    // Jobs that left the running listing were created when their last
                    // view says: list only that stretch of the window, by any status.
                    let stretch = created_stretch(&self.lock(), &left).or(between);
                    let all = self
                        .client
                        .tasks(
                            &ctx,
                            &TaskFilter {
                                created_between: stretch,
                                ..Default::default()
                            },
                        )
                        .await?;
                    requests += pages(all.len());
                    followed(&all, &mut seen, &|id| left.iter().any(|l| l == id));
                }
            }
            Sweep::Clusters(clusters) => {
                let ids: HashSet<String> = self.lock().jobs.keys().cloned().collect();
                for cluster in clusters {
                    let all = self
                        .client
                        .tasks(
                            &ctx,
                            &TaskFilter {
                                created_between: Some(cluster),
                                ..Default::default()
                            },
                        )
                        .await?;
                    requests += pages(all.len());
                    // Every followed job a listing shows is served by it, due or not.
                    followed(&all, &mut seen, &|id| ids.contains(id));
                }
                served.extend(seen.keys().cloned());
            }
        }

        let mut missing: Vec<String> = served
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let scheduled = self.client.scheduled_tasks(&ctx, None).await?;
            requests += Api::ListScheduleTasks.pages(scheduled.len());
            for task in scheduled.iter().filter(|t| missing.contains(&t.id)) {
                seen.insert(task.id.clone(), task.as_job());
            }
            missing.retain(|id| !seen.contains_key(id));
        }
        // Past their grace period, jobs no listing shows are asked for one by one.
        let overdue: Vec<String> = {
            let registry = self.lock();
            missing
                .iter()
                .filter(|id| {
                    registry.jobs.get(*id).is_some_and(|f| {
                        f.registered.elapsed()
                            >= f.cadence.not_found_grace.min(Duration::from_secs(5))
                    })
                })
                .cloned()
                .collect()
        };
        let mut unplaced = Vec::new();
        for id in overdue {
            requests += 1;
            match self.client.job(&ctx, &id).await {
                Ok(job) => {
                    seen.insert(id, job);
                }
                Err(RdsError::JobNotFound(_)) => unplaced.push(id),
                Err(e) => return Err(e),
            }
        }

        let completed: Vec<String> = seen
            .iter()
            .filter(|(_, j)| j.status == "Completed")
            .map(|(id, _)| id.clone())
            .collect();
        let mut versions: HashMap<String, String> = HashMap::new();
        if !completed.is_empty() {
            // Listed after the listings above showed the jobs finished: read since.
            let finished_by = Instant::now();
            match self
                .catalog
                .listed_since(&self.client, &ctx, finished_by)
                .await
            {
                Ok(all) => {
                    requests += Api::ListInstances.pages(all.len());
                    versions = all
                        .iter()
                        .filter_map(|i| {
                            let version = i.datastore.complete_version.clone()?;
                            Some((i.id.clone(), version))
                        })
                        .collect();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "listing the instances after completed jobs failed; the waiters read their own");
                }
            }
        }
        self.publish(&served, seen, &unplaced, &versions);
        Ok(requests)
    }

    /// Hands what a sweep saw to the waiters, and plans the next look of each job it
    /// served.
    fn publish(
        &self,
        served: &HashSet<String>,
        seen: HashMap<String, Job>,
        unplaced: &[String],
        versions: &HashMap<String, String>,
    ) {
        let now = Instant::now();
        let mut registry = self.lock();
        let mut done = Vec::new();
        for id in served {
            let Some(followed) = registry.jobs.get_mut(id) else {
                continue;
            };
            followed.looks += 1;
            match seen.get(id) {
                Some(job) if job.is_finished() => {
                    let version_after = (job.status == "Completed")
                        .then(|| versions.get(&followed.instance_id).cloned())
                        .flatten();
                    let finished = Finished {
                        job: job.clone(),
                        version_after,
                    };
                    let _ = followed.tx.send(JobState::Done(Ok(finished)));
                    done.push((id.clone(), followed.created()));
                    continue;
                }
                Some(job) => {
                    let first_view = followed.created().is_none();
                    followed.pace.observe(job, now);
                    followed.last = Some(job.clone());
                    followed.unplaced = false;
                    let _ = followed.tx.send(JobState::Pending(Some(job.clone())));
                    followed.plan(now);
                    if first_view {
                        registry.learn_clock(id);
                    }
                    continue;
                }
                None => {
                    followed.unplaced |= unplaced.contains(id);
                    followed.plan(now);
                }
            }
        }
        for (id, created) in done {
            registry.jobs.remove(&id);
            registry.finished.extend(created);
        }
        // What no listing of the window can show any more is forgotten.
        if let Some(since) = registry.jobs.values().map(|f| f.since).min() {
            registry.finished.retain(|at| *at >= since);
        } else {
            registry.finished.clear();
        }
    }
}
