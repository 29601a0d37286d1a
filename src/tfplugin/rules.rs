//! The protocol's plan and apply rules, enforced once for every resource: defaults,
//! computed values marked unknown only when something changes, replacement paths,
//! configured values kept, and a wholly known new state that keeps planned values.

use super::{Diagnostic, Diagnostics};
use crate::cty::{AttributePath, PathStep, Value};
use crate::schema::{Block, Mode, Nesting};

/// Fills defaults where the configuration is null (top level and single nested blocks).
pub fn apply_defaults(block: &Block, config: &Value, planned: &mut Value) {
    if !matches!(planned, Value::Object(_)) {
        return;
    }
    for attr in &block.attributes {
        if let Some(default) = &attr.default {
            let configured = config.get_attr(&attr.name).is_some_and(|v| !v.is_null());
            if !configured {
                planned.set_attr(&attr.name, default.clone());
            }
        }
    }
    for nested in &block.blocks {
        if nested.nesting == Nesting::Single
            && let (Some(cfg), Some(plan)) = (
                config.get_attr(&nested.name).cloned(),
                planned.get_attr_mut(&nested.name),
            )
        {
            apply_defaults(&nested.block, &cfg, plan);
        }
    }
}

fn mark_computed_unknown(block: &Block, config: &Value, planned: &mut Value, updating: bool) {
    for attr in block.attributes.iter().filter(|a| a.is_computed()) {
        if updating && attr.stable {
            continue;
        }
        let configured = config.get_attr(&attr.name).is_some_and(|v| !v.is_null());
        if !configured && attr.default.is_none() {
            planned.set_attr(&attr.name, Value::Unknown);
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

/// A resource must not change what the user configured.
pub fn check_plan_keeps_config(block: &Block, config: &Value, planned: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for attr in &block.attributes {
        let Some(configured) = config.get_attr(&attr.name) else {
            continue;
        };
        if configured.is_null() || !configured.is_wholly_known() {
            continue;
        }
        if planned.get_attr(&attr.name) != Some(configured) {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(&attr.name),
                "Provider changed a configured value",
                format!(
                    "The plan for {:?} differs from its configuration. This is a bug in the provider.",
                    attr.name
                ),
            ));
        }
    }
    diags
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

/// Every value known in the plan must come back unchanged after apply.
pub fn check_keeps_planned(block: &Block, planned: &Value, new_state: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for attr in &block.attributes {
        let Some(planned_value) = planned.get_attr(&attr.name) else {
            continue;
        };
        if planned_value.is_wholly_known() && new_state.get_attr(&attr.name) != Some(planned_value)
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(&attr.name),
                "Provider produced an inconsistent result",
                format!(
                    "{:?} was planned as {planned_value:?} but came back different. This is a bug in the provider.",
                    attr.name
                ),
            ));
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::Type;
    use crate::schema::Attribute;

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
}
