//! Huawei Cloud RDS client: request signing, endpoints, models, errors, retries, pacing
//! under the API's flow control, rate limiting and the job waiter. Knows nothing about
//! Terraform.

pub mod before_send;
pub mod call_log;
pub mod client;
pub mod context;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod limiter;
pub mod models;
pub mod quota;
mod request;
pub mod retry;
pub mod share;
pub mod signer;
pub mod tracker;
pub mod waiter;

pub use before_send::BeforeSend;
pub use client::{ClientConfig, InstanceFilter, RdsClient, TaskFilter, UpgradeRequest};
pub use context::{CallCtx, sleep_until};
pub use error::RdsError;
pub use quota::{Api, Policy};
pub use tracker::Finished;
pub use waiter::{WaitError, WaitSchedule};
