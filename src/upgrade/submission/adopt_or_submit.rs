//! Apply time, for every caller of the upgrade run: the checks again with this process's
//! view of the instance, then adopt the upgrade already under way (running, scheduled,
//! or finished moments ago on an instance already upgraded) or submit once
//! ([`super::submit_once`]), with the last look checking the target the plan showed.

use std::sync::Arc;

use super::last_look::{LastLook, ReviewedTarget};
use super::submit_once::{self, Attempt, SubmitError};
use super::{Obtained, Upgrade};
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::upgrade::catalog::{Catalog, FactsError};
use crate::upgrade::checks::Finding;
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::fleet_gate::{FleetGate, GateError};
use crate::upgrade::job::JobSnapshot;
use crate::upgrade::job::lookup::{Since, latest_upgrade, upgrade_that_changed_it};
use crate::upgrade::under_way;

/// An upgrade checked and its job obtained.
pub struct Begun {
    /// The instance's facts as the checks last read them.
    pub facts: InstanceFacts,
    pub obtained: Obtained,
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

/// Checks, then adopts or submits `upgrade` (newer targets than the reviewed one
/// submitted when `accept_newer_target`). `gate` stops it when the failure budget was
/// spent while it was checked.
pub async fn adopt_or_submit(
    catalog: &Arc<Catalog>,
    gate: &FleetGate,
    client: &RdsClient,
    call: &CallCtx,
    upgrade: &Upgrade<'_>,
    accept_newer_target: bool,
) -> Result<Begun, NotSubmitted> {
    let Upgrade {
        instance_id,
        options,
        request,
        reviewed,
        ..
    } = *upgrade;
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
        return Ok(Begun {
            facts,
            obtained: Obtained::adopted(active),
        });
    }
    if let Some(planned) = reviewed.version
        && facts
            .complete_version
            .as_deref()
            .is_some_and(|now| now != planned)
    {
        return upgraded_since_plan(client, call, facts, planned).await;
    }
    if let Some(done) = recent_upgrade(client, call, &facts).await {
        // Already on the latest version right after an upgrade: most likely the job of
        // an apply that died before recording it. Adopt it, do not upgrade again.
        return Ok(Begun {
            facts,
            obtained: Obtained::adopted(done),
        });
    }
    let running = catalog.running_upgrades(client, call).await;
    let running = running.as_deref().map(|r| r.as_slice()).ok();
    let version = reviewed.version.or(facts.complete_version.as_deref());
    if let Some(spent) = gate.spent() {
        // An upgrade failed while this one was checked: the budget stops it here.
        return Err(NotSubmitted::Gate(spent));
    }
    let last_look = version.map(|v| {
        let last_look = LastLook::new(catalog, client, call, instance_id, v);
        match reviewed.target {
            Some(reviewed) => last_look.with_target(ReviewedTarget {
                version: reviewed,
                engine: &facts.engine,
                major: &facts.version,
                accept_newer: accept_newer_target,
            }),
            None => last_look,
        }
    });
    let attempt = Attempt {
        instance_id,
        version,
        request,
        running,
        last_look: last_look.as_ref(),
    };
    match submit_once::submit_once(client, call, &attempt).await {
        Ok(obtained) => {
            if request.is_delayed && obtained.origin == super::Origin::Submitted {
                catalog.forget_scheduled().await;
            }
            Ok(Begun { facts, obtained })
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
) -> Result<Begun, NotSubmitted> {
    let lookup = match upgrade_that_changed_it(client, call, &facts.id).await {
        Ok(Some(job)) => {
            tracing::info!(instance_id = %facts.id, job_id = %job.id, planned, "the instance was upgraded since the plan; adopting that upgrade");
            return Ok(Begun {
                facts,
                obtained: Obtained::adopted(job),
            });
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
    let since = Since::Created(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    match latest_upgrade(client, call, &facts.id, since).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(instance_id = %facts.id, error = %e, "cannot read the task center");
            None
        }
    }
}
