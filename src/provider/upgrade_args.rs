//! The arguments the resource and the action share: their descriptions, the instance id
//! a plan can check, and the upgrade request and submission they build.

use crate::cty::Value;
use crate::rds::UpgradeRequest;
use crate::upgrade::adopt_or_submit::Submission;

use super::findings;

pub const INSTANCE_ID: &str = "Id of the RDS instance to upgrade.";
pub const IS_DELAYED: &str =
    "Run the upgrade in the instance's maintenance window instead of now (MySQL only).";
pub const SECOND_SWITCH: &str = "MySQL primary/standby only: after the rolling upgrade, switch back so primary and standby keep their availability zones.";
pub const WAIT_FOR_COMPLETION: &str = "Wait for the job to finish. Default: `true` for an immediate upgrade, `false` for a delayed one.";

/// The configured instance id when it is known and well-formed (`validate_config` reports
/// one that is not): what a plan checks against the instance.
pub fn checkable_instance_id(config: &Value) -> Option<String> {
    config
        .attr_string("instance_id")
        .filter(|id| findings::validate_instance_id(id).is_none())
}

/// The upgrade request `value` (a plan or a configuration) asks for, with the defaults.
pub fn request(value: &Value) -> UpgradeRequest {
    UpgradeRequest {
        is_delayed: value.attr_bool("is_delayed").unwrap_or(false),
        second_switch: value.attr_bool("second_switch").unwrap_or(true),
    }
}

/// The versions a plan showed: the one the instance runs and the one its upgrade installs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Planned<'a> {
    pub version: Option<&'a str>,
    pub target: Option<&'a str>,
}

/// The submission of the upgrade of `instance_id` that `config` configures, checked
/// against the `planned` versions (newer targets submitted all the same when
/// `accept_newer_target`).
pub fn submission<'a>(
    instance_id: &'a str,
    config: &Value,
    request: UpgradeRequest,
    planned: Planned<'a>,
    accept_newer_target: bool,
) -> Submission<'a> {
    Submission {
        instance_id,
        options: findings::configured_options(config),
        request,
        planned_version: planned.version,
        reviewed_target: planned.target,
        accept_newer_target,
    }
}
