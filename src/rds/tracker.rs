//! One tracker for every job a client waits for: waiters register the job ids they
//! follow, and one loop per client (so per provider process) follows all of them with as
//! few requests as the API allows. Each sweep is one paginated listing of the task
//! center's running tasks created in the jobs' time window (pages of 50, whatever the
//! number of jobs); jobs that left it are found with their final status in one listing by
//! any status of the stretch of creation times their last views showed (the whole window
//! when one of them was never seen); jobs no listing shows (a delayed job waiting for its window,
//! a job too new to be listed) are looked for in one listing of the scheduled tasks and,
//! past the grace period, with `GET /jobs` one by one. The version after an upgrade comes
//! from one instance listing per sweep in which jobs completed.
//!
//! When: each job asks for looks on its progress-paced schedule (a quick first and
//! second look, then a share of the time waited, or right after the end its progress
//! predicts); a sweep serves every job at once, and sweeps are spaced so that they spend
//! at most half of the task center's quota (the other half is left to submissions' checks
//! and to other processes of the same user) and no more often than a share of the time
//! the fleet has waited. A waiter's cancellation or deadline ends only its own wait; a job
//! nobody waits for any more is dropped at the next sweep. The tracker only reads.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{InstanceFilter, RdsClient, TaskFilter};
use super::context::CallCtx;
use super::error::RdsError;
use super::models::{Job, JobInstance, ScheduledTask, Task, parse_time};
use super::quota::Api;
use super::waiter::{Pace, WaitSchedule};

/// A job that finished, with the instance's version read right after it completed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub job: Job,
    /// The instance's complete version after a completed job, when the listing had it.
    pub version_after: Option<String>,
}

/// What the tracker has seen of one job so far.
#[derive(Debug, Clone)]
pub enum JobState {
    /// Not seen yet, or still running or scheduled (with the latest view).
    Pending(Option<Job>),
    /// Finished (Completed or Failed), or tracking gave up with an error.
    Done(Result<Finished, RdsError>),
}

/// How far the API's clock may be from ours when a job's creation time is bounded.
const CLOCK_MARGIN: time::Duration = time::Duration::minutes(10);

/// Consecutive failed sweeps after which every waiter is told the error.
const MAX_FAILED_SWEEPS: u32 = 10;

/// One followed job.
struct Followed {
    tx: watch::Sender<JobState>,
    instance_id: String,
    /// The job was created no earlier than this (bounds the listings' window).
    since: time::OffsetDateTime,
    registered: Instant,
    schedule: WaitSchedule,
    looks: u32,
    pace: Pace,
    next_look: Instant,
    /// Status of the last view, to tell a delayed job from a running one.
    last: Option<Job>,
}

#[derive(Default)]
struct Registry {
    jobs: HashMap<String, Followed>,
    /// Whether the loop runs (it stops when no job is followed).
    running: bool,
}

/// The tracker of one client.
#[derive(Default)]
pub struct JobTracker {
    registry: Mutex<Registry>,
    wake: Notify,
}

impl JobTracker {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RdsClient {
    /// Follows job `job_id` of `instance_id` (created no earlier than `since`, when
    /// known) until it finishes; returns a receiver of what the tracker sees.
    pub(super) fn track_job(
        &self,
        job_id: &str,
        instance_id: &str,
        since: Option<time::OffsetDateTime>,
        schedule: WaitSchedule,
    ) -> watch::Receiver<JobState> {
        let tracker = self.tracker();
        let mut registry = tracker.lock();
        if let Some(followed) = registry.jobs.get(job_id) {
            return followed.tx.subscribe();
        }
        let now = Instant::now();
        let (tx, rx) = watch::channel(JobState::Pending(None));
        let since =
            since.unwrap_or_else(|| time::OffsetDateTime::now_utc() - time::Duration::days(1));
        registry.jobs.insert(
            job_id.to_string(),
            Followed {
                tx,
                instance_id: instance_id.to_string(),
                since: since - CLOCK_MARGIN,
                registered: now,
                schedule,
                looks: 0,
                pace: Pace::default(),
                next_look: now + schedule.interval(0, Duration::ZERO),
                last: None,
            },
        );
        if !registry.running {
            registry.running = true;
            let client = self.clone();
            tokio::spawn(async move { client.track().await });
        }
        drop(registry);
        tracker.wake.notify_one();
        rx
    }

    /// The loop: sweeps when a followed job asks for a look, until none is followed.
    async fn track(&self) {
        let tracker = self.tracker();
        let mut last_sweep: Option<(Instant, usize)> = None;
        let mut failures = 0;
        loop {
            let wake = {
                let mut registry = tracker.lock();
                registry.jobs.retain(|_, f| f.tx.receiver_count() > 0);
                if registry.jobs.is_empty() {
                    registry.running = false;
                    return;
                }
                self.next_sweep(&registry, last_sweep)
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = tracker.wake.notified() => continue,
            }
            let started = Instant::now();
            match self.sweep().await {
                Ok(pages) => {
                    failures = 0;
                    last_sweep = Some((started, pages));
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(error = %e, failures, "sweeping the task center failed");
                    last_sweep = Some((started, 1));
                    if e.is_auth() || failures >= MAX_FAILED_SWEEPS {
                        let mut registry = tracker.lock();
                        for (_, followed) in registry.jobs.drain() {
                            let _ = followed.tx.send(JobState::Done(Err(e.clone())));
                        }
                    }
                }
            }
        }
    }

    /// When the next sweep is due: the earliest look a job asks for, but no sooner than
    /// the task center's quota and the fleet's waiting allow.
    fn next_sweep(&self, registry: &Registry, last: Option<(Instant, usize)>) -> Instant {
        let asked = registry
            .jobs
            .values()
            .map(|f| f.next_look)
            .min()
            .unwrap_or_else(Instant::now);
        let Some((at, pages)) = last else {
            return asked;
        };
        let (policy, _) = self.bucket(Api::ListTasks).policy();
        let quota_gap = policy.spacing().mul_f64(2.0 * pages.max(1) as f64);
        let mut waited: Vec<Duration> = registry
            .jobs
            .values()
            .map(|f| f.registered.elapsed())
            .collect();
        waited.sort();
        let schedule = registry
            .jobs
            .values()
            .next()
            .map(|f| f.schedule)
            .unwrap_or_default();
        let median = waited.get(waited.len() / 2).copied().unwrap_or_default();
        let fleet_gap = if registry.jobs.len() > 1 {
            median
                .mul_f64(schedule.proportion)
                .clamp(schedule.min, schedule.max.max(schedule.min))
        } else {
            Duration::ZERO
        };
        // A predicted end or a new job's first looks may come sooner than the fleet's
        // share, never sooner than the quota allows.
        let urgent = registry
            .jobs
            .values()
            .any(|f| f.looks < 2 || f.pace.predicts_before(asked + Duration::from_millis(1)));
        let gap = if urgent {
            quota_gap
        } else {
            quota_gap.max(fleet_gap)
        };
        asked.max(at + gap)
    }

    /// One sweep over every followed job; returns the number of requests it made.
    async fn sweep(&self) -> Result<usize, RdsError> {
        let tracker = self.tracker();
        let (ids, window): (HashSet<String>, _) = {
            let registry = tracker.lock();
            let since = registry.jobs.values().map(|f| f.since).min();
            let ids = registry.jobs.keys().cloned().collect();
            (ids, since)
        };
        let Some(since) = window else {
            return Ok(0);
        };
        let ctx = CallCtx::new(CancellationToken::new())
            .with_deadline(Instant::now() + Duration::from_secs(300));
        let between = Some((since, time::OffsetDateTime::now_utc() + CLOCK_MARGIN));
        let mut requests = 0;
        let page = |n: usize| n.div_ceil(50).max(1);

        let running = self
            .tasks(
                &ctx,
                &TaskFilter {
                    status: Some("Running".into()),
                    created_between: between,
                    ..Default::default()
                },
            )
            .await?;
        requests += page(running.len());
        let mut seen: HashMap<String, Job> = running
            .iter()
            .filter(|t| ids.contains(&t.id))
            .map(|t| (t.id.clone(), job_of_task(t)))
            .collect();

        let mut missing: Vec<String> = ids
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            // Jobs that left the running listing were created when their last view says:
            // list only that stretch of the window, by any status.
            let stretch = created_stretch(&tracker.lock(), &missing).or(between);
            let all = self
                .tasks(
                    &ctx,
                    &TaskFilter {
                        created_between: stretch,
                        ..Default::default()
                    },
                )
                .await?;
            requests += page(all.len());
            for task in all.iter().filter(|t| missing.contains(&t.id)) {
                seen.insert(task.id.clone(), job_of_task(task));
            }
            missing.retain(|id| !seen.contains_key(id));
        }
        if !missing.is_empty() {
            let scheduled = self.scheduled_tasks(&ctx, None).await?;
            requests += page(scheduled.len());
            for task in scheduled.iter().filter(|t| missing.contains(&t.id)) {
                seen.insert(task.id.clone(), job_of_scheduled(task));
            }
            missing.retain(|id| !seen.contains_key(id));
        }
        // Past their grace period, jobs no listing shows are asked for one by one.
        let overdue: Vec<String> = {
            let registry = tracker.lock();
            missing
                .iter()
                .filter(|id| {
                    registry.jobs.get(*id).is_some_and(|f| {
                        f.registered.elapsed()
                            >= f.schedule.not_found_grace.min(Duration::from_secs(5))
                    })
                })
                .cloned()
                .collect()
        };
        for id in overdue {
            requests += 1;
            match self.job(&ctx, &id).await {
                Ok(job) => {
                    seen.insert(id, job);
                }
                Err(RdsError::JobNotFound(_)) => {}
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
            match self.instances(&ctx, &InstanceFilter::default()).await {
                Ok(all) => {
                    requests += all.len().div_ceil(100).max(1);
                    versions = all
                        .into_iter()
                        .filter_map(|i| i.datastore.complete_version.map(|v| (i.id, v)))
                        .collect();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "listing the instances after completed jobs failed; the waiters read their own");
                }
            }
        }
        self.publish(seen, &versions);
        Ok(requests)
    }

    /// Hands what a sweep saw to the waiters, and plans each job's next look.
    fn publish(&self, seen: HashMap<String, Job>, versions: &HashMap<String, String>) {
        let tracker = self.tracker();
        let now = Instant::now();
        let mut registry = tracker.lock();
        let mut done = Vec::new();
        for (id, followed) in registry.jobs.iter_mut() {
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
                    done.push(id.clone());
                    continue;
                }
                Some(job) => {
                    followed.pace.observe(job, now);
                    followed.last = Some(job.clone());
                    let _ = followed.tx.send(JobState::Pending(Some(job.clone())));
                }
                None => {}
            }
            let regular = followed
                .schedule
                .interval(followed.looks, followed.registered.elapsed());
            followed.next_look = now + followed.pace.sooner_than(regular, now);
        }
        for id in done {
            registry.jobs.remove(&id);
        }
    }
}

/// The creation times of `ids` as the API's own listings showed them (whole seconds,
/// so a second either side), when every one of them was seen; else None.
fn created_stretch(
    registry: &Registry,
    ids: &[String],
) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let mut created = ids.iter().map(|id| {
        let last = registry.jobs.get(id)?.last.as_ref()?;
        parse_time(last.created.as_deref()?)
    });
    let first = created.next()??;
    let (from, to) = created.try_fold((first, first), |(from, to), at| {
        let at = at?;
        Some((from.min(at), to.max(at)))
    })?;
    Some((
        from - time::Duration::seconds(1),
        to + time::Duration::seconds(1),
    ))
}

/// A task-center entry seen as a job.
fn job_of_task(task: &Task) -> Job {
    Job {
        id: task.id.clone(),
        name: task.name.clone(),
        status: task.status.clone(),
        created: task.create_time.clone(),
        ended: task.end_time.clone(),
        process: task.process.clone(),
        progress: None,
        fail_reason: task.fail_reason.clone(),
        instance: Some(JobInstance {
            id: task.instance_id.clone(),
            name: task.instance_name.clone(),
        }),
    }
}

/// A scheduled task seen as a job: waiting for its window (`Scheduled`), running, or
/// finished (a canceled one failed).
fn job_of_scheduled(task: &ScheduledTask) -> Job {
    let (status, fail_reason) = match task.status.as_str() {
        "Completed" => ("Completed", None),
        "Failed" => ("Failed", None),
        "Canceled" => (
            "Failed",
            Some("the scheduled upgrade was canceled".to_string()),
        ),
        "Running" => ("Running", None),
        _ => ("Scheduled", None),
    };
    Job {
        id: task.id.clone(),
        name: task.name.clone(),
        status: status.to_string(),
        created: task.create_time.clone(),
        fail_reason,
        instance: Some(JobInstance {
            id: task.instance_id.clone(),
            name: String::new(),
        }),
        ..Default::default()
    }
}
