//! The minor version upgrade as the domain knows it, free of Terraform: the facts about an
//! instance and where they come from, the seed's checks, the one rule of what an upgrade
//! already under way waives, the upgrade run from the fleet gate to the version after,
//! and the job from submission to its end. `provider` turns these into schemas, plans,
//! state and diagnostics; everything here speaks to the RDS client only.
//!
//! - [`facts`]: an instance's facts and how versions compare; [`catalog`]: the
//!   per-process cache they are read through.
//! - [`checks`]: the seed's constraints as findings with a kind; [`under_way`]: the
//!   checks against the instance now, waiving what an upgrade under way explains;
//!   [`refusal`]: the upgrade API's refusals that name a cause to fix.
//! - [`target`]: the minor version an upgrade installs, and how the one seen right
//!   before a submission compares with the one the plan showed.
//! - [`fleet_gate`]: the cap on running upgrades and the failure budget.
//! - [`submission`]: the checks, then adopt or submit once, with the last look.
//! - [`job`]: a job's status and snapshot, and where the APIs show it;
//!   [`tracking`]: the one tracker per provider process that follows every job waited for.
//! - [`run`]: one upgrade run, the whole sequence, for the resource and the action.

pub mod catalog;
pub mod checks;
pub mod facts;
pub mod fleet_gate;
pub mod job;
pub mod refusal;
pub mod run;
pub mod submission;
pub mod target;
pub mod tracking;
pub mod under_way;
