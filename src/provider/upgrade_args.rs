//! The arguments the resource and the action share: their descriptions, the instance id
//! a plan can check, and the upgrade they ask for.

use crate::cty::Value;
use crate::rds::UpgradeRequest;
use crate::upgrade::submission::{Reviewed, Upgrade};

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

/// The upgrade of `instance_id` that `values` (the resource's plan, the action's
/// configuration) asks for, with the defaults, checked against what the plan showed
/// (`reviewed`); the checks see the options as `config` sets them. `previous_job` is
/// the job of the upgrade an in-place update comes after.
pub fn upgrade<'a>(
    instance_id: &'a str,
    values: &Value,
    config: &Value,
    reviewed: Reviewed<'a>,
    previous_job: Option<&'a str>,
) -> Upgrade<'a> {
    let request = request(values);
    Upgrade {
        instance_id,
        options: findings::configured_options(config),
        request,
        wait_for_completion: values
            .attr_bool("wait_for_completion")
            .unwrap_or(!request.is_delayed),
        reviewed,
        previous_job,
    }
}
