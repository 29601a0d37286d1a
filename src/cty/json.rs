//! cty JSON codec for values (RawState) and types (schema `type` bytes) (being built).

use super::{DecodeError, Type, Value};

/// Decodes a JSON value (as in `RawState.json`) of type `ty`.
pub fn decode(_bytes: &[u8], _ty: &Type) -> Result<Value, DecodeError> {
    Err(DecodeError {
        path: Default::default(),
        message: "JSON decoding is being built".into(),
    })
}

/// The JSON form of a type, as in a schema attribute's `type` field (`"string"`,
/// `["map","string"]`, `["object",{"a":"string"}]`).
pub fn encode_type(_ty: &Type) -> Vec<u8> {
    Vec::new()
}

/// Parses the JSON form of a type.
pub fn decode_type(_bytes: &[u8]) -> Result<Type, DecodeError> {
    Err(DecodeError {
        path: Default::default(),
        message: "type decoding is being built".into(),
    })
}
