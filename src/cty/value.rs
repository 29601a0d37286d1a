//! cty values: known, null or unknown, of any type, and accessors for typed conversion.

use std::collections::BTreeMap;

use super::Type;

/// A cty number. Integers that fit `i64` stay exact; others are `f64` when exact,
/// otherwise kept as the decimal string Terraform sent. Equality is numeric, so
/// `Int(2) == Float(2.0)`.
#[derive(Debug, Clone)]
pub enum Number {
    Int(i64),
    Float(f64),
    Decimal(String),
}

impl Number {
    /// The number as `f64` (decimals parsed, possibly losing precision).
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Decimal(s) => s.parse().unwrap_or(f64::NAN),
        }
    }

    /// The number as `i64` when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Decimal(s) => s.parse().ok(),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Decimal(a), Number::Decimal(b)) => a == b,
            _ => match (self.as_i64(), other.as_i64()) {
                (Some(a), Some(b)) => a == b,
                _ => self.as_f64() == other.as_f64(),
            },
        }
    }
}

/// A cty value. The type is carried alongside (decode/encode take a `Type`), except
/// that `Unknown` and `Null` are valid for every type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not known until apply. Refinements Terraform sends are accepted and dropped.
    Unknown,
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// Every attribute of the object's type is present (null when absent).
    Object(BTreeMap<String, Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// A known string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A known integer value.
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    /// A string value, or null for `None`.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map(|s| Value::String(s.into())).unwrap_or(Value::Null)
    }

    /// An object from (name, value) pairs.
    pub fn object<I, K>(attributes: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }

    /// The attribute `name` of an object value.
    pub fn get_attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(attrs) => attrs.get(name),
            _ => None,
        }
    }

    /// The known string attribute `name` of an object value.
    pub fn attr_string(&self, name: &str) -> Option<String> {
        self.get_attr(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The known bool attribute `name` of an object value.
    pub fn attr_bool(&self, name: &str) -> Option<bool> {
        self.get_attr(name).and_then(Value::as_bool)
    }

    /// Mutable access to the attribute `name` of an object value.
    pub fn get_attr_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(attrs) => attrs.get_mut(name),
            _ => None,
        }
    }

    /// Sets attribute `name` of an object value (no effect on other values).
    pub fn set_attr(&mut self, name: &str, value: Value) {
        if let Value::Object(attrs) = self {
            attrs.insert(name.to_string(), value);
        }
    }

    /// Elements of a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// True when no part of the value is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// The type a known value most plausibly has (used to encode values of dynamic
    /// type): lists, sets and maps take their first element's type.
    pub fn infer_type(&self) -> Type {
        fn first<'a>(mut values: impl Iterator<Item = &'a Value>) -> Type {
            values
                .find(|v| !v.is_null() && !v.is_unknown())
                .map(Value::infer_type)
                .unwrap_or(Type::Dynamic)
        }
        match self {
            Value::Unknown | Value::Null => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::list(first(v.iter())),
            Value::Set(v) => Type::set(first(v.iter())),
            Value::Map(m) => Type::map(first(m.values())),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
            Value::Object(m) => Type::object(m.iter().map(|(k, v)| (k.clone(), v.infer_type()))),
        }
    }

    /// A null-filled value of an object type (every attribute present and null).
    pub fn null_object(ty: &Type) -> Value {
        match ty {
            Type::Object { attributes, .. } => Value::Object(
                attributes
                    .keys()
                    .map(|k| (k.clone(), Value::Null))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(Number::Int(2), Number::Float(2.0));
        assert_ne!(Number::Int(2), Number::Float(2.5));
        assert_eq!(Number::Decimal("3".into()), Number::Int(3));
    }

    #[test]
    fn wholly_known_looks_inside() {
        let v = Value::object([("a", Value::List(vec![Value::Unknown]))]);
        assert!(!v.is_wholly_known());
        assert!(Value::object([("a", Value::Null)]).is_wholly_known());
    }
}
