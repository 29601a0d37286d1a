//! Configuration from a state, for `terraform query -generate-config-out` and
//! `terraform plan -generate-config-out` (the `GenerateResourceConfig` RPC, Terraform
//! 1.14+, served in `server::list`): what a user would write to manage the object, nothing the provider computes.
//!
//! Not Terraform's own fallback (which keeps every optional value, defaults included):
//! an argument equal to its default, or one the provider fills in when it is left out,
//! is left out, so the generated block is as short as what a user would write.

use crate::cty::Value;
use crate::schema::{Block, Mode, Nesting};

/// The configuration for `state` under `block`'s schema (a null state gives a block
/// with every argument null).
pub fn config_from_state(block: &Block, state: &Value) -> Value {
    if state.is_null() || state.is_unknown() {
        return Value::null_object(&block.value_type());
    }
    object(block, state)
}

fn object(block: &Block, state: &Value) -> Value {
    let mut out = Value::null_object(&block.value_type());
    for attribute in &block.attributes {
        let value = state
            .get_attr(&attribute.name)
            .cloned()
            .unwrap_or(Value::Null);
        let keep = match attribute.mode {
            _ if attribute.deprecated => false,
            Mode::Computed => false,
            Mode::Required | Mode::Optional => true,
            // Left out, the provider plans the default or keeps the value it chose.
            Mode::OptionalComputed => attribute.default.as_ref().is_some_and(|d| *d != value),
        };
        if keep && !value.is_unknown() {
            out.set_attr(&attribute.name, value);
        }
    }
    for nested in &block.blocks {
        let value = state.get_attr(&nested.name).cloned().unwrap_or(Value::Null);
        let generated = match (&value, nested.nesting) {
            (Value::Null | Value::Unknown, _) => Value::Null,
            (_, Nesting::Single) => {
                let inner = object(&nested.block, &value);
                if all_null(&inner) { Value::Null } else { inner }
            }
            (_, Nesting::Group) => object(&nested.block, &value),
            (Value::List(items), _) => {
                Value::List(items.iter().map(|v| object(&nested.block, v)).collect())
            }
            (Value::Set(items), _) => {
                Value::Set(items.iter().map(|v| object(&nested.block, v)).collect())
            }
            (Value::Map(items), _) => Value::Map(
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), object(&nested.block, v)))
                    .collect(),
            ),
            _ => Value::Null,
        };
        out.set_attr(&nested.name, generated);
    }
    out
}

fn all_null(value: &Value) -> bool {
    match value {
        Value::Object(attrs) => attrs.values().all(Value::is_null),
        other => other.is_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::Type;
    use crate::schema::{Attribute, NestedBlock};

    fn block() -> Block {
        Block::new("t")
            .attribute(Attribute::required("name", Type::String, ""))
            .attribute(Attribute::optional("note", Type::String, ""))
            .attribute(Attribute::optional("flag", Type::Bool, "").default(Value::Bool(true)))
            .attribute(Attribute::optional_computed("chosen", Type::Bool, ""))
            .attribute(Attribute::computed("id", Type::String, ""))
            .block(NestedBlock::single(
                "timeouts",
                Block::new("").attribute(Attribute::optional("create", Type::String, "")),
            ))
    }

    fn state(flag: bool) -> Value {
        Value::object([
            ("name", Value::string("a")),
            ("note", Value::Null),
            ("flag", Value::Bool(flag)),
            ("chosen", Value::Bool(true)),
            ("id", Value::string("x")),
            ("timeouts", Value::object([("create", Value::Null)])),
        ])
    }

    #[test]
    fn keeps_arguments_and_drops_computed_values_and_defaults() {
        let config = config_from_state(&block(), &state(true));
        assert_eq!(config.attr_string("name").as_deref(), Some("a"));
        for gone in ["note", "flag", "chosen", "id", "timeouts"] {
            assert_eq!(config.get_attr(gone), Some(&Value::Null), "{gone}");
        }
        let config = config_from_state(&block(), &state(false));
        assert_eq!(
            config.attr_bool("flag"),
            Some(false),
            "a non-default value stays"
        );
    }

    #[test]
    fn a_null_state_gives_a_null_filled_block() {
        let config = config_from_state(&block(), &Value::Null);
        assert_eq!(config, Value::null_object(&block().value_type()));
    }
}
