//! Instance facts as the plan checks and data sources see them: an RDS instance plus the
//! latest minor version available for it, derived from the versions API (no API states
//! it per instance).

use super::checks::{InstanceFacts, NodeFacts, compare_versions};
use crate::rds::models::Instance;
use crate::rds::{CallCtx, RdsClient, RdsError};

/// The latest minor version of `engine` `version` (e.g. MySQL `8.0`), when known.
pub async fn latest_version(
    client: &RdsClient,
    ctx: &CallCtx,
    engine: &str,
    version: &str,
) -> Result<Option<String>, RdsError> {
    let names: Vec<String> = if engine.eq_ignore_ascii_case("postgresql") {
        client
            .minor_versions(ctx, "postgresql", version)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else if engine.eq_ignore_ascii_case("mysql") {
        client
            .engine_versions(ctx, "mysql")
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        return Ok(None);
    };
    let prefix = format!("{version}.");
    Ok(names
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .max_by(|a, b| compare_versions(a, b)))
}

/// Turns an API instance and its latest version into the facts the checks use.
pub fn facts(instance: &Instance, latest: Option<String>) -> InstanceFacts {
    InstanceFacts {
        id: instance.id.clone(),
        name: instance.name.clone(),
        engine: instance.datastore.engine.clone(),
        version: instance.datastore.version.clone(),
        complete_version: instance.datastore.complete_version.clone(),
        latest_version: latest,
        status: instance.status.clone(),
        instance_type: instance.instance_type.clone(),
        nodes: instance
            .nodes
            .iter()
            .map(|n| NodeFacts {
                id: n.id.clone(),
                name: n.name.clone(),
                role: n.role.clone(),
                status: n.status.clone(),
                availability_zone: n.availability_zone.clone(),
            })
            .collect(),
        primary_id: instance.primary_id().map(str::to_string),
    }
}
