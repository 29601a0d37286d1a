//! The checks of an upgrade against the instance as it is now, shared by the plan and the
//! apply of the resource and the action: the seed's constraints, with the one rule for
//! what an upgrade already under way waives. Its own work makes the instance leave ACTIVE and the
//! node it upgrades look abnormal
//! ([`checks::FindingKind::explained_by_upgrade_under_way`]); when
//! such an upgrade is found those findings are waived and the upgrade is followed (the plan
//! says so in a warning, the apply adopts it). Every other finding stands.

use std::time::Duration;

use super::checks::{self, Finding, Severity, UpgradeOptions};
use super::facts::InstanceFacts;
use super::job::{self, JobSnapshot};
use crate::rds::{CallCtx, RdsClient, RdsError};

/// How long an instance that is not ACTIVE is watched for an upgrade job to show before
/// the finding stands: a job started moments ago shows in the task center with a delay.
const UNDER_WAY_PATIENCE: Duration = Duration::from_secs(6);

/// The checks' outcome for one instance and configuration.
#[derive(Debug)]
pub struct Assessment {
    /// The findings that stand (those an upgrade under way explains are removed once it
    /// was found).
    pub findings: Vec<Finding>,
    /// The upgrade of the instance already running or scheduled, when one was looked for
    /// and found.
    pub under_way: Option<JobSnapshot>,
    /// Why the look for an upgrade under way failed, when it did.
    pub lookup_failed: Option<RdsError>,
}

impl Assessment {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Checks upgrading `facts` with `options`, looking for an upgrade under way only when a
/// finding it would explain is present (no request otherwise).
pub async fn assess(
    client: &RdsClient,
    call: &CallCtx,
    facts: &InstanceFacts,
    options: UpgradeOptions,
) -> Assessment {
    let mut findings = checks::check_upgrade(facts, options);
    let explained = |f: &Finding| f.kind.explained_by_upgrade_under_way();
    let mut assessment = Assessment {
        findings: Vec::new(),
        under_way: None,
        lookup_failed: None,
    };
    if findings.iter().any(explained) {
        match job::find_active_within(client, call, &facts.id, UNDER_WAY_PATIENCE).await {
            Ok(Some(active)) => {
                findings.retain(|f| !explained(f));
                assessment.under_way = Some(active);
            }
            Ok(None) => {}
            Err(e) => assessment.lookup_failed = Some(e),
        }
    }
    assessment.findings = findings;
    assessment
}
