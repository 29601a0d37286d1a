//! Apply time, shared by the resource's create and the action's invoke: the checks again
//! with this process's view of the instance, then adopt the upgrade already under way
//! (running, scheduled, or finished moments ago on an instance already upgraded) or
//! submit once.

use super::ProviderState;
use super::checks::{self, InstanceFacts};
use super::upgrade_job::{self, JobSnapshot, Submitted};
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient, RdsError, UpgradeRequest};
use crate::tfplugin::{Diagnostic, Diagnostics};

/// Checks, then adopts or submits the upgrade of `instance_id` configured by `config`.
pub async fn submit_checked(
    state: &ProviderState,
    client: &RdsClient,
    call: &CallCtx,
    instance_id: &str,
    config: &Value,
    request: UpgradeRequest,
) -> Result<(InstanceFacts, Submitted), Diagnostics> {
    let facts = state
        .catalog
        .checked_facts(client, call, instance_id)
        .await
        .map_err(Diagnostics::from)?;
    let problems = checks::findings_to_diagnostics(
        checks::check_upgrade(&facts, checks::configured_options(config)),
        true,
    );
    if problems.has_errors() {
        // An instance busy with an upgrade (e.g. from an interrupted apply) is adopted.
        return match upgrade_job::find_active(client, call, instance_id, true).await {
            Ok(Some(active)) => Ok((facts, Submitted::Adopted(active))),
            Ok(None) => Err(problems),
            Err(e) => {
                let mut diags = problems;
                diags.push(Diagnostic::error(
                    "Cannot read the task center",
                    format!("Looking for an upgrade of {instance_id} under way failed: {e}"),
                ));
                Err(diags)
            }
        };
    }
    if let Some(done) = recent_upgrade(client, call, &facts).await {
        // Already on the latest version right after an upgrade: most likely the job of
        // an apply that died before recording it. Adopt it, do not upgrade again.
        return Ok((facts, Submitted::Adopted(done)));
    }
    let running = state.catalog.running_upgrades(client, call).await;
    let running = running.as_deref().map(|r| r.as_slice()).ok();
    match upgrade_job::submit_once(client, call, instance_id, request, running).await {
        Ok(submitted) => Ok((facts, submitted)),
        Err(e) => {
            let detail = match &e {
                RdsError::Cancelled => format!(
                    "Terraform was interrupted before instance {instance_id} accepted the upgrade. If a job was started anyway, the next run adopts it instead of submitting again."
                ),
                _ => format!(
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
