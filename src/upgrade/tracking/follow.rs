//! A waiter's side of the tracker: following one job to its end with
//! [`JobTracker::follow_job`], with progress reports, and the waiter's own deadline and
//! cancellation, which end its wait without disturbing the others; and why a wait ended
//! without a finished job ([`WaitError`]). Waiters see the job as a [`JobSnapshot`].

use super::cadence::PollCadence;
use super::registry::JobState;
use super::tracker::JobTracker;
use crate::rds::models::Job;
use crate::rds::{CallCtx, RdsError, sleep_until};
use crate::upgrade::job::JobSnapshot;

/// Why waiting ended without a finished job.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError {
    /// The caller's deadline passed; the last job status seen, if any.
    Timeout(Option<JobSnapshot>),
    /// Cancelled (StopProvider, Ctrl-C); the last job status seen, if any.
    Cancelled(Option<JobSnapshot>),
    /// Polling failed.
    Api(RdsError),
}

/// The job a waiter follows.
#[derive(Debug, Clone, Copy)]
pub struct Followed<'a> {
    pub job_id: &'a str,
    /// The instance it upgrades ("" when not known: the job API alone follows it).
    pub instance_id: &'a str,
    /// When it was created at the earliest, when known (bounds the task-center listings).
    pub since: Option<time::OffsetDateTime>,
    pub cadence: PollCadence,
}

impl JobTracker {
    /// Waits until the job finishes, following it with this tracker, and calls
    /// `on_progress` whenever its status or progress changes. Returns the finished job
    /// (Completed or Failed), with the instance's version after it when the catalog's
    /// listing read after the job finished had it.
    pub async fn follow_job(
        &self,
        ctx: &CallCtx,
        followed: Followed<'_>,
        mut on_progress: impl FnMut(&JobSnapshot) + Send,
    ) -> Result<JobSnapshot, WaitError> {
        let Followed {
            job_id,
            instance_id,
            since,
            cadence,
        } = followed;
        let mut rx = self.track_job(job_id, instance_id, since, cadence);
        let mut last_seen: Option<Job> = None;
        let seen = |job: &Option<Job>| job.as_ref().map(JobSnapshot::from_job);
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                JobState::Done(Ok(finished)) => {
                    let mut snap = JobSnapshot::from_job(&finished.job);
                    snap.version_after = finished.version_after;
                    return Ok(snap);
                }
                // The tracker itself was cancelled: the wait is, too.
                JobState::Done(Err(RdsError::Cancelled)) => {
                    return Err(WaitError::Cancelled(seen(&last_seen)));
                }
                JobState::Done(Err(e)) => return Err(WaitError::Api(e)),
                JobState::Pending(Some(job)) => {
                    let changed = last_seen.as_ref().is_none_or(|l| {
                        l.progress_text() != job.progress_text() || l.status != job.status
                    });
                    if changed {
                        tracing::info!(job_id, status = %job.status, progress = job.progress_text().unwrap_or(""), "upgrade job progress");
                        on_progress(&JobSnapshot::from_job(&job));
                    }
                    last_seen = Some(job);
                }
                JobState::Pending(None) => {}
            }
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Err(WaitError::Cancelled(seen(&last_seen))),
                _ = sleep_until(ctx.deadline) => return Err(WaitError::Timeout(seen(&last_seen))),
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The tracker dropped the job (it lost every waiter just as we
                        // came): follow it afresh.
                        rx = self.track_job(job_id, instance_id, since, cadence);
                    }
                }
            }
        }
    }
}
