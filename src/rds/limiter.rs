//! One client-side rate limiter shared by every request of a provider process, so a
//! fleet of resources cannot stampede the API. A token bucket that hands out
//! reservations (callers queue fairly instead of waking together), and adapts: a 429
//! halves the rate, successes bring it back slowly.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

/// An adaptive token bucket.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
    max_rate: f64,
    min_rate: f64,
    burst: f64,
}

impl RateLimiter {
    /// `rate` requests per second on average, at most `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let rate = rate.max(0.1);
        RateLimiter {
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst.max(1)),
                rate,
                last: Instant::now(),
            }),
            max_rate: rate,
            min_rate: (rate / 16.0).max(0.1),
            burst: f64::from(burst.max(1)),
        }
    }

    /// Reserves one request and returns how long to wait before sending it.
    pub fn reserve(&self) -> Duration {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * b.rate).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / b.rate)
        }
    }

    /// Waits for a slot; returns false when cancelled first.
    pub async fn acquire(&self, cancel: &CancellationToken) -> bool {
        let wait = self.reserve();
        if wait.is_zero() {
            return !cancel.is_cancelled();
        }
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    /// The API said we are too fast: halve the rate.
    pub fn on_throttled(&self) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.rate = (b.rate / 2.0).max(self.min_rate);
        b.tokens = b.tokens.min(0.0);
    }

    /// A request went through: recover a little of the configured rate.
    pub fn on_success(&self) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        if b.rate < self.max_rate {
            b.rate = (b.rate + self.max_rate / 50.0).min(self.max_rate);
        }
    }

    /// The current rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner()).rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bounds_the_rate() {
        let limiter = RateLimiter::new(10.0, 5);
        let cancel = CancellationToken::new();
        let start = Instant::now();
        for _ in 0..25 {
            assert!(limiter.acquire(&cancel).await);
        }
        // 5 at once, then 20 more at 10/s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.9..2.2).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn adapts_to_throttling_and_recovers() {
        let limiter = RateLimiter::new(20.0, 1);
        limiter.on_throttled();
        limiter.on_throttled();
        assert_eq!(limiter.rate(), 5.0);
        for _ in 0..100 {
            limiter.on_success();
        }
        assert_eq!(limiter.rate(), 20.0);
        let cancel = CancellationToken::new();
        cancel.cancel();
        limiter.reserve();
        assert!(!limiter.acquire(&cancel).await);
    }
}
