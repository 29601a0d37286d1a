//! cty's msgpack encoding, as Terraform sends values in `DynamicValue.msgpack`.
//!
//! Null is msgpack nil; any extension value is an unknown (refined unknowns included);
//! dynamic values are `[type JSON, value]`; objects are maps carrying every attribute.
//! The reader never trusts a length from the input for allocation and limits nesting.

use std::collections::BTreeMap;

use super::types::MAX_DEPTH;
use super::{AttributePath, DecodeError, EncodeError, Number, PathStep, Type, Value};

/// Decodes Terraform's msgpack encoding of a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut reader = Reader { bytes, pos: 0 };
    let mut path = AttributePath::root();
    let value = reader.value(ty, &mut path, 0)?;
    if reader.pos != bytes.len() {
        return Err(DecodeError {
            path: AttributePath::root(),
            message: format!(
                "{} trailing bytes after the value",
                bytes.len() - reader.pos
            ),
        });
    }
    Ok(value)
}

/// Encodes `value` as Terraform's msgpack encoding for type `ty`.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    let mut path = AttributePath::root();
    write_value(&mut out, value, ty, &mut path)?;
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// What a msgpack item header announced.
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext,
}

impl<'a> Reader<'a> {
    fn fail(&self, path: &AttributePath, message: impl Into<String>) -> DecodeError {
        DecodeError {
            path: path.clone(),
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize, path: &AttributePath) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.fail(path, "unexpected end of msgpack data"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn uint(&mut self, n: usize, path: &AttributePath) -> Result<u64, DecodeError> {
        Ok(self
            .take(n, path)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize, path: &AttributePath) -> Result<usize, DecodeError> {
        let len = self.uint(n, path)?;
        usize::try_from(len).map_err(|_| self.fail(path, "length too large"))
    }

    fn item(&mut self, path: &AttributePath) -> Result<Item<'a>, DecodeError> {
        let marker = self.take(1, path)?[0];
        Ok(match marker {
            0x00..=0x7f => Item::Int(i64::from(marker)),
            0x80..=0x8f => Item::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Item::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => Item::Str(self.take(usize::from(marker & 0x1f), path)?),
            0xc0 => Item::Nil,
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4), path)?;
                Item::Bin(self.take(n, path)?)
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (marker - 0xc7), path)?;
                self.take(n + 1, path)?;
                Item::Ext
            }
            0xca => Item::Float(f64::from(f32::from_bits(self.uint(4, path)? as u32))),
            0xcb => Item::Float(f64::from_bits(self.uint(8, path)?)),
            0xcc..=0xcf => Item::Uint(self.uint(1 << (marker - 0xcc), path)?),
            0xd0 => Item::Int(i64::from(self.uint(1, path)? as u8 as i8)),
            0xd1 => Item::Int(i64::from(self.uint(2, path)? as u16 as i16)),
            0xd2 => Item::Int(i64::from(self.uint(4, path)? as u32 as i32)),
            0xd3 => Item::Int(self.uint(8, path)? as i64),
            0xd4..=0xd8 => {
                self.take(1 + (1 << (marker - 0xd4)), path)?;
                Item::Ext
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9), path)?;
                Item::Str(self.take(n, path)?)
            }
            0xdc..=0xdd => Item::Array(self.len(2 << (marker - 0xdc), path)?),
            0xde..=0xdf => Item::Map(self.len(2 << (marker - 0xde), path)?),
            0xe0..=0xff => Item::Int(i64::from(marker as i8)),
            0xc1 => return Err(self.fail(path, "invalid msgpack marker 0xc1")),
        })
    }

    /// Capacity for `n` announced items: never more than the bytes left could hold.
    fn capacity(&self, n: usize) -> usize {
        n.min(self.bytes.len() - self.pos)
    }

    fn string(&mut self, path: &AttributePath) -> Result<String, DecodeError> {
        match self.item(path)? {
            Item::Str(b) | Item::Bin(b) => String::from_utf8(b.to_vec())
                .map_err(|_| self.fail(path, "string is not valid UTF-8")),
            _ => Err(self.fail(path, "expected a string")),
        }
    }

    fn value(
        &mut self,
        ty: &Type,
        path: &mut AttributePath,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.fail(path, "value nested too deeply"));
        }
        let item = self.item(path)?;
        match item {
            Item::Nil => return Ok(Value::Null),
            Item::Ext => return Ok(Value::Unknown),
            _ => {}
        }
        match (ty, item) {
            (Type::Dynamic, Item::Array(2)) => {
                let type_bytes = match self.item(path)? {
                    Item::Str(b) | Item::Bin(b) => b,
                    _ => return Err(self.fail(path, "dynamic value must start with its type")),
                };
                let json: serde_json::Value = serde_json::from_slice(type_bytes)
                    .map_err(|e| self.fail(path, format!("invalid type JSON: {e}")))?;
                let concrete = Type::from_json(&json).map_err(|e| self.fail(path, e.message))?;
                self.value(&concrete, path, depth + 1)
            }
            (Type::Dynamic, _) => Err(self.fail(path, "dynamic value must be [type, value]")),
            (Type::Bool, Item::Bool(b)) => Ok(Value::Bool(b)),
            (Type::Number, Item::Int(i)) => Ok(Value::Number(Number::Int(i))),
            (Type::Number, Item::Uint(u)) => Ok(Value::Number(match i64::try_from(u) {
                Ok(i) => Number::Int(i),
                Err(_) => Number::Decimal(u.to_string()),
            })),
            (Type::Number, Item::Float(f)) => Ok(Value::Number(Number::Float(f))),
            (Type::Number, Item::Str(b)) => {
                let s = std::str::from_utf8(b).map_err(|_| self.fail(path, "bad number"))?;
                parse_number(s)
                    .map(Value::Number)
                    .ok_or_else(|| self.fail(path, format!("invalid number {s:?}")))
            }
            (Type::String, Item::Str(b)) => String::from_utf8(b.to_vec())
                .map(Value::String)
                .map_err(|_| self.fail(path, "string is not valid UTF-8")),
            (Type::List(e) | Type::Set(e), Item::Array(n)) => {
                let mut items = Vec::with_capacity(self.capacity(n));
                for i in 0..n {
                    path.push(PathStep::ElementKeyInt(i as i64));
                    items.push(self.value(e, path, depth + 1)?);
                    path.0.pop();
                }
                Ok(if matches!(ty, Type::Set(_)) {
                    Value::Set(items)
                } else {
                    Value::List(items)
                })
            }
            (Type::Tuple(types), Item::Array(n)) => {
                if n != types.len() {
                    return Err(
                        self.fail(path, format!("tuple of {} elements, got {n}", types.len()))
                    );
                }
                let mut items = Vec::with_capacity(n);
                for (i, t) in types.iter().enumerate() {
                    path.push(PathStep::ElementKeyInt(i as i64));
                    items.push(self.value(t, path, depth + 1)?);
                    path.0.pop();
                }
                Ok(Value::Tuple(items))
            }
            (Type::Map(e), Item::Map(n)) => {
                let mut map = BTreeMap::new();
                for _ in 0..n {
                    let key = self.string(path)?;
                    path.push(PathStep::ElementKeyString(key.clone()));
                    let v = self.value(e, path, depth + 1)?;
                    path.0.pop();
                    map.insert(key, v);
                }
                Ok(Value::Map(map))
            }
            (Type::Object { attributes, .. }, Item::Map(n)) => {
                let mut map = BTreeMap::new();
                for _ in 0..n {
                    let key = self.string(path)?;
                    let attr_ty = attributes
                        .get(&key)
                        .ok_or_else(|| self.fail(path, format!("unsupported attribute {key:?}")))?;
                    path.push(PathStep::Attribute(key.clone()));
                    let v = self.value(attr_ty, path, depth + 1)?;
                    path.0.pop();
                    map.insert(key, v);
                }
                for name in attributes.keys() {
                    map.entry(name.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(map))
            }
            (ty, _) => Err(self.fail(path, format!("value does not match type {}", ty.to_json()))),
        }
    }
}

/// Parses a decimal number string into the most exact representation.
pub(crate) fn parse_number(s: &str) -> Option<Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::Int(i));
    }
    let f: f64 = s.parse().ok()?;
    if f.is_nan() || s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    Some(if f.is_finite() && f.to_string() == s {
        Number::Float(f)
    } else {
        Number::Decimal(s.to_string())
    })
}

fn write_value(
    out: &mut Vec<u8>,
    value: &Value,
    ty: &Type,
    path: &mut AttributePath,
) -> Result<(), EncodeError> {
    let fail = |path: &AttributePath, message: String| EncodeError {
        path: path.clone(),
        message,
    };
    match (ty, value) {
        (_, Value::Unknown) => {
            out.extend_from_slice(&[0xd4, 0x00, 0x00]);
            Ok(())
        }
        (_, Value::Null) => {
            out.push(0xc0);
            Ok(())
        }
        (Type::Dynamic, v) => {
            let concrete = v.infer_type();
            write_array_len(out, 2);
            write_str(out, concrete.to_json().to_string().as_bytes());
            write_value(out, v, &concrete, path)
        }
        (Type::Bool, Value::Bool(b)) => {
            out.push(if *b { 0xc3 } else { 0xc2 });
            Ok(())
        }
        (Type::Number, Value::Number(n)) => {
            match n {
                Number::Int(i) => write_int(out, *i),
                Number::Float(f) => match n.as_i64() {
                    Some(i) => write_int(out, i),
                    None => {
                        out.push(0xcb);
                        out.extend_from_slice(&f.to_bits().to_be_bytes());
                    }
                },
                Number::Decimal(s) => write_str(out, s.as_bytes()),
            }
            Ok(())
        }
        (Type::String, Value::String(s)) => {
            write_str(out, s.as_bytes());
            Ok(())
        }
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            write_array_len(out, items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                write_value(out, item, e, path)?;
                path.0.pop();
            }
            Ok(())
        }
        (Type::Tuple(types), Value::Tuple(items)) if types.len() == items.len() => {
            write_array_len(out, items.len());
            for (i, (t, item)) in types.iter().zip(items).enumerate() {
                path.push(PathStep::ElementKeyInt(i as i64));
                write_value(out, item, t, path)?;
                path.0.pop();
            }
            Ok(())
        }
        (Type::Map(e), Value::Map(map)) => {
            write_map_len(out, map.len());
            for (k, v) in map {
                write_str(out, k.as_bytes());
                path.push(PathStep::ElementKeyString(k.clone()));
                write_value(out, v, e, path)?;
                path.0.pop();
            }
            Ok(())
        }
        (Type::Object { attributes, .. }, Value::Object(map)) => {
            if let Some(extra) = map.keys().find(|k| !attributes.contains_key(*k)) {
                return Err(fail(
                    path,
                    format!("attribute {extra:?} is not in the type"),
                ));
            }
            write_map_len(out, attributes.len());
            for (name, attr_ty) in attributes {
                write_str(out, name.as_bytes());
                path.push(PathStep::Attribute(name.clone()));
                write_value(out, map.get(name).unwrap_or(&Value::Null), attr_ty, path)?;
                path.0.pop();
            }
            Ok(())
        }
        (ty, v) => Err(fail(
            path,
            format!("value {v:?} does not match type {}", ty.to_json()),
        )),
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    match i {
        0..=0x7f => out.push(i as u8),
        -32..=-1 => out.push(i as i8 as u8),
        _ if i32::try_from(i).is_ok() => {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn write_array_len(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n < 65536 {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn write_map_len(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n < 65536 {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj_type() -> Type {
        Type::object([("a", Type::String), ("n", Type::Number), ("b", Type::Bool)])
    }

    #[test]
    fn unknown_null_and_refined_unknown() {
        assert_eq!(
            decode(&[0xd4, 0x00, 0x00], &Type::String).unwrap(),
            Value::Unknown
        );
        assert_eq!(decode(&[0xc0], &Type::String).unwrap(), Value::Null);
        // ext 12 with a msgpack map payload: a refined unknown.
        let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3];
        assert_eq!(decode(&refined, &Type::String).unwrap(), Value::Unknown);
        assert_eq!(
            encode(&Value::Unknown, &Type::Number).unwrap(),
            vec![0xd4, 0, 0]
        );
    }

    #[test]
    fn objects_carry_every_attribute() {
        // {"a": "x"} only
        let bytes = [0x81, 0xa1, b'a', 0xa1, b'x'];
        let v = decode(&bytes, &obj_type()).unwrap();
        assert_eq!(v.get_attr("a"), Some(&Value::string("x")));
        assert_eq!(v.get_attr("n"), Some(&Value::Null));
        assert_eq!(v.get_attr("b"), Some(&Value::Null));
        let encoded = encode(&Value::object([("a", Value::string("x"))]), &obj_type()).unwrap();
        assert_eq!(encoded[0], 0x83);
    }

    #[test]
    fn errors_name_the_path() {
        let bytes = [0x81, 0xa1, b'n', 0xa1, b'x'];
        let err = decode(&bytes, &obj_type()).unwrap_err();
        assert_eq!(err.path, AttributePath::attribute("n"));
        let bytes = [0x81, 0xa1, b'z', 0xc0];
        assert!(
            decode(&bytes, &obj_type())
                .unwrap_err()
                .message
                .contains("\"z\"")
        );
    }

    #[test]
    fn numbers() {
        let big = encode(
            &Value::Number(Number::Decimal("1e400".into())),
            &Type::Number,
        )
        .unwrap();
        assert_eq!(
            decode(&big, &Type::Number).unwrap(),
            Value::Number(Number::Decimal("1e400".into()))
        );
        assert_eq!(
            decode(
                &[0xcb, 0x40, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
                &Type::Number
            )
            .unwrap()
            .as_f64(),
            Some(2.5)
        );
        assert_eq!(
            decode(
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                &Type::Number
            )
            .unwrap(),
            Value::Number(Number::Decimal(u64::MAX.to_string()))
        );
        assert_eq!(
            encode(&Value::Number(Number::Float(2.0)), &Type::Number).unwrap(),
            vec![2]
        );
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let v = Value::List(vec![Value::string("a")]);
        let bytes = encode(&v, &Type::Dynamic).unwrap();
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), v);
    }

    #[test]
    fn hostile_lengths_fail_fast() {
        let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(&bytes, &Type::list(Type::String)).is_err());
        let bytes = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(&bytes, &Type::map(Type::String)).is_err());
        let bytes = [0xdb, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(&bytes, &Type::String).is_err());
        let deep = vec![0x91; 10_000];
        let mut ty = Type::String;
        for _ in 0..100 {
            ty = Type::list(ty);
        }
        assert!(decode(&deep, &ty).unwrap_err().message.contains("deeply"));
    }

    pub(crate) fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String)];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(Type::list),
                inner.clone().prop_map(Type::set),
                inner.clone().prop_map(Type::map),
                prop::collection::vec(inner.clone(), 0..3).prop_map(Type::Tuple),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4).prop_map(Type::object),
            ]
        })
    }

    pub(crate) fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
        let known: BoxedStrategy<Value> = match ty {
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Number => prop_oneof![
                any::<i64>().prop_map(|i| Value::Number(Number::Int(i))),
                (-1e12f64..1e12).prop_map(|f| Value::Number(Number::Float(f))),
            ]
            .boxed(),
            Type::String | Type::Dynamic => ".{0,12}".prop_map(Value::String).boxed(),
            Type::List(e) => prop::collection::vec(arb_value(e), 0..3)
                .prop_map(Value::List)
                .boxed(),
            Type::Set(e) => prop::collection::vec(arb_value(e), 0..3)
                .prop_map(Value::Set)
                .boxed(),
            Type::Map(e) => prop::collection::btree_map("[a-z]{0,3}", arb_value(e), 0..3)
                .prop_map(Value::Map)
                .boxed(),
            Type::Tuple(types) => types
                .iter()
                .map(arb_value)
                .collect::<Vec<_>>()
                .prop_map(Value::Tuple)
                .boxed(),
            Type::Object { attributes, .. } => {
                let names: Vec<String> = attributes.keys().cloned().collect();
                attributes
                    .values()
                    .map(arb_value)
                    .collect::<Vec<_>>()
                    .prop_map(move |vals| Value::object(names.clone().into_iter().zip(vals)))
                    .boxed()
            }
        };
        prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
    }

    proptest! {
        // 256 cases unless PROPTEST_CASES says otherwise (`make fuzz` asks for 20000).
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn arbitrary_bytes_never_panic(ty in arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, &ty);
            let _ = decode(&bytes, &Type::Dynamic);
        }

        #[test]
        fn encode_decode_round_trips((ty, v) in arb_type().prop_flat_map(|t| { let s = arb_value(&t); (Just(t), s) })) {
            let bytes = encode(&v, &ty).unwrap();
            prop_assert_eq!(decode(&bytes, &ty).unwrap(), v);
        }

        #[test]
        fn decoded_objects_carry_every_attribute(ty in arb_type(), keep in any::<u8>()) {
            if let Type::Object { attributes, .. } = &ty {
                // Encode a partial object: only some attributes present, as null.
                let present: Vec<&String> = attributes.keys().enumerate().filter(|(i, _)| keep & (1 << (i % 8)) != 0).map(|(_, k)| k).collect();
                let mut bytes = Vec::new();
                write_map_len(&mut bytes, present.len());
                for k in &present { write_str(&mut bytes, k.as_bytes()); bytes.push(0xc0); }
                let v = decode(&bytes, &ty).unwrap();
                for name in attributes.keys() { prop_assert!(v.get_attr(name).is_some()); }
            }
        }
    }
}
