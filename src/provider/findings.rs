//! The upgrade domain's checks as Terraform shows them, for the resource, the action and
//! the data sources: findings and facts errors as diagnostics at the attribute they are
//! about, the instance id's shape, and the upgrade options as configured.

use crate::cty::{AttributePath, Value};
use crate::rds::RdsError;
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::catalog::FactsError;
use crate::upgrade::checks::{Finding, Severity, UpgradeOptions, instance_id_problem};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::refusal::Refusal;

use super::project_lookup;

/// Checks an instance id's shape (diagnostic at `instance_id`).
pub fn validate_instance_id(id: &str) -> Option<Diagnostic> {
    let problem = instance_id_problem(id)?;
    Some(Diagnostic::error_at(
        AttributePath::attribute("instance_id"),
        "Invalid instance id",
        format!(
            "instance_id {id:?} {problem}. Use the id of an RDS instance, e.g. data.hwrds_db_instance.x.id."
        ),
    ))
}

/// Findings of the checks as diagnostics at their attributes.
pub fn findings_to_diagnostics(findings: Vec<Finding>, errors_only: bool) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for f in findings {
        let path = AttributePath::attribute(f.attribute);
        match f.severity {
            Severity::Error => diags.push(Diagnostic::error_at(path, f.summary, f.detail)),
            Severity::Warning if !errors_only => {
                diags.push(Diagnostic::warning_at(path, f.summary, f.detail))
            }
            Severity::Warning => {}
        }
    }
    diags
}

/// The upgrade options as configured (None where the configuration leaves them null).
pub fn configured_options(config: &Value) -> UpgradeOptions {
    UpgradeOptions {
        is_delayed: config.attr_bool("is_delayed"),
        second_switch: config.attr_bool("second_switch"),
    }
}

/// The upgrade API's refusal of `facts`'s upgrade as an error at `instance_id`, when it
/// names a cause to fix ([`Refusal`]): nothing was submitted, nothing is recorded.
pub fn refusal_diagnostic(facts: &InstanceFacts, error: &RdsError) -> Option<Diagnostic> {
    let refusal = Refusal::of_upgrade(facts, error)?;
    Some(Diagnostic::error_at(
        AttributePath::attribute("instance_id"),
        refusal.summary(),
        format!(
            "The API refused the minor version upgrade of {}: {error}. {}{} Nothing was \
             submitted and nothing is recorded.",
            facts.describe(),
            refusal.advice(),
            match (refusal, facts.primary_id.as_deref()) {
                (Refusal::ReplicaAlone, Some(primary)) => format!(" Its primary is {primary}."),
                _ => String::new(),
            }
        ),
    ))
}

/// What to do after static temporary credentials expired before a submission.
pub const RENEW_EXPIRED: &str = "Renew the credentials (HW_ACCESS_KEY, HW_SECRET_KEY and HW_SECURITY_TOKEN, or use a source that renews them: assume_role or ECS metadata) and run terraform apply again.";

/// Why the facts of instance `id` could not be read, at the `instance_id` argument.
pub fn facts_diagnostic(id: &str, e: &FactsError) -> Diagnostic {
    let at = AttributePath::attribute("instance_id");
    match e {
        FactsError::NotFound => Diagnostic::error_at(
            at,
            "RDS instance not found",
            format!("No RDS instance has id {id:?} in this project and region."),
        ),
        FactsError::Lookup(e) if e.is_permission_denied() => Diagnostic::error_at(
            at,
            "Cannot read the RDS instance: permission denied",
            format!(
                "Looking up instance {id:?} failed: {e}. The access key's IAM identity may not \
                 list RDS instances: a plan needs the RDS read actions (rds:instance:list, or \
                 the system policy RDS ReadOnlyAccess). When its permissions are scoped to one \
                 enterprise project, set enterprise_project_id (HW_ENTERPRISE_PROJECT_ID) to that \
                 project. Nothing was submitted."
            ),
        ),
        FactsError::Lookup(e) if e.is_expired_credential() => Diagnostic::error_at(
            at,
            "Credentials expired: nothing submitted",
            format!(
                "Looking up instance {id:?} failed: {e}. The credentials expired before this \
                 upgrade was submitted, so nothing was submitted for it. {RENEW_EXPIRED}"
            ),
        ),
        FactsError::Lookup(e) => project_lookup::or_diagnostic(e, || {
            Diagnostic::error_at(
                at,
                "Cannot read the RDS instance",
                format!("Looking up instance {id:?} failed: {e}"),
            )
        }),
        FactsError::Versions { engine, error } => Diagnostic::error_at(
            at,
            "Cannot read the available versions",
            format!("Listing {engine} versions for instance {id:?} failed: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked() {
        assert!(validate_instance_id("a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01").is_none());
        for bad in ["", "  ", "a/b", "x y", &"a".repeat(65)] {
            let d = validate_instance_id(bad).expect(bad);
            assert_eq!(d.path, Some(AttributePath::attribute("instance_id")));
        }
    }
}
