//! A self-contained model of Terraform's cty values: types, values with null and
//! unknown, attribute paths, and the msgpack / JSON wire codecs.
//!
//! Depends on nothing else in this crate; the protocol layer converts between these
//! values and tfplugin6 messages.

pub mod json;
pub mod msgpack;
mod path;
mod types;
mod value;

pub use path::{AttributePath, PathStep};
pub use types::Type;
pub use value::{Number, Value};

/// Why bytes could not be decoded as a value of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Where in the value the problem was found.
    pub path: AttributePath,
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_at(f, &self.path, &self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Why a value could not be encoded as the given type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub path: AttributePath,
    pub message: String,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_at(f, &self.path, &self.message)
    }
}

/// `path: message`, or just the message at the root.
fn write_at(
    f: &mut std::fmt::Formatter<'_>,
    path: &AttributePath,
    message: &str,
) -> std::fmt::Result {
    if path.is_empty() {
        write!(f, "{message}")
    } else {
        write!(f, "{path}: {message}")
    }
}

impl std::error::Error for EncodeError {}
