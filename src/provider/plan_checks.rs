//! The plan's view of the checks: the domain's assessment ([`crate::upgrade::under_way`])
//! as diagnostics, with a warning when an upgrade under way will be followed.

use super::findings;
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::catalog::Catalog;
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
    diags.extend(findings::findings_to_diagnostics(
        assessment.findings,
        false,
    ));
    PlanChecks {
        diags,
        under_way: assessment.under_way.is_some(),
        facts,
    }
}
