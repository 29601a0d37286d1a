//! cty's JSON encoding: values as stored in state (`RawState.json`) and types as written
//! in a schema attribute's `type` bytes.
//!
//! JSON cannot hold unknowns, so decoding never yields `Unknown`. When decoding stored
//! state, attributes the type does not have are ignored (a state upgrade drops removed
//! attributes) and missing ones are null.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::msgpack::parse_number;
use super::types::MAX_DEPTH;
use super::{AttributePath, DecodeError, EncodeError, Number, PathStep, Type, Value};

/// Decodes a JSON value (as in `RawState.json`) of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| DecodeError {
        path: AttributePath::root(),
        message: format!("invalid JSON: {e}"),
    })?;
    let mut path = AttributePath::root();
    from_json(&json, ty, &mut path, 0)
}

/// Encodes a wholly known value as JSON (unknowns are an error).
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut path = AttributePath::root();
    let json = to_json(value, ty, &mut path)?;
    serde_json::to_vec(&json).map_err(|e| EncodeError {
        path: AttributePath::root(),
        message: e.to_string(),
    })
}

/// The JSON form of a type, as in a schema attribute's `type` field (`"string"`,
/// `["map","string"]`, `["object",{"a":"string"}]`).
pub fn encode_type(ty: &Type) -> Vec<u8> {
    ty.to_json().to_string().into_bytes()
}

/// Parses the JSON form of a type.
pub fn decode_type(bytes: &[u8]) -> Result<Type, DecodeError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| DecodeError {
        path: AttributePath::root(),
        message: format!("invalid type JSON: {e}"),
    })?;
    Type::from_json(&json)
}

fn from_json(
    json: &Json,
    ty: &Type,
    path: &mut AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    let fail = |path: &AttributePath, message: String| DecodeError {
        path: path.clone(),
        message,
    };
    if depth > MAX_DEPTH {
        return Err(fail(path, "value nested too deeply".into()));
    }
    if json.is_null() {
        return Ok(Value::Null);
    }
    match (ty, json) {
        (Type::Dynamic, Json::Object(parts)) => {
            let (Some(t), Some(v)) = (parts.get("type"), parts.get("value")) else {
                return Err(fail(
                    path,
                    "dynamic value must be {\"value\", \"type\"}".into(),
                ));
            };
            let concrete = Type::from_json(t).map_err(|e| fail(path, e.message))?;
            from_json(v, &concrete, path, depth + 1)
        }
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Number, Json::Number(n)) => {
            let number = if let Some(i) = n.as_i64() {
                Number::Int(i)
            } else {
                parse_number(&n.to_string())
                    .ok_or_else(|| fail(path, format!("invalid number {n}")))?
            };
            Ok(Value::Number(number))
        }
        (Type::Number, Json::String(s)) => parse_number(s)
            .map(Value::Number)
            .ok_or_else(|| fail(path, format!("invalid number {s:?}"))),
        (Type::String, Json::String(s)) => Ok(Value::String(s.clone())),
        (Type::String, Json::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, Json::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::List(e) | Type::Set(e), Json::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                out.push(from_json(item, e, path, depth + 1)?);
                path.0.pop();
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(out)
            } else {
                Value::List(out)
            })
        }
        (Type::Tuple(types), Json::Array(items)) if types.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, item)) in types.iter().zip(items).enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                out.push(from_json(item, t, path, depth + 1)?);
                path.0.pop();
            }
            Ok(Value::Tuple(out))
        }
        (Type::Map(e), Json::Object(map)) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                path.push(PathStep::ElementKeyString(k.clone()));
                out.insert(k.clone(), from_json(v, e, path, depth + 1)?);
                path.0.pop();
            }
            Ok(Value::Map(out))
        }
        (Type::Object { attributes, .. }, Json::Object(map)) => {
            let mut out = BTreeMap::new();
            for (name, attr_ty) in attributes {
                path.push(PathStep::Attribute(name.clone()));
                let v = match map.get(name) {
                    Some(j) => from_json(j, attr_ty, path, depth + 1)?,
                    None => Value::Null,
                };
                path.0.pop();
                out.insert(name.clone(), v);
            }
            Ok(Value::Object(out))
        }
        (ty, _) => Err(fail(
            path,
            format!("JSON value does not match type {}", ty.to_json()),
        )),
    }
}

fn to_json(value: &Value, ty: &Type, path: &mut AttributePath) -> Result<Json, EncodeError> {
    let fail = |path: &AttributePath, message: String| EncodeError {
        path: path.clone(),
        message,
    };
    Ok(match (ty, value) {
        (_, Value::Unknown) => return Err(fail(path, "unknown values have no JSON form".into())),
        (_, Value::Null) => Json::Null,
        (Type::Dynamic, v) => {
            let concrete = v.infer_type();
            let inner = to_json(v, &concrete, path)?;
            serde_json::json!({"value": inner, "type": concrete.to_json()})
        }
        (Type::Bool, Value::Bool(b)) => Json::Bool(*b),
        (Type::Number, Value::Number(n)) => match n {
            Number::Int(i) => Json::from(*i),
            Number::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .ok_or_else(|| fail(path, "number is not finite".into()))?,
            Number::Decimal(s) => Json::String(s.clone()),
        },
        (Type::String, Value::String(s)) => Json::String(s.clone()),
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                out.push(to_json(item, e, path)?);
                path.0.pop();
            }
            Json::Array(out)
        }
        (Type::Tuple(types), Value::Tuple(items)) if types.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, item)) in types.iter().zip(items).enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                out.push(to_json(item, t, path)?);
                path.0.pop();
            }
            Json::Array(out)
        }
        (Type::Map(e), Value::Map(map)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                path.push(PathStep::ElementKeyString(k.clone()));
                out.insert(k.clone(), to_json(v, e, path)?);
                path.0.pop();
            }
            Json::Object(out)
        }
        (Type::Object { attributes, .. }, Value::Object(map)) => {
            let mut out = serde_json::Map::new();
            for (name, attr_ty) in attributes {
                path.push(PathStep::Attribute(name.clone()));
                out.insert(
                    name.clone(),
                    to_json(map.get(name).unwrap_or(&Value::Null), attr_ty, path)?,
                );
                path.0.pop();
            }
            Json::Object(out)
        }
        (ty, v) => {
            return Err(fail(
                path,
                format!("value {v:?} does not match type {}", ty.to_json()),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn raw_state_objects() {
        let ty = Type::object([("id", Type::String), ("n", Type::Number)]);
        let v = decode(br#"{"id":"x","removed":1}"#, &ty).unwrap();
        assert_eq!(v.get_attr("id"), Some(&Value::string("x")));
        assert_eq!(v.get_attr("n"), Some(&Value::Null));
        let err = decode(br#"{"id":"x","n":"abc"}"#, &ty).unwrap_err();
        assert_eq!(err.path, AttributePath::attribute("n"));
        assert!(decode(b"{", &ty).is_err());
    }

    #[test]
    fn dynamic_and_numbers() {
        let v = decode(
            br#"{"value":["a"],"type":["list","string"]}"#,
            &Type::Dynamic,
        )
        .unwrap();
        assert_eq!(v, Value::List(vec![Value::string("a")]));
        let n = decode(b"12345678901234567890123", &Type::Number).unwrap();
        assert!(matches!(n, Value::Number(_)));
        assert_eq!(
            encode_type(&Type::map(Type::String)),
            br#"["map","string"]"#.to_vec()
        );
        assert_eq!(
            decode_type(br#"["set","bool"]"#).unwrap(),
            Type::set(Type::Bool)
        );
    }

    fn known_only(v: &Value) -> bool {
        v.is_wholly_known()
    }

    proptest! {
        // 256 cases unless PROPTEST_CASES says otherwise (`make fuzz` asks for 20000); about
        // a third of generated values hold an unknown and are rejected by the round trip.
        #![proptest_config(ProptestConfig { max_global_rejects: 1_000_000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(ty in crate::cty::msgpack::tests::arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, &ty);
            let _ = decode_type(&bytes);
        }

        #[test]
        fn known_values_round_trip((ty, v) in crate::cty::msgpack::tests::arb_type().prop_flat_map(|t| { let s = crate::cty::msgpack::tests::arb_value(&t); (Just(t), s) })) {
            prop_assume!(known_only(&v));
            let bytes = encode(&v, &ty).unwrap();
            prop_assert_eq!(decode(&bytes, &ty).unwrap(), v);
        }
    }
}
