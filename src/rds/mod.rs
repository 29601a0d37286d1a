//! Huawei Cloud RDS client: request signing, endpoints, models, errors, retries, rate
//! limiting and the job waiter. Knows nothing about Terraform.

pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod limiter;
pub mod models;
pub mod retry;
pub mod signer;
pub mod waiter;

pub use client::{CallCtx, ClientConfig, InstanceFilter, RdsClient, TaskFilter, UpgradeRequest};
pub use error::RdsError;
pub use waiter::{WaitError, WaitSchedule};
