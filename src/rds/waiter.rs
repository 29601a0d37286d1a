//! The job waiter: polls an upgrade job to `Completed` or `Failed` with backoff and jitter,
//! treats "job not found" as pending for a grace period after submission, reports
//! progress, honours each waiter's deadline and cancellation, and coalesces — waiters on
//! the same job in one client share one poll loop (and all polls share the limiter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{CallCtx, RdsClient, sleep_until};
use super::error::RdsError;
use super::models::Job;

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

/// What a poll loop has seen so far.
#[derive(Debug, Clone)]
pub enum JobState {
    /// Not seen yet, or still running (with the latest answer).
    Pending(Option<Job>),
    /// Finished (Completed or Failed), or polling gave up with an error.
    Done(Result<Job, RdsError>),
}

type Watch = watch::Receiver<JobState>;

/// The poll loops of one client, by job id. Holding senders (not receivers) lets a loop
/// see when its last waiter has gone, and stop.
#[derive(Default)]
pub struct JobWatches(Mutex<HashMap<String, Arc<watch::Sender<JobState>>>>);

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
struct Pace {
    last: Option<(f64, Instant)>,
    predicted_end: Option<Instant>,
}

impl Pace {
    fn observe(&mut self, job: &Job, at: Instant) {
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
    fn sooner_than(&mut self, regular: Duration, now: Instant) -> Duration {
        match self.predicted_end.take() {
            Some(end) => {
                let until = end.saturating_duration_since(now) + Duration::from_millis(50);
                regular.min(until.max(Duration::from_millis(100)))
            }
            None => regular,
        }
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
        mut on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Job, WaitError> {
        let mut rx = self.watch_job(job_id, schedule);
        let mut last_seen: Option<Job> = None;
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                JobState::Done(Ok(job)) => return Ok(job),
                // The loop stopped because every earlier waiter left just as we came.
                JobState::Done(Err(RdsError::Cancelled)) if !ctx.cancel.is_cancelled() => {
                    rx = self.watch_job(job_id, schedule);
                    continue;
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
                        return Err(WaitError::Api(RdsError::Transport("job poller stopped".into())));
                    }
                }
            }
        }
    }

    /// Subscribes to the poll loop of `job_id`, starting it when none runs.
    fn watch_job(&self, job_id: &str, schedule: WaitSchedule) -> Watch {
        let mut watches = self.jobs().0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = watches.get(job_id) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(JobState::Pending(None));
        let tx = Arc::new(tx);
        watches.insert(job_id.to_string(), tx.clone());
        let client = self.clone();
        let job_id = job_id.to_string();
        tokio::spawn(async move {
            let outcome = client.poll(&job_id, schedule, &tx).await;
            // Leave the map first, so a waiter arriving now starts a fresh loop.
            {
                let mut watches = client.jobs().0.lock().unwrap_or_else(|e| e.into_inner());
                if watches.get(&job_id).is_some_and(|t| Arc::ptr_eq(t, &tx)) {
                    watches.remove(&job_id);
                }
            }
            let _ = tx.send(JobState::Done(outcome));
        });
        rx
    }

    async fn poll(
        &self,
        job_id: &str,
        schedule: WaitSchedule,
        tx: &watch::Sender<JobState>,
    ) -> Result<Job, RdsError> {
        let started = Instant::now();
        let stop = CancellationToken::new();
        let ctx = CallCtx::new(stop.clone());
        let mut consecutive_errors = 0;
        let mut pace = Pace::default();
        for n in 0.. {
            let regular = schedule.interval(n, started.elapsed());
            let wait = pace.sooner_than(regular, Instant::now());
            tokio::select! {
                _ = tx.closed() => return Err(RdsError::Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
            let result = tokio::select! {
                _ = tx.closed() => return Err(RdsError::Cancelled),
                r = self.job(&ctx, job_id) => r,
            };
            match result {
                Ok(job) if job.is_finished() => return Ok(job),
                Ok(job) => {
                    consecutive_errors = 0;
                    pace.observe(&job, Instant::now());
                    let _ = tx.send(JobState::Pending(Some(job)));
                }
                Err(RdsError::JobNotFound(_)) if started.elapsed() < schedule.not_found_grace => {}
                Err(e @ RdsError::JobNotFound(_)) => return Err(e),
                Err(e) if e.is_auth() => return Err(e),
                Err(e) => {
                    consecutive_errors += 1;
                    tracing::debug!(job_id, error = %e, "polling the job failed");
                    if consecutive_errors >= 10 {
                        return Err(e);
                    }
                }
            }
        }
        Err(RdsError::Transport("unreachable".into()))
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
