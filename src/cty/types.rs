//! cty types and their JSON form (the bytes of a schema attribute's `type`).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{AttributePath, DecodeError};

/// Deepest type nesting accepted from the wire.
pub(crate) const MAX_DEPTH: usize = 64;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// Any type; on the wire a dynamic value carries its concrete type with it.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    /// Attribute types; `optional` names attributes that may be omitted in config.
    Object {
        attributes: BTreeMap<String, Type>,
        optional: Vec<String>,
    },
}

impl Type {
    /// An object type with no optional attributes.
    pub fn object<I, K>(attributes: I) -> Type
    where
        I: IntoIterator<Item = (K, Type)>,
        K: Into<String>,
    {
        Type::Object {
            attributes: attributes.into_iter().map(|(k, t)| (k.into(), t)).collect(),
            optional: Vec::new(),
        }
    }

    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// The JSON form of this type, as Terraform writes it.
    pub fn to_json(&self) -> Json {
        match self {
            Type::Bool => Json::from("bool"),
            Type::Number => Json::from("number"),
            Type::String => Json::from("string"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(e) => Json::Array(vec!["list".into(), e.to_json()]),
            Type::Set(e) => Json::Array(vec!["set".into(), e.to_json()]),
            Type::Map(e) => Json::Array(vec!["map".into(), e.to_json()]),
            Type::Tuple(es) => Json::Array(vec![
                "tuple".into(),
                Json::Array(es.iter().map(Type::to_json).collect()),
            ]),
            Type::Object {
                attributes,
                optional,
            } => {
                let attrs = attributes
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                let mut parts = vec!["object".into(), Json::Object(attrs)];
                if !optional.is_empty() {
                    let mut names = optional.clone();
                    names.sort();
                    parts.push(Json::Array(names.into_iter().map(Json::from).collect()));
                }
                Json::Array(parts)
            }
        }
    }

    /// Parses the JSON form of a type.
    pub fn from_json(json: &Json) -> Result<Type, DecodeError> {
        type_from_json(json, 0)
    }
}

fn bad_type(message: impl Into<String>) -> DecodeError {
    DecodeError {
        path: AttributePath::root(),
        message: message.into(),
    }
}

fn type_from_json(json: &Json, depth: usize) -> Result<Type, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(bad_type("type nested too deeply"));
    }
    match json {
        Json::String(s) => match s.as_str() {
            "bool" => Ok(Type::Bool),
            "number" => Ok(Type::Number),
            "string" => Ok(Type::String),
            "dynamic" => Ok(Type::Dynamic),
            other => Err(bad_type(format!("unknown primitive type {other:?}"))),
        },
        Json::Array(parts) => {
            let kind = parts
                .first()
                .and_then(Json::as_str)
                .ok_or_else(|| bad_type("type array must start with its kind"))?;
            let arg = parts
                .get(1)
                .ok_or_else(|| bad_type(format!("{kind} type needs an argument")))?;
            let element = || type_from_json(arg, depth + 1).map(Box::new);
            match (kind, parts.len()) {
                ("list", 2) => Ok(Type::List(element()?)),
                ("set", 2) => Ok(Type::Set(element()?)),
                ("map", 2) => Ok(Type::Map(element()?)),
                ("tuple", 2) => {
                    let items = arg
                        .as_array()
                        .ok_or_else(|| bad_type("tuple type needs an array of types"))?;
                    items
                        .iter()
                        .map(|t| type_from_json(t, depth + 1))
                        .collect::<Result<_, _>>()
                        .map(Type::Tuple)
                }
                ("object", 2 | 3) => {
                    let attrs = arg
                        .as_object()
                        .ok_or_else(|| bad_type("object type needs a map of attribute types"))?;
                    let attributes = attrs
                        .iter()
                        .map(|(k, t)| Ok((k.clone(), type_from_json(t, depth + 1)?)))
                        .collect::<Result<_, DecodeError>>()?;
                    let optional = match parts.get(2) {
                        Some(Json::Array(names)) => names
                            .iter()
                            .map(|n| {
                                n.as_str().map(str::to_string).ok_or_else(|| {
                                    bad_type("optional attribute names must be strings")
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => return Err(bad_type("optional attributes must be an array")),
                        None => Vec::new(),
                    };
                    Ok(Type::Object {
                        attributes,
                        optional,
                    })
                }
                (other, n) => Err(bad_type(format!(
                    "unknown type kind {other:?} with {n} parts"
                ))),
            }
        }
        _ => Err(bad_type("a type is a string or an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let ty = Type::object([
            ("a", Type::String),
            ("b", Type::map(Type::list(Type::Number))),
        ]);
        let json = ty.to_json();
        assert_eq!(
            json.to_string(),
            r#"["object",{"a":"string","b":["map",["list","number"]]}]"#
        );
        assert_eq!(Type::from_json(&json).unwrap(), ty);
        let opt: Json = serde_json::from_str(r#"["object",{"a":"bool"},["a"]]"#).unwrap();
        let parsed = Type::from_json(&opt).unwrap();
        assert_eq!(parsed.to_json(), opt);
        assert!(Type::from_json(&Json::from("float")).is_err());
        assert!(Type::from_json(&serde_json::json!(["list"])).is_err());
    }
}
