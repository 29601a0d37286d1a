//! The plan's view of the checks: the domain's assessment ([`crate::upgrade::under_way`])
//! as diagnostics, with a warning when an upgrade under way will be followed, and the
//! errors about the instance folded into one warning when `on_blocked = "skip"`.

use super::findings;
use super::on_blocked::OnBlocked;
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::catalog::Catalog;
use crate::upgrade::checks::{Finding, Severity};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::under_way::assess;

/// What the plan learns from the checks of one upgrade.
pub struct PlanChecks {
    pub diags: Diagnostics,
    /// An upgrade of the instance is already under way (applying follows it).
    pub under_way: bool,
    /// The instance's facts as the checks last read them: those given, or newer ones when
    /// a look at the task center may have outdated them.
    pub facts: InstanceFacts,
    /// Why the upgrade is skipped (`on_blocked = "skip"` and only the instance's state
    /// stops it): the summaries of what blocks it. None when it goes ahead, or fails.
    pub skipped: Option<Vec<String>>,
}

/// Plan-time diagnostics for upgrading `facts` with the configuration `config`.
pub async fn diagnostics(
    catalog: &Catalog,
    client: &RdsClient,
    call: &CallCtx,
    facts: InstanceFacts,
    config: &Value,
) -> PlanChecks {
    let options = findings::configured_options(config);
    let assessment = assess(catalog, client, call, facts, options).await;
    let facts = assessment.facts;
    let mut diags = Diagnostics::default();
    if let Some(active) = &assessment.under_way {
        diags.push(Diagnostic::warning_at(
            AttributePath::attribute("instance_id"),
            "An upgrade is already under way",
            format!(
                "{} is running upgrade job {} ({}); applying follows that job instead of submitting another.",
                facts.describe(),
                active.id,
                active.status
            ),
        ));
    }
    if let Some(e) = &assessment.lookup_failed {
        tracing::debug!(error = %e, "cannot read the task center");
    }
    let skipped = skipped(&assessment.findings, config);
    if let Some(blockers) = &skipped {
        let (errors, others): (Vec<_>, Vec<_>) = assessment
            .findings
            .into_iter()
            .partition(|f| f.severity == Severity::Error);
        diags.push(skip_warning(blockers, &errors));
        diags.extend(findings::findings_to_diagnostics(others, false));
    } else {
        diags.extend(findings::findings_to_diagnostics(
            assessment.findings,
            false,
        ));
    }
    PlanChecks {
        diags,
        under_way: assessment.under_way.is_some(),
        facts,
        skipped,
    }
}

/// What blocks the upgrade, when `config` says `on_blocked = "skip"` and every error the
/// checks found is about the instance as it is (an error about the options configured
/// still fails the plan).
pub fn skipped(found: &[Finding], config: &Value) -> Option<Vec<String>> {
    if !OnBlocked::of(config).skips() {
        return None;
    }
    let errors: Vec<&Finding> = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let skip = !errors.is_empty() && errors.iter().all(|f| f.kind.is_about_the_instance());
    skip.then(|| errors.iter().map(|f| f.summary.clone()).collect())
}

/// The warning of an upgrade skipped because of `errors` (their summaries `blockers`).
pub fn skip_warning(blockers: &[String], errors: &[Finding]) -> Diagnostic {
    let details = errors
        .iter()
        .map(|f| format!("{}: {}", f.summary, f.detail))
        .collect::<Vec<_>>()
        .join(" ");
    Diagnostic::warning_at(
        AttributePath::attribute("on_blocked"),
        format!("Upgrade skipped: {}", blockers.join("; ")),
        format!(
            "{details} With on_blocked = \"skip\" nothing is submitted: the record shows status Skipped, and every plan checks the instance again and proposes the upgrade once nothing blocks it."
        ),
    )
}
