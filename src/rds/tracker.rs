//! One tracker for every job a client waits for: waiters register the job ids they
//! follow, and one loop per client (so per provider process) follows all of them with as
//! few requests as the API allows.
//!
//! When: each job has a window for its next look — a quick first and second look; then,
//! once its progress predicts the earliest moment it can end (`waiter::Pace`),
//! right after that moment, with check-ins between that are [`CHECK_IN_STRETCH`] times
//! further apart than the regular schedule (so a job that fails on the way is still
//! noticed); a job whose progress predicts nothing keeps the regular schedule (a share of
//! the time waited). A sweep comes when the first window closes, never sooner than the
//! quota allows (at most half of the task center's quota; the rest is left to
//! submissions' checks and to other processes of the same user) nor than the shortest
//! wait of the jobs' schedules, and serves every job whose window is open.
//!
//! [`CHECK_IN_STRETCH`]: super::waiter::CHECK_IN_STRETCH
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
//! one. The version after an upgrade comes from one instance listing per sweep in which
//! jobs completed.
//!
//! A waiter's cancellation or deadline ends only its own wait; a job nobody waits for
//! any more is dropped at the next sweep. The tracker only reads.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{InstanceFilter, RdsClient, TaskFilter};
use super::context::CallCtx;
use super::error::RdsError;
use super::models::{Job, Task, parse_time};
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

/// Tasks in one page of the task center's listing.
const PAGE: usize = 50;

/// How far either side of its creation time (whole seconds in the listings) a job is
/// looked for; and before its estimated creation time, before a listing showed it
/// (a submission that took longer is found by the fallbacks).
const CREATED_SLACK: time::Duration = time::Duration::seconds(1);
const ESTIMATE_SLACK: time::Duration = time::Duration::seconds(3);

/// One followed job.
struct Followed {
    tx: watch::Sender<JobState>,
    instance_id: String,
    /// The job was created no earlier than this (bounds the listings' window).
    since: time::OffsetDateTime,
    registered: Instant,
    /// When it was registered, by our wall clock.
    registered_at: time::OffsetDateTime,
    schedule: WaitSchedule,
    looks: u32,
    pace: Pace,
    /// The window of its next look: a sweep from `open` on serves it; one comes by `due`.
    open: Instant,
    due: Instant,
    /// The last view, to tell a delayed job from a running one and where it was created.
    last: Option<Job>,
    /// No listing of its estimated stretch showed it, nor `GET /jobs`: look for it in the
    /// whole window.
    unplaced: bool,
}

impl Followed {
    /// Its creation time by the API's clock, when a view showed it.
    fn created(&self) -> Option<time::OffsetDateTime> {
        parse_time(self.last.as_ref()?.created.as_deref()?)
    }

    /// Plans the window of the next look after one at `now`.
    fn plan(&mut self, now: Instant) {
        let waited = self.registered.elapsed();
        let regular = self.schedule.interval(self.looks, waited);
        let slack = self.schedule.min / 2;
        let predicted = (self.looks >= 2)
            .then(|| self.pace.earliest_end())
            .flatten()
            .map(|end| (end + Duration::from_millis(50)).max(now + Duration::from_millis(100)));
        let (open, due) = match predicted {
            None => (now + regular.saturating_sub(slack), now + regular),
            Some(end) => {
                let check_in = self.schedule.check_in(waited);
                if end <= now + check_in {
                    (end.checked_sub(slack).unwrap_or(end).max(now), end)
                } else {
                    (now + check_in / 2, now + check_in)
                }
            }
        };
        (self.open, self.due) = (open, due);
    }
}

#[derive(Default)]
struct Registry {
    jobs: HashMap<String, Followed>,
    /// Whether the loop runs (it stops when no job is followed).
    running: bool,
    /// The most any job's creation time (the API's clock) came before our registration
    /// of it, in seconds (negative when before). A job is registered once its submission
    /// answered, so this is how far the API's clock is from ours, less the quickest
    /// submission: where to look for a job no listing showed yet.
    clock: Option<f64>,
    /// Creation times of followed jobs that finished: a listing by any status shows them
    /// too, so they count in what a cluster costs.
    finished: Vec<time::OffsetDateTime>,
}

impl Registry {
    /// Where the API's clock put `job`'s creation, as far as we know.
    fn stretch(&self, job: &Followed) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
        if let Some(created) = job.created() {
            return Some((created - CREATED_SLACK, created + CREATED_SLACK));
        }
        let offset = time::Duration::seconds_f64(self.clock?);
        (!job.unplaced).then(|| {
            let at = job.registered_at + offset;
            ((at - ESTIMATE_SLACK).max(job.since), at + CREATED_SLACK)
        })
    }

    /// Learns the API's clock from a job's first view.
    fn learn_clock(&mut self, id: &str) {
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        let Some(created) = job.created() else {
            return;
        };
        let offset = (created - job.registered_at).as_seconds_f64();
        self.clock = Some(self.clock.map_or(offset, |known| known.max(offset)));
    }
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

/// What one sweep lists.
#[derive(Debug, PartialEq)]
enum Sweep {
    /// Every running job of the window, then the stretches of those that left it.
    Everything,
    /// These clusters of creation times, by any status.
    Clusters(Vec<(time::OffsetDateTime, time::OffsetDateTime)>),
}

/// Pages a listing of `n` tasks takes.
fn pages(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
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
        let wall = time::OffsetDateTime::now_utc();
        let (tx, rx) = watch::channel(JobState::Pending(None));
        let since = since.unwrap_or_else(|| wall - time::Duration::days(1));
        let first = schedule.interval(0, Duration::ZERO);
        registry.jobs.insert(
            job_id.to_string(),
            Followed {
                tx,
                instance_id: instance_id.to_string(),
                since: since - CLOCK_MARGIN,
                registered: now,
                registered_at: wall,
                schedule,
                looks: 0,
                pace: Pace::default(),
                open: now + first.saturating_sub(schedule.min / 2),
                due: now + first,
                last: None,
                unplaced: false,
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

    /// The loop: sweeps when a followed job's look is due, until none is followed.
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
            match self.sweep(started).await {
                Ok(requests) => {
                    failures = 0;
                    last_sweep = Some((started, requests));
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

    /// When the next sweep comes: when the first look falls due, but no sooner after the
    /// last sweep than the task center's quota allows (half of it) and than the shortest
    /// wait the jobs' schedules know.
    fn next_sweep(&self, registry: &Registry, last: Option<(Instant, usize)>) -> Instant {
        let due = registry
            .jobs
            .values()
            .map(|f| f.due)
            .min()
            .unwrap_or_else(Instant::now);
        let Some((at, requests)) = last else {
            return due;
        };
        // Half of this process's share of the task center's quota: K processes of one
        // access key sweeping together stay inside it once their shares are learned.
        let pace = self.bucket(Api::ListTasks).pace();
        let quota_gap = pace.spacing().mul_f64(2.0 * requests.max(1) as f64);
        let shortest = registry
            .jobs
            .values()
            .map(|f| f.schedule.min)
            .min()
            .unwrap_or_default();
        due.max(at + quota_gap.max(shortest))
    }

    /// What a sweep at `now` lists, and the ids of the jobs it serves (those whose look
    /// window is open).
    fn plan_sweep(registry: &Registry, now: Instant) -> (Sweep, HashSet<String>) {
        let served: HashSet<String> = registry
            .jobs
            .iter()
            .filter(|(_, f)| f.open <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let stretches: Option<Vec<_>> = served
            .iter()
            .map(|id| registry.stretch(&registry.jobs[id]))
            .collect();
        let Some(mut stretches) = stretches else {
            return (Sweep::Everything, served);
        };
        // Creation times (known or estimated) of every followed job, finished or not, to
        // cost a cluster; every running job costs the pages of the jobs still followed.
        let mut placed: Vec<time::OffsetDateTime> = registry
            .jobs
            .values()
            .filter_map(|f| registry.stretch(f).map(|(from, to)| from + (to - from) / 2))
            .chain(registry.finished.iter().copied())
            .collect();
        placed.sort();
        let count = |(from, to): (time::OffsetDateTime, time::OffsetDateTime)| {
            placed.partition_point(|t| *t <= to) - placed.partition_point(|t| *t < from)
        };
        stretches.sort();
        let mut clusters: Vec<(time::OffsetDateTime, time::OffsetDateTime)> = Vec::new();
        for stretch in stretches {
            match clusters.last_mut() {
                Some(last)
                    if stretch.0 <= last.1
                        || pages(count((last.0, stretch.1)))
                            <= pages(count(*last)) + pages(count(stretch)) =>
                {
                    last.1 = last.1.max(stretch.1);
                }
                _ => clusters.push(stretch),
            }
        }
        let targeted: usize = clusters.iter().map(|c| pages(count(*c))).sum();
        if targeted > pages(registry.jobs.len()) {
            (Sweep::Everything, served)
        } else {
            (Sweep::Clusters(clusters), served)
        }
    }

    /// One sweep at `now`; returns the number of requests it made.
    async fn sweep(&self, now: Instant) -> Result<usize, RdsError> {
        let tracker = self.tracker();
        let (plan, mut served, window) = {
            let registry = tracker.lock();
            let (plan, served) = Self::plan_sweep(&registry, now);
            let since = registry.jobs.values().map(|f| f.since).min();
            (plan, served, since)
        };
        let Some(since) = window else {
            return Ok(0);
        };
        let ctx = CallCtx::new(CancellationToken::new())
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
                served = tracker.lock().jobs.keys().cloned().collect();
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
                    let stretch = created_stretch(&tracker.lock(), &left).or(between);
                    let all = self
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
                let ids: HashSet<String> = tracker.lock().jobs.keys().cloned().collect();
                for cluster in clusters {
                    let all = self
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
            let scheduled = self.scheduled_tasks(&ctx, None).await?;
            requests += pages(scheduled.len());
            for task in scheduled.iter().filter(|t| missing.contains(&t.id)) {
                seen.insert(task.id.clone(), task.as_job());
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
        let mut unplaced = Vec::new();
        for id in overdue {
            requests += 1;
            match self.job(&ctx, &id).await {
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
        let tracker = self.tracker();
        let now = Instant::now();
        let mut registry = tracker.lock();
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

/// The creation times of `ids` as the API's own listings showed them (whole seconds,
/// so a second either side), when every one of them was seen; else None.
fn created_stretch(
    registry: &Registry,
    ids: &[String],
) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let mut created = ids.iter().map(|id| registry.jobs.get(id)?.created());
    let first = created.next()??;
    let (from, to) = created.try_fold((first, first), |(from, to), at| {
        let at = at?;
        Some((from.min(at), to.max(at)))
    })?;
    Some((from - CREATED_SLACK, to + CREATED_SLACK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    const T0: i64 = 1_800_000_000;

    fn at(seconds: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(T0 + seconds).unwrap()
    }

    /// A followed job registered at `registered` seconds, seen created at `created`
    /// seconds (None: never seen), whose look window opens at `open`.
    fn followed(registered: i64, created: Option<i64>, open: Instant) -> Followed {
        let (tx, _) = watch::channel(JobState::Pending(None));
        Followed {
            tx,
            instance_id: String::new(),
            since: at(registered) - CLOCK_MARGIN,
            registered: Instant::now(),
            registered_at: at(registered),
            schedule: WaitSchedule::default(),
            looks: 2,
            pace: Pace::default(),
            open,
            due: open,
            last: created.map(|c| Job {
                status: "Running".into(),
                created: Some(at(c).format(&Rfc3339).unwrap()),
                ..Default::default()
            }),
            unplaced: false,
        }
    }

    /// 200 jobs, created a second apart, registered half a second after; the ones in
    /// `due` have an open window.
    fn fleet(due: impl Fn(i64) -> bool) -> (Registry, Instant) {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut registry = Registry::default();
        for i in 0..200 {
            let open = if due(i) { now } else { later };
            registry
                .jobs
                .insert(format!("job-{i:03}"), followed(i, Some(i), open));
        }
        (registry, now)
    }

    #[test]
    fn jobs_due_together_are_listed_by_their_creation_times() {
        let (registry, now) = fleet(|i| i < 10 || (150..160).contains(&i));
        let (sweep, served) = RdsClient::plan_sweep(&registry, now);
        assert_eq!(served.len(), 20);
        // 140 jobs between the two groups: one listing across would take 4 pages, two
        // listings take 2.
        assert_eq!(
            sweep,
            Sweep::Clusters(vec![(at(-1), at(10)), (at(149), at(160))])
        );
    }

    #[test]
    fn clusters_merge_when_one_listing_costs_no_more() {
        let (registry, now) = fleet(|i| i < 10 || (30..40).contains(&i));
        let (sweep, _) = RdsClient::plan_sweep(&registry, now);
        assert_eq!(sweep, Sweep::Clusters(vec![(at(-1), at(40))]));
    }

    #[test]
    fn jobs_due_all_over_the_window_are_listed_as_one() {
        let (mut registry, now) = fleet(|i| i % 20 == 0);
        let (sweep, served) = RdsClient::plan_sweep(&registry, now);
        // Ten scattered jobs would take ten listings; one across them takes four pages.
        assert_eq!(served.len(), 10);
        assert_eq!(sweep, Sweep::Clusters(vec![(at(-1), at(181))]));
        // When 300 jobs created among them have finished, one listing by any status
        // across them takes ten pages; the 200 running take four.
        registry.finished = (0..300).map(|i| at(i * 180 / 300)).collect();
        let (sweep, served) = RdsClient::plan_sweep(&registry, now);
        assert_eq!((sweep, served.len()), (Sweep::Everything, 10));
    }

    #[test]
    fn a_job_never_seen_is_looked_for_where_the_apis_clock_puts_its_registration() {
        let now = Instant::now();
        let mut registry = Registry::default();
        registry.jobs.insert("new".into(), followed(100, None, now));
        // Nothing tells the API's clock yet: the whole window.
        assert_eq!(RdsClient::plan_sweep(&registry, now).0, Sweep::Everything);
        // A job created 2.5 s before our registration (the API's clock behind), and
        // one adopted long after its creation, which tells nothing new.
        let mut seen = followed(50, None, now + Duration::from_secs(60));
        seen.last = followed(50, Some(48), now).last;
        seen.registered_at = at(50) + time::Duration::milliseconds(500);
        registry.jobs.insert("seen".into(), seen);
        registry.learn_clock("seen");
        let mut adopted = followed(60, None, now + Duration::from_secs(60));
        adopted.last = followed(60, Some(-600), now).last;
        registry.jobs.insert("adopted".into(), adopted);
        registry.learn_clock("adopted");
        assert_eq!(registry.clock, Some(-2.5));
        let expected = (
            at(100) - time::Duration::milliseconds(5500),
            at(100) - time::Duration::milliseconds(1500),
        );
        assert_eq!(
            RdsClient::plan_sweep(&registry, now).0,
            Sweep::Clusters(vec![expected])
        );
        // Missed there and by `GET /jobs`: the whole window again.
        registry.jobs.get_mut("new").unwrap().unplaced = true;
        assert_eq!(RdsClient::plan_sweep(&registry, now).0, Sweep::Everything);
    }
}
