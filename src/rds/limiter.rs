//! The ceiling on requests per second shared by every call of a provider process
//! (`max_requests_per_second`), so a fleet of resources cannot stampede the API: a
//! token bucket whose callers are served in arrival order. The head of the queue holds
//! the bucket (a fair `tokio::sync::Mutex`) while it waits for the next token; a caller
//! cancelled while queued or waiting leaves the queue, and the token goes to the next.
//!
//! One queue, no lane for submissions: a caller waits here holding its API's turn
//! (`quota`), so the queue holds at most one request of each API, and a submission
//! waits behind at most one read of each other API, less than one token's time at
//! the default ceiling. BENCHMARKS.md's sections 5 and 6 are unchanged without a lane.
//!
//! Not here: the per-API flow-control quotas (`quota`), which decide most waits.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket served in arrival order.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: tokio::sync::Mutex<Bucket>,
    rate: f64,
    burst: f64,
}

impl RateLimiter {
    /// `rate` requests per second on average, at most `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            bucket: tokio::sync::Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
            rate: rate.max(0.1),
            burst,
        }
    }

    /// The configured rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits for a token; false when cancelled first.
    pub async fn acquire(&self, cancel: &CancellationToken) -> bool {
        if cancel.is_cancelled() {
            return false;
        }
        tokio::select! {
            _ = cancel.cancelled() => false,
            () = self.take() => true,
        }
    }

    /// Takes the next token in turn; dropped, it leaves the queue and takes nothing.
    async fn take(&self) {
        let mut b = self.bucket.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64((1.0 - b.tokens) / self.rate)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn bounds_the_rate() {
        let limiter = RateLimiter::new(10.0, 5);
        let cancel = CancellationToken::new();
        let start = Instant::now();
        for _ in 0..25 {
            assert!(limiter.acquire(&cancel).await);
        }
        // 5 at once, then 20 more at 10/s.
        let elapsed = start.elapsed();
        assert!(
            (Duration::from_secs(2)..Duration::from_millis(2025)).contains(&elapsed),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_head_hands_over() {
        let limiter = Arc::new(RateLimiter::new(1.0, 1));
        let never = CancellationToken::new();
        assert!(limiter.acquire(&never).await);
        let cancel = CancellationToken::new();
        let first = {
            let (limiter, cancel) = (limiter.clone(), cancel.clone());
            tokio::spawn(async move { limiter.acquire(&cancel).await })
        };
        tokio::task::yield_now().await;
        let second = {
            let (limiter, never) = (limiter.clone(), never.clone());
            tokio::spawn(async move {
                let ok = limiter.acquire(&never).await;
                (ok, Instant::now())
            })
        };
        tokio::task::yield_now().await;
        let start = Instant::now();
        cancel.cancel();
        assert!(!first.await.unwrap());
        let (ok, at) = second.await.unwrap();
        assert!(ok);
        let waited = at - start;
        assert!(
            (Duration::from_millis(999)..Duration::from_millis(1005)).contains(&waited),
            "the token is not lost: {waited:?}"
        );
        cancel.cancel();
        assert!(!limiter.acquire(&cancel).await);
    }
}
