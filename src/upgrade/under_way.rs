//! The checks of an upgrade against the instance as it is now, shared by the plan and the
//! apply of the resource and the action: the seed's constraints, with the one rule for
//! what an upgrade already under way waives. Its own work makes the instance leave ACTIVE and the
//! node it upgrades look abnormal
//! ([`checks::FindingKind::explained_by_upgrade_under_way`]); when
//! such an upgrade is found those findings are waived and the upgrade is followed (the plan
//! says so in a warning, the apply adopts it). Every other finding stands.
//!
//! Under flow control the look for that upgrade may wait long for its quota, and the
//! upgrade may end meanwhile: then the facts that asked for the look are older than its
//! answer. So when the look finds nothing, the facts are read again (a listing read after
//! the look was sent) and checked again; a finding stands only once facts read after a
//! look still show it and the looks have shown no upgrade for `UNDER_WAY_PATIENCE` (6 s,
//! counted from the first answer, not from before the wait for quota). The caller's
//! deadline and cancellation bound it all.

use std::time::Duration;

use tokio::time::Instant;

use super::catalog::{Catalog, FactsError};
use super::checks::{self, Finding, Severity, UpgradeOptions};
use super::facts::InstanceFacts;
use super::job::patience::{Grace, pause};
use super::job::{self, JobSnapshot};
use crate::rds::{CallCtx, RdsClient, RdsError};

/// How long an instance that is not ACTIVE is watched for an upgrade job to show before
/// the finding stands: a job started moments ago shows in the task center with a delay.
const UNDER_WAY_PATIENCE: Duration = Duration::from_secs(6);

/// How often the instance is looked at again meanwhile.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// The checks' outcome for one instance and configuration.
#[derive(Debug)]
pub struct Assessment {
    /// The facts the findings are about: those given, or read again when a look at the
    /// task center may have outdated them.
    pub facts: InstanceFacts,
    /// The findings that stand (those an upgrade under way explains are removed once it
    /// was found).
    pub findings: Vec<Finding>,
    /// The upgrade of the instance already running or scheduled, when one was looked for
    /// and found.
    pub under_way: Option<JobSnapshot>,
    /// Why the look for an upgrade under way (or the reading of the facts again after it)
    /// failed, when it did.
    pub lookup_failed: Option<RdsError>,
}

impl Assessment {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    fn of(facts: InstanceFacts, findings: Vec<Finding>) -> Self {
        Assessment {
            facts,
            findings,
            under_way: None,
            lookup_failed: None,
        }
    }

    fn failed(mut self, error: RdsError) -> Self {
        self.lookup_failed = Some(error);
        self
    }
}

/// Checks upgrading `facts` with `options`, looking for an upgrade under way only when a
/// finding it would explain is present (no request otherwise); see the module doc.
pub async fn assess(
    catalog: &Catalog,
    client: &RdsClient,
    call: &CallCtx,
    facts: InstanceFacts,
    options: UpgradeOptions,
) -> Assessment {
    let explained = |f: &Finding| f.kind.explained_by_upgrade_under_way();
    let mut grace = Grace::new(UNDER_WAY_PATIENCE);
    let mut facts = facts;
    let mut looked = false;
    loop {
        let mut findings = checks::check_upgrade(&facts, options);
        if !findings.iter().any(explained) {
            return Assessment::of(facts, findings);
        }
        if looked {
            // Facts read after a look that showed no upgrade still show the finding.
            if !grace.unseen() {
                tracing::debug!(instance_id = %facts.id, status = %facts.status, "no upgrade under way shows; the findings stand");
                return Assessment::of(facts, findings);
            }
            let unseen = RdsError::Ambiguous(format!(
                "instance {} has status {} and no upgrade of it shows in the task center",
                facts.id, facts.status
            ));
            if let Err(e) = pause(call, LOOK_EVERY, &unseen).await {
                return Assessment::of(facts, findings).failed(e);
            }
        }
        let sent = Instant::now();
        match job::find_active(client, call, &facts.id, true).await {
            Ok(Some(active)) => {
                findings.retain(|f| !explained(f));
                let mut assessment = Assessment::of(facts, findings);
                assessment.under_way = Some(active);
                return assessment;
            }
            Ok(None) => looked = true,
            Err(e) => return Assessment::of(facts, findings).failed(e),
        }
        // The look may have waited for its quota while an upgrade ended: the facts are
        // read again, from a listing no older than the look.
        facts = match catalog
            .facts_read_since(client, call, &facts.id, sent)
            .await
        {
            Ok(now) => now,
            Err(e) => {
                let error = match e {
                    FactsError::NotFound => RdsError::Ambiguous(format!(
                        "instance {} no longer shows in the instance listing",
                        facts.id
                    )),
                    FactsError::Lookup(error) | FactsError::Versions { error, .. } => error,
                };
                return Assessment::of(facts, findings).failed(error);
            }
        };
    }
}
