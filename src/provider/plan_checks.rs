//! The plan-time checks of an upgrade, shared by the resource and the action: the seed's
//! constraints as diagnostics at the argument they concern, except that an instance busy
//! with an upgrade already under way is shown as that upgrade being followed (a warning),
//! not refused — applying adopts it.

use super::checks::{self, InstanceFacts};
use super::upgrade_job;
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Diagnostic, Diagnostics};

/// Diagnostics for upgrading `facts` with the configuration `config`.
pub async fn diagnostics(
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
    config: &Value,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut findings = checks::check_upgrade(facts, checks::configured_options(config));
    if findings.iter().any(|f| f.summary == checks::NOT_ACTIVE) {
        match upgrade_job::find_active(client, call, &facts.id, true).await {
            Ok(Some(active)) => {
                findings.retain(|f| f.summary != checks::NOT_ACTIVE);
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
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the task center"),
        }
    }
    diags.extend(checks::findings_to_diagnostics(findings, false));
    diags
}
