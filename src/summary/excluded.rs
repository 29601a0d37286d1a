//! The instances a configuration leaves out of its fleet, and why: read from a root
//! output named `excluded` or `blocked` in the plan's `planned_values.outputs`.
//!
//! The shape expected: a map of instance name (or id) to its reason — a string, or a list
//! of strings such as `hwrds_db_instances`' `upgrade_blockers`; a plain list of names is
//! taken too, without reasons. A sensitive output is not shown, and one known only after
//! the apply is named as such.

use serde_json::Value;

/// The outputs read, in this order.
pub const OUTPUT_NAMES: [&str; 2] = ["excluded", "blocked"];

/// One instance left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The output's key: an instance name or id.
    pub instance: String,
    /// Why, as the output says (none when it gives no reason).
    pub reasons: Vec<String>,
}

/// Why an output of exclusions is not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlisted {
    /// Its value is known only after the apply.
    Unknown,
    /// It is sensitive: a pull-request comment does not show it.
    Sensitive,
    /// It is neither a map nor a list.
    NotAMap,
}

/// The exclusions of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excluded {
    pub instances: Vec<Exclusion>,
    /// Outputs found but not listed, by name.
    pub unlisted: Vec<(&'static str, Unlisted)>,
}

/// Reads the exclusions of `plan` (`terraform show -json` of a plan).
pub fn read(plan: &Value) -> Excluded {
    let mut excluded = Excluded::default();
    for name in OUTPUT_NAMES {
        let Some(output) = plan["planned_values"]["outputs"].get(name) else {
            continue;
        };
        if output["sensitive"] == Value::Bool(true) {
            excluded.unlisted.push((name, Unlisted::Sensitive));
            continue;
        }
        match output.get("value") {
            None => excluded.unlisted.push((name, Unlisted::Unknown)),
            Some(value) => match entries(value) {
                Some(found) => excluded.instances.extend(found),
                None => excluded.unlisted.push((name, Unlisted::NotAMap)),
            },
        }
    }
    excluded
}

/// The exclusions of an output's value; None for a shape it cannot be.
fn entries(value: &Value) -> Option<Vec<Exclusion>> {
    match value {
        Value::Object(map) => Some(
            map.iter()
                .map(|(instance, why)| Exclusion {
                    instance: instance.clone(),
                    reasons: reasons(why),
                })
                .collect(),
        ),
        Value::Array(names) => Some(
            names
                .iter()
                .map(|name| Exclusion {
                    instance: text(name),
                    reasons: Vec::new(),
                })
                .collect(),
        ),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

fn reasons(why: &Value) -> Vec<String> {
    match why {
        Value::Null => Vec::new(),
        Value::Array(all) => all.iter().map(text).filter(|t| !t.is_empty()).collect(),
        other => vec![text(other)]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(outputs: Value) -> Value {
        json!({"format_version": "1.2", "planned_values": {"outputs": outputs}})
    }

    #[test]
    fn a_map_of_reasons_or_of_lists_of_reasons() {
        let read = read(&plan(json!({
            "excluded": {"sensitive": false, "value": {"reporting": "SQL Server", "legacy": null}},
            "blocked": {"sensitive": false, "value": {"payments-replica": ["A read replica", "busy"]}},
        })));
        assert_eq!(
            read.instances,
            [
                Exclusion {
                    instance: "legacy".into(),
                    reasons: vec![]
                },
                Exclusion {
                    instance: "reporting".into(),
                    reasons: vec!["SQL Server".into()]
                },
                Exclusion {
                    instance: "payments-replica".into(),
                    reasons: vec!["A read replica".into(), "busy".into()]
                },
            ]
        );
        assert!(read.unlisted.is_empty());
    }

    #[test]
    fn a_list_of_names_has_no_reasons() {
        let read = read(&plan(
            json!({"excluded": {"sensitive": false, "value": ["a", "b"]}}),
        ));
        assert_eq!(read.instances.len(), 2);
        assert!(read.instances.iter().all(|e| e.reasons.is_empty()));
    }

    #[test]
    fn unknown_sensitive_or_odd_outputs_are_named_not_listed() {
        let read = read(&plan(json!({
            "excluded": {"sensitive": true, "value": {"secret": "x"}},
            "blocked": {"sensitive": false},
        })));
        assert!(read.instances.is_empty());
        assert_eq!(
            read.unlisted,
            [
                ("excluded", Unlisted::Sensitive),
                ("blocked", Unlisted::Unknown)
            ]
        );
        let odd = super::read(&plan(json!({"excluded": {"sensitive": false, "value": 3}})));
        assert_eq!(odd.unlisted, [("excluded", Unlisted::NotAMap)]);
        assert_eq!(super::read(&plan(json!({}))), Excluded::default());
    }
}
