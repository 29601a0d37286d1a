//! What `hwrds_db_minor_upgrade` records of its job: a run's result ([`record_run`],
//! [`record_tracked`]; a run with nothing to install is recorded `UpToDate` with no job),
//! refreshing the job from the job APIs, inferring its end from the
//! instance when no API lists it any more, and the warning when the version after is not
//! the planned `target_version`.

use std::time::Duration;

use tokio::time::Instant;

use super::api_error;
use super::delayed;
use super::impact::{self, Zones};
use super::model::{Field, UpgradeState, attr};
use crate::cty::AttributePath;
use crate::provider::upgrade_target;
use crate::provider::wait_outcome::{self, Resume};
use crate::rds::models::rfc3339;
use crate::rds::{CallCtx, RdsClient};
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::facts::compare_versions;
use crate::upgrade::job::{self, JobSnapshot, JobStatus};
use crate::upgrade::run::{self, Ending, JobRun, Ran, Tracked};
use crate::upgrade::submission::Origin;
use crate::upgrade::target::{self, Target};

/// A job that no API knows after this long (records expire after about a month) keeps
/// its last known state, unless the instance shows the upgrade finished.
const VISIBILITY_GRACE: Duration = Duration::from_secs(60);

/// Records a create's run in `state` (the plan's values, whose unknowns it fills): the
/// instance's facts, the job and how it began, and how the run ended; or that there was
/// nothing to install. `limit` is the create timeout.
pub fn record_run(state: &mut UpgradeState, ran: &Ran, limit: Duration) -> Diagnostics {
    let diags = match ran {
        Ran::Job(run) => record_job_run(state, run, limit),
        Ran::UpToDate(facts) => {
            record_up_to_date(state, facts);
            // The plan said so, at instance_id: nothing more to say.
            Diagnostics::default()
        }
    };
    // The planned impact stays; one the plan could not tell is told now.
    let impact = impact::of(state, Zones::of(&ran.facts().nodes));
    state.impact.fill(impact);
    diags
}

/// Records an instance that already ran its target (`facts`): status `UpToDate`, no job
/// (`job_id` null, `id` the instance id, `submitted_at` and `finished_at` null),
/// `version_after` the version it runs. Nothing was submitted; the record is final.
fn record_up_to_date(state: &mut UpgradeState, facts: &InstanceFacts) {
    state.id = state.instance_id().to_string().into();
    state.job_id = Field::Null;
    fill_facts(state, facts);
    state.status = Field::Known(JobStatus::UpToDate);
    state.progress = Field::Null;
    state.fail_reason = Field::Null;
    state.version_after = facts.complete_version.clone().into();
    state.submitted_at = Field::Null;
    state.finished_at = Field::Null;
    let is_delayed = state.request().is_delayed;
    delayed::record_at_create(state, facts.maintenance_window.as_deref(), is_delayed, None);
}

/// The instance's name, engine, type and versions, where the plan left them unknown
/// (engine and type always).
fn fill_facts(state: &mut UpgradeState, facts: &InstanceFacts) {
    state
        .instance_name
        .fill(Some(facts.name.clone()).filter(|n| !n.is_empty()));
    state.engine = facts.engine.as_str().into();
    state.instance_type = facts.instance_type.as_str().into();
    state.version_before.fill(facts.complete_version.clone());
    state
        .target_version
        .fill(Target::of(facts).version().map(str::to_string));
}

/// [`record_run`] of a run that adopted or submitted a job.
fn record_job_run(state: &mut UpgradeState, ran: &JobRun, limit: Duration) -> Diagnostics {
    let JobRun {
        facts,
        origin,
        newer_target,
        began,
        tracked,
    } = ran;
    let mut diags = Diagnostics::default();
    let reviewed = state.target_version.known().cloned();
    let is_delayed = state.request().is_delayed;
    let instance_id = state.instance_id().to_string();
    state.set_job(&began.id);
    fill_facts(state, facts);
    state.version_after = Field::Null;
    if let (Some(reviewed), Some(now)) = (&reviewed, newer_target) {
        diags.push(upgrade_target::newer_installed(facts, reviewed, now));
    }
    let now = || rfc3339(time::OffsetDateTime::now_utc());
    match origin {
        Origin::Submitted => state.submitted_at = now().into(),
        Origin::Adopted => {
            state.submitted_at = began.created.clone().unwrap_or_else(now).into();
            if began.status == JobStatus::Scheduled && !is_delayed {
                diags.push(delayed::adopted_while_immediate(&instance_id, began));
            } else {
                diags.push(Diagnostic::warning_at(
                    AttributePath::attribute(attr::INSTANCE_ID),
                    "Adopted an upgrade already under way",
                    format!(
                        "Instance {instance_id} already had upgrade job {} ({}); this resource tracks it instead of submitting another.",
                        began.id, began.status
                    ),
                ));
            }
        }
    }
    delayed::record_at_create(
        state,
        facts.maintenance_window.as_deref(),
        is_delayed,
        Some(began),
    );
    state.record(began);
    diags.extend(record_tracked(state, tracked, limit));
    if is_delayed && tracked.ending == Ending::NotWaited && state.status.is(&JobStatus::Scheduled) {
        diags.push(delayed::scheduled_not_installed(state));
    }
    if let Some(warning) = installed_differs(state, newer_target.as_deref()) {
        diags.push(warning);
    }
    diags
}

/// Records how far a run followed the state's job: the job as last seen, and what the
/// run's ending means to the user (a failure, a wait that stopped, a window after the
/// timeout `limit`).
pub fn record_tracked(state: &mut UpgradeState, tracked: &Tracked, limit: Duration) -> Diagnostics {
    let Tracked { job, ending } = tracked;
    let mut diags = Diagnostics::default();
    state.record(job);
    if job.is_finished() {
        state.version_after = job.version_after.clone().into();
    }
    let (job_id, instance_id) = (state.job_id().to_string(), state.instance_id().to_string());
    if *ending == Ending::Finished && job.status == JobStatus::Failed {
        diags.push(Diagnostic::error(
            "Upgrade job failed",
            format!(
                "The upgrade job {job_id} of instance {instance_id} failed: {}. The instance keeps version {}. \
                 The next plan proposes a new attempt (a replacement of this resource).",
                job.fail_reason.as_deref().unwrap_or("no reason given").trim_end_matches('.'),
                state.version_before.as_deref().unwrap_or("it had"),
            ),
        ));
    }
    let who = format!("instance {instance_id}");
    if let Some(warning) =
        wait_outcome::of_ending(Resume::Apply, ending, limit, &job_id, (&instance_id, &who))
    {
        diags.push(warning);
    }
    diags
}

/// The state's job as a snapshot, for a run that resumes following it.
pub fn recorded_job(state: &UpgradeState) -> JobSnapshot {
    JobSnapshot {
        id: state.job_id().to_string(),
        status: state.status.known().cloned().unwrap_or_default(),
        progress: state.progress.known().cloned(),
        scheduled_start: state.scheduled_start.known().cloned(),
        scheduled_end: state.scheduled_end.known().cloned(),
        ..Default::default()
    }
}

/// Brings a state's tracking attributes up to date (no request for a finished job).
pub async fn refresh(
    ctx: &Ctx,
    client: &RdsClient,
    state: &mut UpgradeState,
) -> Result<(), Diagnostic> {
    if state.status.is(&JobStatus::Completed) && state.version_after == Field::Null {
        // The read after completion failed earlier: ask once more, then it is final.
        let id = state.instance_id().to_string();
        state.version_after = run::installed_version(client, &ctx.cancel, &id)
            .await
            .into();
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
            if snap.status == JobStatus::Completed {
                let after = run::version_after(client, &ctx.cancel, &instance_id, &snap).await;
                state.version_after = after.into();
            }
            state.record(&snap);
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
