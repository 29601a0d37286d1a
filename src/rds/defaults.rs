//! The RDS client's defaults, written once: [`ClientConfig::new`](super::ClientConfig::new)
//! and [`RetryPolicy::default`](super::retry::RetryPolicy) start from them, and the
//! provider block's settings name them as what an unset setting means.

use super::quota::Policy;

/// How many times a failed request (network error, server error) is retried.
pub const MAX_RETRIES: u32 = 5;

/// Requests per second all calls of one client share.
pub const REQUESTS_PER_SECOND: f64 = 20.0;

/// The flow-control quota assumed for each API until a 429 names the real one: Huawei's
/// standard policy.
pub const API_QUOTA_PER_MINUTE: u32 = Policy::STANDARD.limit;

/// The shared rate limiter's burst at `requests_per_second`: two seconds' worth, at
/// least one request.
pub fn burst(requests_per_second: f64) -> u32 {
    (requests_per_second * 2.0).ceil().max(1.0) as u32
}
