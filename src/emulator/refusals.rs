//! The opt-in refusals of the upgrade API (`upgrade_refusals` of an instance): the next
//! upgrade request that passes the checks is answered with the first one, in the body
//! shape it names, and no job starts.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::World;

/// The refusal that answers this upgrade request of `instance_id`, taken from the
/// instance's list, if one is left.
pub fn take(world: &mut World, instance_id: &str) -> Option<Response> {
    let spec = &mut world.instances.get_mut(instance_id)?.spec;
    if spec.upgrade_refusals.is_empty() {
        return None;
    }
    let refusal = spec.upgrade_refusals.remove(0);
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = if refusal.err_code_shape {
        json!({"errCode": refusal.code, "externalMessage": refusal.message})
    } else {
        json!({"error_code": refusal.code, "error_msg": refusal.message})
    };
    Some((status, Json(body)).into_response())
}
