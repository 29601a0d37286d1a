//! The identity of an `hwrds_db_minor_upgrade` (Terraform 1.12+): the instance and its
//! upgrade job (null for a record `UpToDate`, which has none). It is what `import` blocks
//! may give instead of an id string and what `terraform query` reports for each upgrade
//! found; it never changes for an upgrade (a new attempt is a new object, with a new
//! job).

use crate::cty::{Type, Value};
use crate::tfplugin::{Diagnostic, Diagnostics, IdentityAttribute, IdentitySchema};
use crate::upgrade::job::JobStatus;

pub fn schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![
            IdentityAttribute {
                name: "instance_id".into(),
                ty: Type::String,
                description: "Id of the RDS instance.".into(),
                required_for_import: true,
                optional_for_import: false,
            },
            IdentityAttribute {
                name: "job_id".into(),
                ty: Type::String,
                description: "Id of the upgrade job; on import, the instance's most recent upgrade job when left out.".into(),
                required_for_import: false,
                optional_for_import: true,
            },
        ],
    }
}

/// The identity of a state, once its job is known (a state moved from the official
/// provider has none until the first refresh adopts a job), or of a record `UpToDate`
/// (the instance and a null job: nothing was submitted).
pub fn of_state(state: &Value) -> Option<Value> {
    let instance_id = state.attr_string("instance_id").filter(|s| !s.is_empty())?;
    if state.attr_string("status").as_deref() == Some(JobStatus::UpToDate.as_str()) {
        return Some(Value::object([
            ("instance_id", Value::string(&instance_id)),
            ("job_id", Value::Null),
        ]));
    }
    let job_id = state.attr_string("job_id").filter(|s| !s.is_empty())?;
    Some(value(&instance_id, &job_id))
}

pub fn value(instance_id: &str, job_id: &str) -> Value {
    Value::object([
        ("instance_id", Value::string(instance_id)),
        ("job_id", Value::string(job_id)),
    ])
}

/// The import id string an identity stands for: `<instance_id>/<job_id>`, or
/// `<instance_id>` when the job is left out.
pub fn import_id(identity: &Value) -> Result<String, Diagnostics> {
    let instance_id = identity
        .attr_string("instance_id")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import identity",
                "The identity needs instance_id (and may give job_id): identity = { instance_id = \"…\", job_id = \"…\" }.",
            ))
        })?;
    Ok(match identity.attr_string("job_id") {
        Some(job) => format!("{instance_id}/{job}"),
        None => instance_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_needs_both_ids() {
        let state =
            |job: Value| Value::object([("instance_id", Value::string("i-1")), ("job_id", job)]);
        assert_eq!(
            of_state(&state(Value::string("j-1"))),
            Some(value("i-1", "j-1"))
        );
        assert_eq!(of_state(&state(Value::Null)), None);
        assert_eq!(of_state(&state(Value::string(""))), None);
        let up_to_date = Value::object([
            ("instance_id", Value::string("i-1")),
            ("job_id", Value::Null),
            ("status", Value::string("UpToDate")),
        ]);
        let identity = of_state(&up_to_date).expect("the instance, no job");
        assert_eq!(identity.attr_string("instance_id").as_deref(), Some("i-1"));
        assert_eq!(identity.get_attr("job_id"), Some(&Value::Null));
    }

    #[test]
    fn import_ids_follow_the_string_form() {
        assert_eq!(
            import_id(&value("i-1", "j-1")).ok().as_deref(),
            Some("i-1/j-1")
        );
        let no_job = Value::object([
            ("instance_id", Value::string("i-1")),
            ("job_id", Value::Null),
        ]);
        assert_eq!(import_id(&no_job).ok().as_deref(), Some("i-1"));
        let no_instance =
            Value::object([("instance_id", Value::Null), ("job_id", Value::string("j"))]);
        assert!(import_id(&no_instance).is_err());
    }
}
