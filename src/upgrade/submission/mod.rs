//! Adopting or submitting one upgrade, exactly once.
//!
//! The story, told once here: the checks run again with this process's view of the
//! instance; an upgrade already under way (an interrupted apply's, the console's) is
//! adopted; else the upgrade is submitted once. Each submission reads in order: reserve
//! the upgrade API's quota ([`crate::rds::RdsClient::reserve`]), take the [`last_look`]
//! (after however long flow control made it wait, the instance must still run the
//! version the checks saw, be ACTIVE, and the upgrade must still install the target the
//! plan showed), then send with the reservation, or give it back unspent when the last
//! look says stop. A busy answer, a lost answer or a version changed meanwhile leads to
//! finding the upgrade that explains it, which is adopted; nothing is ever sent twice
//! blindly.
//!
//! - [`adopt_or_submit`]: the checks, then adopt or submit ([`Obtained`], or why not).
//! - [`submit_once`]: the exactly-once submission itself.
//! - [`last_look`]: its check right before the request is sent.

pub mod adopt_or_submit;
pub mod last_look;
pub mod submit_once;

use super::checks::UpgradeOptions;
use super::job::JobSnapshot;
use crate::rds::UpgradeRequest;

/// An upgrade as the user asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Upgrade<'a> {
    pub instance_id: &'a str,
    /// The options as configured, for the checks.
    pub options: UpgradeOptions,
    pub request: UpgradeRequest,
    /// `wait_for_completion`, with its default applied.
    pub wait_for_completion: bool,
    /// What the plan showed, when there was a plan with values (the resource's).
    pub reviewed: Reviewed<'a>,
    /// The job of the upgrade this one comes after (an in-place update's: the resource
    /// upgraded the instance before). It is never adopted as this upgrade: an instance
    /// on its target whose latest upgrade is that job has nothing to install.
    pub previous_job: Option<&'a str>,
}

/// The versions a plan showed: the one the instance runs and the one its upgrade
/// installs (`target_version`), checked again right before the request is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reviewed<'a> {
    pub version: Option<&'a str>,
    pub target: Option<&'a str>,
}

/// How this run came by its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This run submitted it.
    Submitted,
    /// It was under way already (or finished moments ago), and is followed instead of
    /// submitting another.
    Adopted,
}

/// The job an upgrade was adopted or submitted as.
#[derive(Debug, Clone, PartialEq)]
pub struct Obtained {
    pub origin: Origin,
    /// The job as it stands: a new one `Scheduled` when delayed, else `Running`; an
    /// adopted one as it was found.
    pub job: JobSnapshot,
    /// The version a new submission installs when the last look found it newer than the
    /// reviewed target (newer targets accepted).
    pub newer_target: Option<String>,
}

impl Obtained {
    /// A job found under way.
    pub fn adopted(job: JobSnapshot) -> Self {
        Obtained {
            origin: Origin::Adopted,
            job,
            newer_target: None,
        }
    }
}
