//! cty values: known, null or unknown, of any type.

use std::collections::BTreeMap;

/// A cty number. Integers that fit `i64` stay exact; others are `f64` when exact,
/// otherwise kept as the decimal string Terraform sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    Decimal(String),
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
}
