//! `moved` from the official provider's fire-and-forget resource,
//! `huaweicloud_rds_instance_minor_version_upgrade` (provider
//! `registry.terraform.io/huaweicloud/huaweicloud`), to `hwrds_db_minor_upgrade`.
//!
//! That resource keeps `id` (the instance id), `region`, `instance_id`, `is_delayed` and
//! `enable_force_new`, and no record of the job it started. The move is a translation of
//! that state and submits nothing (Terraform calls it on an unconfigured provider); the
//! first refresh then adopts the instance's most recent upgrade job, as an import by
//! instance id does, and from then on the upgrade is tracked like any other. Any other
//! source type or provider is refused with a diagnostic that says what can be moved.

use serde_json::Value as Json;

use super::model::{Field, UpgradeState};
use crate::provider::ProviderState;
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics, MoveSource, MovedState};
use crate::upgrade::job::{self, JobStatus};

pub const SOURCE_PROVIDER: &str = "registry.terraform.io/huaweicloud/huaweicloud";
pub const SOURCE_TYPE: &str = "huaweicloud_rds_instance_minor_version_upgrade";

/// Our state for the official resource's `source`, with no job yet.
pub fn move_state(source: &MoveSource) -> Result<MovedState, Diagnostics> {
    if source.provider_address != SOURCE_PROVIDER || source.type_name != SOURCE_TYPE {
        return Err(Diagnostics::from(Diagnostic::error(
            "Cannot move this resource to hwrds_db_minor_upgrade",
            format!(
                "hwrds_db_minor_upgrade takes the state of {SOURCE_TYPE} of the provider {SOURCE_PROVIDER} only; \
                 this moved block's source is {} of {}. To adopt another upgrade, import it instead: \
                 import {{ to = hwrds_db_minor_upgrade.<name>  id = \"<instance_id>\" }}.",
                source.type_name, source.provider_address
            ),
        )));
    }
    let stored: Json = serde_json::from_slice(&source.state_json).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "Cannot read the moved state",
            format!("The stored state of {SOURCE_TYPE} is not JSON: {e}"),
        ))
    })?;
    let instance_id = ["instance_id", "id"]
        .iter()
        .find_map(|k| stored[*k].as_str().filter(|s| !s.trim().is_empty()))
        .ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot read the moved state",
                format!("The stored state of {SOURCE_TYPE} has no instance_id."),
            ))
        })?
        .to_string();
    let is_delayed = stored["is_delayed"].as_bool().unwrap_or(false);
    let mut state = UpgradeState::new(&instance_id);
    state.is_delayed = Field::Known(is_delayed);
    // What a plan chooses when the configuration leaves it out.
    state.wait_for_completion = Field::Known(!is_delayed);
    let state = state.to_value();
    let diagnostics = Diagnostics::from(Diagnostic::warning(
        "Moved from the official provider",
        format!(
            "The upgrade of instance {instance_id} moved from {SOURCE_TYPE}, which kept no job. \
             Nothing is submitted: the next refresh adopts the instance's most recent upgrade job \
             from the task center, as an import by instance id would."
        ),
    ));
    Ok(MovedState { state, diagnostics })
}

/// Whether a state still waits for the job a move leaves out. A record `UpToDate` has no
/// job by design and adopts none: nothing was submitted for it.
pub fn has_no_job(state: &UpgradeState) -> bool {
    state.job_id().is_empty() && !state.status.known().is_some_and(JobStatus::has_no_job)
}

/// Adopts the instance's most recent upgrade job into a moved state (`id`, `job_id`,
/// `submitted_at`, engine and type). False, with a warning, when the task center knows
/// no upgrade of the instance: the state stays as moved and the next refresh looks again.
pub async fn adopt(
    provider: &ProviderState,
    client: &RdsClient,
    ctx: &Ctx,
    value: &mut UpgradeState,
    diags: &mut Diagnostics,
) -> bool {
    let instance_id = value.instance_id().to_string();
    let call = CallCtx::new(ctx.cancel.clone());
    match job::active_or_latest(client, &call, &instance_id, job::Since::Ever).await {
        Ok(Some(job)) => {
            value.set_job(&job.id);
            value.submitted_at = job.created.clone().into();
            if let Ok(Some(instance)) = provider.catalog.instance(client, &call, &instance_id).await
            {
                value.engine = instance.datastore.engine.into();
                value.instance_type = instance.instance_type.into();
            }
            tracing::info!(instance_id = %instance_id, job_id = %job.id, "adopted the most recent upgrade job of a moved resource");
            true
        }
        Ok(None) => {
            diags.push(Diagnostic::warning(
                "No upgrade job to adopt yet",
                format!(
                    "Instance {instance_id} has no minor upgrade job in the task center (records are kept about a month), \
                     so the upgrade moved from {SOURCE_TYPE} is not tracked yet; the next refresh looks again. \
                     Nothing was submitted."
                ),
            ));
            false
        }
        Err(e) => {
            diags.push(Diagnostic::error(
                "Cannot read the task center",
                format!("Looking for the upgrade job of instance {instance_id}: {e}"),
            ));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(provider: &str, type_name: &str, json: &str) -> MoveSource {
        MoveSource {
            provider_address: provider.into(),
            type_name: type_name.into(),
            schema_version: 0,
            state_json: json.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_official_state_becomes_one_without_a_job() {
        let json = r#"{"id":"i-1","region":"ap-southeast-1","instance_id":"i-1","is_delayed":true,"enable_force_new":null}"#;
        let moved = move_state(&source(SOURCE_PROVIDER, SOURCE_TYPE, json)).expect("moved");
        assert_eq!(
            moved.state.attr_string("instance_id").as_deref(),
            Some("i-1")
        );
        assert_eq!(moved.state.attr_bool("is_delayed"), Some(true));
        assert_eq!(moved.state.attr_bool("wait_for_completion"), Some(false));
        assert!(has_no_job(&UpgradeState::from_value(&moved.state)));
        let mut up_to_date = UpgradeState::from_value(&moved.state);
        up_to_date.status = Field::Known(JobStatus::UpToDate);
        assert!(
            !has_no_job(&up_to_date),
            "an up-to-date record adopts no job"
        );
        assert!(moved.state.is_wholly_known());
        assert!(!moved.diagnostics.has_errors());
    }

    #[test]
    fn other_sources_are_refused() {
        let json = r#"{"id":"i-1","instance_id":"i-1"}"#;
        for (provider, type_name) in [
            (SOURCE_PROVIDER, "huaweicloud_rds_instance"),
            ("registry.terraform.io/hashicorp/null", SOURCE_TYPE),
        ] {
            let refused = move_state(&source(provider, type_name, json));
            let d = refused.expect_err("refused");
            assert!(d.has_errors());
            assert!(d.iter().any(|d| d.detail.contains(type_name)), "{d:?}");
        }
        assert!(move_state(&source(SOURCE_PROVIDER, SOURCE_TYPE, r#"{"id":""}"#)).is_err());
    }
}
