//! An upgrade job: its status and snapshot, where the APIs show it (the job API, the
//! task center, the scheduled tasks), and following it to the end.
//!
//! Tracking: the job API first; when it does not know the job (PostgreSQL upgrade jobs
//! may not be queryable, delayed jobs are invisible until the window opens), the task
//! center, then the scheduled tasks. Submitting it exactly once: [`super::submit_once`].

use std::time::Duration;

use tokio::time::Instant;

use super::tracking::{JobTracker, PollCadence, WaitError};
use crate::rds::models::{Job, ScheduledTask, Task, parse_time, rfc3339};
use crate::rds::sleep_until;
use crate::rds::{CallCtx, RdsClient, RdsError, TaskFilter};

/// The status of an upgrade job, as the job API and the task center spell it (and the
/// resource's `status` attribute shows it). Parsed and printed here only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// A delayed upgrade waiting for the maintenance window.
    Scheduled,
    Running,
    Completed,
    Failed,
    /// A status hwrds does not know, kept as the API gave it (empty: none read).
    Other(String),
}

impl JobStatus {
    /// The statuses of an upgrade in the task center.
    pub const TASK_CENTER: [JobStatus; 3] =
        [JobStatus::Running, JobStatus::Completed, JobStatus::Failed];

    /// The status a text names; an unknown one is kept as it is.
    pub fn parse(text: &str) -> Self {
        match text {
            "Scheduled" => JobStatus::Scheduled,
            "Running" => JobStatus::Running,
            "Completed" => JobStatus::Completed,
            "Failed" => JobStatus::Failed,
            other => JobStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Scheduled => "Scheduled",
            JobStatus::Running => "Running",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::Other(text) => text,
        }
    }

    /// Completed or failed: nothing more will happen to the job.
    pub fn is_finished(&self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// Running, or scheduled to run in the maintenance window.
    pub fn is_under_way(&self) -> bool {
        matches!(self, JobStatus::Running | JobStatus::Scheduled)
    }
}

impl Default for JobStatus {
    /// No status read yet.
    fn default() -> Self {
        JobStatus::Other(String::new())
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an apply follows a job nobody watches: at once after submission and again 100 ms
/// later (a job may finish in no time; the cost is two requests), then every second,
/// then every tenth of the time waited so far, at most 30 s apart — so completion is
/// noticed within about a tenth of the job's duration (a 5 s job costs about 7 polls, a
/// 30 min job about 90).
pub const UNATTENDED: PollCadence = PollCadence {
    initial: Duration::ZERO,
    second: Duration::from_millis(100),
    proportion: 0.1,
    min: Duration::from_secs(1),
    max: Duration::from_secs(30),
    // PostgreSQL upgrade jobs may never be visible to the job API: fall back soon.
    not_found_grace: Duration::from_secs(5),
};

/// How a job whose progress a person watches (the action's) is followed: a little more
/// eagerly than [`UNATTENDED`].
pub const WATCHED: PollCadence = PollCadence {
    initial: Duration::from_millis(250),
    second: Duration::from_millis(500),
    proportion: 0.05,
    max: Duration::from_secs(15),
    ..UNATTENDED
};

/// What is known about an upgrade job at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSnapshot {
    pub id: String,
    pub status: JobStatus,
    pub progress: Option<String>,
    pub fail_reason: Option<String>,
    /// RFC 3339.
    pub created: Option<String>,
    /// RFC 3339, once finished.
    pub ended: Option<String>,
    /// The instance's complete version right after the job completed, when known.
    pub version_after: Option<String>,
    /// RFC 3339: the window a scheduled (delayed) job is planned to run in, when it was
    /// read from the scheduled tasks.
    pub scheduled_start: Option<String>,
    pub scheduled_end: Option<String>,
}

impl JobSnapshot {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    fn from_job(job: &Job) -> Self {
        JobSnapshot {
            id: job.id.clone(),
            status: JobStatus::parse(&job.status),
            progress: job.progress_text().map(str::to_string),
            fail_reason: job.fail_reason.clone().filter(|r| !r.is_empty()),
            created: job.created.as_deref().and_then(to_rfc3339),
            ended: job.ended.as_deref().and_then(to_rfc3339),
            ..Default::default()
        }
    }

    pub fn from_task(task: &Task) -> Self {
        Self::from_job(&task.as_job())
    }

    fn from_scheduled(task: &ScheduledTask) -> Self {
        JobSnapshot {
            scheduled_start: task.start_time.as_deref().and_then(to_rfc3339),
            scheduled_end: task.end_time.as_deref().and_then(to_rfc3339),
            ..Self::from_job(&task.as_job())
        }
    }
}

fn to_rfc3339(huawei: &str) -> Option<String> {
    parse_time(huawei).map(rfc3339)
}

/// Whether a task-center entry is a minor version upgrade.
pub fn is_upgrade(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("upgrade") && !name.contains("major")
}

/// Every upgrade task of the instance in the task center (any status), newest first.
pub(super) async fn upgrade_tasks(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
) -> Result<Vec<Task>, RdsError> {
    let tasks = client
        .tasks(
            ctx,
            &TaskFilter {
                instance_id: Some(instance_id.to_string()),
                ..Default::default()
            },
        )
        .await?;
    Ok(tasks
        .into_iter()
        .filter(|t| t.instance_id == instance_id && is_upgrade(&t.name))
        .collect())
}

/// Every running upgrade task of the project (one listing, for many instances at once).
pub async fn running_upgrades(client: &RdsClient, ctx: &CallCtx) -> Result<Vec<Task>, RdsError> {
    let running = client
        .tasks(
            ctx,
            &TaskFilter {
                status: Some(JobStatus::Running.to_string()),
                ..Default::default()
            },
        )
        .await?;
    Ok(running
        .into_iter()
        .filter(|t| is_upgrade(&t.name))
        .collect())
}

/// The running upgrade of `instance_id` in a listing of running tasks.
pub(super) fn running_in(tasks: &[Task], instance_id: &str) -> Option<JobSnapshot> {
    tasks
        .iter()
        .find(|t| {
            t.instance_id == instance_id
                && t.status == JobStatus::Running.as_str()
                && is_upgrade(&t.name)
        })
        .map(JobSnapshot::from_task)
}

/// The instance's most recent upgrade if it was created within `within` (any status).
pub async fn recent(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    within: time::Duration,
) -> Result<Option<JobSnapshot>, RdsError> {
    let since = time::OffsetDateTime::now_utc() - within;
    Ok(upgrade_tasks(client, ctx, instance_id)
        .await?
        .iter()
        .filter(|t| {
            t.create_time
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|c| c >= since)
        })
        .max_by_key(|t| t.create_time.as_deref().and_then(parse_time))
        .map(JobSnapshot::from_task))
}

/// The instance's upgrade among `scheduled` that has yet to run or is running, if any.
pub fn pending_upgrade<'a>(
    scheduled: &'a [ScheduledTask],
    instance_id: &str,
) -> Option<&'a ScheduledTask> {
    scheduled
        .iter()
        .find(|t| t.instance_id == instance_id && is_upgrade(&t.name) && t.is_pending())
}

/// An upgrade of the instance that is running or waiting for its window, if any.
pub async fn find_active(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    include_scheduled: bool,
) -> Result<Option<JobSnapshot>, RdsError> {
    let running = client
        .tasks(
            ctx,
            &TaskFilter {
                instance_id: Some(instance_id.to_string()),
                status: Some(JobStatus::Running.to_string()),
                ..Default::default()
            },
        )
        .await?;
    if let Some(task) = running
        .iter()
        .find(|t| t.instance_id == instance_id && is_upgrade(&t.name))
    {
        return Ok(Some(JobSnapshot::from_task(task)));
    }
    if include_scheduled {
        let scheduled = client.scheduled_tasks(ctx, Some(instance_id)).await?;
        if let Some(task) = pending_upgrade(&scheduled, instance_id) {
            return Ok(Some(JobSnapshot::from_scheduled(task)));
        }
    }
    Ok(None)
}

/// The instance's most recent upgrade job (any status), e.g. to import it.
pub async fn most_recent(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
) -> Result<Option<JobSnapshot>, RdsError> {
    if let Some(active) = find_active(client, ctx, instance_id, true).await? {
        return Ok(Some(active));
    }
    Ok(upgrade_tasks(client, ctx, instance_id)
        .await?
        .iter()
        .max_by_key(|t| t.create_time.as_deref().and_then(parse_time))
        .map(JobSnapshot::from_task))
}

/// The patience for an upgrade that does not show (yet): a new job shows in the listings
/// with a delay. It is counted from the first answer that did not show it, so the time a
/// look waits for the API's quota before its answer comes does not use it up: under flow
/// control that wait can outlast any patience, and a look must get its answers before it
/// may conclude that nothing is there. The caller's deadline and cancellation bound it.
#[derive(Debug)]
pub(super) struct Grace {
    patience: Duration,
    first_unseen: Option<Instant>,
}

impl Grace {
    pub(super) fn new(patience: Duration) -> Self {
        Grace {
            patience,
            first_unseen: None,
        }
    }

    /// Records an answer that did not show the upgrade; whether to look again (the first
    /// such answer came less than the patience ago).
    pub(super) fn unseen(&mut self) -> bool {
        let first = *self.first_unseen.get_or_insert_with(Instant::now);
        first.elapsed() < self.patience
    }
}

/// Repeats `look` every `every` until it finds an upgrade or its answers have not shown
/// one for `patience` ([`Grace`]: time spent waiting for quota before the first answer
/// does not count).
pub(super) async fn patiently<F, Fut>(
    ctx: &CallCtx,
    instance_id: &str,
    patience: Duration,
    every: Duration,
    mut look: F,
) -> Result<Option<JobSnapshot>, RdsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<JobSnapshot>, RdsError>>,
{
    let mut grace = Grace::new(patience);
    loop {
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
        if !grace.unseen() {
            return Ok(None);
        }
        let unseen = RdsError::Ambiguous(format!(
            "no upgrade of instance {instance_id} shows in the task center"
        ));
        pause(ctx, every, &unseen).await?;
    }
}

/// How long an upgrade that must exist (a lost answer, a version that changed) is looked
/// for before giving up.
pub const UNSEEN_JOB_PATIENCE: Duration = Duration::from_secs(30);

/// Sleeps, unless cancelled or past the deadline first (then `cause` is reported).
pub(super) async fn pause(
    ctx: &CallCtx,
    wait: Duration,
    cause: &(dyn std::fmt::Display + Sync),
) -> Result<(), RdsError> {
    let wake = Instant::now() + wait;
    if ctx.deadline.is_some_and(|d| d <= wake) {
        sleep_until(ctx.deadline).await;
        return Err(RdsError::Timeout(format!(
            "gave up at the timeout; last error: {cause}"
        )));
    }
    tokio::select! {
        _ = ctx.cancel.cancelled() => Err(RdsError::Cancelled),
        _ = tokio::time::sleep_until(wake) => Ok(()),
    }
}

/// The job's current state: the job API, else the task center, else the scheduled
/// tasks. None when no API knows the job (yet, or any more).
pub async fn snapshot(
    client: &RdsClient,
    ctx: &CallCtx,
    job_id: &str,
    instance_id: &str,
) -> Result<Option<JobSnapshot>, RdsError> {
    match client.job(ctx, job_id).await {
        Ok(job) => return Ok(Some(JobSnapshot::from_job(&job))),
        Err(RdsError::JobNotFound(_)) => {}
        Err(e) => return Err(e),
    }
    // By its id: one request, where the instance's month of tasks may take pages.
    let by_id = TaskFilter {
        id: Some(job_id.to_string()),
        instance_id: Some(instance_id.to_string()),
        ..Default::default()
    };
    let tasks = client.tasks(ctx, &by_id).await?;
    if let Some(task) = tasks.iter().find(|t| t.id == job_id) {
        return Ok(Some(JobSnapshot::from_task(task)));
    }
    let scheduled = client.scheduled_tasks(ctx, Some(instance_id)).await?;
    Ok(scheduled
        .iter()
        .find(|t| t.id == job_id)
        .map(JobSnapshot::from_scheduled))
}

/// How long a job just submitted is looked for in the scheduled tasks (new jobs show in
/// the listings with a delay); the next refresh records it when this is not enough.
const NEW_TASK_PATIENCE: Duration = Duration::from_secs(6);

/// The scheduled times of a job just submitted as delayed, looked for a few seconds.
pub async fn new_job_times(
    client: &RdsClient,
    call: &CallCtx,
    instance_id: &str,
    job_id: &str,
) -> Option<JobSnapshot> {
    let until = tokio::time::Instant::now() + NEW_TASK_PATIENCE;
    loop {
        match client.scheduled_tasks(call, Some(instance_id)).await {
            Ok(tasks) => {
                if let Some(task) = tasks.iter().find(|t| t.id == job_id) {
                    return Some(times_of(task));
                }
            }
            Err(e) => {
                tracing::debug!(instance_id, job_id, error = %e, "cannot read the scheduled tasks; the next refresh records the job's window");
                return None;
            }
        }
        if tokio::time::Instant::now() >= until || call.cancel.is_cancelled() {
            tracing::debug!(
                instance_id,
                job_id,
                "the job does not show in the scheduled tasks yet"
            );
            return None;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn times_of(task: &ScheduledTask) -> JobSnapshot {
    let rfc = |t: &Option<String>| t.as_deref().and_then(parse_time).map(rfc3339);
    JobSnapshot {
        id: task.id.clone(),
        scheduled_start: rfc(&task.start_time),
        scheduled_end: rfc(&task.end_time),
        ..Default::default()
    }
}

/// Why waiting stopped before the job finished.
#[derive(Debug)]
pub enum Interrupted {
    Timeout(Option<JobSnapshot>),
    Cancelled(Option<JobSnapshot>),
    Api(RdsError),
}

/// Waits until the job finishes (Completed or Failed), reporting progress, with the
/// process's one tracker of every job it waits for (task-center sweeps, the scheduled
/// tasks and the job API as fallbacks, PostgreSQL's unqueryable jobs included). A
/// completed job's snapshot carries the instance's version after it when the catalog's
/// listing read after the job finished had it.
pub async fn wait(
    tracker: &JobTracker,
    ctx: &CallCtx,
    job_id: &str,
    instance_id: &str,
    cadence: PollCadence,
    mut on_progress: impl FnMut(&JobSnapshot) + Send,
) -> Result<JobSnapshot, Interrupted> {
    // A new job was created moments ago; its listings' window starts a day before.
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let followed = tracker
        .follow_job(ctx, job_id, instance_id, Some(since), cadence, |job| {
            on_progress(&JobSnapshot::from_job(job))
        })
        .await;
    match followed {
        Ok(finished) => {
            let mut snap = JobSnapshot::from_job(&finished.job);
            snap.version_after = finished.version_after;
            Ok(snap)
        }
        Err(WaitError::Timeout(job)) => Err(Interrupted::Timeout(
            job.as_ref().map(JobSnapshot::from_job),
        )),
        Err(WaitError::Cancelled(job)) => Err(Interrupted::Cancelled(
            job.as_ref().map(JobSnapshot::from_job),
        )),
        Err(WaitError::Api(e)) => Err(Interrupted::Api(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_grace_counts_from_the_first_answer_not_from_the_wait_for_quota() {
        let mut grace = Grace::new(Duration::from_secs(6));
        // The first look waited 30 s for its quota: the grace has not begun.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(grace.unseen(), "the first answer starts it");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(grace.unseen());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!grace.unseen(), "six seconds of answers without it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_slowed_by_its_quota_still_gets_a_second_answer() {
        let ctx = CallCtx::default();
        let looks = std::cell::Cell::new(0);
        let look = || {
            looks.set(looks.get() + 1);
            let n = looks.get();
            async move {
                // Each answer comes 20 s late (the quota); the job shows from the second.
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok((n >= 2).then(|| JobSnapshot {
                    id: "job".into(),
                    ..Default::default()
                }))
            }
        };
        let found = patiently(
            &ctx,
            "i",
            Duration::from_secs(6),
            Duration::from_secs(2),
            look,
        )
        .await
        .unwrap();
        assert_eq!(found.map(|j| j.id), Some("job".into()));
        assert_eq!(looks.get(), 2);
        // Nothing ever shows: it gives up once the answers have said so for 6 s.
        let started = Instant::now();
        let never = || async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Ok(None)
        };
        let found = patiently(
            &ctx,
            "i",
            Duration::from_secs(6),
            Duration::from_secs(2),
            never,
        )
        .await
        .unwrap();
        assert!(found.is_none());
        assert_eq!(Instant::now() - started, Duration::from_secs(20 + 2 + 20));
    }

    #[test]
    fn upgrade_task_names() {
        assert!(is_upgrade("UpgradeMinorVersion"));
        assert!(is_upgrade("Upgrade DB engine minor version"));
        assert!(!is_upgrade("UpgradeMajorVersion"));
        assert!(!is_upgrade("CreateBackup"));
    }

    #[test]
    fn statuses_parse_and_print_alike() {
        for status in ["Scheduled", "Running", "Completed", "Failed", "Pending", ""] {
            assert_eq!(JobStatus::parse(status).as_str(), status);
        }
        assert_eq!(JobStatus::parse("Completed"), JobStatus::Completed);
        assert!(JobStatus::parse("Failed").is_finished());
        assert!(!JobStatus::parse("Pending").is_finished());
        assert!(JobStatus::Scheduled.is_under_way() && !JobStatus::Completed.is_under_way());
    }

    #[test]
    fn scheduled_task_times_become_rfc3339() {
        let task = ScheduledTask {
            id: "j".into(),
            start_time: Some("2026-01-01T22:00:00+0800".into()),
            end_time: Some("2026-01-02T02:00:00+0800".into()),
            ..Default::default()
        };
        let snap = times_of(&task);
        assert_eq!(
            snap.scheduled_start.as_deref(),
            Some("2026-01-01T14:00:00Z")
        );
        assert_eq!(snap.scheduled_end.as_deref(), Some("2026-01-01T18:00:00Z"));
    }

    #[test]
    fn scheduled_statuses_map_to_job_statuses() {
        let task = |status: &str| ScheduledTask {
            id: "j".into(),
            status: status.into(),
            ..Default::default()
        };
        assert_eq!(
            JobSnapshot::from_scheduled(&task("Pending")).status,
            JobStatus::Scheduled
        );
        assert_eq!(
            JobSnapshot::from_scheduled(&task("Running")).status,
            JobStatus::Running
        );
        let canceled = JobSnapshot::from_scheduled(&task("Canceled"));
        assert!(canceled.is_finished());
        assert!(canceled.fail_reason.unwrap().contains("canceled"));
    }
}
