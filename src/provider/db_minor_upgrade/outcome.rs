//! What `hwrds_db_minor_upgrade` records of its job: following it (the wait, with the
//! fleet gate's slot), refreshing it from the job APIs, inferring its end from the
//! instance when no API lists it any more, the version the instance runs afterwards, and
//! the warning when that is not the planned `target_version`.

use std::time::Duration;

use tokio::time::Instant;

use super::api_error;
use super::delayed;
use super::model::{Field, UpgradeState, attr};
use crate::cty::AttributePath;
use crate::provider::wait_outcome::{self, Resume};
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};
use crate::upgrade::facts::compare_versions;
use crate::upgrade::fleet_gate::{Follow, Slot};
use crate::upgrade::job::{self, Interrupted, JobSnapshot, JobStatus};
use crate::upgrade::target;
use crate::upgrade::tracking::JobTracker;

/// A job that no API knows after this long (records expire after about a month) keeps
/// its last known state, unless the instance shows the upgrade finished.
const VISIBILITY_GRACE: Duration = Duration::from_secs(60);

/// What a fleet-gate follower needs to follow this resource's job.
pub fn follow<'a>(
    ctx: &'a Ctx,
    tracker: &'a JobTracker,
    job_id: &'a str,
    instance_id: &'a str,
) -> Follow<'a> {
    Follow {
        tracker,
        cancel: &ctx.cancel,
        cadence: job::UNATTENDED,
        job_id,
        instance_id,
    }
}

/// Records a finished job, and on completion the instance's new version.
pub async fn finish(
    client: &RdsClient,
    call: &CallCtx,
    state: &mut UpgradeState,
    snap: &JobSnapshot,
) {
    if snap.status == JobStatus::Completed {
        // The tracker's shared instance listing usually has it; else ask this one.
        state.version_after = match &snap.version_after {
            Some(version) => Field::Known(version.clone()),
            None => version_now(client, call, state.instance_id()).await.into(),
        };
    }
    state.record(snap);
}

/// Reads the instance afresh (not from the cache) for the version after an upgrade:
/// up to three rounds of the client's retries, as the upgrade itself is already done.
pub async fn version_now(client: &RdsClient, call: &CallCtx, id: &str) -> Option<String> {
    for round in 1..=3 {
        match client.instance(call, id).await {
            Ok(found) => return found.and_then(|i| i.datastore.complete_version),
            Err(e)
                if round < 3
                    && !e.is_auth()
                    && !matches!(e, RdsError::Cancelled | RdsError::Timeout(_)) =>
            {
                tracing::debug!(instance_id = id, error = %e, "reading the version after the upgrade failed; again");
            }
            Err(e) => {
                tracing::warn!(instance_id = id, error = %e, "cannot read the version after the upgrade; the next refresh asks again");
                return None;
            }
        }
    }
    None
}

/// Waits for the job recorded in `state` and records the outcome. Diagnostics say
/// what happened when it did not complete.
pub async fn wait_and_record(
    ctx: &Ctx,
    client: &RdsClient,
    tracker: &JobTracker,
    state: &mut UpgradeState,
    limit: Duration,
    slot: Option<Slot>,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let job_id = state.job_id().to_string();
    let instance_id = state.instance_id().to_string();
    let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
    let follow = follow(ctx, tracker, &job_id, &instance_id);
    let waited = follow
        .wait(&call, slot, |snap| {
            tracing::info!(instance_id = %instance_id, job_id = %snap.id, status = %snap.status, progress = snap.progress.as_deref().unwrap_or(""), "upgrade in progress");
        })
        .await;
    match waited {
        Ok(snap) => {
            // The final read gets its own short context: the wait may have used it all.
            let after = CallCtx::new(ctx.cancel.clone())
                .with_deadline(Instant::now() + Duration::from_secs(60));
            finish(client, &after, state, &snap).await;
            if snap.status == JobStatus::Failed {
                diags.push(Diagnostic::error(
                    "Upgrade job failed",
                    format!(
                        "The upgrade job {job_id} of instance {instance_id} failed: {}. The instance keeps version {}. \
                         The next plan proposes a new attempt (a replacement of this resource).",
                        snap.fail_reason.as_deref().unwrap_or("no reason given").trim_end_matches('.'),
                        state.version_before.as_deref().unwrap_or("it had"),
                    ),
                ));
            } else {
                tracing::info!(instance_id = %instance_id, job_id = %job_id, version_after = state.version_after.as_deref().unwrap_or(""), "upgrade completed");
            }
        }
        Err(stopped) => {
            if let Interrupted::Cancelled(Some(last)) | Interrupted::Timeout(Some(last)) = &stopped
            {
                state.record(last);
            }
            let who = format!("instance {instance_id}");
            diags.push(wait_outcome::interrupted(
                Resume::Apply,
                &stopped,
                limit,
                &job_id,
                &who,
            ));
        }
    }
    diags
}

/// Brings a state's tracking attributes up to date (no request for a finished job).
pub async fn refresh(
    ctx: &Ctx,
    client: &RdsClient,
    state: &mut UpgradeState,
) -> Result<(), Diagnostic> {
    if state.status.is(&JobStatus::Completed) && state.version_after == Field::Null {
        // The read after completion failed earlier: ask once more, then it is final.
        let call = CallCtx::new(ctx.cancel.clone())
            .with_deadline(Instant::now() + Duration::from_secs(60));
        state.version_after = version_now(client, &call, state.instance_id()).await.into();
        return Ok(());
    }
    if state.is_finished() {
        return Ok(());
    }
    let job_id = state.job_id().to_string();
    let instance_id = state.instance_id().to_string();
    let who = format!("job {job_id} of instance {instance_id}");
    let call =
        CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + Duration::from_secs(120));
    match job::snapshot(client, &call, &job_id, &instance_id).await {
        Ok(Some(snap)) => {
            delayed::record_at_refresh(state, &snap);
            if snap.is_finished() {
                finish(client, &call, state, &snap).await;
            } else {
                state.record(&snap);
            }
        }
        Ok(None) => infer_from_instance(client, &call, state).await,
        Err(e) => return Err(api_error("Cannot read the upgrade job", &who, &e)),
    }
    if state.status == Field::Null {
        // Imported and unknown to every API: say so rather than invent a status.
        state.status = Field::Known(JobStatus::Running);
    }
    Ok(())
}

/// No API knows the job: once it is old enough, an instance that is ACTIVE on a newer
/// version than before shows the upgrade completed; otherwise the state stays.
async fn infer_from_instance(client: &RdsClient, call: &CallCtx, state: &mut UpgradeState) {
    let submitted = state.submitted_at.as_deref().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    let old_enough = submitted.is_none_or(|t| {
        time::OffsetDateTime::now_utc() - t
            > time::Duration::try_from(VISIBILITY_GRACE).unwrap_or_default()
    });
    let (Some(before), true) = (state.version_before.known().cloned(), old_enough) else {
        return;
    };
    let instance_id = state.instance_id().to_string();
    let Ok(Some(instance)) = client.instance(call, &instance_id).await else {
        return;
    };
    let newer = instance
        .datastore
        .complete_version
        .as_deref()
        .is_some_and(|now| compare_versions(now, &before) == std::cmp::Ordering::Greater);
    if instance.status.eq_ignore_ascii_case("active") && newer {
        tracing::info!(
            instance_id,
            "the job is not listed any more; the instance runs a newer version: completed"
        );
        state.version_after = instance.datastore.complete_version.into();
        let snap = JobSnapshot {
            id: state.job_id().to_string(),
            status: JobStatus::Completed,
            ..Default::default()
        };
        state.record(&snap);
    }
}

/// A completed upgrade whose instance reports another version than `target_version`
/// (and than `accepted`, the newer target this apply accepted, already warned about).
pub fn installed_differs(state: &UpgradeState, accepted: Option<&str>) -> Option<Diagnostic> {
    let target = state.target_version.as_deref()?;
    let after = state.version_after.as_deref()?;
    if target::installed(target, after) || accepted.is_some_and(|a| target::installed(a, after)) {
        return None;
    }
    Some(Diagnostic::warning_at(
        AttributePath::attribute(attr::INSTANCE_ID),
        "The upgrade installed another version than target_version",
        format!(
            "The upgrade job {} of instance {} completed and the instance reports {after}, where the plan showed target_version {target}. version_after records what the instance reports.",
            state.job_id(),
            state.instance_id()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_after_other_than_the_target_warns() {
        let mut state = UpgradeState::new("i-1");
        state.set_job("j-1");
        state.target_version = "8.0.32".into();
        state.version_after = "8.0.32.240101".into();
        assert!(
            installed_differs(&state, None).is_none(),
            "equal as versions"
        );
        state.version_after = "8.0.33".into();
        let warning = installed_differs(&state, None).expect("differs");
        assert!(warning.detail.contains("8.0.33") && warning.detail.contains("8.0.32"));
        assert!(
            installed_differs(&state, Some("8.0.33")).is_none(),
            "the accepted newer target was warned about already"
        );
        state.target_version = Field::Null;
        assert!(
            installed_differs(&state, None).is_none(),
            "no target to compare"
        );
    }
}
