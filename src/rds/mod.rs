//! Huawei Cloud RDS client: the API's operations, request signing, endpoints, models,
//! errors, retries, pacing under the API's flow control, rate limiting, the typed calls,
//! the send pipeline, and the quota reservation a caller holds between reserving and
//! sending a request ([`Reservation`]). Knows nothing about Terraform, nor about
//! following jobs (that is [`crate::upgrade::tracking`]), nor about what a caller looks
//! at before it sends (the domain's last look).

pub mod api;
pub mod call_log;
pub mod client;
pub mod context;
pub mod credentials;
pub mod defaults;
pub mod endpoints;
pub mod error;
pub mod limiter;
pub mod models;
pub mod quota;
mod request;
pub mod reservation;
pub mod retry;
mod send;
pub mod share;
pub mod signer;

pub use api::Api;
pub use client::{ClientConfig, InstanceFilter, RdsClient, TaskFilter, UpgradeRequest};
pub use context::{CallCtx, sleep_until};
pub use error::RdsError;
pub use quota::Policy;
pub use reservation::{Reply, Reservation, SentBack};
