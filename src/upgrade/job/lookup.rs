//! Where the RDS APIs show an instance's upgrades: the one under way (a running task, or
//! a scheduled one waiting for its window), the latest one in the task center, one job by
//! its id (the job API, else the task center, else the scheduled tasks), and the window
//! of a delayed job just submitted. Every query here is one look; looking again while a
//! new job does not show yet is [`super::patience`]'s.

use std::time::Duration;

use time::OffsetDateTime;

use super::patience::{UNSEEN_JOB_PATIENCE, patiently};
use super::{JobSnapshot, JobStatus, is_upgrade};
use crate::rds::models::{ScheduledTask, Task, parse_time, rfc3339};
use crate::rds::{CallCtx, RdsClient, RdsError, TaskFilter};

/// Which of the task center's upgrades of an instance a search takes (the newest that
/// qualifies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Any upgrade, however old.
    Ever,
    /// Upgrades created at or after this moment.
    Created(OffsetDateTime),
    /// Upgrades running, or created or ended at or after this moment.
    Touched(OffsetDateTime),
}

impl Since {
    fn takes(self, task: &Task) -> bool {
        let at = |t: Option<&str>| t.and_then(parse_time);
        match self {
            Since::Ever => true,
            Since::Created(since) => at(task.create_time.as_deref()).is_some_and(|c| c >= since),
            Since::Touched(since) => {
                let last = task.end_time.as_deref().or(task.create_time.as_deref());
                task.status == JobStatus::Running.as_str() || at(last).is_some_and(|t| t >= since)
            }
        }
    }
}

/// Every upgrade task of the instance in the task center (any status).
async fn upgrade_tasks(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
) -> Result<Vec<Task>, RdsError> {
    let filter = TaskFilter {
        instance_id: Some(instance_id.to_string()),
        ..Default::default()
    };
    Ok(client
        .tasks(ctx, &filter)
        .await?
        .into_iter()
        .filter(|t| t.instance_id == instance_id && is_upgrade(&t.name))
        .collect())
}

/// Every running upgrade task of the project (one listing, for many instances at once).
pub async fn running_upgrades(client: &RdsClient, ctx: &CallCtx) -> Result<Vec<Task>, RdsError> {
    let filter = TaskFilter {
        status: Some(JobStatus::Running.to_string()),
        ..Default::default()
    };
    Ok(client
        .tasks(ctx, &filter)
        .await?
        .into_iter()
        .filter(|t| is_upgrade(&t.name))
        .collect())
}

/// The running upgrade of `instance_id` in a listing of running tasks.
pub fn running_in(tasks: &[Task], instance_id: &str) -> Option<JobSnapshot> {
    tasks
        .iter()
        .find(|t| {
            t.instance_id == instance_id
                && t.status == JobStatus::Running.as_str()
                && is_upgrade(&t.name)
        })
        .map(JobSnapshot::from_task)
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

/// An upgrade of the instance that is running or (with `include_scheduled`) waiting for
/// its window, if any.
pub async fn find_active(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    include_scheduled: bool,
) -> Result<Option<JobSnapshot>, RdsError> {
    let running = TaskFilter {
        instance_id: Some(instance_id.to_string()),
        status: Some(JobStatus::Running.to_string()),
        ..Default::default()
    };
    if let Some(task) = client
        .tasks(ctx, &running)
        .await?
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

/// The newest upgrade of the instance in the task center that `since` takes.
pub async fn latest_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: Since,
) -> Result<Option<JobSnapshot>, RdsError> {
    Ok(upgrade_tasks(client, ctx, instance_id)
        .await?
        .iter()
        .filter(|t| since.takes(t))
        .max_by_key(|t| t.create_time.as_deref().and_then(parse_time))
        .map(JobSnapshot::from_task))
}

/// The instance's upgrade under way (running or scheduled), else the newest one in the
/// task center that `since` takes: e.g. the job to import, or the one a busy instance
/// is busy with.
pub async fn active_or_latest(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: Since,
) -> Result<Option<JobSnapshot>, RdsError> {
    if let Some(active) = find_active(client, ctx, instance_id, true).await? {
        return Ok(Some(active));
    }
    latest_upgrade(client, ctx, instance_id, since).await
}

/// [`active_or_latest`] with `Since::Touched(since)`, looked for every few seconds until
/// the answers have not shown one for `patience`: new jobs show in the listings with a
/// delay.
pub async fn search_for_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: OffsetDateTime,
    patience: Duration,
) -> Result<Option<JobSnapshot>, RdsError> {
    let search = || active_or_latest(client, ctx, instance_id, Since::Touched(since));
    patiently(ctx, instance_id, patience, Duration::from_secs(3), search).await
}

/// The upgrade that changed an instance's version within the last day, waited for with
/// [`UNSEEN_JOB_PATIENCE`] (its job may not show yet).
pub async fn upgrade_that_changed_it(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
) -> Result<Option<JobSnapshot>, RdsError> {
    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    search_for_upgrade(client, ctx, instance_id, since, UNSEEN_JOB_PATIENCE).await
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

/// The scheduled window of a job just submitted as delayed, looked for a few seconds.
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_search_takes_the_upgrades_its_moment_allows() {
        let task = |status: &str, created: &str, ended: Option<&str>| Task {
            id: "j".into(),
            status: status.into(),
            create_time: Some(created.into()),
            end_time: ended.map(str::to_string),
            ..Default::default()
        };
        let noon = time::macros::datetime!(2026-01-01 12:00 UTC);
        let old_done = task(
            "Completed",
            "2026-01-01T10:00:00+0000",
            Some("2026-01-01T11:00:00+0000"),
        );
        let ended_since = task(
            "Completed",
            "2026-01-01T11:00:00+0000",
            Some("2026-01-01T12:30:00+0000"),
        );
        let old_running = task("Running", "2026-01-01T09:00:00+0000", None);
        assert!(Since::Ever.takes(&old_done));
        assert!(!Since::Created(noon).takes(&old_done));
        assert!(
            !Since::Created(noon).takes(&ended_since),
            "created before noon"
        );
        assert!(Since::Touched(noon).takes(&ended_since), "ended after noon");
        assert!(Since::Touched(noon).takes(&old_running), "still running");
        assert!(!Since::Touched(noon).takes(&old_done));
    }
}
