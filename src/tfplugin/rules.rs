//! The protocol's plan and apply rules, enforced once for every resource: defaults,
//! computed values marked unknown only when something changes, replacement paths,
//! configured values kept, and a wholly known new state that keeps planned values.

use super::{Diagnostic, Diagnostics};
use crate::cty::{AttributePath, PathStep, Value};
use crate::schema::{Block, Mode, NestedBlock, Nesting};

/// The instances of a nested block present in both values, with their path steps:
/// single and group blocks by name, list blocks by index, map blocks by key. Set blocks
/// have no stable correspondence between two values and are left out.
fn nested_pairs<'a>(
    nested: &NestedBlock,
    a: &'a Value,
    b: &'a Value,
) -> Vec<(Vec<PathStep>, &'a Value, &'a Value)> {
    let name = PathStep::Attribute(nested.name.clone());
    let (Some(a), Some(b)) = (a.get_attr(&nested.name), b.get_attr(&nested.name)) else {
        return Vec::new();
    };
    match (nested.nesting, a, b) {
        (Nesting::Single | Nesting::Group, Value::Object(_), Value::Object(_)) => {
            vec![(vec![name], a, b)]
        }
        (Nesting::List, Value::List(xs), Value::List(ys)) => xs
            .iter()
            .zip(ys)
            .enumerate()
            .map(|(i, (x, y))| (vec![name.clone(), PathStep::ElementKeyInt(i as i64)], x, y))
            .collect(),
        (Nesting::Map, Value::Map(xs), Value::Map(ys)) => xs
            .iter()
            .filter_map(|(k, x)| {
                let step = PathStep::ElementKeyString(k.clone());
                ys.get(k).map(|y| (vec![name.clone(), step], x, y))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Like [`nested_pairs`], with the second value of each pair mutable.
fn nested_pairs_mut<'a>(
    nested: &NestedBlock,
    config: &'a Value,
    planned: &'a mut Value,
) -> Vec<(&'a Value, &'a mut Value)> {
    let (Some(config), Some(planned)) = (
        config.get_attr(&nested.name),
        planned.get_attr_mut(&nested.name),
    ) else {
        return Vec::new();
    };
    match (nested.nesting, config, planned) {
        (Nesting::Single | Nesting::Group, c @ Value::Object(_), p @ Value::Object(_)) => {
            vec![(c, p)]
        }
        (Nesting::List, Value::List(cs), Value::List(ps)) => cs.iter().zip(ps.iter_mut()).collect(),
        (Nesting::Map, Value::Map(cs), Value::Map(ps)) => ps
            .iter_mut()
            .filter_map(|(k, p)| cs.get(k).map(|c| (c, p)))
            .collect(),
        _ => Vec::new(),
    }
}

fn configured(config: &Value, name: &str) -> bool {
    config.get_attr(name).is_some_and(|v| !v.is_null())
}

/// Fills defaults where the configuration is null, in nested blocks too.
pub fn apply_defaults(block: &Block, config: &Value, planned: &mut Value) {
    if !matches!(planned, Value::Object(_)) {
        return;
    }
    for attr in &block.attributes {
        if let Some(default) = &attr.default
            && !configured(config, &attr.name)
        {
            planned.set_attr(&attr.name, default.clone());
        }
    }
    for nested in &block.blocks {
        for (cfg, plan) in nested_pairs_mut(nested, config, planned) {
            apply_defaults(&nested.block, cfg, plan);
        }
    }
}

fn mark_computed_unknown(block: &Block, config: &Value, planned: &mut Value, updating: bool) {
    if !matches!(planned, Value::Object(_)) {
        return;
    }
    for attr in block.attributes.iter().filter(|a| a.is_computed()) {
        if updating && attr.stable {
            continue;
        }
        if !configured(config, &attr.name) && attr.default.is_none() {
            planned.set_attr(&attr.name, Value::Unknown);
        }
    }
    for nested in &block.blocks {
        for (cfg, plan) in nested_pairs_mut(nested, config, planned) {
            mark_computed_unknown(&nested.block, cfg, plan, updating);
        }
    }
}

/// Whether anything the user controls differs between the prior state and the plan.
pub fn config_changed(block: &Block, prior: &Value, planned: &Value) -> bool {
    let attr_changed = block
        .attributes
        .iter()
        .filter(|a| a.mode != Mode::Computed)
        .any(|a| prior.get_attr(&a.name) != planned.get_attr(&a.name));
    let block_changed = block
        .blocks
        .iter()
        .any(|b| prior.get_attr(&b.name) != planned.get_attr(&b.name));
    attr_changed || block_changed
}

/// The planned state before the resource refines it.
pub fn prepare_plan(
    block: &Block,
    prior: Option<&Value>,
    config: &Value,
    proposed: Value,
) -> Value {
    let mut planned = proposed;
    apply_defaults(block, config, &mut planned);
    let changing = match prior {
        None => true,
        Some(prior) => config_changed(block, prior, &planned),
    };
    if changing {
        mark_computed_unknown(block, config, &mut planned, prior.is_some());
    }
    planned
}

/// Paths of `requires_replace` attributes whose planned value differs from the prior one.
pub fn replace_paths(block: &Block, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    block
        .attributes
        .iter()
        .filter(|a| a.requires_replace)
        .filter(|a| prior.get_attr(&a.name) != planned.get_attr(&a.name))
        .map(|a| AttributePath::attribute(&a.name))
        .collect()
}

/// A resource must not change what the user configured (nested blocks included).
pub fn check_plan_keeps_config(block: &Block, config: &Value, planned: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    keeps_config(block, config, planned, &AttributePath::root(), &mut diags);
    diags
}

fn keeps_config(
    block: &Block,
    config: &Value,
    planned: &Value,
    at: &AttributePath,
    diags: &mut Diagnostics,
) {
    for attr in &block.attributes {
        let Some(configured) = config.get_attr(&attr.name) else {
            continue;
        };
        if configured.is_null() || !configured.is_wholly_known() {
            continue;
        }
        if planned.get_attr(&attr.name) != Some(configured) {
            let path = at.join(PathStep::Attribute(attr.name.clone()));
            diags.push(Diagnostic::error_at(
                path.clone(),
                "Provider changed a configured value",
                format!(
                    "The plan for {path} differs from its configuration. This is a bug in the provider."
                ),
            ));
        }
    }
    for nested in &block.blocks {
        for (steps, cfg, plan) in nested_pairs(nested, config, planned) {
            let mut path = at.clone();
            path.0.extend(steps);
            keeps_config(&nested.block, cfg, plan, &path, diags);
        }
    }
}

fn unknown_paths(value: &Value, path: &mut AttributePath, found: &mut Vec<AttributePath>) {
    match value {
        Value::Unknown => found.push(path.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                path.push(PathStep::Attribute(k.clone()));
                unknown_paths(v, path, found);
                path.0.pop();
            }
        }
        Value::Map(map) => {
            for (k, v) in map {
                path.push(PathStep::ElementKeyString(k.clone()));
                unknown_paths(v, path, found);
                path.0.pop();
            }
        }
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                unknown_paths(v, path, found);
                path.0.pop();
            }
        }
        _ => {}
    }
}

fn null_unknowns(value: &mut Value) {
    match value {
        Value::Unknown => *value = Value::Null,
        Value::Object(map) | Value::Map(map) => map.values_mut().for_each(null_unknowns),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().for_each(null_unknowns)
        }
        _ => {}
    }
}

/// A new state must be wholly known (unknowns become null, with an error naming them).
pub fn check_wholly_known(state: &mut Value) -> Diagnostics {
    let mut found = Vec::new();
    unknown_paths(state, &mut AttributePath::root(), &mut found);
    let mut diags = Diagnostics::default();
    for path in found {
        diags.push(Diagnostic::error_at(
            path.clone(),
            "Provider left a value unknown",
            format!("{path} is still unknown after the operation. This is a bug in the provider."),
        ));
    }
    null_unknowns(state);
    diags
}

/// Every value known in the plan must come back unchanged after apply (nested blocks
/// included).
pub fn check_keeps_planned(block: &Block, planned: &Value, new_state: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    keeps_planned(
        block,
        planned,
        new_state,
        &AttributePath::root(),
        &mut diags,
    );
    diags
}

fn keeps_planned(
    block: &Block,
    planned: &Value,
    new_state: &Value,
    at: &AttributePath,
    diags: &mut Diagnostics,
) {
    for attr in &block.attributes {
        let Some(planned_value) = planned.get_attr(&attr.name) else {
            continue;
        };
        if planned_value.is_wholly_known() && new_state.get_attr(&attr.name) != Some(planned_value)
        {
            let path = at.join(PathStep::Attribute(attr.name.clone()));
            diags.push(Diagnostic::error_at(
                path.clone(),
                "Provider produced an inconsistent result",
                format!(
                    "{path} was planned as {planned_value:?} but came back different. This is a bug in the provider."
                ),
            ));
        }
    }
    for nested in &block.blocks {
        for (steps, plan, new) in nested_pairs(nested, planned, new_state) {
            let mut path = at.clone();
            path.0.extend(steps);
            keeps_planned(&nested.block, plan, new, &path, diags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::Type;
    use crate::schema::{Attribute, NestedBlock};

    fn block() -> Block {
        Block::new("test")
            .attribute(Attribute::required("name", Type::String, "").requires_replace())
            .attribute(Attribute::optional("note", Type::String, ""))
            .attribute(Attribute::optional("flag", Type::Bool, "").default(Value::Bool(true)))
            .attribute(Attribute::computed("id", Type::String, "").stable())
            .attribute(Attribute::computed("rev", Type::Number, ""))
    }

    fn obj(name: &str, note: Value, flag: Value, id: Value) -> Value {
        let rev = match &id {
            Value::Unknown => Value::Unknown,
            Value::Null => Value::Null,
            _ => Value::int(1),
        };
        Value::object([
            ("name", Value::string(name)),
            ("note", note),
            ("flag", flag),
            ("id", id),
            ("rev", rev),
        ])
    }

    #[test]
    fn create_applies_defaults_and_marks_computed_unknown() {
        let config = obj("a", Value::Null, Value::Null, Value::Null);
        let planned = prepare_plan(&block(), None, &config, config.clone());
        assert_eq!(
            planned,
            obj("a", Value::Null, Value::Bool(true), Value::Unknown)
        );
    }

    #[test]
    fn no_change_keeps_prior_computed_values() {
        let prior = obj("a", Value::Null, Value::Bool(true), Value::string("x"));
        let config = obj("a", Value::Null, Value::Null, Value::Null);
        let proposed = prior.clone();
        let planned = prepare_plan(&block(), Some(&prior), &config, proposed);
        assert_eq!(planned, prior);
        assert!(replace_paths(&block(), &prior, &planned).is_empty());
    }

    #[test]
    fn change_marks_computed_unknown_and_flags_replacement() {
        let prior = obj("a", Value::Null, Value::Bool(true), Value::string("x"));
        let config = obj("b", Value::Null, Value::Null, Value::Null);
        let proposed = obj("b", Value::Null, Value::Bool(true), Value::string("x"));
        let planned = prepare_plan(&block(), Some(&prior), &config, proposed);
        assert_eq!(planned.get_attr("id"), Some(&Value::string("x")), "stable");
        assert_eq!(planned.get_attr("rev"), Some(&Value::Unknown));
        assert_eq!(
            replace_paths(&block(), &prior, &planned),
            vec![AttributePath::attribute("name")]
        );
    }

    #[test]
    fn checks_catch_resource_bugs() {
        let config = obj("a", Value::string("n"), Value::Null, Value::Null);
        let bad = obj(
            "a",
            Value::string("other"),
            Value::Bool(true),
            Value::Unknown,
        );
        let diags = check_plan_keeps_config(&block(), &config, &bad);
        assert_eq!(diags.0[0].path, Some(AttributePath::attribute("note")));

        let mut state = obj("a", Value::Null, Value::Bool(true), Value::Unknown);
        let diags = check_wholly_known(&mut state);
        assert_eq!(diags.0[0].path, Some(AttributePath::attribute("id")));
        assert_eq!(state.get_attr("id"), Some(&Value::Null));

        let planned = obj("a", Value::Null, Value::Bool(true), Value::Unknown);
        let new = obj("a", Value::Null, Value::Bool(false), Value::string("x"));
        let diags = check_keeps_planned(&block(), &planned, &new);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(diags.0[0].path, Some(AttributePath::attribute("flag")));
    }

    fn with_rules() -> Block {
        let rule = Block::new("")
            .attribute(Attribute::required("port", Type::Number, ""))
            .attribute(Attribute::optional("proto", Type::String, "").default(Value::string("tcp")))
            .attribute(Attribute::computed("rule_id", Type::String, ""));
        let timeouts = Block::new("").attribute(Attribute::optional("create", Type::String, ""));
        Block::new("")
            .attribute(Attribute::required("name", Type::String, ""))
            .block(NestedBlock::list("rule", rule))
            .block(NestedBlock::single("timeouts", timeouts))
    }

    fn rule(port: i64, proto: Value, id: Value) -> Value {
        Value::object([
            ("port", Value::int(port)),
            ("proto", proto),
            ("rule_id", id),
        ])
    }

    fn with(rules: Vec<Value>, timeouts: Value) -> Value {
        Value::object([
            ("name", Value::string("a")),
            ("rule", Value::List(rules)),
            ("timeouts", timeouts),
        ])
    }

    #[test]
    fn nested_blocks_get_defaults_and_unknown_computed_values() {
        let config = with(vec![rule(80, Value::Null, Value::Null)], Value::Null);
        let planned = prepare_plan(&with_rules(), None, &config, config.clone());
        assert_eq!(
            planned,
            with(
                vec![rule(80, Value::string("tcp"), Value::Unknown)],
                Value::Null
            )
        );
    }

    #[test]
    fn nested_checks_point_at_the_element() {
        let config = with(
            vec![
                rule(80, Value::Null, Value::Null),
                rule(443, Value::string("udp"), Value::Null),
            ],
            Value::object([("create", Value::string("5m"))]),
        );
        let changed = with(
            vec![
                rule(80, Value::string("tcp"), Value::Unknown),
                rule(443, Value::string("tcp"), Value::Unknown),
            ],
            Value::object([("create", Value::string("9m"))]),
        );
        let diags = check_plan_keeps_config(&with_rules(), &config, &changed);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.path.as_ref())
            .map(|p| p.to_string())
            .collect();
        assert_eq!(paths, vec!["rule[1].proto", "timeouts.create"]);

        let planned = with(
            vec![rule(80, Value::string("tcp"), Value::Unknown)],
            Value::Null,
        );
        let new = with(
            vec![rule(80, Value::string("udp"), Value::string("r1"))],
            Value::Null,
        );
        let diags = check_keeps_planned(&with_rules(), &planned, &new);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(
            diags.0[0].path.as_ref().map(|p| p.to_string()).as_deref(),
            Some("rule[0].proto")
        );
    }

    #[test]
    fn unchanged_update_keeps_nested_computed_values() {
        let prior = with(
            vec![rule(80, Value::string("tcp"), Value::string("r1"))],
            Value::Null,
        );
        let config = with(vec![rule(80, Value::Null, Value::Null)], Value::Null);
        let proposed = prior.clone();
        assert_eq!(
            prepare_plan(&with_rules(), Some(&prior), &config, proposed),
            prior
        );
    }
}
