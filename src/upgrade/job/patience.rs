//! Looking again for an upgrade job that does not show yet: new jobs show in the
//! listings with a delay, and under flow control an answer may come long after its
//! question. The patience counts from the first answer that did not show the job
//! ([`Grace`]); the caller's deadline and cancellation bound every pause ([`pause`]).

use std::time::Duration;

use tokio::time::Instant;

use super::JobSnapshot;
use crate::rds::{CallCtx, RdsError, sleep_until};

/// The patience for an upgrade that does not show (yet): a new job shows in the listings
/// with a delay. It is counted from the first answer that did not show it, so the time a
/// look waits for the API's quota before its answer comes does not use it up: under flow
/// control that wait can outlast any patience, and a look must get its answers before it
/// may conclude that nothing is there. The caller's deadline and cancellation bound it.
#[derive(Debug)]
pub struct Grace {
    patience: Duration,
    first_unseen: Option<Instant>,
}

impl Grace {
    pub fn new(patience: Duration) -> Self {
        Grace {
            patience,
            first_unseen: None,
        }
    }

    /// Records an answer that did not show the upgrade; whether to look again (the first
    /// such answer came less than the patience ago).
    pub fn unseen(&mut self) -> bool {
        let first = *self.first_unseen.get_or_insert_with(Instant::now);
        first.elapsed() < self.patience
    }
}

/// Repeats `look` every `every` until it finds an upgrade or its answers have not shown
/// one for `patience` ([`Grace`]: time spent waiting for quota before the first answer
/// does not count).
pub async fn patiently<F, Fut>(
    ctx: &CallCtx,
    instance_id: &str,
    patience: Duration,
    every: Duration,
    mut look: F,
) -> Result<Option<JobSnapshot>, RdsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<JobSnapshot>, RdsError>>,
{
    let mut grace = Grace::new(patience);
    loop {
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
        if !grace.unseen() {
            return Ok(None);
        }
        let unseen = RdsError::Ambiguous(format!(
            "no upgrade of instance {instance_id} shows in the task center"
        ));
        pause(ctx, every, &unseen).await?;
    }
}

/// How long an upgrade that must exist (a lost answer, a version that changed) is looked
/// for before giving up.
pub const UNSEEN_JOB_PATIENCE: Duration = Duration::from_secs(30);

/// Sleeps, unless cancelled or past the deadline first (then `cause` is reported).
pub async fn pause(
    ctx: &CallCtx,
    wait: Duration,
    cause: &(dyn std::fmt::Display + Sync),
) -> Result<(), RdsError> {
    let wake = Instant::now() + wait;
    if ctx.deadline.is_some_and(|d| d <= wake) {
        sleep_until(ctx.deadline).await;
        return Err(RdsError::Timeout(format!(
            "gave up at the timeout; last error: {cause}"
        )));
    }
    tokio::select! {
        _ = ctx.cancel.cancelled() => Err(RdsError::Cancelled),
        _ = tokio::time::sleep_until(wake) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_grace_counts_from_the_first_answer_not_from_the_wait_for_quota() {
        let mut grace = Grace::new(Duration::from_secs(6));
        // The first look waited 30 s for its quota: the grace has not begun.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(grace.unseen(), "the first answer starts it");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(grace.unseen());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!grace.unseen(), "six seconds of answers without it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_slowed_by_its_quota_still_gets_a_second_answer() {
        let ctx = CallCtx::default();
        let looks = std::cell::Cell::new(0);
        let look = || {
            looks.set(looks.get() + 1);
            let n = looks.get();
            async move {
                // Each answer comes 20 s late (the quota); the job shows from the second.
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok((n >= 2).then(|| JobSnapshot {
                    id: "job".into(),
                    ..Default::default()
                }))
            }
        };
        let found = patiently(
            &ctx,
            "i",
            Duration::from_secs(6),
            Duration::from_secs(2),
            look,
        )
        .await
        .unwrap();
        assert_eq!(found.map(|j| j.id), Some("job".into()));
        assert_eq!(looks.get(), 2);
        // Nothing ever shows: it gives up once the answers have said so for 6 s.
        let started = Instant::now();
        let never = || async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Ok(None)
        };
        let found = patiently(
            &ctx,
            "i",
            Duration::from_secs(6),
            Duration::from_secs(2),
            never,
        )
        .await
        .unwrap();
        assert!(found.is_none());
        assert_eq!(Instant::now() - started, Duration::from_secs(20 + 2 + 20));
    }
}
