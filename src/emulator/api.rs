//! The RDS and IAM routes the provider uses, with the real API's paths, query
//! parameters, JSON shapes and error bodies.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use super::Shared;
use super::state::{Instance, Job, Phase, World, huawei_time, now, numeric_version};

/// A refusal with a Huawei-style body, as a small value until it becomes a response.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.code, &self.message)
    }
}

/// A Huawei-style error response.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": code, "error_msg": message})),
    )
        .into_response()
}

pub(super) fn project_mismatch(world: &World, project_id: &str) -> Option<Response> {
    (project_id != world.config.project_id).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "APIGW.0310",
            "The project is unavailable or does not belong to these credentials.",
        )
    })
}

type Params = Query<Vec<(String, String)>>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn paging(params: &Params, max: usize) -> Result<(usize, usize), ApiError> {
    let parse = |name: &str, default: usize| -> Result<usize, ApiError> {
        match param(params, name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "DBS.280001",
                    format!("Invalid parameter {name}: {v}"),
                )
            }),
        }
    };
    let offset = parse("offset", 0)?;
    let limit = parse("limit", max)?;
    if limit == 0 || limit > max {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DBS.280001",
            format!("Invalid parameter limit: must be 1 to {max}"),
        ));
    }
    Ok((offset, limit))
}

pub async fn iam_projects(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    let world = shared.lock();
    let wanted = param(&params, "name");
    let projects: Vec<Json_> = (wanted.is_none_or(|n| n == world.config.region))
        .then(|| {
            json!({"id": world.config.project_id, "name": world.config.region,
                   "enabled": true, "domain_id": "9b0f5e5b36e94d5a9b0e2a3c4d5e6f70",
                   "is_domain": false, "parent_id": "9b0f5e5b36e94d5a9b0e2a3c4d5e6f70",
                   "description": ""})
        })
        .into_iter()
        .collect();
    Json(json!({"projects": projects, "links": {"self": "/v3/projects"}})).into_response()
}

fn instance_json(world: &World, instance: &Instance, at: f64) -> Json_ {
    let spec = &instance.spec;
    let (status, nodes) = world.instance_view(instance, at);
    let related: Vec<Json_> = match &spec.primary_id {
        Some(primary) => vec![json!({"id": primary, "type": "replica_of"})],
        None => world
            .instances
            .values()
            .filter(|i| i.spec.primary_id.as_deref() == Some(spec.id.as_str()))
            .map(|i| json!({"id": i.spec.id, "type": "replica"}))
            .collect(),
    };
    let has_complete = !spec.complete_version.is_empty();
    json!({
        "id": spec.id,
        "name": spec.name,
        "status": status,
        "type": spec.instance_type,
        "datastore": {
            "type": spec.engine,
            "version": spec.version,
            "complete_version": if has_complete { Json_::from(spec.complete_version.clone()) } else { Json_::Null },
        },
        "nodes": nodes,
        "related_instance": related,
        "ha": if spec.instance_type.eq_ignore_ascii_case("ha") { json!({"replication_mode": "semisync"}) } else { Json_::Null },
        "maintenance_window": spec.maintenance_window,
        "region": world.config.region,
        "port": if spec.engine.eq_ignore_ascii_case("postgresql") { 5432 } else { 3306 },
        "private_ips": ["192.168.0.10"],
        "public_ips": [],
        "enable_ssl": false,
        "created": huawei_time(instance.created),
        "updated": huawei_time(instance.updated),
        "db_user_name": "root",
        "switch_strategy": "reliability",
        "time_zone": "UTC",
        "enterprise_project_id": spec.enterprise_project_id,
        "tags": [],
    })
}

pub async fn list_instances(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    params: Params,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let (offset, limit) = match paging(&params, 100) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let at = now();
    let id = param(&params, "id");
    let name = param(&params, "name");
    let ty = param(&params, "type");
    let engine = param(&params, "datastore_type");
    let eps = param(&params, "eps_id");
    let matching: Vec<&Instance> = world
        .instances
        .values()
        .filter(|i| id.is_none_or(|v| i.spec.id == v))
        .filter(|i| name.is_none_or(|v| i.spec.name.contains(v)))
        .filter(|i| ty.is_none_or(|v| i.spec.instance_type.eq_ignore_ascii_case(v)))
        .filter(|i| engine.is_none_or(|v| i.spec.engine.eq_ignore_ascii_case(v)))
        .filter(|i| eps.is_none_or(|v| i.spec.enterprise_project_id == v))
        .collect();
    let page: Vec<Json_> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| instance_json(&world, i, at))
        .collect();
    Json(json!({"instances": page, "total_count": matching.len()})).into_response()
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Result<(), ApiError> {
    Err(ApiError::new(status, code, message))
}

/// The seed's constraints, checked as the real API does before it starts a job.
fn check_upgrade(
    world: &World,
    instance: &Instance,
    delayed: bool,
    at: f64,
) -> Result<(), ApiError> {
    let spec = &instance.spec;
    let is_pg = spec.engine.eq_ignore_ascii_case("postgresql");
    if !is_pg && !spec.engine.eq_ignore_ascii_case("mysql") {
        return refuse(
            StatusCode::FORBIDDEN,
            "DBS.280343",
            format!(
                "The DB engine {} does not support minor version upgrades.",
                spec.engine
            ),
        );
    }
    if spec.instance_type.eq_ignore_ascii_case("replica") && !spec.replica_upgradable {
        return refuse(
            StatusCode::BAD_REQUEST,
            "DBS.200023",
            "Read replicas cannot be upgraded separately; upgrade the primary instance.".into(),
        );
    }
    if world.active_job(&spec.id, at).is_some() {
        return refuse(
            StatusCode::CONFLICT,
            "DBS.200019",
            "Another operation is being performed on the DB instance or the DB instance is faulty."
                .into(),
        );
    }
    if !spec.status.eq_ignore_ascii_case("active") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "DBS.201014",
            format!(
                "The DB instance status {} does not allow this operation.",
                spec.status
            ),
        );
    }
    if is_pg {
        if instance
            .nodes
            .iter()
            .any(|n| !n.status.eq_ignore_ascii_case("active"))
        {
            return refuse(
                StatusCode::BAD_REQUEST,
                "DBS.201014",
                "The DB instance has an abnormal node and cannot be upgraded.".into(),
            );
        }
        let mut parts = spec
            .complete_version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        if parts.next() == Some(11) && parts.next().unwrap_or(0) < 2 {
            return refuse(
                StatusCode::FORBIDDEN,
                "DBS.280343",
                "PostgreSQL 11 instances earlier than 11.2 cannot be upgraded.".into(),
            );
        }
        if delayed {
            return refuse(
                StatusCode::BAD_REQUEST,
                "DBS.280343",
                "PostgreSQL minor version upgrades cannot be delayed to the maintenance window."
                    .into(),
            );
        }
    }
    Ok(())
}

pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Path((project_id, instance_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let mut world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    *world
        .stats
        .upgrade_posts
        .entry(instance_id.clone())
        .or_default() += 1;
    let request: Json_ = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "DBS.280001",
                    "The request body is not valid JSON.",
                );
            }
        }
    };
    let flag = |name: &str, default: bool| match request.get(name) {
        None | Some(Json_::Null) => Ok(default),
        Some(Json_::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DBS.280001",
            format!("Invalid parameter {name}: must be a boolean."),
        )),
    };
    let (delayed, second_switch) = match (flag("is_delayed", false), flag("second_switch", true)) {
        (Ok(d), Ok(s)) => (d, s),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let at = now();
    let Some(instance) = world.instances.get(&instance_id) else {
        return error(
            StatusCode::NOT_FOUND,
            "DBS.200002",
            "The DB instance does not exist.",
        );
    };
    if let Err(r) = check_upgrade(&world, instance, delayed, at) {
        return r.into_response();
    }
    if let Some(refused) = super::refusals::take(&mut world, &instance_id) {
        drop(world);
        shared.save();
        return refused;
    }
    let instance = &world.instances[&instance_id];
    let duration = instance
        .spec
        .job_seconds
        .unwrap_or(world.config.job_seconds)
        .max(0.0);
    let job = Job {
        id: new_job_id(),
        instance_id: instance_id.clone(),
        instance_name: instance.spec.name.clone(),
        submitted_at: at,
        starts_at: if delayed {
            at + world.config.window_opens_after_seconds
        } else {
            at
        },
        duration: duration.max(0.001),
        second_switch,
        delayed,
        fail: instance.spec.fail_upgrade,
        queryable: instance.spec.job_queryable,
        settled: false,
        ended_at: None,
        target_version: world.latest_for(&instance.spec),
    };
    let job_id = job.id.clone();
    world.jobs.insert(job_id.clone(), job);
    *world.stats.upgrade_jobs.entry(instance_id).or_default() += 1;
    drop(world);
    shared.save();
    (StatusCode::OK, Json(json!({"job_id": job_id}))).into_response()
}

fn new_job_id() -> String {
    let hex = super::random_hex_id();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn job_status(job: &Job, at: f64) -> (&'static str, String) {
    match job.phase(at) {
        Phase::Scheduled => ("Pending", String::new()),
        Phase::Running(p) => ("Running", format!("{}%", (p * 100.0) as u32)),
        Phase::Completed => ("Completed", String::new()),
        Phase::Failed => ("Failed", String::new()),
    }
}

fn job_json(job: &Job, at: f64) -> Json_ {
    let (status, process) = job_status(job, at);
    let failed = status == "Failed";
    json!({
        "id": job.id,
        "name": "UpgradeMinorVersion",
        "status": status,
        "created": huawei_time(job.submitted_at),
        "ended": job.ended_at.or_else(|| matches!(job.phase(at), Phase::Completed | Phase::Failed).then_some(job.starts_at + job.duration)).map(huawei_time),
        "process": process,
        "instance": {"id": job.instance_id, "name": job.instance_name},
        "entities": {},
        "fail_reason": if failed { Json_::from(job.fail_reason()) } else { Json_::Null },
    })
}

pub async fn show_job(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    params: Params,
) -> Response {
    let mut world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let at = now();
    let Some(id) = param(&params, "id") else {
        return error(
            StatusCode::BAD_REQUEST,
            "DBS.280001",
            "Parameter id is required.",
        );
    };
    let visible = world
        .jobs
        .get(id)
        .filter(|j| j.queryable && world.is_visible(j, at) && j.phase(at) != Phase::Scheduled);
    match visible.cloned() {
        Some(job) => {
            world.stats.noticed(&job, at);
            Json(json!({"job": job_json(&job, at)})).into_response()
        }
        None => error(
            StatusCode::BAD_REQUEST,
            "DBS.200543",
            "The job does not exist.",
        ),
    }
}

fn task_json(world: &World, job: &Job, at: f64) -> Json_ {
    let (status, process) = job_status(job, at);
    let instance_status = world
        .instances
        .get(&job.instance_id)
        .map(|i| world.instance_view(i, at).0)
        .unwrap_or_default();
    json!({
        "id": job.id,
        "name": "UpgradeMinorVersion",
        "instance_id": job.instance_id,
        "instance_name": job.instance_name,
        "instance_status": instance_status,
        "process": process,
        "fail_reason": if status == "Failed" { Json_::from(job.fail_reason()) } else { Json_::Null },
        "create_time": huawei_time(job.submitted_at),
        "end_time": job.ended_at.map(huawei_time),
        "status": status,
    })
}

/// The task center's creation-time window: `start_time` and `end_time` are UNIX times
/// in milliseconds (UTC) and go together; absent, every task matches.
fn creation_window(params: &Params) -> Result<Option<(u64, u64)>, ApiError> {
    let millis = |name: &str, value: &str| -> Result<u64, ApiError> {
        value.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "DBS.280001",
                format!(
                    "Invalid parameter {name}: {value} is not a UNIX timestamp in milliseconds."
                ),
            )
        })
    };
    match (param(params, "start_time"), param(params, "end_time")) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => Ok(Some((
            millis("start_time", start)?,
            millis("end_time", end)?,
        ))),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DBS.280001",
            "Invalid parameter: start_time and end_time must be specified together.",
        )),
    }
}

/// A job's creation time in whole milliseconds, as the task center's window compares it.
fn created_millis(job: &Job) -> u64 {
    (job.submitted_at * 1000.0).floor() as u64
}

pub async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    params: Params,
) -> Response {
    let mut world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let (offset, limit) = match paging(&params, 50) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let window = match creation_window(&params) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let at = now();
    let id = param(&params, "id");
    let instance = param(&params, "instance_id");
    let status = param(&params, "status");
    let name = param(&params, "name");
    // Newest first; jobs created at the same moment keep the order of their ids, so
    // pages by offset over a window that has closed never move.
    let mut jobs: Vec<&Job> = world
        .jobs
        .values()
        .filter(|j| j.phase(at) != Phase::Scheduled && world.is_visible(j, at))
        .filter(|j| window.is_none_or(|(start, end)| (start..=end).contains(&created_millis(j))))
        .filter(|j| id.is_none_or(|v| j.id == v))
        .filter(|j| instance.is_none_or(|v| j.instance_id == v))
        .filter(|j| status.is_none_or(|v| job_status(j, at).0 == v))
        .filter(|_| name.is_none_or(|v| v == "UpgradeMinorVersion"))
        .collect();
    jobs.sort_by(|a, b| b.submitted_at.total_cmp(&a.submitted_at));
    let total = jobs.len();
    let shown: Vec<Job> = jobs.into_iter().skip(offset).take(limit).cloned().collect();
    let tasks: Vec<Json_> = shown.iter().map(|j| task_json(&world, j, at)).collect();
    for job in &shown {
        world.stats.noticed(job, at);
    }
    Json(json!({"total_count": total, "actions": ["UpgradeMinorVersion"], "tasks": tasks}))
        .into_response()
}

pub async fn task_detail(
    State(shared): State<Arc<Shared>>,
    Path((project_id, instance_id)): Path<(String, String)>,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let at = now();
    let jobs: Vec<Json_> = world
        .jobs
        .values()
        .filter(|j| {
            j.instance_id == instance_id
                && j.phase(at) != Phase::Scheduled
                && world.is_visible(j, at)
        })
        .map(|j| job_json(j, at))
        .collect();
    Json(json!({"count": jobs.len(), "jobs": jobs})).into_response()
}

pub async fn schedule_tasks(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    params: Params,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let at = now();
    let instance = param(&params, "instance_id");
    let tasks: Vec<Json_> = world
        .jobs
        .values()
        .filter(|j| j.delayed && instance.is_none_or(|v| j.instance_id == v))
        .map(|j| {
            let (status, _) = job_status(j, at);
            json!({"id": j.id, "name": "UpgradeMinorVersion", "instance_id": j.instance_id,
                   "instance_name": j.instance_name, "instance_status": "ACTIVE",
                   "project_id": world.config.project_id,
                   "create_time": huawei_time(j.submitted_at), "start_time": huawei_time(j.starts_at),
                   "end_time": huawei_time(j.starts_at + j.duration), "order": 0, "status": status})
        })
        .collect();
    Json(json!({"schedule_tasks": tasks, "total_count": tasks.len()})).into_response()
}

fn engine_versions<'a>(world: &'a World, engine: &str) -> impl Iterator<Item = &'a Instance> + 'a {
    let engine = engine.to_ascii_lowercase();
    world
        .instances
        .values()
        .filter(move |i| i.spec.engine.to_ascii_lowercase() == engine)
}

pub async fn datastores(
    State(shared): State<Arc<Shared>>,
    Path((project_id, database)): Path<(String, String)>,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    let mysql = database.eq_ignore_ascii_case("mysql");
    let mut names: Vec<String> = engine_versions(&world, &database)
        .flat_map(|i| {
            let mut v = vec![i.spec.version.clone()];
            if mysql && !i.spec.latest_version.is_empty() {
                v.push(i.spec.latest_version.clone());
            }
            v
        })
        .chain(
            world
                .released_versions(&database)
                .filter(|_| mysql)
                .map(str::to_string),
        )
        .collect();
    names.sort();
    names.dedup();
    let stores: Vec<Json_> = names
        .iter()
        .map(|n| json!({"id": format!("{:x}", fastrand::u64(..)), "name": n}))
        .collect();
    Json(json!({"dataStores": stores})).into_response()
}

pub async fn small_versions(
    State(shared): State<Arc<Shared>>,
    Path((project_id, database)): Path<(String, String)>,
    params: Params,
) -> Response {
    let world = shared.lock();
    if let Some(r) = project_mismatch(&world, &project_id) {
        return r;
    }
    if !database.eq_ignore_ascii_case("postgresql") {
        return error(
            StatusCode::BAD_REQUEST,
            "DBS.280343",
            "Minor versions are listed for PostgreSQL only.",
        );
    }
    let wanted = param(&params, "version").unwrap_or_default();
    let major = wanted.split('.').next().unwrap_or_default().to_string();
    let mut names: Vec<String> = engine_versions(&world, &database)
        .filter(|i| i.spec.version.split('.').next() == Some(major.as_str()))
        .flat_map(|i| {
            [
                i.spec.complete_version.clone(),
                i.spec.latest_version.clone(),
            ]
        })
        .chain(
            world
                .released_versions(&database)
                .filter(|v| v.split('.').next() == Some(major.as_str()))
                .map(str::to_string),
        )
        .filter(|v| !v.is_empty())
        .collect();
    names.sort();
    names.dedup();
    let latest = names.iter().max_by_key(|n| numeric_version(n)).cloned();
    let stores: Vec<Json_> = names
        .iter()
        .map(|n| json!({"id": format!("{:x}", fastrand::u64(..)), "name": n, "favored": Some(n) == latest.as_ref()}))
        .collect();
    Json(json!({"data_stores": stores, "count": stores.len()})).into_response()
}
