//! The plan's view of the checks: the domain's assessment ([`crate::upgrade::under_way`])
//! as diagnostics, with a warning when an upgrade under way will be followed.

use super::findings;
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::under_way::assess;

/// Plan-time diagnostics for upgrading `facts` with the configuration `config`, and
/// whether an upgrade of the instance is already under way (applying follows it).
pub async fn diagnostics(
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
    config: &Value,
) -> (Diagnostics, bool) {
    let assessment = assess(client, call, facts, findings::configured_options(config)).await;
    let under_way = assessment.under_way.is_some();
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
    diags.extend(findings::findings_to_diagnostics(
        assessment.findings,
        false,
    ));
    (diags, under_way)
}
