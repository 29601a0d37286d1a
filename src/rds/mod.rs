//! Huawei Cloud RDS client: request signing, endpoints, models, errors, retries, pacing
//! under the API's flow control, rate limiting and the typed calls. Knows nothing about
//! Terraform, nor about following jobs (that is [`crate::upgrade::tracking`]).

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

pub use before_send::BeforeSend;
pub use client::{ClientConfig, InstanceFilter, RdsClient, TaskFilter, UpgradeRequest};
pub use context::{CallCtx, sleep_until};
pub use error::RdsError;
pub use quota::{Api, Policy};
