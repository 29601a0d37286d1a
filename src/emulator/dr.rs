//! `GET /v3/{project_id}/instances/disaster-recovery-relation`: the configured
//! disaster-recovery relations (`dr_relations`), in the API's shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::api::project_mismatch;

pub async fn dr_relations(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let config = &world.config;
    let peer = |id: &str| {
        json!({"instance_id": id, "region": config.region, "project_id": config.project_id,
               "project_name": config.region})
    };
    let relations: Vec<_> = config
        .dr_relations
        .iter()
        .map(|r| {
            json!({"instance_id": r.instance_id,
                   "master_instance": peer(&r.master_instance_id),
                   "slave_instances": r.slave_instance_ids.iter().map(|id| peer(id)).collect::<Vec<_>>()})
        })
        .collect();
    Json(json!({"instance_dr_relations": relations})).into_response()
}
