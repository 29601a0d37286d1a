//! Apply time, shared by the resource's create and the action's invoke: the checks again
//! with this process's view of the instance, then adopt the upgrade already under way
//! (running, scheduled, or finished moments ago on an instance already upgraded) or
//! submit once — each with a slot of the fleet gate (the cap on running upgrades and
//! the failure budget), taken before anything else. A new submission's last look checks
//! the target the plan showed ([`super::last_look::ReviewedTarget`]).

use std::sync::Arc;

use super::catalog::{Catalog, FactsError};
use super::checks::{Finding, UpgradeOptions};
use super::facts::InstanceFacts;
use super::fleet_gate::{FleetGate, GateError, Slot};
use super::job::{self, JobSnapshot};
use super::last_look::{LastLook, ReviewedTarget};
use super::submit_once::{self, Outcome, SubmitError, Submitted};
use super::under_way;
use crate::rds::{CallCtx, RdsClient, RdsError, UpgradeRequest};

/// The upgrade to adopt or submit.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub instance_id: &'a str,
    /// The options as configured, for the checks.
    pub options: UpgradeOptions,
    pub request: UpgradeRequest,
    /// The instance's version as the plan showed it, when there was one.
    pub planned_version: Option<&'a str>,
    /// The version the plan showed the upgrade installs (`target_version`), when known:
    /// checked again right before the request is sent.
    pub reviewed_target: Option<&'a str>,
    /// Submit all the same when the target moved since the plan (`accept_newer_target`).
    pub accept_newer_target: bool,
}

/// An upgrade adopted or submitted.
pub struct Started {
    pub facts: InstanceFacts,
    pub submitted: Submitted,
    /// The fleet gate's slot: the caller's to give back when the job has finished.
    pub slot: Slot,
    /// The version a new submission installs when it is not the reviewed target (newer
    /// targets accepted).
    pub newer_target: Option<String>,
}

/// Why nothing was adopted or submitted.
#[derive(Debug)]
pub enum NotSubmitted {
    /// The instance's facts could not be read.
    Facts(FactsError),
    /// No slot of the fleet gate: the budget is spent, or the wait for a slot ended.
    Gate(GateError),
    /// The checks found errors (and the look for an upgrade under way failed, when it did).
    Refused {
        findings: Vec<Finding>,
        lookup_failed: Option<RdsError>,
    },
    /// Submitting failed.
    Failed {
        facts: InstanceFacts,
        error: SubmitError,
    },
    /// The instance runs another version than the plan showed (`planned`), and no job of
    /// the upgrade that changed it shows (`lookup`: the search for it failed).
    ChangedSincePlan {
        facts: InstanceFacts,
        planned: String,
        lookup: Option<RdsError>,
    },
}

/// Waits for a slot of the fleet gate, checks, then adopts or submits the upgrade.
pub async fn submit_checked(
    catalog: &Arc<Catalog>,
    gate: &FleetGate,
    client: &RdsClient,
    call: &CallCtx,
    submission: &Submission<'_>,
) -> Result<Started, NotSubmitted> {
    let slot = gate
        .acquire(call, submission.instance_id)
        .await
        .map_err(NotSubmitted::Gate)?;
    let (facts, submitted, newer_target) =
        adopt_or_submit(catalog, gate, client, call, submission).await?;
    Ok(Started {
        facts,
        submitted,
        slot,
        newer_target,
    })
}

async fn adopt_or_submit(
    catalog: &Arc<Catalog>,
    gate: &FleetGate,
    client: &RdsClient,
    call: &CallCtx,
    submission: &Submission<'_>,
) -> Result<(InstanceFacts, Submitted, Option<String>), NotSubmitted> {
    let Submission {
        instance_id,
        options,
        request,
        planned_version,
        reviewed_target,
        accept_newer_target,
    } = *submission;
    let facts = catalog
        .checked_facts(client, call, instance_id)
        .await
        .map_err(NotSubmitted::Facts)?;
    let assessment = under_way::assess(catalog, client, call, facts, options).await;
    if assessment.has_errors() {
        return Err(NotSubmitted::Refused {
            findings: assessment.findings,
            lookup_failed: assessment.lookup_failed,
        });
    }
    // The facts as the checks last read them (again, when a look may have outdated them).
    let facts = assessment.facts;
    if let Some(active) = assessment.under_way {
        // An upgrade already under way (an interrupted apply's, the console's) is adopted.
        return Ok((facts, Submitted::Adopted(active), None));
    }
    if let Some(planned) = planned_version
        && facts
            .complete_version
            .as_deref()
            .is_some_and(|now| now != planned)
    {
        return upgraded_since_plan(client, call, facts, planned)
            .await
            .map(|(facts, adopted)| (facts, adopted, None));
    }
    if let Some(done) = recent_upgrade(client, call, &facts).await {
        // Already on the latest version right after an upgrade: most likely the job of
        // an apply that died before recording it. Adopt it, do not upgrade again.
        return Ok((facts, Submitted::Adopted(done), None));
    }
    let running = catalog.running_upgrades(client, call).await;
    let running = running.as_deref().map(|r| r.as_slice()).ok();
    let version = planned_version.or(facts.complete_version.as_deref());
    if let Some(spent) = gate.spent() {
        // An upgrade failed while this one was checked: the budget stops it here.
        return Err(NotSubmitted::Gate(spent));
    }
    let last_look = version.map(|v| {
        let last_look = LastLook::new(catalog, client, call, instance_id, v);
        match reviewed_target {
            Some(reviewed) => last_look.with_target(ReviewedTarget {
                version: reviewed,
                engine: &facts.engine,
                major: &facts.version,
                accept_newer: accept_newer_target,
            }),
            None => last_look,
        }
    });
    let submitted = submit_once::submit_once_reviewed(
        client,
        call,
        instance_id,
        version,
        request,
        running,
        last_look.as_ref(),
    )
    .await;
    match submitted {
        Ok(Outcome {
            submitted,
            newer_target,
        }) => {
            if request.is_delayed && matches!(submitted, Submitted::New(_)) {
                catalog.forget_scheduled().await;
            }
            Ok((facts, submitted, newer_target))
        }
        Err(error) => Err(NotSubmitted::Failed { facts, error }),
    }
}

/// The instance runs another version than the plan showed: an upgrade ran meanwhile (the
/// console's, another configuration's). Its job is adopted; submitting would upgrade the
/// instance a second time.
async fn upgraded_since_plan(
    client: &RdsClient,
    call: &CallCtx,
    facts: InstanceFacts,
    planned: &str,
) -> Result<(InstanceFacts, Submitted), NotSubmitted> {
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let patience = job::UNSEEN_JOB_PATIENCE;
    let lookup = match submit_once::search_for_upgrade(client, call, &facts.id, since, patience)
        .await
    {
        Ok(Some(job)) => {
            tracing::info!(instance_id = %facts.id, job_id = %job.id, planned, "the instance was upgraded since the plan; adopting that upgrade");
            return Ok((facts, Submitted::Adopted(job)));
        }
        Ok(None) => None,
        Err(e) => Some(e),
    };
    Err(NotSubmitted::ChangedSincePlan {
        facts,
        planned: planned.to_string(),
        lookup,
    })
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
    match job::recent(client, call, &facts.id, time::Duration::days(1)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(instance_id = %facts.id, error = %e, "cannot read the task center");
            None
        }
    }
}
