//! The only code that touches generated tfplugin6 types: schemas, diagnostics, attribute
//! paths and dynamic values to and from proto.

use super::proto;
use super::{Diagnostic, Diagnostics, Severity};
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

/// Decodes a DynamicValue (msgpack preferred, JSON accepted; empty = null).
pub fn decode(
    value: Option<&proto::DynamicValue>,
    ty: &Type,
    what: &str,
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
