//! The last look before a submission leaves ([`BeforeSend`]): a check the caller runs
//! once the submission's quota slot is granted and right before the request is sent, so
//! that what it saw cannot be older than the check itself however long the quota made
//! the submission wait. The client holds the slot while the check runs and, when the
//! check says no, drops it unspent and sends nothing.

use async_trait::async_trait;

use super::error::RdsError;

/// A check run right before a submission is sent (again each time a 429 sent it back to
/// wait for its quota).
#[async_trait]
pub trait BeforeSend: Send + Sync {
    /// `Err` keeps the request from being sent; the error is the submission's
    /// (conventionally [`RdsError::NotSent`] saying why).
    async fn before_send(&self) -> Result<(), RdsError>;
}
