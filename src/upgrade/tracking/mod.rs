//! Following upgrade jobs to their end: one tracker per provider process that looks at
//! every job its waiters follow with as few requests as the API allows, through the RDS
//! client's typed calls.
//!
//! - [`cadence`]: how often a job is looked at (pure).
//! - [`registry`]: what the tracker knows of each job it follows.
//! - [`sweep_plan`]: what one sweep lists (pure).
//! - [`sweep_budget`]: how much of the task center's quota sweeps may spend (pure).
//! - [`tracker`]: the registry, the one tracking loop and its sweeps ([`JobTracker`]).
//! - [`follow`]: a waiter's side: following one job, and why a wait ended.
//!
//! Each depends only on those before it.

pub mod cadence;
pub mod follow;
pub mod registry;
pub mod sweep_budget;
pub mod sweep_plan;
pub mod tracker;

pub use cadence::{CHECK_IN_STRETCH, PollCadence, UNATTENDED, WATCHED};
pub use follow::{Followed, WaitError};
pub use tracker::JobTracker;
