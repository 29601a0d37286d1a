//! The seed's upgrade constraints as one set of checks, used by the resource's plan and
//! apply, the action, and the data sources (`upgrade_blockers`); each finding carries its
//! kind, and [`FindingKind::explained_by_upgrade_under_way`] is the one rule of what an
//! upgrade already under way waives.
//!
//! Pure functions over [`InstanceFacts`]; fetching the instance is the caller's job.

use std::cmp::Ordering;

use super::facts::{InstanceFacts, NodeFacts, compare_versions};

/// The upgrade options a check depends on, as configured (None = not set in config). A
/// value equal to the API's default (`second_switch = true`) is never a finding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpgradeOptions {
    pub is_delayed: Option<bool>,
    pub second_switch: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The upgrade cannot be submitted.
    Error,
    /// The upgrade can be submitted, but the user should know something.
    Warning,
}

/// Which of the seed's constraints a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    UnsupportedEngine,
    ReadReplica,
    NotActive,
    AbnormalNode,
    PostgresTooOld,
    PostgresDelayed,
    SecondSwitchIgnored,
    AlreadyLatest,
}

impl FindingKind {
    /// Whether an upgrade of the instance already under way explains the finding: its own
    /// work makes the instance leave ACTIVE and the node it upgrades look abnormal. The
    /// plan and the apply waive exactly these findings once they have found that upgrade
    /// (and follow it instead of submitting another).
    pub fn explained_by_upgrade_under_way(self) -> bool {
        matches!(self, FindingKind::NotActive | FindingKind::AbnormalNode)
    }

    /// Whether the finding is about the instance as it is (its status, nodes, engine or
    /// role), not about the options configured: what a resource with
    /// `on_blocked = "skip"` skips instead of failing.
    pub fn is_about_the_instance(self) -> bool {
        !matches!(
            self,
            FindingKind::PostgresDelayed | FindingKind::SecondSwitchIgnored
        )
    }
}

/// One result of the checks: what is wrong, and which argument it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The resource argument the finding points at.
    pub attribute: &'static str,
    pub summary: String,
    pub detail: String,
}

fn node_is_healthy(node: &NodeFacts) -> bool {
    node.status.is_empty()
        || node.status.eq_ignore_ascii_case("active")
        || node.status.eq_ignore_ascii_case("normal")
}

/// What a status other than ACTIVE means for an upgrade: the summary, and what to do.
fn not_active_advice(status: &str) -> (&'static str, &'static str) {
    match status.to_ascii_uppercase().as_str() {
        "FROZEN" => (
            "Instance is frozen",
            "It is frozen (usually an overdue payment or an expired subscription): unfreeze \
             it — settle the bill or renew, or ask Huawei Cloud support — and plan again.",
        ),
        "STORAGE FULL" => (
            "Instance storage is full",
            "Its storage is full: scale up the instance's storage (or free space) and plan again.",
        ),
        "BACKING UP" => (
            "Instance is backing up",
            "A backup is running: wait for it to finish and plan again.",
        ),
        _ => (
            "Instance is not ACTIVE",
            "Wait for the current operation to finish and plan again.",
        ),
    }
}

/// Runs every check of the seed's constraints against an instance and the options.
pub fn check_upgrade(instance: &InstanceFacts, options: UpgradeOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    let who = instance.describe();
    let error = |kind, attribute, summary: &str, detail: String| Finding {
        kind,
        severity: Severity::Error,
        attribute,
        summary: summary.to_string(),
        detail,
    };

    if !instance.is_mysql() && !instance.is_postgresql() {
        findings.push(error(
            FindingKind::UnsupportedEngine,
            "instance_id",
            "Engine does not support minor version upgrades",
            format!(
                "{who} runs {}; minor version upgrades are available for MySQL and PostgreSQL only.",
                instance.engine
            ),
        ));
    }
    if instance.instance_type.eq_ignore_ascii_case("replica") {
        // Huawei's guides disagree: older ones upgrade a replica only with its primary,
        // the newer MySQL guide upgrades "a single-node instance or read replica" in
        // place. The API decides; the plan says both.
        let primary = instance
            .primary_id
            .as_deref()
            .map(|id| format!(" (its primary is {id})"))
            .unwrap_or_default();
        findings.push(Finding {
            kind: FindingKind::ReadReplica,
            severity: Severity::Warning,
            attribute: "instance_id",
            summary: "A read replica may not be upgradable alone".to_string(),
            detail: format!(
                "{who} is a read replica{primary}. Older Huawei Cloud user guides say read \
                 replicas are upgraded together with their primary and cannot be upgraded \
                 alone; the newer MySQL guide describes an in-place upgrade for a \
                 single-node instance or read replica. Applying submits the upgrade and \
                 lets the API decide: if it refuses, nothing is recorded — upgrade the \
                 primary instead."
            ),
        });
    }
    if !instance.status.eq_ignore_ascii_case("active") {
        let (summary, fix) = not_active_advice(&instance.status);
        findings.push(error(
            FindingKind::NotActive,
            "instance_id",
            summary,
            format!(
                "{who} has status {}; a minor version upgrade needs the instance to be ACTIVE. {fix}",
                instance.status
            ),
        ));
    }
    if instance.is_postgresql() {
        let abnormal: Vec<String> = instance
            .nodes
            .iter()
            .filter(|node| !node_is_healthy(node))
            .map(|node| format!("{} ({}, {})", node.name, node.role, node.status))
            .collect();
        if !abnormal.is_empty() {
            findings.push(error(
                FindingKind::AbnormalNode,
                "instance_id",
                "PostgreSQL instance has an abnormal node",
                format!(
                    "{who} has abnormal nodes: {}. PostgreSQL instances with an abnormal node cannot be upgraded.",
                    abnormal.join(", ")
                ),
            ));
        }
        let version = instance
            .complete_version
            .as_deref()
            .unwrap_or(&instance.version);
        if compare_versions(version, "11") == Ordering::Equal
            && compare_versions(version, "11.2") == Ordering::Less
            && version.split('.').count() >= 2
        {
            findings.push(error(
                FindingKind::PostgresTooOld,
                "instance_id",
                "PostgreSQL 11 below 11.2 cannot be upgraded",
                format!("{who}: PostgreSQL 11 instances older than 11.2 cannot take a minor version upgrade."),
            ));
        }
        if options.is_delayed == Some(true) {
            findings.push(error(
                FindingKind::PostgresDelayed,
                "is_delayed",
                "PostgreSQL upgrades run immediately only",
                format!(
                    "{who}: PostgreSQL minor version upgrades cannot be delayed to the maintenance window. \
                     Set is_delayed = false (the upgrade may cause a primary/standby switchover)."
                ),
            ));
        }
    }
    let mysql_ha = instance.is_mysql() && instance.instance_type.eq_ignore_ascii_case("ha");
    // `second_switch = true` is the default: set or not, it asks for nothing to be
    // ignored. Only `false`, which would change the upgrade where it applies, warns.
    if options.second_switch == Some(false) && !mysql_ha {
        findings.push(Finding {
            kind: FindingKind::SecondSwitchIgnored,
            severity: Severity::Warning,
            attribute: "second_switch",
            summary: "second_switch has no effect on this instance".to_string(),
            detail: format!(
                "{who} is a {} {} instance; second_switch = false only applies to MySQL primary/standby instances and is ignored here.",
                instance.engine, instance.instance_type
            ),
        });
    }
    if instance.on_latest() == Some(true) {
        findings.push(Finding {
            kind: FindingKind::AlreadyLatest,
            severity: Severity::Warning,
            attribute: "instance_id",
            summary: "Instance is already on the latest minor version: nothing to install"
                .to_string(),
            detail: format!(
                "{who} already runs {}, the latest minor version available ({}). Applying submits no upgrade, and records that it is up to date (an upgrade of it started in the last day, such as an interrupted apply's, is followed instead).",
                instance.complete_version.as_deref().unwrap_or_default(),
                instance.latest_version.as_deref().unwrap_or_default()
            ),
        });
    }
    findings
}

/// Human-readable reasons why the upgrade API would refuse an upgrade of the instance now
/// (empty when nothing blocks it): the errors of the resource's plan with default
/// options, and a read replica (a fleet leaves it to its primary, though the plan only
/// warns about it). Running the latest minor version is not among them: nothing blocks
/// an upgrade that has nothing to install ([`InstanceFacts::on_latest`] tells that).
pub fn upgrade_blockers(instance: &InstanceFacts) -> Vec<String> {
    check_upgrade(instance, UpgradeOptions::default())
        .into_iter()
        .filter(|f| f.severity == Severity::Error || f.kind == FindingKind::ReadReplica)
        .map(|f| format!("{}: {}", f.summary, f.detail))
        .collect()
}

/// What is wrong with an instance id's shape, if anything: "must not be empty", ...
pub fn instance_id_problem(id: &str) -> Option<&'static str> {
    if id.trim().is_empty() {
        Some("must not be empty")
    } else if id.len() > 64 {
        Some("is longer than 64 characters")
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some("may only contain letters, digits, '-' and '_'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql_ha() -> InstanceFacts {
        InstanceFacts {
            id: "i1".into(),
            name: "orders".into(),
            engine: "MySQL".into(),
            version: "8.0".into(),
            complete_version: Some("8.0.28.231003".into()),
            latest_version: Some("8.0.32".into()),
            status: "ACTIVE".into(),
            instance_type: "Ha".into(),
            ..Default::default()
        }
    }

    fn summaries(findings: &[Finding]) -> Vec<(&'static str, Severity)> {
        findings.iter().map(|f| (f.attribute, f.severity)).collect()
    }

    #[test]
    fn healthy_mysql_ha_passes() {
        let opts = UpgradeOptions {
            is_delayed: Some(true),
            second_switch: Some(true),
        };
        assert!(check_upgrade(&mysql_ha(), opts).is_empty());
        assert!(upgrade_blockers(&mysql_ha()).is_empty());
    }

    #[test]
    fn other_engines_replicas_and_inactive_instances_are_refused() {
        let mut sql = mysql_ha();
        sql.engine = "SQLServer".into();
        let findings = check_upgrade(&sql, UpgradeOptions::default());
        assert!(findings[0].detail.contains("SQLServer"));
        assert_eq!(findings[0].severity, Severity::Error);

        let mut replica = mysql_ha();
        replica.instance_type = "Replica".into();
        replica.primary_id = Some("p1".into());
        let findings = check_upgrade(&replica, UpgradeOptions::default());
        assert!(findings[0].detail.contains("p1"), "{findings:?}");
        assert_eq!(
            summaries(&findings),
            vec![("instance_id", Severity::Warning)]
        );
        assert!(findings[0].detail.contains("Older") && findings[0].detail.contains("newer"));
        assert_eq!(
            upgrade_blockers(&replica).len(),
            1,
            "still a blocker for fleets"
        );

        let mut busy = mysql_ha();
        busy.status = "BACKING UP".into();
        let findings = check_upgrade(&busy, UpgradeOptions::default());
        assert_eq!(summaries(&findings), vec![("instance_id", Severity::Error)]);
        assert!(findings[0].detail.contains("BACKING UP"));
        assert!(findings[0].detail.contains("orders"));
        assert_eq!(findings[0].summary, "Instance is backing up");

        for (status, summary, fix) in [
            ("FROZEN", "Instance is frozen", "unfreeze"),
            ("STORAGE FULL", "Instance storage is full", "scale up"),
            (
                "REBOOTING",
                "Instance is not ACTIVE",
                "Wait for the current operation",
            ),
        ] {
            busy.status = status.into();
            let findings = check_upgrade(&busy, UpgradeOptions::default());
            assert_eq!(findings[0].kind, FindingKind::NotActive, "{status}");
            assert_eq!(findings[0].summary, summary, "{status}");
            assert!(findings[0].detail.contains(fix), "{status}: {findings:?}");
            assert!(findings[0].detail.contains(status), "{status}");
        }
    }

    #[test]
    fn postgresql_constraints() {
        let mut pg = mysql_ha();
        pg.engine = "PostgreSQL".into();
        pg.version = "11".into();
        pg.complete_version = Some("11.1.0".into());
        pg.latest_version = Some("11.22".into());
        pg.nodes = vec![NodeFacts {
            name: "n1".into(),
            role: "slave".into(),
            status: "ABNORMAL".into(),
            ..Default::default()
        }];
        let opts = UpgradeOptions {
            is_delayed: Some(true),
            second_switch: Some(false),
        };
        let findings = check_upgrade(&pg, opts);
        assert_eq!(
            summaries(&findings),
            vec![
                ("instance_id", Severity::Error),
                ("instance_id", Severity::Error),
                ("is_delayed", Severity::Error),
                ("second_switch", Severity::Warning),
            ]
        );
        pg.complete_version = Some("11.2.1".into());
        pg.nodes.clear();
        assert!(check_upgrade(&pg, UpgradeOptions::default()).is_empty());
    }

    #[test]
    fn latest_version_is_a_warning_not_a_blocker() {
        let mut latest = mysql_ha();
        latest.complete_version = Some("8.0.32.240101".into());
        let findings = check_upgrade(&latest, UpgradeOptions::default());
        assert_eq!(
            summaries(&findings),
            vec![("instance_id", Severity::Warning)]
        );
        assert!(findings[0].detail.contains("8.0.32"));
        assert!(
            upgrade_blockers(&latest).is_empty(),
            "up to date, not blocked"
        );
        latest.status = "FROZEN".into();
        let blockers = upgrade_blockers(&latest);
        assert_eq!(blockers.len(), 1, "{blockers:?}");
        assert!(
            blockers[0].starts_with("Instance is frozen"),
            "{blockers:?}"
        );
        latest.status = "ACTIVE".into();
        // Newer than the latest listed: the listing is behind, nothing is claimed.
        latest.complete_version = Some("8.0.35".into());
        assert_eq!(latest.on_latest(), None);
        assert!(check_upgrade(&latest, UpgradeOptions::default()).is_empty());
        latest.latest_version = None;
        assert_eq!(latest.on_latest(), None);
    }

    #[test]
    fn only_a_second_switch_that_would_change_something_warns_where_it_is_ignored() {
        let mut single = mysql_ha();
        single.instance_type = "Single".into();
        let mut pg = mysql_ha();
        pg.engine = "PostgreSQL".into();
        pg.version = "14".into();
        pg.complete_version = Some("14.8".into());
        pg.latest_version = Some("14.12".into());
        for instance in [&single, &pg] {
            for (second_switch, warns) in [(None, false), (Some(true), false), (Some(false), true)]
            {
                let options = UpgradeOptions {
                    second_switch,
                    ..Default::default()
                };
                let findings = check_upgrade(instance, options);
                let warned = findings
                    .iter()
                    .any(|f| f.kind == FindingKind::SecondSwitchIgnored);
                assert_eq!(
                    warned, warns,
                    "{} {}, second_switch {second_switch:?}: {findings:?}",
                    instance.engine, instance.instance_type
                );
            }
        }
        let options = UpgradeOptions {
            second_switch: Some(false),
            ..Default::default()
        };
        assert!(
            check_upgrade(&mysql_ha(), options).is_empty(),
            "it applies to MySQL primary/standby"
        );
    }
}
