//! Submitting a minor upgrade exactly once and following its job to the end.
//!
//! Exactly once: before submitting, an upgrade already running (or scheduled) on the
//! instance is adopted. A busy answer (`DBS.200019`) leads to finding out what keeps the
//! instance busy: an upgrade of it — running, scheduled, or finished since — is adopted,
//! never followed by a second submission, and so is a version that changed meanwhile
//! (its job is waited for); only a busy instance with no upgrade in sight is submitted
//! again later, after these facts were read again. A submission whose answer was lost
//! ([`RdsError::Ambiguous`]) is never simply repeated — the task center is searched for
//! the job it may have started, and only when the instance shows no sign of one is the
//! request sent again (a second request for a running upgrade is refused as busy). A
//! request once sent is seen through even when Terraform is interrupted: its answer
//! carries the job id that the state must record.
//!
//! Tracking: the job API first; when it does not know the job (PostgreSQL upgrade jobs
//! may not be queryable, delayed jobs are invisible until the window opens), the task
//! center, then the scheduled tasks.

use std::time::Duration;

use tokio::time::Instant;

use crate::rds::models::{Job, ScheduledTask, Task, parse_time, rfc3339};
use crate::rds::sleep_until;
use crate::rds::{
    CallCtx, RdsClient, RdsError, TaskFilter, UpgradeRequest, WaitError, WaitSchedule,
};

/// The status of a delayed upgrade waiting for the maintenance window.
pub const SCHEDULED: &str = "Scheduled";
pub const RUNNING: &str = "Running";
pub const COMPLETED: &str = "Completed";
pub const FAILED: &str = "Failed";

/// What is known about an upgrade job at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSnapshot {
    pub id: String,
    /// `Scheduled`, `Running`, `Completed` or `Failed`.
    pub status: String,
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
        matches!(self.status.as_str(), COMPLETED | FAILED)
    }

    fn from_job(job: &Job) -> Self {
        JobSnapshot {
            id: job.id.clone(),
            status: job.status.clone(),
            progress: job.progress_text().map(str::to_string),
            fail_reason: job.fail_reason.clone().filter(|r| !r.is_empty()),
            created: job.created.as_deref().and_then(to_rfc3339),
            ended: job.ended.as_deref().and_then(to_rfc3339),
            ..Default::default()
        }
    }

    pub fn from_task(task: &Task) -> Self {
        JobSnapshot {
            id: task.id.clone(),
            status: task.status.clone(),
            progress: task.process.clone().filter(|p| !p.is_empty()),
            fail_reason: task.fail_reason.clone().filter(|r| !r.is_empty()),
            created: task.create_time.as_deref().and_then(to_rfc3339),
            ended: task.end_time.as_deref().and_then(to_rfc3339),
            ..Default::default()
        }
    }

    fn from_scheduled(task: &ScheduledTask) -> Self {
        let status = match task.status.as_str() {
            "Completed" => COMPLETED,
            "Failed" | "Canceled" => FAILED,
            "Running" => RUNNING,
            _ => SCHEDULED,
        };
        JobSnapshot {
            id: task.id.clone(),
            status: status.to_string(),
            fail_reason: (task.status == "Canceled")
                .then(|| "the scheduled upgrade was canceled".to_string()),
            created: task.create_time.as_deref().and_then(to_rfc3339),
            scheduled_start: task.start_time.as_deref().and_then(to_rfc3339),
            scheduled_end: task.end_time.as_deref().and_then(to_rfc3339),
            ..Default::default()
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
async fn upgrade_tasks(
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
                status: Some(RUNNING.to_string()),
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
fn running_in(tasks: &[Task], instance_id: &str) -> Option<JobSnapshot> {
    tasks
        .iter()
        .find(|t| t.instance_id == instance_id && t.status == RUNNING && is_upgrade(&t.name))
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
                status: Some(RUNNING.to_string()),
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

/// [`find_active`], looking again every two seconds for up to `patience` while nothing
/// shows: a job started moments ago appears in the listings with a delay.
pub async fn find_active_within(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    patience: Duration,
) -> Result<Option<JobSnapshot>, RdsError> {
    let look = || find_active(client, ctx, instance_id, true);
    patiently(ctx, instance_id, patience, Duration::from_secs(2), look).await
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

/// How a submission ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// This call started the upgrade.
    New(String),
    /// An upgrade of the instance was already under way; this is its job.
    Adopted(JobSnapshot),
}

impl Submitted {
    pub fn job_id(&self) -> &str {
        match self {
            Submitted::New(id) => id,
            Submitted::Adopted(job) => &job.id,
        }
    }
}

/// How long an upgrade that may have been started is looked for before the request is
/// sent again.
const AMBIGUOUS_SEARCH: Duration = Duration::from_secs(12);

/// Submits the upgrade once (see the module documentation), retrying "busy" until the
/// context's deadline. `version` is the instance's complete version as the checks saw it;
/// `running`, a listing of the project's running upgrades made moments ago, spares the
/// first look for one to adopt (later looks ask afresh).
pub async fn submit_once(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    version: Option<&str>,
    request: UpgradeRequest,
    running: Option<&[Task]>,
) -> Result<Submitted, SubmitError> {
    let mut busy_attempts = 0u32;
    let mut busy_since = None;
    let mut check_scheduled = request.is_delayed;
    let mut listing = running.filter(|_| !request.is_delayed);
    loop {
        let found = match (listing.take(), busy_since) {
            (Some(tasks), _) => BusyWith::from(running_in(tasks, instance_id)),
            (None, Some(since)) => {
                busy_with_upgrade(client, ctx, instance_id, since, version).await?
            }
            (None, None) => {
                BusyWith::from(find_active(client, ctx, instance_id, check_scheduled).await?)
            }
        };
        match found {
            BusyWith::Upgrade(active) => {
                tracing::info!(instance_id, job_id = %active.id, status = %active.status, "adopting the upgrade already under way");
                return Ok(Submitted::Adopted(active));
            }
            BusyWith::UnseenUpgrade(now) => {
                tracing::info!(instance_id, version_before = version.unwrap_or(""), version_now = %now, "the instance changed version while busy; waiting for its upgrade job to show instead of submitting another");
                let since = busy_since.unwrap_or_else(time::OffsetDateTime::now_utc);
                return match search_for_upgrade(
                    client,
                    ctx,
                    instance_id,
                    since,
                    UNSEEN_JOB_PATIENCE,
                )
                .await?
                {
                    Some(job) => Ok(Submitted::Adopted(job)),
                    None => Err(SubmitError::UpgradedElsewhere {
                        before: version.unwrap_or_default().to_string(),
                        now,
                    }),
                };
            }
            BusyWith::Other => {}
        }
        if ctx.cancel.is_cancelled() {
            return Err(RdsError::Cancelled.into());
        }
        // Ctrl-C ends the wait for the submission's quota; once sent, the client sees
        // the request through: its answer carries the job id the state must record.
        match client.upgrade(ctx, instance_id, request).await {
            Ok(job_id) => {
                tracing::info!(
                    instance_id,
                    job_id,
                    is_delayed = request.is_delayed,
                    "upgrade submitted"
                );
                return Ok(Submitted::New(job_id));
            }
            Err(e) if e.is_busy() => {
                // What keeps it busy is found out at once, and read again before any retry.
                let since = *busy_since
                    .get_or_insert_with(|| time::OffsetDateTime::now_utc() - BUSY_CLOCK_MARGIN);
                match busy_with_upgrade(client, ctx, instance_id, since, version).await? {
                    BusyWith::Upgrade(job) => {
                        tracing::info!(instance_id, job_id = %job.id, status = %job.status, "the instance is busy with an upgrade; adopting it");
                        return Ok(Submitted::Adopted(job));
                    }
                    BusyWith::UnseenUpgrade(_) => continue, // handled at the top

                    BusyWith::Other => {}
                }
                let wait = Duration::from_secs(5 * 2u64.pow(busy_attempts.min(3)))
                    .min(Duration::from_secs(30));
                busy_attempts += 1;
                tracing::info!(instance_id, error = %e, retry_in = ?wait, "instance busy with no upgrade in sight; submitting again later");
                pause(ctx, wait, &e).await?;
            }
            Err(e @ RdsError::Ambiguous(_)) => {
                tracing::warn!(instance_id, error = %e, "no answer to the upgrade request; looking for the job it may have started");
                let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
                let found =
                    search_for_upgrade(client, ctx, instance_id, since, AMBIGUOUS_SEARCH).await?;
                if let Some(found) = found {
                    return Ok(Submitted::Adopted(found));
                }
                check_scheduled = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why an upgrade was not submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitError {
    Api(RdsError),
    /// The instance's version changed since it was checked and no job of the upgrade that
    /// changed it shows: submitting would upgrade it a second time.
    UpgradedElsewhere {
        before: String,
        now: String,
    },
}

impl From<RdsError> for SubmitError {
    fn from(e: RdsError) -> Self {
        SubmitError::Api(e)
    }
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Api(e) => e.fmt(f),
            SubmitError::UpgradedElsewhere { before, now } => write!(
                f,
                "the instance now runs {now} (it ran {before} when checked), upgraded by an operation whose job the task center does not show"
            ),
        }
    }
}

/// How far the API's clock may be behind ours when "finished just before the instance
/// was found busy" is judged by the task center's times.
const BUSY_CLOCK_MARGIN: time::Duration = time::Duration::minutes(2);

/// What keeps a busy instance busy, as far as the APIs tell.
enum BusyWith {
    /// An upgrade of the instance, running, scheduled, or finished since it was found busy.
    Upgrade(JobSnapshot),
    /// No upgrade in sight, yet the instance's version changed (to this one): an upgrade
    /// ran whose job does not show yet.
    UnseenUpgrade(String),
    /// No sign of an upgrade: another operation.
    Other,
}

impl From<Option<JobSnapshot>> for BusyWith {
    fn from(active: Option<JobSnapshot>) -> Self {
        active.map_or(BusyWith::Other, BusyWith::Upgrade)
    }
}

/// Reads the facts again after a busy answer: an upgrade of the instance in sight (see
/// [`look_once`]; the one that kept it busy may have finished meanwhile), else the
/// instance's version against `version_before`.
async fn busy_with_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    busy_since: time::OffsetDateTime,
    version_before: Option<&str>,
) -> Result<BusyWith, RdsError> {
    if let Some(job) = look_once(client, ctx, instance_id, busy_since).await? {
        return Ok(BusyWith::Upgrade(job));
    }
    let now = client
        .instance(ctx, instance_id)
        .await?
        .and_then(|i| i.datastore.complete_version);
    match (version_before, now) {
        (Some(before), Some(now)) if before != now => Ok(BusyWith::UnseenUpgrade(now)),
        _ => Ok(BusyWith::Other),
    }
}

/// One look for an upgrade of the instance: running or scheduled, or created or ended
/// since `since`.
async fn look_once(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: time::OffsetDateTime,
) -> Result<Option<JobSnapshot>, RdsError> {
    if let Some(active) = find_active(client, ctx, instance_id, true).await? {
        return Ok(Some(active));
    }
    Ok(upgrade_tasks(client, ctx, instance_id)
        .await?
        .into_iter()
        .filter(|t| {
            let last = t.end_time.as_deref().or(t.create_time.as_deref());
            t.status == RUNNING || last.and_then(parse_time).is_some_and(|at| at >= since)
        })
        .max_by_key(|t| t.create_time.as_deref().and_then(parse_time))
        .map(|t| JobSnapshot::from_task(&t)))
}

/// Looks for an upgrade of the instance (see [`look_once`]) every few seconds for up to
/// `patience`: new jobs show in the listings with a delay.
pub async fn search_for_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: time::OffsetDateTime,
    patience: Duration,
) -> Result<Option<JobSnapshot>, RdsError> {
    let look = || look_once(client, ctx, instance_id, since);
    patiently(ctx, instance_id, patience, Duration::from_secs(3), look).await
}

/// Repeats `look` every `every` until it finds an upgrade or `patience` has passed (new
/// jobs show in the listings with a delay).
async fn patiently<F, Fut>(
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
    let until = Instant::now() + patience;
    loop {
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
        if Instant::now() >= until {
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
async fn pause(ctx: &CallCtx, wait: Duration, cause: &RdsError) -> Result<(), RdsError> {
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
    let tasks = upgrade_tasks(client, ctx, instance_id).await?;
    if let Some(task) = tasks.iter().find(|t| t.id == job_id) {
        return Ok(Some(JobSnapshot::from_task(task)));
    }
    let scheduled = client.scheduled_tasks(ctx, Some(instance_id)).await?;
    Ok(scheduled
        .iter()
        .find(|t| t.id == job_id)
        .map(JobSnapshot::from_scheduled))
}

/// Why waiting stopped before the job finished.
#[derive(Debug)]
pub enum Interrupted {
    Timeout(Option<JobSnapshot>),
    Cancelled(Option<JobSnapshot>),
    Api(RdsError),
}

/// Waits until the job finishes (Completed or Failed), reporting progress, with the
/// client's one tracker of every job of the process (task-center sweeps, the scheduled
/// tasks and the job API as fallbacks, PostgreSQL's unqueryable jobs included). A
/// completed job's snapshot carries the instance's version after it when the tracker's
/// instance listing had it.
pub async fn wait(
    client: &RdsClient,
    ctx: &CallCtx,
    job_id: &str,
    instance_id: &str,
    schedule: WaitSchedule,
    mut on_progress: impl FnMut(&JobSnapshot) + Send,
) -> Result<JobSnapshot, Interrupted> {
    // A new job was created moments ago; its listings' window starts a day before.
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let followed = client
        .follow_job(ctx, job_id, instance_id, Some(since), schedule, |job| {
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

    #[test]
    fn upgrade_task_names() {
        assert!(is_upgrade("UpgradeMinorVersion"));
        assert!(is_upgrade("Upgrade DB engine minor version"));
        assert!(!is_upgrade("UpgradeMajorVersion"));
        assert!(!is_upgrade("CreateBackup"));
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
            SCHEDULED
        );
        assert_eq!(
            JobSnapshot::from_scheduled(&task("Running")).status,
            RUNNING
        );
        let canceled = JobSnapshot::from_scheduled(&task("Canceled"));
        assert!(canceled.is_finished());
        assert!(canceled.fail_reason.unwrap().contains("canceled"));
    }
}
