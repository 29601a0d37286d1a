//! Why an upgrade run adopted or submitted nothing, as diagnostics at `instance_id`: the
//! facts could not be read, the fleet gate gave no slot, the checks refused, or the
//! submission failed or stopped (nothing was sent twice, and what to do next).

use super::findings;
use crate::cty::AttributePath;
use crate::rds::RdsError;
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::fleet_gate::GateError;
use crate::upgrade::submission::adopt_or_submit::NotSubmitted;
use crate::upgrade::submission::submit_once::SubmitError;

/// Why nothing was submitted for `instance_id`.
pub fn diagnostics(instance_id: &str, e: NotSubmitted) -> Diagnostics {
    let at = || AttributePath::attribute("instance_id");
    match e {
        NotSubmitted::Facts(e) => Diagnostics::from(findings::facts_diagnostic(instance_id, &e)),
        NotSubmitted::Gate(e) => gate_diagnostic(instance_id, &e),
        NotSubmitted::Refused {
            findings,
            lookup_failed,
        } => {
            let mut diags = findings::findings_to_diagnostics(findings, true);
            if let Some(e) = lookup_failed {
                diags.push(Diagnostic::error(
                    "Cannot read the task center",
                    format!("Looking for an upgrade of {instance_id} under way failed: {e}"),
                ));
            }
            diags
        }
        NotSubmitted::Failed {
            facts,
            error: SubmitError::TargetMoved { reviewed, now },
        } => Diagnostics::from(Diagnostic::error_at(
            at(),
            "Newer minor version than the plan showed",
            format!(
                "Not submitting the minor version upgrade of {}: the plan showed it installs {reviewed}, and the API would now install {now} (a minor version released since the plan). Nothing was submitted. Plan again to review {now}, then apply that plan; to install newer targets without review, set accept_newer_target = true in the provider block.",
                facts.describe()
            ),
        )),
        NotSubmitted::Failed {
            facts,
            error: SubmitError::Api(error),
        } if let Some(d) = findings::refusal_diagnostic(&facts, &error) => Diagnostics::from(d),
        NotSubmitted::Failed {
            facts,
            error: SubmitError::Api(error),
        } if error.is_expired_credential() => Diagnostics::from(Diagnostic::error_at(
            at(),
            "Credentials expired: nothing submitted",
            format!(
                "Submitting the minor version upgrade of {} failed: {error}. The gateway refused \
                 the request, so nothing was submitted. {}",
                facts.describe(),
                findings::RENEW_EXPIRED
            ),
        )),
        NotSubmitted::Failed { facts, error } => {
            let detail = match &error {
                SubmitError::Api(RdsError::Cancelled) => format!(
                    "Terraform was interrupted before instance {instance_id} accepted the upgrade. If a job was started anyway, the next run adopts it instead of submitting again."
                ),
                SubmitError::UpgradedElsewhere { .. } | SubmitError::TargetMoved { .. } => format!(
                    "Not submitting the minor version upgrade of {}: {error}. Submitting now would upgrade it a second time; plan again once the other upgrade's job shows.",
                    facts.describe()
                ),
                SubmitError::Api(_) => format!(
                    "Submitting the minor version upgrade of {} failed: {error}. Nothing was started that hwrds knows of; the next run looks for a running upgrade before submitting.",
                    facts.describe()
                ),
            };
            Diagnostics::from(Diagnostic::error_at(at(), "Upgrade not submitted", detail))
        }
        NotSubmitted::ChangedSincePlan {
            facts,
            planned,
            lookup: None,
        } => Diagnostics::from(Diagnostic::error_at(
            at(),
            "Instance changed since the plan",
            format!(
                "{} runs another version than the plan showed ({planned}), and no upgrade of it in the last day shows in the task center. Nothing was submitted; plan again.",
                facts.describe()
            ),
        )),
        NotSubmitted::ChangedSincePlan {
            facts,
            planned,
            lookup: Some(e),
        } => Diagnostics::from(Diagnostic::error_at(
            at(),
            "Upgrade not submitted",
            format!(
                "{} runs another version than the plan showed ({planned}); looking for the upgrade that changed it failed: {e}. Nothing was submitted.",
                facts.describe()
            ),
        )),
    }
}

/// Why a create got no slot, pointed at `instance_id`: nothing was submitted.
fn gate_diagnostic(instance_id: &str, e: &GateError) -> Diagnostics {
    let (summary, next) = match e {
        GateError::BudgetSpent { .. } => (
            "Failure budget spent",
            "Look at the failed upgrades, then apply again: this upgrade is submitted then.",
        ),
        GateError::Cancelled { .. } => ("Upgrade not submitted", "The next apply submits it."),
        GateError::Timeout { .. } => (
            "Upgrade not submitted",
            "Raise the create timeout or max_concurrent_upgrades, or apply again: the next apply submits it.",
        ),
    };
    Diagnostics::from(Diagnostic::error_at(
        AttributePath::attribute("instance_id"),
        summary,
        format!("Nothing was submitted for instance {instance_id}: {e}. {next}"),
    ))
}
