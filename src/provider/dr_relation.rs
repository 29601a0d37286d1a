//! The plan's warning for a PostgreSQL instance in a disaster-recovery relation: after
//! its minor upgrade the relation must be re-established. The relations are listed once
//! per process ([`Catalog::dr_relations`]); a failed listing costs only the warning.

use crate::cty::AttributePath;
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::catalog::Catalog;
use crate::upgrade::facts::InstanceFacts;

/// A warning at `instance_id` when `facts` is a PostgreSQL instance in a DR relation.
pub async fn plan_warning(
    catalog: &Catalog,
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
) -> Diagnostics {
    warning(catalog, client, call, facts)
        .await
        .map(Diagnostics::from)
        .unwrap_or_default()
}

async fn warning(
    catalog: &Catalog,
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
) -> Option<Diagnostic> {
    if !facts.is_postgresql() {
        return None;
    }
    let relations = match catalog.dr_relations(client, call).await {
        Ok(relations) => relations,
        Err(e) => {
            tracing::debug!(instance_id = %facts.id, error = %e, "cannot list the disaster-recovery relations");
            return None;
        }
    };
    let relation = relations.iter().find(|r| r.involves(&facts.id))?;
    let peers: Vec<String> = relation
        .master_instance
        .iter()
        .chain(&relation.slave_instances)
        .filter(|p| p.instance_id != facts.id)
        .map(|p| format!("{} ({})", p.instance_id, p.region))
        .collect();
    let with = if peers.is_empty() {
        String::new()
    } else {
        format!(" with {}", peers.join(", "))
    };
    Some(Diagnostic::warning_at(
        AttributePath::attribute("instance_id"),
        "Instance is in a disaster-recovery relation",
        format!(
            "{} is in a disaster-recovery relation{with}. Huawei Cloud notes that after a \
             PostgreSQL DR instance's minor version upgrade the DR relationship must be \
             re-established: plan to set it up again once the upgrade has completed.",
            facts.describe()
        ),
    ))
}
