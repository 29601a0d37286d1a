//! Import of `hwrds_db_minor_upgrade`: `<instance_id>/<job_id>`, or `<instance_id>` for
//! the instance's most recent upgrade job (an identity is turned into the same id by
//! [`crate::provider::upgrade_identity`]). The state it gives has the job and the
//! instance's name, engine and type; the first read follows the job.

use super::api_error;
use super::model::UpgradeState;
use crate::provider::findings;
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Ctx, Diagnostic};
use crate::upgrade::job;

/// How an import id is written, for its diagnostics.
const IMPORT_USAGE: &str = "Import an upgrade as <instance_id>/<job_id>, or <instance_id> to adopt the instance's most recent upgrade job.";

/// The state an import of `id` gives: `<instance_id>/<job_id>`, or `<instance_id>` for
/// the instance's most recent upgrade job.
pub async fn imported(client: &RdsClient, ctx: &Ctx, id: &str) -> Result<UpgradeState, Diagnostic> {
    let (instance_id, job_id) = match id.split_once('/') {
        Some((instance, job)) => (instance.to_string(), Some(job.to_string())),
        None => (id.to_string(), None),
    };
    let usage = IMPORT_USAGE;
    if let Some(d) = findings::validate_instance_id(&instance_id) {
        return Err(Diagnostic::error(
            "Invalid import id",
            format!("{} {usage}", d.detail),
        ));
    }
    if job_id
        .as_deref()
        .is_some_and(|j| j.trim().is_empty() || j.contains('/'))
    {
        return Err(Diagnostic::error(
            "Invalid import id",
            format!("{id:?} has no usable job id. {usage}"),
        ));
    }
    let call = CallCtx::new(ctx.cancel.clone());
    let instance = match client.instance(&call, &instance_id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(Diagnostic::error(
                "RDS instance not found",
                format!(
                    "No RDS instance has id {instance_id:?} in this project and region. {usage}"
                ),
            ));
        }
        Err(e) => return Err(api_error("Cannot read the RDS instance", &instance_id, &e)),
    };
    let (job_id, created) = match job_id {
        Some(j) => (j, None),
        None => match job::active_or_latest(client, &call, &instance_id, job::Since::Ever).await {
            Ok(Some(job)) => (job.id, job.created),
            Ok(None) => {
                return Err(Diagnostic::error(
                    "No upgrade job to import",
                    format!(
                        "Instance {instance_id} has no minor upgrade job in the task center (records are kept about a month). {usage}"
                    ),
                ));
            }
            Err(e) => return Err(api_error("Cannot read the task center", &instance_id, &e)),
        },
    };
    let mut state = UpgradeState::new(&instance_id);
    state.set_job(&job_id);
    state.set_name(&instance.name);
    state.engine = instance.datastore.engine.into();
    state.instance_type = instance.instance_type.into();
    state.submitted_at = created.into();
    Ok(state)
}
