//! Resource identity (Terraform 1.12+): decoding and encoding identities, and the one
//! rule the layer keeps for every RPC that carries an identity — an object's identity,
//! once known, never changes (Terraform and its users rely on it to tell objects apart,
//! in `import` blocks and `terraform query` results). The identity RPCs themselves are
//! in `server::identity`.
//!
//! Older Terraform never asks for identity schemas and ignores the identity fields of
//! the answers: nothing here changes what they see.

use std::sync::Arc;

use super::convert::{self, Payload};
use super::{Diagnostic, Diagnostics, Resource, proto};
use crate::cty::Value;

/// Decodes an identity Terraform sent (null when absent or for a type without one).
pub(super) fn decode(
    resource: &Arc<dyn Resource>,
    data: Option<&proto::ResourceIdentityData>,
) -> Result<Value, Diagnostics> {
    let (Some(schema), Some(data)) = (resource.identity_schema(), data) else {
        return Ok(Value::Null);
    };
    convert::decode(
        data.identity_data.as_ref(),
        &schema.value_type(),
        Payload::Identity,
    )
}

/// Encodes an identity for Terraform (None for null or a type without identity).
pub(super) fn encode(
    resource: &Arc<dyn Resource>,
    identity: &Value,
) -> Result<Option<proto::ResourceIdentityData>, Diagnostics> {
    let Some(schema) = resource.identity_schema() else {
        return Ok(None);
    };
    if identity.is_null() {
        return Ok(None);
    }
    let data = convert::encode(identity, &schema.value_type())?;
    Ok(Some(proto::ResourceIdentityData {
        identity_data: Some(data),
    }))
}

/// The identity of the object `state` describes, given the identity Terraform holds for
/// it (`prior`, null if none): the resource's, which must equal `prior` when both are
/// known; `prior` when the resource cannot tell yet; null for a gone object.
pub(super) fn settle(
    resource: &Arc<dyn Resource>,
    state: &Value,
    prior: &Value,
) -> (Value, Diagnostics) {
    let mut diags = Diagnostics::default();
    if state.is_null() {
        return (Value::Null, diags);
    }
    let Some(now) = resource.identity(state).filter(Value::is_wholly_known) else {
        return (prior.clone(), diags);
    };
    if !prior.is_null() && prior.is_wholly_known() && *prior != now {
        diags.push(Diagnostic::error(
            "Provider changed the identity of an object",
            format!(
                "This is a bug in the provider: the identity of this {} changed from {} to {}. An object's identity never changes.",
                resource.type_name(),
                describe(prior),
                describe(&now)
            ),
        ));
        return (prior.clone(), diags);
    }
    (now, diags)
}

/// `{instance_id = "…", job_id = "…"}` for messages.
fn describe(identity: &Value) -> String {
    match identity {
        Value::Object(attrs) => {
            let parts: Vec<String> = attrs
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k} = {s:?}"),
                    None => format!("{k} = null"),
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        _ => "null".to_string(),
    }
}
