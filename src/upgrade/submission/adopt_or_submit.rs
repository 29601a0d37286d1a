//! Apply time, for every caller of the upgrade run: the checks again with this process's
//! view of the instance, then adopt the upgrade already under way (running, scheduled,
//! or finished moments ago on an instance already upgraded), or submit nothing when the
//! instance already runs its target and no such upgrade shows ([`Begun::OnTarget`];
//! [`on_target`] tells it before the fleet gate is asked for a slot), or submit once
//! ([`super::submit_once`]), with the last look checking the target the plan showed.

use std::sync::Arc;

use super::last_look::{LastLook, ReviewedTarget};
use super::submit_once::{self, Attempt, SubmitError};
use super::{Obtained, Upgrade};
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::upgrade::catalog::{Catalog, FactsError};
use crate::upgrade::checks::{self, Finding, Severity};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::fleet_gate::{FleetGate, GateError};
use crate::upgrade::job::JobSnapshot;
use crate::upgrade::job::lookup::{Since, latest_upgrade, upgrade_that_changed_it};
use crate::upgrade::under_way;

/// An upgrade checked: its job obtained, or nothing to install.
pub enum Begun {
    /// The job adopted or submitted.
    Job {
        /// The instance's facts as the checks last read them.
        facts: InstanceFacts,
        obtained: Box<Obtained>,
    },
    /// The instance already runs the version the upgrade would install, and no upgrade
    /// of it in the last day shows (nor could be looked for): nothing was submitted.
    OnTarget {
        /// The instance's facts as the checks last read them.
        facts: InstanceFacts,
    },
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
/// spent while it was checked. `recent`: the upgrade of the last day [`on_target`] found
/// for an instance on its latest version, adopted without reading the task center again.
pub async fn adopt_or_submit(
    catalog: &Arc<Catalog>,
    gate: &FleetGate,
    client: &RdsClient,
    call: &CallCtx,
    upgrade: &Upgrade<'_>,
    accept_newer_target: bool,
    recent: Option<JobSnapshot>,
) -> Result<Begun, NotSubmitted> {
    let Upgrade {
        instance_id,
        options,
        request,
        reviewed,
        previous_job,
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
        return Ok(Begun::Job {
            facts,
            obtained: Box::new(Obtained::adopted(active)),
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
    if facts.on_latest() == Some(true) {
        let recent = match recent {
            Some(job) => Ok(Some(job)),
            None => recent_upgrade(client, call, &facts, previous_job).await,
        };
        match recent {
            // Already on the latest version right after an upgrade: most likely the job
            // of an apply that died before recording it. Adopt it, do not upgrade again.
            Ok(Some(done)) => {
                return Ok(Begun::Job {
                    facts,
                    obtained: Box::new(Obtained::adopted(done)),
                });
            }
            // Nothing to install: submitting would start a job that changes nothing.
            Ok(None) => return Ok(Begun::OnTarget { facts }),
            // Unreadable: the submission below looks for an upgrade under way again.
            Err(e) => {
                tracing::debug!(instance_id = %facts.id, error = %e, "cannot read the task center");
            }
        }
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
            Ok(Begun::Job {
                facts,
                obtained: Box::new(obtained),
            })
        }
        Err(error) => Err(NotSubmitted::Failed { facts, error }),
    }
}

/// What [`on_target`] tells before the caller asks the fleet gate for a slot.
#[derive(Debug)]
pub enum Ahead {
    /// The instance passes the checks and already runs its latest minor version, the
    /// version the plan showed, with no upgrade of it under way or in the last day.
    NothingToInstall(InstanceFacts),
    /// It runs its latest minor version after an upgrade of the last day: most likely
    /// the job of an apply that died before recording it, for [`adopt_or_submit`] to
    /// adopt (it is handed over, not read again).
    RecentUpgrade(JobSnapshot),
    /// Anything else: [`adopt_or_submit`] decides.
    Undecided,
}

/// Whether `upgrade` has nothing to install, told before the caller asks the fleet gate
/// for a slot ([`Ahead`]); [`adopt_or_submit`] tells the same case after the slot,
/// should the instance reach it meanwhile. Costs no request for an instance below its
/// latest version (the facts are the shared listing's), one look at the task center for
/// one on it.
pub async fn on_target(
    catalog: &Arc<Catalog>,
    client: &RdsClient,
    call: &CallCtx,
    upgrade: &Upgrade<'_>,
) -> Ahead {
    let Ok(facts) = catalog
        .checked_facts(client, call, upgrade.instance_id)
        .await
    else {
        return Ahead::Undecided;
    };
    if !nothing_to_install(&facts, upgrade) {
        return Ahead::Undecided;
    }
    // Only a task center that shows no recent upgrade says so: one that cannot be read
    // leaves the instance to adopt_or_submit, which looks again.
    match recent_upgrade(client, call, &facts, upgrade.previous_job).await {
        Ok(None) => Ahead::NothingToInstall(facts),
        Ok(Some(job)) => Ahead::RecentUpgrade(job),
        Err(_) => Ahead::Undecided,
    }
}

/// Whether `facts`' instance has nothing to install for `upgrade`, unless an upgrade of it
/// from the last day explains that: it runs its latest minor version, still the version
/// the plan showed, and the checks pass it outright (one they refuse, or one an upgrade
/// under way would explain, is [`adopt_or_submit`]'s to look at).
fn nothing_to_install(facts: &InstanceFacts, upgrade: &Upgrade<'_>) -> bool {
    let unchanged = upgrade
        .reviewed
        .version
        .is_none_or(|planned| facts.complete_version.as_deref() == Some(planned));
    let passes = checks::check_upgrade(facts, upgrade.options)
        .iter()
        .all(|f| f.severity != Severity::Error && !f.kind.explained_by_upgrade_under_way());
    facts.on_latest() == Some(true) && unchanged && passes
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
            return Ok(Begun::Job {
                facts,
                obtained: Box::new(Obtained::adopted(job)),
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
/// last day, if the task center has one and it is not `previous_job` (the upgrade an
/// in-place update comes after, which installed the version the instance runs).
async fn recent_upgrade(
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
    previous_job: Option<&str>,
) -> Result<Option<JobSnapshot>, RdsError> {
    let since = Since::Created(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    let latest = latest_upgrade(client, call, &facts.id, since).await?;
    Ok(latest.filter(|job| Some(job.id.as_str()) != previous_job))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::UpgradeRequest;
    use crate::upgrade::checks::UpgradeOptions;
    use crate::upgrade::submission::Reviewed;

    fn facts(runs: &str, status: &str) -> InstanceFacts {
        InstanceFacts {
            id: "i-1".into(),
            name: "orders".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: Some(runs.into()),
            latest_version: Some("8.0.32".into()),
            status: status.into(),
            instance_type: "Single".into(),
            ..Default::default()
        }
    }

    fn upgrade<'a>(planned: Option<&'a str>, is_delayed: Option<bool>) -> Upgrade<'a> {
        Upgrade {
            instance_id: "i-1",
            options: UpgradeOptions {
                is_delayed,
                second_switch: None,
            },
            request: UpgradeRequest {
                is_delayed: is_delayed == Some(true),
                second_switch: true,
            },
            wait_for_completion: true,
            reviewed: Reviewed {
                version: planned,
                target: planned,
            },
            previous_job: None,
        }
    }

    #[test]
    fn only_an_instance_on_its_target_that_the_checks_pass_has_nothing_to_install() {
        let on_it = "8.0.32.240101";
        // (row, runs, status, planned version, is_delayed, nothing to install)
        let table = [
            (
                "on its latest, as planned",
                on_it,
                "ACTIVE",
                Some(on_it),
                None,
                true,
            ),
            (
                "on its latest, no plan (the action)",
                on_it,
                "ACTIVE",
                None,
                None,
                true,
            ),
            (
                "on its latest, delayed",
                on_it,
                "ACTIVE",
                Some(on_it),
                Some(true),
                true,
            ),
            (
                "below its latest",
                "8.0.28",
                "ACTIVE",
                Some("8.0.28"),
                None,
                false,
            ),
            (
                "upgraded since the plan",
                on_it,
                "ACTIVE",
                Some("8.0.28"),
                None,
                false,
            ),
            (
                "not ACTIVE: maybe an upgrade under way",
                on_it,
                "MODIFYING",
                None,
                None,
                false,
            ),
            ("frozen: refused", on_it, "FROZEN", None, None, false),
        ];
        for (row, runs, status, planned, is_delayed, nothing) in table {
            let facts = facts(runs, status);
            assert_eq!(
                nothing_to_install(&facts, &upgrade(planned, is_delayed)),
                nothing,
                "{row}"
            );
        }
        let mut newer = facts("8.0.35", "ACTIVE");
        newer.latest_version = Some("8.0.32".into());
        assert!(
            !nothing_to_install(&newer, &upgrade(None, None)),
            "ahead of the listing: not known to be on its target"
        );
        let mut sql_server = facts(on_it, "ACTIVE");
        sql_server.engine = "SQLServer".into();
        assert!(!nothing_to_install(&sql_server, &upgrade(None, None)));
    }
}
