//! The identity of an `hwrds_db_minor_upgrade` (Terraform 1.12+): the instance whose
//! minor upgrades the resource manages. It is what `import` blocks may give instead of an
//! id string (the instance's most recent upgrade job is imported) and what
//! `terraform query` reports for each instance found; it never changes for a resource,
//! whose upgrades follow one another in place (each a new job).
//!
//! Version 0 (written by earlier versions, when a new upgrade replaced the resource) also
//! held the job; [`upgraded`] drops it.

use crate::cty::{Type, Value};
use crate::tfplugin::{Diagnostic, Diagnostics, IdentityAttribute, IdentitySchema};

/// The identity schema's version: 1 since upgrades happen in place.
const VERSION: i64 = 1;

pub fn schema() -> IdentitySchema {
    IdentitySchema {
        version: VERSION,
        attributes: vec![IdentityAttribute {
            name: "instance_id".into(),
            ty: Type::String,
            description: "Id of the RDS instance; on import, its most recent upgrade job is imported (to import another job, import by the id string `<instance_id>/<job_id>`).".into(),
            required_for_import: true,
            optional_for_import: false,
        }],
    }
}

/// The identity of a state: its instance.
pub fn of_state(state: &Value) -> Option<Value> {
    let instance_id = state.attr_string("instance_id").filter(|s| !s.is_empty())?;
    Some(value(&instance_id))
}

pub fn value(instance_id: &str) -> Value {
    Value::object([("instance_id", Value::string(instance_id))])
}

/// A stored identity of `version` (JSON) in today's schema: version 0's `job_id` is
/// dropped (the state keeps the job).
pub fn upgraded(version: i64, json: &[u8]) -> Result<Value, Diagnostics> {
    let unreadable = |e: String| {
        Diagnostics::from(Diagnostic::error(
            "Stored identity could not be read",
            format!("The stored identity (version {version}) of this upgrade is not valid: {e}"),
        ))
    };
    if version > VERSION {
        return Err(unreadable(format!(
            "it was written by a newer version of the provider (identity version {version}, this one knows {VERSION})"
        )));
    }
    let stored: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| unreadable(e.to_string()))?;
    let instance_id = stored
        .get("instance_id")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unreadable("it has no instance_id".into()))?;
    Ok(value(instance_id))
}

/// The import id string an identity stands for: `<instance_id>` (its most recent
/// upgrade job).
pub fn import_id(identity: &Value) -> Result<String, Diagnostics> {
    identity
        .attr_string("instance_id")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import identity",
                "The identity needs instance_id: identity = { instance_id = \"…\" }.",
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_instance_whatever_the_job() {
        let state =
            |job: Value| Value::object([("instance_id", Value::string("i-1")), ("job_id", job)]);
        assert_eq!(of_state(&state(Value::string("j-1"))), Some(value("i-1")));
        assert_eq!(of_state(&state(Value::string("j-2"))), Some(value("i-1")));
        assert_eq!(of_state(&state(Value::Null)), Some(value("i-1")));
        let no_instance = Value::object([("instance_id", Value::string(""))]);
        assert_eq!(of_state(&no_instance), None);
    }

    #[test]
    fn version_0_identities_lose_their_job() {
        let v0 = br#"{"instance_id":"i-1","job_id":"j-1"}"#;
        assert_eq!(upgraded(0, v0).ok(), Some(value("i-1")));
        let up_to_date = br#"{"instance_id":"i-1","job_id":null}"#;
        assert_eq!(upgraded(0, up_to_date).ok(), Some(value("i-1")));
        assert_eq!(
            upgraded(1, br#"{"instance_id":"i-1"}"#).ok(),
            Some(value("i-1"))
        );
        assert!(upgraded(0, br#"{"job_id":"j-1"}"#).is_err());
        assert!(upgraded(0, b"not json").is_err());
        assert!(upgraded(2, br#"{"instance_id":"i-1"}"#).is_err());
    }

    #[test]
    fn import_ids_follow_the_string_form() {
        assert_eq!(import_id(&value("i-1")).ok().as_deref(), Some("i-1"));
        let no_instance = Value::object([("instance_id", Value::Null)]);
        assert!(import_id(&no_instance).is_err());
    }
}
