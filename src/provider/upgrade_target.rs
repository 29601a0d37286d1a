//! The version an upgrade installs as the plan and the apply tell it, for the resource
//! and the action alike: the planned target and the warning saying why it is null when it
//! cannot be told, and the apply's warning when it installs a newer one. The target itself
//! is the domain's ([`crate::upgrade::target`]); the check right before the submission is
//! the last look's ([`crate::upgrade::last_look`]); the resource's `target_version`, its
//! carry to the final plan and the check of what was installed are the resource's
//! (`db_minor_upgrade`).

use crate::cty::AttributePath;
use crate::tfplugin::Diagnostic;
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::target::Target;

/// The target of upgrading `facts`' instance as the APIs tell it now, and the warning
/// saying why it is None when it cannot be told.
pub fn planned(facts: &InstanceFacts) -> (Option<String>, Option<Diagnostic>) {
    match Target::of(facts) {
        Target::Version(version) => (Some(version), None),
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
            (None, warning)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_latest_minor_version_or_none_with_a_warning() {
        let facts = InstanceFacts {
            id: "i-1".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: Some("8.0.28".into()),
            latest_version: Some("8.0.33".into()),
            ..Default::default()
        };
        assert_eq!(planned(&facts).0.as_deref(), Some("8.0.33"));
        let unknown = InstanceFacts {
            latest_version: None,
            ..facts.clone()
        };
        let (now, warning) = planned(&unknown);
        assert_eq!(now, None);
        assert!(warning.is_some_and(|w| w.detail.contains("target_version is null")));
    }
}
