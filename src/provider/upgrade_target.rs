//! `target_version` of `hwrds_db_minor_upgrade` as Terraform sees it: its value and
//! warning in the plan, its carry from the plan to the apply's final plan, and the
//! apply's warnings when what was installed is not what the plan showed. The target
//! itself is the domain's ([`crate::upgrade::target`]); the check right before the
//! submission is the last look's ([`crate::upgrade::last_look`]).
//!
//! The target the plan showed is carried to the apply's final plan with the plan's other
//! values ([`super::plan_carry`]); with Terraform 1.16+ it is planned again as it was, and
//! the last look refuses a moved target with its own error at `instance_id`. Older
//! Terraform hands nothing over: the final plan derives the target again, and a version
//! released between the two plans makes Terraform refuse the apply itself (its
//! "inconsistent final plan" error names `target_version`, as planned and as now), also
//! before anything is submitted.

use crate::cty::{AttributePath, Value};
use crate::tfplugin::Diagnostic;
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::target::{self, Target};

use super::plan_carry::Carried;
use super::upgrade_state::UpgradeState;

/// The attribute's name.
pub const TARGET_VERSION: &str = "target_version";

/// The value `target_version` takes in the plan of upgrading `facts`' instance, and the
/// warning saying why it is null when the target cannot be told. In the final plan of an
/// apply whose plan's private data came back (`first_plan_private`, Terraform 1.16+) it
/// is the target that plan showed, for the last look to check before submitting.
pub fn planned(facts: &InstanceFacts, carried: Option<&Carried>) -> (Value, Option<Diagnostic>) {
    let (now, warning) = derived(facts);
    match carried.map(Carried::target_version) {
        Some(reviewed) => {
            if reviewed != now {
                tracing::info!(instance_id = %facts.id, ?reviewed, ?now, "the target moved since the plan; planning the reviewed one for the apply to check");
            }
            (reviewed, warning)
        }
        None => (now, warning),
    }
}

/// The target of upgrading `facts`' instance as the APIs tell it now.
fn derived(facts: &InstanceFacts) -> (Value, Option<Diagnostic>) {
    match Target::of(facts) {
        Target::Version(version) => (Value::String(version), None),
        Target::Unknown(why) => {
            let warning = why.explain(facts).map(|why| {
                Diagnostic::warning_at(
                    AttributePath::attribute("instance_id"),
                    "Target version unknown",
                    format!(
                        "{why} target_version is null: the plan cannot show which version the upgrade installs, and the apply cannot check it before submitting."
                    ),
                )
            });
            (Value::Null, warning)
        }
    }
}

/// The apply installs `now` where the plan showed `reviewed`: newer targets accepted.
pub fn newer_installed(facts: &InstanceFacts, reviewed: &str, now: &str) -> Diagnostic {
    Diagnostic::warning_at(
        AttributePath::attribute("instance_id"),
        "Installing a newer minor version than the plan showed",
        format!(
            "The plan showed that upgrading {} installs {reviewed}; a minor version was released since, and the upgrade submitted now installs {now} (accept_newer_target = true). target_version keeps {reviewed}; version_after records what the instance runs once the job completed.",
            facts.describe()
        ),
    )
}

/// A completed upgrade whose instance reports another version than `target_version`
/// (and than `accepted`, the newer target this apply accepted, already warned about).
pub fn installed_differs(state: &UpgradeState, accepted: Option<&str>) -> Option<Diagnostic> {
    let target = state.target_version.as_deref()?;
    let after = state.version_after.as_deref()?;
    if target::installed(target, after) || accepted.is_some_and(|a| target::installed(a, after)) {
        return None;
    }
    Some(Diagnostic::warning_at(
        AttributePath::attribute("instance_id"),
        "The upgrade installed another version than target_version",
        format!(
            "The upgrade job {} of instance {} completed and the instance reports {after}, where the plan showed target_version {target}. version_after records what the instance reports.",
            state.job_id(),
            state.instance_id
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carried(target: &Value) -> Option<Carried> {
        Carried::from_private(&super::super::plan_carry::carry(
            &Value::string("8.0.28"),
            target,
        ))
    }

    #[test]
    fn the_final_plan_keeps_the_target_the_plan_showed() {
        let facts = InstanceFacts {
            id: "i-1".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: Some("8.0.28".into()),
            latest_version: Some("8.0.33".into()),
            ..Default::default()
        };
        assert_eq!(
            planned(&facts, None).0,
            Value::string("8.0.33"),
            "a first plan"
        );
        let reviewed = carried(&Value::string("8.0.32"));
        assert_eq!(
            planned(&facts, reviewed.as_ref()).0,
            Value::string("8.0.32")
        );
        let unknown = InstanceFacts {
            latest_version: None,
            ..facts.clone()
        };
        let (now, warning) = planned(&unknown, None);
        assert_eq!(now, Value::Null);
        assert!(warning.is_some_and(|w| w.detail.contains("target_version is null")));
        assert_eq!(
            planned(&facts, carried(&Value::Null).as_ref()).0,
            Value::Null,
            "a plan that could not tell stays so"
        );
    }

    #[test]
    fn a_version_after_other_than_the_target_warns() {
        let mut state = UpgradeState::new("i-1");
        state.set_job("j-1");
        state.target_version = Some("8.0.32".into());
        state.version_after = Some("8.0.32.240101".into());
        assert!(
            installed_differs(&state, None).is_none(),
            "equal as versions"
        );
        state.version_after = Some("8.0.33".into());
        let warning = installed_differs(&state, None).expect("differs");
        assert!(warning.detail.contains("8.0.33") && warning.detail.contains("8.0.32"));
        assert!(
            installed_differs(&state, Some("8.0.33")).is_none(),
            "the accepted newer target was warned about already"
        );
        state.target_version = None;
        assert!(
            installed_differs(&state, None).is_none(),
            "no target to compare"
        );
    }
}
