//! cty msgpack codec (being built).

use super::{DecodeError, EncodeError, Type, Value};

/// Decodes Terraform's msgpack encoding of a value of type `ty`.
pub fn decode(_bytes: &[u8], _ty: &Type) -> Result<Value, DecodeError> {
    Err(DecodeError {
        path: Default::default(),
        message: "msgpack decoding is being built".into(),
    })
}

/// Encodes `value` as Terraform's msgpack encoding for type `ty`.
pub fn encode(_value: &Value, _ty: &Type) -> Result<Vec<u8>, EncodeError> {
    Err(EncodeError {
        path: Default::default(),
        message: "msgpack encoding is being built".into(),
    })
}
