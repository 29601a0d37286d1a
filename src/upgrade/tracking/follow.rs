//! A waiter's side of the tracker: following one job to its end with
//! [`JobTracker::follow_job`] (or [`JobTracker::wait_for_job`]), with progress reports,
//! and the waiter's own deadline and cancellation, which end its wait without disturbing
//! the others; and why a wait ended without a finished job ([`WaitError`]).

use super::cadence::PollCadence;
use super::registry::{Finished, JobState};
use super::tracker::JobTracker;
use crate::rds::models::Job;
use crate::rds::{CallCtx, RdsError, sleep_until};

/// Why waiting ended without a finished job.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError {
    /// The caller's deadline passed; the last job status seen, if any.
    Timeout(Option<Job>),
    /// Cancelled (StopProvider); the last job status seen, if any.
    Cancelled(Option<Job>),
    /// Polling failed.
    Api(RdsError),
}

impl JobTracker {
    /// Waits until job `job_id` finishes, calling `on_progress` whenever its progress
    /// changes. Returns the finished job (Completed or Failed).
    pub async fn wait_for_job(
        &self,
        ctx: &CallCtx,
        job_id: &str,
        cadence: PollCadence,
        on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Job, WaitError> {
        self.follow_job(ctx, job_id, "", None, cadence, on_progress)
            .await
            .map(|finished| finished.job)
    }

    /// Waits until job `job_id` of `instance_id` (created no earlier than `since`, when
    /// known) finishes, following it with this tracker, and calls `on_progress` whenever
    /// its status or progress changes. Returns the finished job and the instance's
    /// version after it.
    pub async fn follow_job(
        &self,
        ctx: &CallCtx,
        job_id: &str,
        instance_id: &str,
        since: Option<time::OffsetDateTime>,
        cadence: PollCadence,
        mut on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Finished, WaitError> {
        let mut rx = self.track_job(job_id, instance_id, since, cadence);
        let mut last_seen: Option<Job> = None;
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                JobState::Done(Ok(finished)) => return Ok(finished),
                // The tracker itself was cancelled: the wait is, too.
                JobState::Done(Err(RdsError::Cancelled)) => {
                    return Err(WaitError::Cancelled(last_seen));
                }
                JobState::Done(Err(e)) => return Err(WaitError::Api(e)),
                JobState::Pending(Some(job)) => {
                    let changed = last_seen.as_ref().is_none_or(|l| {
                        l.progress_text() != job.progress_text() || l.status != job.status
                    });
                    if changed {
                        tracing::info!(job_id, status = %job.status, progress = job.progress_text().unwrap_or(""), "upgrade job progress");
                        on_progress(&job);
                    }
                    last_seen = Some(job);
                }
                JobState::Pending(None) => {}
            }
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Err(WaitError::Cancelled(last_seen)),
                _ = sleep_until(ctx.deadline) => return Err(WaitError::Timeout(last_seen)),
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
