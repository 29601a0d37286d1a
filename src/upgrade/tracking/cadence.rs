//! When a followed job is looked at: the cadence of its looks ([`PollCadence`]), the
//! check-ins between them once its progress predicts its end ([`CHECK_IN_STRETCH`]), and
//! that prediction (`Pace`). Pure: no requests, no clock but the instants it is given.

use std::time::Duration;

use tokio::time::Instant;

use crate::rds::models::Job;

/// How often a followed job is looked at: the waits before its polls.
#[derive(Debug, Clone, Copy)]
pub struct PollCadence {
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

impl Default for PollCadence {
    fn default() -> Self {
        PollCadence {
            initial: Duration::from_millis(250),
            second: Duration::from_millis(500),
            proportion: 0.1,
            min: Duration::from_secs(1),
            max: Duration::from_secs(30),
            not_found_grace: Duration::from_secs(60),
        }
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

impl PollCadence {
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

    /// The longest wait between looks at a job whose end its progress predicts (the look
    /// after the predicted end comes anyway): [`CHECK_IN_STRETCH`] times the regular
    /// wait, so a job that fails on the way is noticed within that share of its time.
    pub fn check_in(&self, elapsed: Duration) -> Duration {
        let (min, max) = (self.min, self.max.max(self.min));
        elapsed
            .mul_f64(self.proportion)
            .clamp(min, max)
            .mul_f64(CHECK_IN_STRETCH)
    }
}

/// How much further apart looks at a job are once its progress predicts its end.
pub const CHECK_IN_STRETCH: f64 = 4.0;

/// Predicts the earliest moment a job can finish from how its progress percentage moved
/// between the first and the latest observation (local clock, not the API's, which may
/// be skewed). A reported percentage is taken as ±1 of the true one, so the prediction
/// is never later than the end of a job whose progress moves at a steady rate: the
/// longer the job is watched, the closer it comes.
#[derive(Debug, Default)]
pub(super) struct Pace {
    first: Option<(f64, Instant)>,
    latest: Option<(f64, Instant)>,
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
        match self.first {
            None => self.first = Some((percent, at)),
            Some((first, _)) if percent > first => self.latest = Some((percent, at)),
            Some(_) => {}
        }
    }

    /// The earliest moment the job can end at its fastest possible steady rate, once its
    /// progress has moved; None while it has not.
    pub(super) fn earliest_end(&self) -> Option<Instant> {
        let ((first, then), (latest, at)) = (self.first?, self.latest?);
        let watched = at.duration_since(then).as_secs_f64().max(1e-3);
        let fastest = (latest + 1.0 - (first - 1.0).max(0.0)) / watched;
        let remaining = ((100.0 - (latest + 1.0)).max(0.0) / fastest).min(86_400.0);
        Some(at + Duration::from_secs_f64(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_predicts_the_earliest_end_and_closes_in() {
        let job = |p: &str| Job {
            status: "Running".into(),
            process: Some(p.into()),
            ..Default::default()
        };
        let mut pace = Pace::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let secs = |end: Option<Instant>| end.map(|e| e.duration_since(t0).as_secs_f64());
        pace.observe(&job("20%"), at(0));
        assert_eq!(
            pace.earliest_end(),
            None,
            "one observation predicts nothing"
        );
        pace.observe(&job("20%"), at(500));
        assert_eq!(
            pace.earliest_end(),
            None,
            "a stalled percentage predicts nothing"
        );
        // A job of 10 s (10 %/s, started at -2 s): from 20 % at 0 s to 40 % at 2 s the
        // fastest steady rate is 22 % in 2 s, so the 59 % to go take at least 5.36 s.
        pace.observe(&job("40%"), at(2000));
        let early = secs(pace.earliest_end()).unwrap();
        assert!((early - 7.364).abs() < 0.01, "{early}");
        assert!(early <= 8.0, "never later than the true end");
        // Watched longer, the prediction closes in on the true end (8 s).
        pace.observe(&job("90%"), at(7000));
        let closer = secs(pace.earliest_end()).unwrap();
        assert!(closer > early && closer <= 8.0, "{closer}");
        assert!((closer - 7.875).abs() < 0.01, "{closer}");
        // Not a percentage, or a finished one: the prediction stands.
        pace.observe(&job(""), at(7500));
        pace.observe(&job("100%"), at(8000));
        assert_eq!(secs(pace.earliest_end()), Some(closer));
    }

    #[test]
    fn cadence_grows_to_its_cap() {
        let s = PollCadence::default();
        let at = |n, secs| s.interval(n, Duration::from_secs(secs));
        assert!(at(0, 0) >= Duration::from_millis(200) && at(0, 0) <= Duration::from_millis(300));
        assert!(at(1, 0) >= Duration::from_millis(400) && at(1, 0) <= Duration::from_millis(600));
        assert!(at(2, 1) >= Duration::from_millis(800) && at(2, 1) <= Duration::from_millis(1200));
        assert!(at(9, 100) >= Duration::from_secs(8) && at(9, 100) <= Duration::from_secs(12));
        assert!(at(50, 3600) <= Duration::from_secs(36) && at(50, 3600) >= Duration::from_secs(24));
    }
}
