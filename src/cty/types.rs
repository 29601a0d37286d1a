//! cty types and their JSON form (the bytes of a schema attribute's `type`).

use std::collections::BTreeMap;

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
}
