//! The ceiling on requests per second shared by every call of a provider process
//! (`max_requests_per_second`), so a fleet of resources cannot stampede the API. A
//! token bucket whose callers queue in two lanes: submissions go ahead of every queued
//! read, and each lane is served in arrival order. One caller at a time, the head of
//! the queue, waits for the next token; the others sleep until it is their turn.
//!
//! The lane stays because the figures need it. The ceiling binds while an API's policy
//! is only assumed (a quota told too high paces each API faster than the ceiling), which
//! is when processes sharing an access key learn their shares of the POST quota: served
//! in arrival order instead, 8 workspaces on one key (BENCHMARKS.md section 6) drew
//! about twice the refused upgrade POSTs (71 and 82 in two runs, against 37 and 40 with
//! the lane).
//!
//! Not here: the per-API flow-control quotas (`quota`), which decide most waits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Which queue a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Requests that start something (`POST …/db-upgrade`): served first.
    Submission,
    Read,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    wake: Arc<Notify>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    submissions: VecDeque<Waiter>,
    reads: VecDeque<Waiter>,
    next_id: u64,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }

    fn head(&self) -> Option<&Waiter> {
        self.submissions.front().or_else(|| self.reads.front())
    }

    fn queue(&mut self, lane: Lane) -> &mut VecDeque<Waiter> {
        match lane {
            Lane::Submission => &mut self.submissions,
            Lane::Read => &mut self.reads,
        }
    }

    /// Leaves the queue; the new head, if the head changed, is woken to take over.
    fn leave(&mut self, lane: Lane, id: u64) {
        let was_head = self.head().is_some_and(|w| w.id == id);
        let queue = self.queue(lane);
        if let Some(i) = queue.iter().position(|w| w.id == id) {
            queue.remove(i);
        }
        if was_head && let Some(head) = self.head() {
            head.wake.notify_one();
        }
    }
}

/// A token bucket with a priority lane.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
    rate: f64,
    burst: f64,
}

/// Takes a cancelled (dropped) waiter out of the queue.
struct InQueue<'a> {
    limiter: &'a RateLimiter,
    lane: Lane,
    id: u64,
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.limiter.lock().leave(self.lane, self.id);
    }
}

impl RateLimiter {
    /// `rate` requests per second on average, at most `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
                submissions: VecDeque::new(),
                reads: VecDeque::new(),
                next_id: 0,
            }),
            rate: rate.max(0.1),
            burst,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits for a token in `lane`; false when cancelled first.
    pub async fn acquire(&self, lane: Lane, cancel: &CancellationToken) -> bool {
        if cancel.is_cancelled() {
            return false;
        }
        let (id, wake) = {
            let mut b = self.lock();
            b.refill(Instant::now(), self.rate, self.burst);
            let ahead = match lane {
                Lane::Submission => b.submissions.len(),
                Lane::Read => b.submissions.len() + b.reads.len(),
            };
            if ahead == 0 && b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return true;
            }
            let id = b.next_id;
            b.next_id += 1;
            let wake = Arc::new(Notify::new());
            b.queue(lane).push_back(Waiter {
                id,
                wake: wake.clone(),
            });
            (id, wake)
        };
        let in_queue = InQueue {
            limiter: self,
            lane,
            id,
        };
        loop {
            let wait = {
                let mut b = self.lock();
                if b.head().is_some_and(|w| w.id == id) {
                    b.refill(Instant::now(), self.rate, self.burst);
                    if b.tokens >= 1.0 {
                        b.tokens -= 1.0;
                        b.leave(lane, id);
                        drop(b);
                        std::mem::forget(in_queue);
                        return true;
                    }
                    Some(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
                } else {
                    None
                }
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = sleep => {}
                _ = wake.notified() => {}
            }
        }
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
            assert!(limiter.acquire(Lane::Read, &cancel).await);
        }
        // 5 at once, then 20 more at 10/s.
        let elapsed = start.elapsed();
        assert!(
            (Duration::from_secs(2)..Duration::from_millis(2025)).contains(&elapsed),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn submissions_go_ahead_of_queued_reads() {
        let limiter = Arc::new(RateLimiter::new(1.0, 1));
        let cancel = CancellationToken::new();
        assert!(limiter.acquire(Lane::Read, &cancel).await);
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let mut tasks = Vec::new();
        let spawn = |name: &'static str, lane| {
            let (limiter, order, cancel) = (limiter.clone(), order.clone(), cancel.clone());
            tokio::spawn(async move {
                assert!(limiter.acquire(lane, &cancel).await);
                order
                    .lock()
                    .unwrap()
                    .push((name, start.elapsed().as_secs()));
            })
        };
        for name in ["read 1", "read 2", "read 3"] {
            tasks.push(spawn(name, Lane::Read));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tasks.push(spawn("post 1", Lane::Submission));
        tokio::task::yield_now().await;
        tasks.push(spawn("post 2", Lane::Submission));
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [
                ("post 1", 1),
                ("post 2", 2),
                ("read 1", 3),
                ("read 2", 4),
                ("read 3", 5)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_head_hands_over() {
        let limiter = Arc::new(RateLimiter::new(1.0, 1));
        let never = CancellationToken::new();
        assert!(limiter.acquire(Lane::Read, &never).await);
        let cancel = CancellationToken::new();
        let first = {
            let (limiter, cancel) = (limiter.clone(), cancel.clone());
            tokio::spawn(async move { limiter.acquire(Lane::Read, &cancel).await })
        };
        tokio::task::yield_now().await;
        let second = {
            let (limiter, never) = (limiter.clone(), never.clone());
            tokio::spawn(async move {
                let ok = limiter.acquire(Lane::Read, &never).await;
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
        assert!(!limiter.acquire(Lane::Submission, &cancel).await);
    }
}
