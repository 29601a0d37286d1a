//! The types the targets decode with, picked by the input's first byte: the primitive
//! ones, dynamic, collections, and objects shaped like the provider's own schemas.

use hwrds::cty::Type;

pub fn pick(selector: u8) -> Type {
    let object = Type::object([
        ("instance_id", Type::String),
        ("is_delayed", Type::Bool),
        ("nodes", Type::list(Type::object([("role", Type::String)]))),
        ("timeouts", Type::Dynamic),
    ]);
    let all = [
        Type::Bool,
        Type::Number,
        Type::String,
        Type::Dynamic,
        Type::list(Type::String),
        Type::set(Type::Number),
        Type::map(Type::Dynamic),
        Type::Tuple(vec![Type::String, Type::Number, Type::Dynamic]),
        object.clone(),
        Type::list(object),
    ];
    all[selector as usize % all.len()].clone()
}
