//! `impact`: what the upgrade does to the service, and when, in a few words a reviewer of
//! a fleet's plan can read — from the instance's engine and type, `second_switch`, the
//! availability zones of its nodes, `is_delayed` and the maintenance window.
//!
//! What each kind of instance goes through (the RDS API reference and user guides):
//! - MySQL primary/standby: the standby is upgraded, the service switches over to it,
//!   then the old primary is upgraded; with `second_switch` (the default) it switches
//!   back, unless both nodes are in one availability zone (the API ignores it then).
//! - PostgreSQL primary/standby: the upgrade can cause a switchover.
//! - A single instance, or a read replica, is upgraded in place: it restarts and is
//!   unavailable while it is upgraded.
//!
//! Other engines take no minor upgrade (the plan refuses them): no impact.

use super::model::{Field, UpgradeState};
use crate::rds::models::Instance;
use crate::upgrade::facts::NodeFacts;

/// Whether an instance's nodes are in one availability zone or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zones {
    One,
    Several,
    /// No node says where it is.
    Unknown,
}

impl Zones {
    /// The zones of `nodes` (those that name one).
    pub fn of(nodes: &[NodeFacts]) -> Zones {
        Self::of_names(nodes.iter().map(|n| n.availability_zone.as_str()))
    }

    /// The zones named by `zones` (empty names ignored).
    pub fn of_names<'a>(zones: impl Iterator<Item = &'a str>) -> Zones {
        let mut named: Vec<&str> = zones.filter(|z| !z.is_empty()).collect();
        named.sort_unstable();
        named.dedup();
        match named.len() {
            0 => Zones::Unknown,
            1 => Zones::One,
            _ => Zones::Several,
        }
    }
}

/// What the service goes through, by engine, type, `second_switch` and zones; None for an
/// engine or type that takes no minor upgrade.
fn what(
    engine: &str,
    instance_type: &str,
    second_switch: bool,
    zones: Zones,
) -> Option<&'static str> {
    let mysql = engine.eq_ignore_ascii_case("mysql");
    if !mysql && !engine.eq_ignore_ascii_case("postgresql") {
        return None;
    }
    let what = match instance_type.to_ascii_lowercase().as_str() {
        "ha" if !mysql => "possibly a switchover to the standby (one brief disconnection)",
        "ha" if !second_switch || zones == Zones::One => {
            "switchover to the standby (one brief disconnection)"
        }
        "ha" if zones == Zones::Several => {
            "two switchovers (primary and standby swap, then swap back)"
        }
        "ha" => {
            "one or two switchovers (primary and standby swap, and swap back if they are in different availability zones)"
        }
        "single" => "restart (the database is unavailable for the upgrade's duration)",
        "replica" => "restart of the read replica (unavailable for the upgrade's duration)",
        _ => return None,
    };
    Some(what)
}

/// When it happens: now, or in the maintenance window (UTC, as the API gives it).
fn when(is_delayed: bool, maintenance_window: Option<&str>) -> String {
    match (is_delayed, maintenance_window) {
        (false, _) => "now".to_string(),
        (true, Some(window)) => format!("in the maintenance window {window} UTC"),
        (true, None) => "in the instance's maintenance window".to_string(),
    }
}

/// The impact of `state`'s upgrade on an instance whose nodes are in `zones`: unknown
/// while the plan leaves an argument it depends on unknown; null when the engine or type
/// is not known, or takes no minor upgrade. A job recorded `Scheduled` runs in the window
/// whatever `is_delayed` says (an imported or adopted one).
pub fn of(state: &UpgradeState, zones: Zones) -> Field<String> {
    let (Some(engine), Some(instance_type)) = (state.engine.known(), state.instance_type.known())
    else {
        return Field::Null;
    };
    if state.is_delayed.is_unknown() || state.second_switch.is_unknown() {
        return Field::Unknown;
    }
    let request = state.request();
    let delayed = request.is_delayed || state.status.is(&crate::upgrade::job::JobStatus::Scheduled);
    let window = state.maintenance_window.as_deref();
    what(engine, instance_type, request.second_switch, zones)
        .map(|what| format!("{what}, {}", when(delayed, window)))
        .into()
}

/// The impact of a stored `state` that has none (an earlier version's, an imported or
/// moved one) on `instance` as listed now: its nodes' zones, and its window when the
/// state records none.
pub fn at_refresh(state: &UpgradeState, instance: &Instance) -> Field<String> {
    let mut described = state.clone();
    if described.maintenance_window == Field::Null {
        described.maintenance_window = instance.maintenance_window.clone().into();
    }
    let zones = Zones::of_names(instance.nodes.iter().map(|n| n.availability_zone.as_str()));
    of(&described, zones)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade::job::JobStatus;

    fn impact(
        engine: &str,
        instance_type: &str,
        second_switch: bool,
        zones: Zones,
        delayed: bool,
    ) -> Option<String> {
        let mut state = UpgradeState::new("i-1");
        state.engine = engine.into();
        state.instance_type = instance_type.into();
        state.second_switch = Field::Known(second_switch);
        state.is_delayed = Field::Known(delayed);
        if delayed {
            state.maintenance_window = "22:00-02:00".into();
        }
        of(&state, zones).known().cloned()
    }

    #[test]
    fn the_table_by_engine_type_second_switch_and_zones() {
        use Zones::*;
        let one = "switchover to the standby (one brief disconnection)";
        let two = "two switchovers (primary and standby swap, then swap back)";
        let restart = "restart (the database is unavailable for the upgrade's duration)";
        let replica = "restart of the read replica (unavailable for the upgrade's duration)";
        let pg_ha = "possibly a switchover to the standby (one brief disconnection)";
        let table: &[(&str, &str, bool, Zones, Option<&str>)] = &[
            ("MySQL", "Ha", true, Several, Some(two)),
            ("MySQL", "Ha", true, One, Some(one)),
            ("MySQL", "Ha", false, Several, Some(one)),
            ("MySQL", "Ha", false, Unknown, Some(one)),
            ("MySQL", "Single", true, One, Some(restart)),
            ("MySQL", "Single", false, Unknown, Some(restart)),
            ("MySQL", "Replica", true, One, Some(replica)),
            ("PostgreSQL", "Ha", true, Several, Some(pg_ha)),
            ("PostgreSQL", "Ha", false, One, Some(pg_ha)),
            ("PostgreSQL", "Single", true, One, Some(restart)),
            ("PostgreSQL", "Replica", true, One, Some(replica)),
            ("SQLServer", "Ha", true, Several, None),
            ("MySQL", "Cluster", true, Several, None),
        ];
        for &(engine, instance_type, second_switch, zones, expected) in table {
            for delayed in [false, true] {
                let when = if delayed {
                    "in the maintenance window 22:00-02:00 UTC"
                } else {
                    "now"
                };
                assert_eq!(
                    impact(engine, instance_type, second_switch, zones, delayed),
                    expected.map(|what| format!("{what}, {when}")),
                    "{engine} {instance_type} second_switch={second_switch} {zones:?} delayed={delayed}"
                );
            }
        }
        let unsure = impact("mysql", "HA", true, Unknown, false).expect("an impact");
        assert!(
            unsure.starts_with("one or two switchovers") && unsure.ends_with(", now"),
            "{unsure}"
        );
    }

    #[test]
    fn unknown_arguments_and_missing_facts() {
        let mut state = UpgradeState::new("i-1");
        assert_eq!(of(&state, Zones::One), Field::Null, "no engine yet");
        state.engine = "MySQL".into();
        state.instance_type = "Single".into();
        state.is_delayed = Field::Unknown;
        assert_eq!(of(&state, Zones::One), Field::Unknown);
        state.is_delayed = Field::Known(true);
        assert_eq!(
            of(&state, Zones::One).as_deref(),
            Some(
                "restart (the database is unavailable for the upgrade's duration), in the instance's maintenance window"
            ),
            "no window known"
        );
        state.is_delayed = Field::Known(false);
        state.status = Field::Known(JobStatus::Scheduled);
        state.maintenance_window = "03:00-04:00".into();
        assert!(
            of(&state, Zones::One)
                .as_deref()
                .is_some_and(|i| i.ends_with("in the maintenance window 03:00-04:00 UTC")),
            "a scheduled job runs in the window"
        );
    }

    #[test]
    fn zones_count_the_named_ones() {
        assert_eq!(Zones::of_names(["a", "a"].into_iter()), Zones::One);
        assert_eq!(Zones::of_names(["a", "", "b"].into_iter()), Zones::Several);
        assert_eq!(Zones::of_names(["", ""].into_iter()), Zones::Unknown);
        assert_eq!(Zones::of(&[]), Zones::Unknown);
    }
}
