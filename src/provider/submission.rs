//! Apply time, shared by the resource's create and the action's invoke: the checks again
//! with this process's view of the instance, then adopt the upgrade already under way
//! (running, scheduled, or finished moments ago on an instance already upgraded) or
//! submit once — each with a slot of the fleet gate (the cap on running upgrades and
//! the failure budget), taken before anything else.

use super::ProviderState;
use super::checks::{self, InstanceFacts};
use super::fleet_gate::{GateError, Slot};
use super::plan_checks;
use super::upgrade_job::{self, JobSnapshot, SubmitError, Submitted};
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient, RdsError, UpgradeRequest};
use crate::tfplugin::{Diagnostic, Diagnostics};

/// Waits for a slot of the fleet gate, checks, then adopts or submits the upgrade of
/// `instance_id` configured by `config`. `planned_version` is the instance's version as
/// the plan showed it, when there was one. The slot is the caller's to give back when
/// the job has finished.
pub async fn submit_checked(
    state: &ProviderState,
    client: &RdsClient,
    call: &CallCtx,
    instance_id: &str,
    config: &Value,
    request: UpgradeRequest,
    planned_version: Option<&str>,
) -> Result<(InstanceFacts, Submitted, Slot), Diagnostics> {
    let slot = state
        .gate
        .acquire(call, instance_id)
        .await
        .map_err(|e| gate_diagnostic(instance_id, &e))?;
    let (facts, submitted) = adopt_or_submit(
        state,
        client,
        call,
        instance_id,
        config,
        request,
        planned_version,
    )
    .await?;
    Ok((facts, submitted, slot))
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

async fn adopt_or_submit(
    state: &ProviderState,
    client: &RdsClient,
    call: &CallCtx,
    instance_id: &str,
    config: &Value,
    request: UpgradeRequest,
    planned_version: Option<&str>,
) -> Result<(InstanceFacts, Submitted), Diagnostics> {
    let facts = state
        .catalog
        .checked_facts(client, call, instance_id)
        .await
        .map_err(Diagnostics::from)?;
    let assessment =
        plan_checks::assess(client, call, &facts, checks::configured_options(config)).await;
    if assessment.has_errors() {
        let mut diags = checks::findings_to_diagnostics(assessment.findings, true);
        if let Some(e) = assessment.lookup_failed {
            diags.push(Diagnostic::error(
                "Cannot read the task center",
                format!("Looking for an upgrade of {instance_id} under way failed: {e}"),
            ));
        }
        return Err(diags);
    }
    if let Some(active) = assessment.under_way {
        // An upgrade already under way (an interrupted apply's, the console's) is adopted.
        return Ok((facts, Submitted::Adopted(active)));
    }
    if let Some(planned) = planned_version
        && facts
            .complete_version
            .as_deref()
            .is_some_and(|now| now != planned)
    {
        return upgraded_since_plan(client, call, facts, planned).await;
    }
    if let Some(done) = recent_upgrade(client, call, &facts).await {
        // Already on the latest version right after an upgrade: most likely the job of
        // an apply that died before recording it. Adopt it, do not upgrade again.
        return Ok((facts, Submitted::Adopted(done)));
    }
    let running = state.catalog.running_upgrades(client, call).await;
    let running = running.as_deref().map(|r| r.as_slice()).ok();
    let version = planned_version.or(facts.complete_version.as_deref());
    if let Some(spent) = state.gate.spent() {
        // An upgrade failed while this one was checked: the budget stops it here.
        return Err(gate_diagnostic(instance_id, &spent));
    }
    match upgrade_job::submit_once(client, call, instance_id, version, request, running).await {
        Ok(submitted) => {
            if request.is_delayed && matches!(submitted, Submitted::New(_)) {
                state.catalog.forget_scheduled().await;
            }
            Ok((facts, submitted))
        }
        Err(e) => {
            let detail = match &e {
                SubmitError::Api(RdsError::Cancelled) => format!(
                    "Terraform was interrupted before instance {instance_id} accepted the upgrade. If a job was started anyway, the next run adopts it instead of submitting again."
                ),
                SubmitError::UpgradedElsewhere { .. } => format!(
                    "Not submitting the minor version upgrade of {}: {e}. Submitting now would upgrade it a second time; plan again once the other upgrade's job shows.",
                    facts.describe()
                ),
                SubmitError::Api(_) => format!(
                    "Submitting the minor version upgrade of {} failed: {e}. Nothing was started that hwrds knows of; the next run looks for a running upgrade before submitting.",
                    facts.describe()
                ),
            };
            Err(Diagnostics::from(Diagnostic::error_at(
                AttributePath::attribute("instance_id"),
                "Upgrade not submitted",
                detail,
            )))
        }
    }
}

/// The instance runs another version than the plan showed: an upgrade ran meanwhile (the
/// console's, another configuration's). Its job is adopted; submitting would upgrade the
/// instance a second time.
async fn upgraded_since_plan(
    client: &RdsClient,
    call: &CallCtx,
    facts: InstanceFacts,
    planned: &str,
) -> Result<(InstanceFacts, Submitted), Diagnostics> {
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let patience = upgrade_job::UNSEEN_JOB_PATIENCE;
    match upgrade_job::search_for_upgrade(client, call, &facts.id, since, patience).await {
        Ok(Some(job)) => {
            tracing::info!(instance_id = %facts.id, job_id = %job.id, planned, "the instance was upgraded since the plan; adopting that upgrade");
            Ok((facts, Submitted::Adopted(job)))
        }
        Ok(None) => Err(Diagnostics::from(Diagnostic::error_at(
            AttributePath::attribute("instance_id"),
            "Instance changed since the plan",
            format!(
                "{} runs another version than the plan showed ({planned}), and no upgrade of it in the last day shows in the task center. Nothing was submitted; plan again.",
                facts.describe()
            ),
        ))),
        Err(e) => Err(Diagnostics::from(Diagnostic::error_at(
            AttributePath::attribute("instance_id"),
            "Upgrade not submitted",
            format!(
                "{} runs another version than the plan showed ({planned}); looking for the upgrade that changed it failed: {e}. Nothing was submitted.",
                facts.describe()
            ),
        ))),
    }
}

/// For an instance already on the latest minor version: an upgrade of it created in the
/// last day, if the task center has one.
async fn recent_upgrade(
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
) -> Option<JobSnapshot> {
    if facts.on_latest() != Some(true) {
        return None;
    }
    match upgrade_job::recent(client, call, &facts.id, time::Duration::days(1)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(instance_id = %facts.id, error = %e, "cannot read the task center");
            None
        }
    }
}
