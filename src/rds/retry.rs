//! Retry timing of transport errors and server errors: exponential backoff with full
//! jitter, honouring `Retry-After`. Not 429s: those wait for the API's quota (`quota`).

use std::time::Duration;

use super::defaults;

/// How requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: defaults::MAX_RETRIES,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): uniform in
    /// `[0, min(cap, base·2^attempt)]`, but never less than what `Retry-After` asked.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        let jittered = exp.mul_f64(fastrand::f64());
        match retry_after {
            Some(at_least) => jittered.max(at_least.min(self.cap)),
            None => jittered,
        }
    }
}

/// Parses `Retry-After` given in seconds.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_within_bounds() {
        let policy = RetryPolicy::default();
        for attempt in 0..10 {
            let bound = policy.base.saturating_mul(1 << attempt).min(policy.cap);
            for _ in 0..50 {
                assert!(policy.delay(attempt, None) <= bound);
            }
        }
        let with_header = policy.delay(0, Some(Duration::from_secs(3)));
        assert!(with_header >= Duration::from_secs(3));
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
