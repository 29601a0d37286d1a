//! One planned `hwrds_db_minor_upgrade` as a reviewer reads it: which instance, what
//! Terraform does with the record, from which version to which, what the upgrade does to
//! the service and when it runs. Built by [`super::plan`], shown by [`super::markdown`].

use std::cmp::Ordering;
use std::fmt;

use crate::upgrade::facts::compare_versions;

/// What Terraform plans for the resource (its `change.actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `create`: the apply submits the upgrade.
    Create,
    /// `update`: in place; an upgrade again (a new target, a new attempt), or no call to
    /// the upgrade API (a changed `wait_for_completion`, a job followed again).
    Update,
    /// `delete` then `create` (or the reverse): the upgrade is submitted again.
    Replace,
    /// `delete` or `forget`: the record goes, the instance keeps its version.
    Destroy,
    /// `no-op`: the recorded upgrade stays as it is.
    Unchanged,
}

impl Change {
    /// The change of Terraform's `actions` list; None for what a managed upgrade never
    /// plans (`read`) or an unknown action.
    pub fn from_actions(actions: &[&str]) -> Option<Change> {
        match actions {
            ["create"] => Some(Change::Create),
            ["update"] => Some(Change::Update),
            ["delete", "create"] | ["create", "delete"] => Some(Change::Replace),
            ["delete"] | ["forget"] => Some(Change::Destroy),
            ["no-op"] => Some(Change::Unchanged),
            _ => None,
        }
    }

    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update in place",
            Change::Replace => "replace",
            Change::Destroy => "destroy",
            Change::Unchanged => "unchanged",
        }
    }
}

/// A value of the plan: known, null, known only after the apply, or sensitive (not to
/// be shown in a comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned<T> {
    Known(T),
    Null,
    Unknown,
    Sensitive,
}

impl<T> Planned<T> {
    /// The same state with the known value mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Planned<U> {
        match self {
            Planned::Known(v) => Planned::Known(f(v)),
            Planned::Null => Planned::Null,
            Planned::Unknown => Planned::Unknown,
            Planned::Sensitive => Planned::Sensitive,
        }
    }
}

impl<T> Planned<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Planned::Known(v) => Some(v),
            _ => None,
        }
    }
}

/// A database version as the plan shows it (`8.0.28`, `8.0.32.240101`, `14.12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

impl Version {
    /// Whether both name the same version, a build suffix aside (`8.0.32.240101` is
    /// `8.0.32`).
    pub fn same_as(&self, other: &Version) -> bool {
        compare_versions(&self.0, &other.0) == Ordering::Equal
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The instance's deployment (`instance_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceType {
    Single,
    Ha,
    Replica,
    Other(String),
}

impl InstanceType {
    pub fn parse(text: &str) -> InstanceType {
        match text.to_ascii_lowercase().as_str() {
            "single" => InstanceType::Single,
            "ha" => InstanceType::Ha,
            "replica" => InstanceType::Replica,
            _ => InstanceType::Other(text.to_string()),
        }
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstanceType::Single => "Single",
            InstanceType::Ha => "Ha",
            InstanceType::Replica => "Replica",
            InstanceType::Other(text) => text,
        })
    }
}

/// What the upgrade does to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Impact {
    /// The plan's own `impact` attribute.
    Stated(String),
    /// A single node restarts.
    Restart,
    /// Primary/standby: one switchover.
    Switchover,
    /// MySQL primary/standby with `second_switch`: a switchover and a switch back.
    TwoSwitchovers,
    /// The plan does not say (type unknown until the apply, or one this summary does
    /// not know).
    Unknown,
}

impl Impact {
    /// The impact the plan states (without its closing "now" or "in the … window": the
    /// table's When column says it), else the one the instance's type and options imply.
    pub fn derive(
        stated: Option<&str>,
        engine: Option<&str>,
        instance_type: Option<&InstanceType>,
        second_switch: Option<bool>,
    ) -> Impact {
        if let Some(text) = stated.filter(|t| !t.trim().is_empty()) {
            let what = text
                .rsplit_once(", ")
                .filter(|(_, when)| *when == "now" || when.starts_with("in the "))
                .map_or(text, |(what, _)| what);
            return Impact::Stated(what.to_string());
        }
        let mysql = engine.is_some_and(|e| e.eq_ignore_ascii_case("mysql"));
        match instance_type {
            Some(InstanceType::Ha) if mysql && second_switch == Some(true) => {
                Impact::TwoSwitchovers
            }
            Some(InstanceType::Ha) => Impact::Switchover,
            Some(InstanceType::Single | InstanceType::Replica) => Impact::Restart,
            _ => Impact::Unknown,
        }
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Impact::Stated(text) => text,
            Impact::Restart => "restart",
            Impact::Switchover => "switchover",
            Impact::TwoSwitchovers => "two switchovers",
            Impact::Unknown => "unknown",
        })
    }
}

/// When the upgrade runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Right at the apply (`is_delayed = false`).
    Now,
    /// In the instance's maintenance window, as the provider states it (UTC,
    /// `22:00-02:00`); None when the plan does not know it.
    Window(Option<String>),
    /// `is_delayed` is known only after the apply.
    Unknown,
    /// `is_delayed` is sensitive.
    Sensitive,
}

impl Timing {
    pub fn derive(is_delayed: Planned<bool>, window: Option<&str>) -> Timing {
        match is_delayed {
            Planned::Known(true) => Timing::Window(window.map(str::to_string)),
            Planned::Known(false) | Planned::Null => Timing::Now,
            Planned::Unknown => Timing::Unknown,
            Planned::Sensitive => Timing::Sensitive,
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Now => f.write_str("now"),
            Timing::Window(Some(window)) => write!(f, "maintenance window {window} UTC"),
            Timing::Window(None) => f.write_str("maintenance window (known after apply)"),
            Timing::Unknown => f.write_str("known after apply"),
            Timing::Sensitive => f.write_str("(sensitive)"),
        }
    }
}

/// Where the row belongs in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// An upgrade to review: created, updated in place or replaced, with something to
    /// install (or a target the plan cannot tell).
    Upgrade,
    /// Planned, but the instance already runs the target (or the plan says so).
    NothingToInstall,
    /// Planned `Skipped` (`on_blocked = "skip"`): something blocks the instance now;
    /// nothing is submitted.
    Skipped,
    /// Terraform leaves the recorded upgrade as it is.
    Unchanged,
    /// The record is destroyed (nothing happens to the instance).
    Destroyed,
}

/// The status the plan may state for an instance with nothing to install.
pub const UP_TO_DATE: &str = "UpToDate";

/// The status the plan states for an upgrade skipped because the instance is blocked.
pub const SKIPPED: &str = "Skipped";

/// One planned `hwrds_db_minor_upgrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRow {
    /// The resource instance's address, e.g. `hwrds_db_minor_upgrade.fleet["orders"]`.
    pub address: String,
    /// The instance's name: `instance_name`, else the address's key, else the id.
    pub name: String,
    pub instance_id: Option<String>,
    pub change: Change,
    pub engine: Option<String>,
    pub instance_type: Option<InstanceType>,
    pub version_before: Planned<Version>,
    pub target_version: Planned<Version>,
    /// `status` when the plan knows it.
    pub status: Option<String>,
    pub impact: Impact,
    pub timing: Timing,
}

impl UpgradeRow {
    /// Whether the upgrade has nothing to install: the plan says `UpToDate`, or the
    /// instance already runs the target.
    pub fn installs_nothing(&self) -> bool {
        if self.status.as_deref() == Some(UP_TO_DATE) {
            return true;
        }
        match (self.version_before.known(), self.target_version.known()) {
            (Some(before), Some(target)) => before.same_as(target),
            _ => false,
        }
    }

    pub fn category(&self) -> Category {
        match self.change {
            Change::Destroy => Category::Destroyed,
            Change::Unchanged => Category::Unchanged,
            Change::Create | Change::Update | Change::Replace
                if self.status.as_deref() == Some(SKIPPED) =>
            {
                Category::Skipped
            }
            Change::Create | Change::Update | Change::Replace if self.installs_nothing() => {
                Category::NothingToInstall
            }
            Change::Create | Change::Update | Change::Replace => Category::Upgrade,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_name_the_change() {
        assert_eq!(Change::from_actions(&["create"]), Some(Change::Create));
        assert_eq!(
            Change::from_actions(&["create", "delete"]),
            Some(Change::Replace)
        );
        assert_eq!(
            Change::from_actions(&["delete", "create"]),
            Some(Change::Replace)
        );
        assert_eq!(Change::from_actions(&["forget"]), Some(Change::Destroy));
        assert_eq!(Change::from_actions(&["no-op"]), Some(Change::Unchanged));
        assert_eq!(Change::from_actions(&["read"]), None);
    }

    #[test]
    fn impact_is_stated_or_follows_the_type() {
        let ha = InstanceType::Ha;
        let single = InstanceType::Single;
        assert_eq!(
            Impact::derive(
                Some("brief read-only"),
                Some("MySQL"),
                Some(&ha),
                Some(true)
            ),
            Impact::Stated("brief read-only".into())
        );
        assert_eq!(
            Impact::derive(None, Some("MySQL"), Some(&ha), Some(true)),
            Impact::TwoSwitchovers
        );
        for when in ["now", "in the maintenance window 22:00-02:00 UTC"] {
            assert_eq!(
                Impact::derive(
                    Some(&format!("two switchovers (swap, then swap back), {when}")),
                    Some("MySQL"),
                    Some(&ha),
                    Some(true)
                ),
                Impact::Stated("two switchovers (swap, then swap back)".into()),
                "the When column says {when}"
            );
        }
        assert_eq!(
            Impact::derive(None, Some("MySQL"), Some(&ha), Some(false)),
            Impact::Switchover
        );
        assert_eq!(
            Impact::derive(None, Some("PostgreSQL"), Some(&ha), Some(true)),
            Impact::Switchover
        );
        assert_eq!(
            Impact::derive(Some(" "), Some("MySQL"), Some(&single), None),
            Impact::Restart
        );
        assert_eq!(Impact::derive(None, None, None, None), Impact::Unknown);
    }

    #[test]
    fn a_delayed_upgrade_runs_in_the_window_in_utc() {
        let window = Timing::derive(Planned::Known(true), Some("22:00-02:00"));
        assert_eq!(window.to_string(), "maintenance window 22:00-02:00 UTC");
        assert_eq!(Timing::derive(Planned::Known(false), None), Timing::Now);
        assert_eq!(Timing::derive(Planned::Unknown, None), Timing::Unknown);
    }

    fn row(before: &str, target: &str, status: Option<&str>) -> UpgradeRow {
        UpgradeRow {
            address: "hwrds_db_minor_upgrade.orders".into(),
            name: "orders".into(),
            instance_id: None,
            change: Change::Create,
            engine: Some("MySQL".into()),
            instance_type: Some(InstanceType::Single),
            version_before: Planned::Known(Version(before.into())),
            target_version: Planned::Known(Version(target.into())),
            status: status.map(str::to_string),
            impact: Impact::Restart,
            timing: Timing::Now,
        }
    }

    #[test]
    fn nothing_to_install_ignores_a_build_suffix_or_is_stated() {
        assert_eq!(row("8.0.28", "8.0.32", None).category(), Category::Upgrade);
        assert_eq!(
            row("8.0.32.240101", "8.0.32", None).category(),
            Category::NothingToInstall
        );
        assert_eq!(
            row("8.0.28", "8.0.32", Some(UP_TO_DATE)).category(),
            Category::NothingToInstall
        );
        let mut unknown_target = row("8.0.28", "8.0.32", None);
        unknown_target.target_version = Planned::Null;
        assert_eq!(unknown_target.category(), Category::Upgrade);
        let mut destroyed = row("8.0.32", "8.0.32", None);
        destroyed.change = Change::Destroy;
        assert_eq!(destroyed.category(), Category::Destroyed);
    }
}
