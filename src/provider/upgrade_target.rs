//! `target_version` of `hwrds_db_minor_upgrade` as Terraform sees it: its value and
//! warning in the plan, its carry from the plan to the apply's final plan, and the
//! apply's warnings when what was installed is not what the plan showed. The target
//! itself is the domain's ([`crate::upgrade::target`]); the check right before the
//! submission is the last look's ([`crate::upgrade::last_look`]).
//!
//! Terraform plans every change twice: when the user plans, and again right before
//! applying it, and refuses the apply when a value known in the first plan differs in the
//! second. Terraform 1.16+ hands the first plan's private data to the second, so the
//! target the plan showed is carried there and planned again as it was: the apply then
//! reaches the last look, which refuses a moved target with its own error at
//! `instance_id`. Older Terraform hands nothing over: the second plan derives the target
//! again, and a version released between the two makes Terraform refuse the apply itself
//! (its "inconsistent final plan" error names `target_version`, as planned and as now),
//! also before anything is submitted.

use serde::{Deserialize, Serialize};

use crate::cty::{AttributePath, Value};
use crate::tfplugin::Diagnostic;
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::target::{self, Target};

use super::upgrade_state::UpgradeState;

/// The attribute's name.
pub const TARGET_VERSION: &str = "target_version";

/// The value `target_version` takes in the plan of upgrading `facts`' instance, and the
/// warning saying why it is null when the target cannot be told. In the final plan of an
/// apply whose plan's private data came back (`first_plan_private`, Terraform 1.16+) it
/// is the target that plan showed, for the last look to check before submitting.
pub fn planned(facts: &InstanceFacts, first_plan_private: &[u8]) -> (Value, Option<Diagnostic>) {
    let (now, warning) = derived(facts);
    match carried(first_plan_private) {
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

/// What the plan keeps in its private data for the apply's final plan.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Carried {
    /// The planned `target_version`: a version, or null when it could not be told.
    target_version: Option<String>,
}

/// The private data of a plan whose `target_version` is `planned` (empty when it is
/// unknown: there is nothing to keep).
pub fn carry(planned: &Value) -> Vec<u8> {
    let target_version = match planned {
        Value::String(version) => Some(version.clone()),
        Value::Null => None,
        _ => return Vec::new(),
    };
    serde_json::to_vec(&Carried { target_version }).unwrap_or_default()
}

/// The `target_version` the plan being applied showed, from the private data Terraform
/// hands back to the final plan (None when there is none: Terraform before 1.16, or a
/// first plan).
fn carried(first_plan_private: &[u8]) -> Option<Value> {
    if first_plan_private.is_empty() {
        return None;
    }
    let carried: Carried = serde_json::from_slice(first_plan_private).ok()?;
    Some(Value::opt_string(carried.target_version))
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

    #[test]
    fn the_planned_target_survives_the_private_data() {
        for planned in [Value::string("8.0.32"), Value::Null] {
            assert_eq!(carried(&carry(&planned)), Some(planned));
        }
        assert!(carry(&Value::Unknown).is_empty(), "nothing to keep");
        assert_eq!(carried(&[]), None, "a first plan, or Terraform before 1.16");
        assert_eq!(carried(b"not ours"), None);
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
            planned(&facts, &[]).0,
            Value::string("8.0.33"),
            "a first plan"
        );
        let reviewed = carry(&Value::string("8.0.32"));
        assert_eq!(planned(&facts, &reviewed).0, Value::string("8.0.32"));
        let unknown = InstanceFacts {
            latest_version: None,
            ..facts.clone()
        };
        let (now, warning) = planned(&unknown, &[]);
        assert_eq!(now, Value::Null);
        assert!(warning.is_some_and(|w| w.detail.contains("target_version is null")));
        assert_eq!(
            planned(&facts, &carry(&Value::Null)).0,
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
