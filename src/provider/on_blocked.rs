//! The resource's `on_blocked` argument: what a plan does when the instance cannot be
//! upgraded as it is (frozen, storage full, an abnormal node, not ACTIVE, a read
//! replica, an engine or version without minor upgrades) — fail, the default, or skip
//! it with a warning and a record `Skipped`, checked again at every plan. Errors about
//! the options configured fail the plan either way.

use crate::cty::{AttributePath, Value};
use crate::tfplugin::Diagnostic;

pub const NAME: &str = "on_blocked";

pub const DESCRIPTION: &str = "What the plan does when the instance cannot be upgraded as it is (frozen, storage full, an abnormal node, not `ACTIVE`, a read replica, an engine or version without minor upgrades): `fail` (the default: an error, as for any upgrade the API would refuse) or `skip`: a warning naming what blocks it, nothing submitted, and a record with status `Skipped` and no job; every later plan checks the instance again and proposes the upgrade, in place, once nothing blocks it. Errors about the options (such as `is_delayed` on PostgreSQL) fail the plan either way. Fleets use `skip` (see the fleet guide): one blocked instance never fails their plan, and an instance that becomes blocked keeps its record. Changing it calls no API.";

/// The two answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBlocked {
    #[default]
    Fail,
    Skip,
}

impl OnBlocked {
    /// The value `config` sets (the default when null or not known yet).
    pub fn of(config: &Value) -> Self {
        match config.attr_string(NAME).as_deref() {
            Some("skip") => OnBlocked::Skip,
            _ => OnBlocked::Fail,
        }
    }

    pub fn skips(self) -> bool {
        self == OnBlocked::Skip
    }
}

/// The error for a value other than `fail` or `skip`.
pub fn validate(config: &Value) -> Option<Diagnostic> {
    let text = config.attr_string(NAME)?;
    if matches!(text.as_str(), "fail" | "skip") {
        return None;
    }
    Some(Diagnostic::error_at(
        AttributePath::attribute(NAME),
        "Invalid on_blocked",
        format!("on_blocked is \"{text}\"; it takes \"fail\" (the default) or \"skip\"."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Value {
        Value::object([(NAME, v)])
    }

    #[test]
    fn fail_is_the_default_and_only_two_values_are_taken() {
        assert_eq!(OnBlocked::of(&config(Value::Null)), OnBlocked::Fail);
        assert_eq!(OnBlocked::of(&config(Value::Unknown)), OnBlocked::Fail);
        assert_eq!(
            OnBlocked::of(&config(Value::string("skip"))),
            OnBlocked::Skip
        );
        assert!(validate(&config(Value::string("skip"))).is_none());
        assert!(validate(&config(Value::string("fail"))).is_none());
        assert!(validate(&config(Value::Null)).is_none());
        let bad = validate(&config(Value::string("ignore"))).expect("an error");
        assert_eq!(bad.path, Some(AttributePath::attribute(NAME)));
        assert!(bad.detail.contains("\"ignore\""), "{}", bad.detail);
    }
}
