//! The minor version upgrade as the domain knows it, free of Terraform: the facts about an
//! instance and where they come from, the seed's checks, the one rule of what an upgrade
//! already under way waives, "adopt or submit once" behind the fleet gate, and the job
//! from submission to its end. `provider` turns these into schemas, plans, state and
//! diagnostics; everything here speaks to the RDS client only.
//!
//! - [`facts`]: an instance's facts and how versions compare; [`catalog`]: the
//!   per-process cache they are read through.
//! - [`checks`]: the seed's constraints as findings with a kind; [`under_way`]: the
//!   checks against the instance now, waiving what an upgrade under way explains.
//! - [`fleet_gate`]: the cap on running upgrades and the failure budget.
//! - [`adopt_or_submit`]: checks, then adopt or submit once, with a slot of the gate;
//!   [`submit_once`]: the exactly-once submission itself; [`last_look`]: its check of
//!   the instance's version and of the upgrade's target right before it is sent.
//! - [`flow`]: what follows a submission, for the resource and the action alike: whether
//!   the job holds a slot, and whether to wait for it, follow it, or return at once.
//! - [`job`]: a job's status and snapshot, looking jobs up, and following one.
//! - [`tracking`]: the one tracker per provider process that follows every job waited
//!   for, and a waiter's side of it.
//! - [`target`]: the minor version an upgrade installs, and how the one seen right
//!   before a submission compares with the one the plan showed.

pub mod adopt_or_submit;
pub mod catalog;
pub mod checks;
pub mod facts;
pub mod fleet_gate;
pub mod flow;
pub mod job;
pub mod last_look;
pub mod refusal;
pub mod submit_once;
pub mod target;
pub mod tracking;
pub mod under_way;
