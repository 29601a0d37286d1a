//! Reading `terraform show -json PLANFILE`: its `hwrds_db_minor_upgrade` changes as
//! [`UpgradeRow`]s. Attributes the resource may gain (`instance_name`, `impact`, the
//! status `UpToDate`) are read when the plan has them and fall back otherwise.

use serde_json::Value;

use super::SummaryError;
use super::upgrade_row::{Change, Impact, InstanceType, Planned, Timing, UpgradeRow, Version};

/// The resource type summarized.
pub const RESOURCE_TYPE: &str = "hwrds_db_minor_upgrade";

/// The resource's attribute names, as Terraform's JSON shows them.
pub mod attr {
    pub const INSTANCE_ID: &str = "instance_id";
    pub const IS_DELAYED: &str = "is_delayed";
    pub const SECOND_SWITCH: &str = "second_switch";
    pub const STATUS: &str = "status";
    pub const ENGINE: &str = "engine";
    pub const INSTANCE_TYPE: &str = "instance_type";
    pub const VERSION_BEFORE: &str = "version_before";
    pub const TARGET_VERSION: &str = "target_version";
    pub const MAINTENANCE_WINDOW: &str = "maintenance_window";
    /// Read when present (a newer schema).
    pub const INSTANCE_NAME: &str = "instance_name";
    /// Read when present (a newer schema).
    pub const IMPACT: &str = "impact";
}

/// What the summary takes from a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRows {
    /// Every managed `hwrds_db_minor_upgrade` of `resource_changes`, in the plan's order.
    pub rows: Vec<UpgradeRow>,
    /// The plan says it is incomplete (`errored`): it cannot be applied.
    pub errored: bool,
}

/// Checks that `plan` is the JSON of a saved plan and reads its upgrades.
pub fn read(plan: &Value) -> Result<PlanRows, SummaryError> {
    let not_a_plan = |why: &str| SummaryError::NotAPlan(why.to_string());
    let Some(top) = plan.as_object() else {
        return Err(not_a_plan("it is not a JSON object"));
    };
    if top.contains_key("values") && !top.contains_key("planned_values") {
        return Err(not_a_plan(
            "it is the JSON of a state (`values`), not of a plan",
        ));
    }
    if !top.contains_key("format_version")
        || !(top.contains_key("planned_values") || top.contains_key("resource_changes"))
    {
        return Err(not_a_plan(
            "it has no `format_version` and `planned_values` or `resource_changes`",
        ));
    }
    let changes = match top.get("resource_changes") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(all)) => all.as_slice(),
        Some(_) => return Err(not_a_plan("`resource_changes` is not a list")),
    };
    let rows = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c["type"] == RESOURCE_TYPE && c["mode"] == "managed")
        .filter_map(|(i, c)| row(c).transpose().map(|r| (i, r)))
        .map(|(i, r)| r.map_err(|why| not_a_plan(&format!("resource_changes[{i}] {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlanRows {
        rows: told_apart(rows),
        errored: top.get("errored").and_then(Value::as_bool) == Some(true),
    })
}

/// The planned values of one change: `after` (with `after_unknown` and
/// `after_sensitive`), or `before` (with `before_sensitive`) for a destroy.
struct Values<'a> {
    values: &'a Value,
    unknown: &'a Value,
    sensitive: &'a Value,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Planned<&Value> {
        let marked = |marks: &Value| marks == &Value::Bool(true) || marks[name] == true;
        if marked(self.unknown) {
            return Planned::Unknown;
        }
        if marked(self.sensitive) {
            return Planned::Sensitive;
        }
        match self.values.get(name) {
            None | Some(Value::Null) => Planned::Null,
            Some(v) => Planned::Known(v),
        }
    }

    fn text(&self, name: &str) -> Planned<String> {
        match self.get(name) {
            Planned::Known(Value::String(s)) => Planned::Known(s.clone()),
            Planned::Known(_) | Planned::Null => Planned::Null,
            Planned::Unknown => Planned::Unknown,
            Planned::Sensitive => Planned::Sensitive,
        }
    }

    fn known_text(&self, name: &str) -> Option<String> {
        self.text(name).known().cloned()
    }

    fn flag(&self, name: &str) -> Planned<bool> {
        match self.get(name) {
            Planned::Known(Value::Bool(b)) => Planned::Known(*b),
            Planned::Known(_) | Planned::Null => Planned::Null,
            Planned::Unknown => Planned::Unknown,
            Planned::Sensitive => Planned::Sensitive,
        }
    }

    fn version(&self, name: &str) -> Planned<Version> {
        self.text(name).map(Version)
    }
}

/// The row of one resource change; None for an action a summary skips (`read`).
fn row(change: &Value) -> Result<Option<UpgradeRow>, String> {
    let address = change["address"]
        .as_str()
        .ok_or("has no `address`")?
        .to_string();
    let actions: Vec<&str> = change["change"]["actions"]
        .as_array()
        .ok_or_else(|| format!("({address}) has no `change.actions`"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let Some(kind) = Change::from_actions(&actions) else {
        return Ok(None);
    };
    let (null, planned) = (Value::Null, &change["change"]);
    let values = match kind {
        Change::Destroy => Values {
            values: &planned["before"],
            unknown: &null,
            sensitive: &planned["before_sensitive"],
        },
        _ => Values {
            values: &planned["after"],
            unknown: &planned["after_unknown"],
            sensitive: &planned["after_sensitive"],
        },
    };
    let instance_id = values.known_text(attr::INSTANCE_ID);
    let name = values
        .known_text(attr::INSTANCE_NAME)
        .filter(|n| !n.is_empty())
        .or_else(|| key_name(change))
        .or_else(|| instance_id.clone())
        .unwrap_or_else(|| address.clone());
    let engine = values.known_text(attr::ENGINE);
    let instance_type = values
        .known_text(attr::INSTANCE_TYPE)
        .map(|t| InstanceType::parse(&t));
    let impact = Impact::derive(
        values.known_text(attr::IMPACT).as_deref(),
        engine.as_deref(),
        instance_type.as_ref(),
        values.flag(attr::SECOND_SWITCH).known().copied(),
    );
    let timing = Timing::derive(
        values.flag(attr::IS_DELAYED),
        values.known_text(attr::MAINTENANCE_WINDOW).as_deref(),
    );
    Ok(Some(UpgradeRow {
        name,
        instance_id,
        change: kind,
        version_before: values.version(attr::VERSION_BEFORE),
        target_version: values.version(attr::TARGET_VERSION),
        status: values.known_text(attr::STATUS),
        engine,
        instance_type,
        impact,
        timing,
        address,
    }))
}

/// Rows whose instances share a name get their instance id after it, shortened to its
/// first 8 characters (`search (5ea4c001)`), so that a reviewer tells them apart.
fn told_apart(mut rows: Vec<UpgradeRow>) -> Vec<UpgradeRow> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for row in &rows {
        *seen.entry(row.name.clone()).or_default() += 1;
    }
    for row in &mut rows {
        if seen[&row.name] > 1
            && let Some(id) = &row.instance_id
        {
            row.name = format!("{} ({})", row.name, id.get(..8).unwrap_or(id));
        }
    }
    rows
}

/// The name an address gives the instance: its `for_each` key, or the resource's name
/// when it has no key; None for a `count` index (the id says more).
fn key_name(change: &Value) -> Option<String> {
    match change.get("index") {
        Some(Value::String(key)) => Some(key.clone()),
        None | Some(Value::Null) => change["name"].as_str().map(str::to_string),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(index: Value, actions: &[&str], after: Value, unknown: Value) -> Value {
        let mut c = json!({
            "address": "hwrds_db_minor_upgrade.fleet[\"orders\"]",
            "mode": "managed", "type": RESOURCE_TYPE, "name": "fleet",
            "change": {"actions": actions, "before": null, "after": after,
                       "after_unknown": unknown}
        });
        if !index.is_null() {
            c["index"] = index;
        }
        c
    }

    fn plan(changes: Vec<Value>) -> Value {
        json!({"format_version": "1.2", "planned_values": {}, "resource_changes": changes})
    }

    #[test]
    fn a_create_reads_the_planned_values() {
        let after = json!({"instance_id": "i-1", "engine": "MySQL", "instance_type": "Ha",
                           "version_before": "8.0.25", "target_version": "8.0.32",
                           "is_delayed": true, "second_switch": true,
                           "maintenance_window": "22:00-02:00", "status": null});
        let unknown = json!({"status": true, "job_id": true});
        let read = read(&plan(vec![change(
            json!("orders"),
            &["create"],
            after,
            unknown,
        )]))
        .expect("a plan");
        let row = &read.rows[0];
        assert_eq!(row.name, "orders");
        assert_eq!(row.instance_id.as_deref(), Some("i-1"));
        assert_eq!(row.change, Change::Create);
        assert_eq!(row.version_before, Planned::Known(Version("8.0.25".into())));
        assert_eq!(row.target_version, Planned::Known(Version("8.0.32".into())));
        assert_eq!(row.impact, Impact::TwoSwitchovers);
        assert_eq!(row.timing, Timing::Window(Some("22:00-02:00".into())));
        assert_eq!(row.status, None);
        assert!(!read.errored);
    }

    #[test]
    fn instances_that_share_a_name_are_told_apart_by_their_id() {
        let plan = json!({"format_version": "1.2", "resource_changes": [
            change(json!("search-5ea4c001"), &["create"],
                   json!({"instance_id": "5ea4c001aaaa", "instance_name": "search"}), json!({})),
            change(json!("search-5ea4c002"), &["create"],
                   json!({"instance_id": "5ea4c002bbbb", "instance_name": "search"}), json!({})),
            change(json!("orders"), &["create"],
                   json!({"instance_id": "0dde0001cccc", "instance_name": "orders"}), json!({})),
        ]});
        let rows = read(&plan).expect("a plan").rows;
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["search (5ea4c001)", "search (5ea4c002)", "orders"]);
    }

    #[test]
    fn the_name_is_instance_name_else_the_key_else_the_id() {
        let named = json!({"instance_id": "i-1", "instance_name": "orders-eu"});
        let by_id = json!({"instance_id": "i-1"});
        let rows = read(&plan(vec![
            change(json!("orders"), &["create"], named, json!({})),
            change(json!("orders"), &["create"], by_id.clone(), json!({})),
            change(Value::Null, &["create"], by_id.clone(), json!({})),
            change(json!(0), &["create"], by_id, json!({})),
        ]))
        .unwrap()
        .rows;
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["orders-eu", "orders", "fleet", "i-1"]);
    }

    #[test]
    fn unknown_values_and_a_destroy_read_from_before() {
        let unknown = json!({"version_before": true, "instance_id": true, "is_delayed": true});
        let mut destroy = change(json!("old"), &["delete"], Value::Null, Value::Null);
        destroy["change"]["before"] = json!({"instance_id": "i-9", "version_before": "8.0.28",
                                             "target_version": "8.0.32", "instance_type": "Single"});
        let rows = read(&plan(vec![
            change(json!("new"), &["create"], json!({}), unknown),
            destroy,
            change(json!("data"), &["read"], json!({}), json!({})),
        ]))
        .unwrap()
        .rows;
        assert_eq!(rows.len(), 2, "a read is skipped");
        assert_eq!(rows[0].version_before, Planned::Unknown);
        assert_eq!(rows[0].timing, Timing::Unknown);
        assert_eq!(rows[0].impact, Impact::Unknown);
        assert_eq!(rows[1].change, Change::Destroy);
        assert_eq!(rows[1].instance_id.as_deref(), Some("i-9"));
        assert_eq!(rows[1].impact, Impact::Restart);
    }

    #[test]
    fn sensitive_values_are_not_shown() {
        let after = json!({"instance_id": "secret-id", "version_before": "8.0.28",
                           "target_version": "8.0.32", "is_delayed": false});
        let mut c = change(Value::Null, &["create"], after, json!({}));
        c["change"]["after_sensitive"] = json!({"instance_id": true, "version_before": true});
        let mut all = change(
            json!(0),
            &["create"],
            json!({"instance_id": "x"}),
            json!({}),
        );
        all["change"]["after_sensitive"] = json!(true);
        let rows = read(&plan(vec![c, all])).unwrap().rows;
        assert_eq!(rows[0].instance_id, None);
        assert_eq!(rows[0].name, "fleet", "the resource's name, not the id");
        assert_eq!(rows[0].version_before, Planned::Sensitive);
        assert_eq!(
            rows[0].target_version,
            Planned::Known(Version("8.0.32".into()))
        );
        assert_eq!(rows[0].timing, Timing::Now);
        assert_eq!(rows[1].name, rows[1].address, "nothing else names it");
        assert_eq!(rows[1].timing, Timing::Sensitive);
        assert!(!format!("{rows:?}").contains("secret-id"));
    }

    #[test]
    fn other_resources_are_not_rows() {
        let mut other = change(json!("x"), &["create"], json!({}), json!({}));
        other["type"] = json!("null_resource");
        let mut data = change(json!("y"), &["create"], json!({}), json!({}));
        data["mode"] = json!("data");
        assert!(read(&plan(vec![other, data])).unwrap().rows.is_empty());
        let empty = json!({"format_version": "1.2", "planned_values": {"root_module": {}}});
        assert!(read(&empty).unwrap().rows.is_empty(), "no changes at all");
    }

    #[test]
    fn what_is_not_a_plan_says_why() {
        let why = |v: Value| read(&v).unwrap_err().to_string();
        assert!(why(json!([1, 2])).contains("not a JSON object"));
        assert!(why(json!({"format_version": "1.0", "values": {}})).contains("state"));
        assert!(why(json!({"hello": "world"})).contains("format_version"));
        assert!(
            why(json!({"format_version": "1.2", "resource_changes": {}})).contains("not a list")
        );
        let broken = json!({"format_version": "1.2", "resource_changes": [
            {"address": "hwrds_db_minor_upgrade.a", "mode": "managed", "type": RESOURCE_TYPE}]});
        assert!(
            why(broken)
                .contains("resource_changes[0] (hwrds_db_minor_upgrade.a) has no `change.actions`")
        );
    }

    #[test]
    fn an_errored_plan_says_so() {
        let mut p = plan(vec![]);
        p["errored"] = json!(true);
        assert!(read(&p).unwrap().errored);
    }
}
