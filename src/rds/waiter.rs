//! Waiting for a job: the progress-paced schedule of its looks, and a waiter's side of the
//! client's one tracker ([`super::tracker`]) — progress reports, and the waiter's own
//! deadline and cancellation, which end its wait without disturbing the others.

use std::time::Duration;

use tokio::time::Instant;

use super::client::RdsClient;
use super::context::{CallCtx, sleep_until};
use super::error::RdsError;
use super::models::Job;
use super::tracker::{Finished, JobState};

/// Poll timing.
#[derive(Debug, Clone, Copy)]
pub struct WaitSchedule {
    /// First wait, before the first poll.
    pub initial: Duration,
    /// Wait before the second poll (a quick second look, for jobs that finish at once).
    pub second: Duration,
    /// Later waits are this share of the time waited so far (so completion is noticed
    /// within that share of the job's duration), but at least `min` and at most `max`.
    pub proportion: f64,
    pub min: Duration,
    pub max: Duration,
    /// How long "job not found" counts as "not visible yet".
    pub not_found_grace: Duration,
}

impl Default for WaitSchedule {
    fn default() -> Self {
        WaitSchedule {
            initial: Duration::from_millis(250),
            second: Duration::from_millis(500),
            proportion: 0.1,
            min: Duration::from_secs(1),
            max: Duration::from_secs(30),
            not_found_grace: Duration::from_secs(60),
        }
    }
}

impl WaitSchedule {
    /// The wait before poll `n` (0-based) after `elapsed` of waiting, with ±20 % jitter.
    pub fn interval(&self, n: u32, elapsed: Duration) -> Duration {
        let base = if n == 0 {
            self.initial
        } else if n == 1 {
            self.second
        } else {
            elapsed
                .mul_f64(self.proportion)
                .clamp(self.min, self.max.max(self.min))
        };
        base.mul_f64(0.8 + 0.4 * fastrand::f64())
    }
}

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

/// Predicts when a job will finish from how fast its progress percentage moves, so the
/// poll after the predicted end comes right after it rather than up to a whole interval
/// late. Uses two local observations (not the API's clock, which may be skewed).
#[derive(Debug, Default)]
pub(super) struct Pace {
    last: Option<(f64, Instant)>,
    predicted_end: Option<Instant>,
}

impl Pace {
    pub(super) fn observe(&mut self, job: &Job, at: Instant) {
        let Some(percent) = job
            .progress_text()
            .and_then(|p| p.trim().trim_end_matches('%').trim().parse::<f64>().ok())
            .filter(|p| (0.0..100.0).contains(p))
        else {
            return;
        };
        self.predicted_end = None;
        if let Some((before, then)) = self.last
            && percent > before
        {
            let per_second = (percent - before) / at.duration_since(then).as_secs_f64().max(1e-3);
            let remaining = Duration::from_secs_f64(((100.0 - percent) / per_second).min(86_400.0));
            self.predicted_end = Some(at + remaining);
        }
        if self.last.is_none_or(|(before, _)| percent != before) {
            self.last = Some((percent, at));
        }
    }

    /// `regular`, or the wait until just after the predicted end when that is sooner
    /// (at least 100 ms; each prediction is used once).
    pub(super) fn sooner_than(&mut self, regular: Duration, now: Instant) -> Duration {
        match self.predicted_end.take() {
            Some(end) => {
                let until = end.saturating_duration_since(now) + Duration::from_millis(50);
                regular.min(until.max(Duration::from_millis(100)))
            }
            None => regular,
        }
    }
}

impl Pace {
    /// Whether the end it predicts comes before `at`.
    pub(super) fn predicts_before(&self, at: Instant) -> bool {
        self.predicted_end.is_some_and(|end| end < at)
    }
}

impl RdsClient {
    /// Waits until job `job_id` finishes, calling `on_progress` whenever its progress
    /// changes. Returns the finished job (Completed or Failed).
    pub async fn wait_for_job(
        &self,
        ctx: &CallCtx,
        job_id: &str,
        schedule: WaitSchedule,
        on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Job, WaitError> {
        self.follow_job(ctx, job_id, "", None, schedule, on_progress)
            .await
            .map(|finished| finished.job)
    }

    /// Waits until job `job_id` of `instance_id` (created no earlier than `since`, when
    /// known) finishes, following it with the client's one tracker (see
    /// [`super::tracker`]), and calls `on_progress` whenever its status or progress
    /// changes. Returns the finished job and the instance's version after it.
    pub async fn follow_job(
        &self,
        ctx: &CallCtx,
        job_id: &str,
        instance_id: &str,
        since: Option<time::OffsetDateTime>,
        schedule: WaitSchedule,
        mut on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Finished, WaitError> {
        let mut rx = self.track_job(job_id, instance_id, since, schedule);
        let mut last_seen: Option<Job> = None;
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                JobState::Done(Ok(finished)) => return Ok(finished),
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
                        rx = self.track_job(job_id, instance_id, since, schedule);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_predicts_the_end_from_two_observations() {
        let job = |p: &str| Job {
            status: "Running".into(),
            process: Some(p.into()),
            ..Default::default()
        };
        let mut pace = Pace::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        pace.observe(&job("20%"), at(0));
        assert_eq!(pace.sooner_than(second, at(0)), second);
        pace.observe(&job("40%"), at(1000));
        // 20 %/s, 60 % to go: 3 s — later than the regular wait, which wins.
        assert_eq!(pace.sooner_than(second, at(1000)), second);
        pace.observe(&job("90%"), at(3500));
        // 20 %/s from 40 % at 1 s to 90 % at 3.5 s: done at 4 s, 0.5 s (+50 ms) from then.
        assert_eq!(
            pace.sooner_than(second, at(3500)),
            Duration::from_millis(550)
        );
        // A prediction is used once; a stalled percentage predicts nothing.
        assert_eq!(pace.sooner_than(second, at(3500)), second);
        pace.observe(&job("90%"), at(5000));
        assert_eq!(pace.sooner_than(second, at(5000)), second);
    }

    #[test]
    fn schedule_grows_to_its_cap() {
        let s = WaitSchedule::default();
        let at = |n, secs| s.interval(n, Duration::from_secs(secs));
        assert!(at(0, 0) >= Duration::from_millis(200) && at(0, 0) <= Duration::from_millis(300));
        assert!(at(1, 0) >= Duration::from_millis(400) && at(1, 0) <= Duration::from_millis(600));
        assert!(at(2, 1) >= Duration::from_millis(800) && at(2, 1) <= Duration::from_millis(1200));
        assert!(at(9, 100) >= Duration::from_secs(8) && at(9, 100) <= Duration::from_secs(12));
        assert!(at(50, 3600) <= Duration::from_secs(36) && at(50, 3600) >= Duration::from_secs(24));
    }
}
