//! The conversions between generated tfplugin6 types and ours: schemas, identity schemas,
//! diagnostics, attribute paths and dynamic values to and from proto.

use std::fmt;

use super::proto;
use super::{Diagnostic, Diagnostics, IdentitySchema, Severity};
use crate::cty::{self, AttributePath, PathStep, Type, Value};
use crate::schema::{Attribute, Block, Mode, Nesting, Schema};

pub fn schema(schema: &Schema) -> proto::Schema {
    proto::Schema {
        version: schema.version,
        block: Some(block(&schema.block, schema.version)),
    }
}

fn block(b: &Block, version: i64) -> proto::schema::Block {
    proto::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nested| proto::schema::NestedBlock {
                type_name: nested.name.clone(),
                block: Some(block(&nested.block, version)),
                nesting: nesting_mode(nested.nesting) as i32,
                min_items: nested.min_items,
                max_items: nested.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: proto::StringKind::Plain as i32,
        deprecated: b.deprecated,
        deprecation_message: String::new(),
        computed: false,
    }
}

fn nesting_mode(nesting: Nesting) -> proto::schema::nested_block::NestingMode {
    use proto::schema::nested_block::NestingMode;
    match nesting {
        Nesting::Single => NestingMode::Single,
        Nesting::List => NestingMode::List,
        Nesting::Set => NestingMode::Set,
        Nesting::Map => NestingMode::Map,
        Nesting::Group => NestingMode::Group,
    }
}

fn attribute(a: &Attribute) -> proto::schema::Attribute {
    proto::schema::Attribute {
        name: a.name.clone(),
        r#type: cty::json::encode_type(&a.ty),
        nested_type: None,
        description: a.description.clone(),
        required: a.mode == Mode::Required,
        optional: matches!(a.mode, Mode::Optional | Mode::OptionalComputed),
        computed: a.is_computed(),
        sensitive: a.sensitive,
        description_kind: proto::StringKind::Plain as i32,
        deprecated: a.deprecated,
        write_only: false,
        deprecation_message: String::new(),
    }
}

pub fn path(p: &AttributePath) -> proto::AttributePath {
    use proto::attribute_path::{Step, step::Selector};
    proto::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| Step {
                selector: Some(match s {
                    PathStep::Attribute(n) => Selector::AttributeName(n.clone()),
                    PathStep::ElementKeyString(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::ElementKeyInt(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub fn diagnostics(d: &Diagnostics) -> Vec<proto::Diagnostic> {
    d.iter().map(diagnostic).collect()
}

fn diagnostic(d: &Diagnostic) -> proto::Diagnostic {
    proto::Diagnostic {
        severity: match d.severity {
            Severity::Error => proto::diagnostic::Severity::Error,
            Severity::Warning => proto::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.path.as_ref().filter(|p| !p.is_empty()).map(path),
    }
}

pub fn identity_schema(schema: &IdentitySchema) -> proto::ResourceIdentitySchema {
    proto::ResourceIdentitySchema {
        version: schema.version,
        identity_attributes: schema
            .attributes
            .iter()
            .map(|a| proto::resource_identity_schema::IdentityAttribute {
                name: a.name.clone(),
                r#type: cty::json::encode_type(&a.ty),
                required_for_import: a.required_for_import,
                optional_for_import: a.optional_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

/// What a DynamicValue from Terraform carries; named in the diagnostic when it cannot be
/// decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Configuration,
    PriorState,
    ProposedState,
    PlannedState,
    State,
    Identity,
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Payload::Configuration => "configuration",
            Payload::PriorState => "prior state",
            Payload::ProposedState => "proposed state",
            Payload::PlannedState => "planned state",
            Payload::State => "state",
            Payload::Identity => "identity",
        })
    }
}

/// Decodes a DynamicValue against `ty` (msgpack preferred, JSON accepted; empty = null).
/// A value that does not fit becomes an error at the offending attribute path.
pub fn decode(
    value: Option<&proto::DynamicValue>,
    ty: &Type,
    what: Payload,
) -> Result<Value, Diagnostics> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    let result = if !value.msgpack.is_empty() {
        cty::msgpack::decode(&value.msgpack, ty)
    } else if !value.json.is_empty() {
        cty::json::decode(&value.json, ty)
    } else {
        return Ok(Value::Null);
    };
    result.map_err(|e| {
        Diagnostics::from(Diagnostic::error_at(
            e.path.clone(),
            format!("Invalid {what} from Terraform"),
            format!("The provider could not decode the {what}: {e}"),
        ))
    })
}

/// Encodes a value as msgpack for Terraform.
pub fn encode(value: &Value, ty: &Type) -> Result<proto::DynamicValue, Diagnostics> {
    cty::msgpack::encode(value, ty)
        .map(|msgpack| proto::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostics::from(Diagnostic::error_at(
                e.path.clone(),
                "Provider produced a value it cannot encode",
                format!("This is a bug in the provider: {e}"),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::NestedBlock;
    use proto::attribute_path::step::Selector;

    #[test]
    fn schema_becomes_proto_with_types_modes_and_docs() {
        let s = Schema {
            version: 2,
            block: Block::new("An upgrade.")
                .attribute(Attribute::required(
                    "instance_id",
                    Type::String,
                    "The instance.",
                ))
                .attribute(Attribute::optional("secret", Type::String, "").sensitive())
                .attribute(Attribute::optional("delay", Type::Bool, "").default(Value::Bool(false)))
                .attribute(Attribute::computed("tags", Type::map(Type::String), ""))
                .block(
                    NestedBlock::single(
                        "timeouts",
                        Block::new("").attribute(Attribute::optional("create", Type::String, "")),
                    )
                    .items(0, 1),
                )
                .block(NestedBlock::group("g", Block::new("")).items(1, 1)),
        };
        let p = schema(&s);
        assert_eq!(p.version, 2);
        let block = p.block.unwrap_or_default();
        assert_eq!(block.version, 2);
        assert_eq!(block.description, "An upgrade.");
        assert_eq!(block.description_kind, proto::StringKind::Plain as i32);
        // name, type JSON, and the required / optional / computed / sensitive flags.
        let flags: Vec<String> = block
            .attributes
            .iter()
            .map(|a| {
                let ty = String::from_utf8_lossy(&a.r#type);
                let f = |b: bool| if b { 'x' } else { '-' };
                let (r, o, c, s) = (f(a.required), f(a.optional), f(a.computed), f(a.sensitive));
                format!("{} {ty} {r}{o}{c}{s}", a.name)
            })
            .collect();
        assert_eq!(
            flags,
            [
                r#"instance_id "string" x---"#,
                r#"secret "string" -x-x"#,
                r#"delay "bool" -xx-"#,
                r#"tags ["map","string"] --x-"#,
            ]
        );
        assert_eq!(block.attributes[0].description, "The instance.");
        use proto::schema::nested_block::NestingMode;
        let nested: Vec<(&str, i32, i64, i64)> = block
            .block_types
            .iter()
            .map(|b| (b.type_name.as_str(), b.nesting, b.min_items, b.max_items))
            .collect();
        assert_eq!(
            nested,
            [
                ("timeouts", NestingMode::Single as i32, 0, 1),
                ("g", NestingMode::Group as i32, 1, 1)
            ]
        );
    }

    #[test]
    fn diagnostics_carry_attribute_path_steps() {
        let path = AttributePath::attribute("rule")
            .join(PathStep::ElementKeyInt(1))
            .join(PathStep::Attribute("tags".into()))
            .join(PathStep::ElementKeyString("env".into()));
        let mut d = Diagnostics::default();
        d.error_at(path, "Bad tag", "why");
        d.warning("Insecure", "");
        let p = diagnostics(&d);
        assert_eq!(p[0].severity, proto::diagnostic::Severity::Error as i32);
        assert_eq!(
            (p[0].summary.as_str(), p[0].detail.as_str()),
            ("Bad tag", "why")
        );
        let steps: Vec<Option<Selector>> = p[0]
            .attribute
            .iter()
            .flat_map(|a| a.steps.iter().map(|s| s.selector.clone()))
            .collect();
        assert_eq!(
            steps,
            [
                Some(Selector::AttributeName("rule".into())),
                Some(Selector::ElementKeyInt(1)),
                Some(Selector::AttributeName("tags".into())),
                Some(Selector::ElementKeyString("env".into())),
            ]
        );
        assert_eq!(p[1].severity, proto::diagnostic::Severity::Warning as i32);
        assert_eq!(p[1].attribute, None, "no path: about the whole object");
    }

    #[test]
    fn empty_dynamic_values_are_null_and_json_is_accepted() {
        let ty = Type::object([("a", Type::String)]);
        assert_eq!(decode(None, &ty, Payload::State), Ok(Value::Null));
        let empty = proto::DynamicValue::default();
        assert_eq!(decode(Some(&empty), &ty, Payload::State), Ok(Value::Null));
        let json = proto::DynamicValue {
            msgpack: Vec::new(),
            json: br#"{"a":"x"}"#.to_vec(),
        };
        assert_eq!(
            decode(Some(&json), &ty, Payload::State),
            Ok(Value::object([("a", Value::string("x"))]))
        );
    }
}
