//! What every API call and every wait carries: the caller's cancellation and deadline
//! ([`CallCtx`]), and the one way to sleep until that deadline ([`sleep_until`]). Shared
//! by the client, its quotas and the job tracker ([`crate::upgrade::tracking`]), and
//! depends on none of them.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A call's context: cancellation and an optional deadline.
#[derive(Debug, Clone, Default)]
pub struct CallCtx {
    pub cancel: CancellationToken,
    pub deadline: Option<Instant>,
}

impl CallCtx {
    pub fn new(cancel: CancellationToken) -> Self {
        CallCtx {
            cancel,
            deadline: None,
        }
    }

    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// Sleeps until the deadline, or forever without one.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
