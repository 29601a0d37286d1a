//! hwrds-emulator: a real HTTP server that behaves like the Huawei Cloud RDS API (and the
//! IAM project lookup) closely enough for the provider, its tests, the quickstart and
//! users' CI to run without a cloud account. It verifies AK/SK signatures exactly as the
//! cloud does (with the same signer code the client uses), runs upgrade jobs with
//! realistic phases, injects faults on request, and can persist its state.
//!
//! Known differences from the real API (chosen, documented):
//! - Job progress is linear in time; HA switchover happens at 50 %.
//! - An instance with a running upgrade reports status `MODIFYING` and the node being
//!   upgraded `UPGRADING` (the real API documents no upgrade-specific status).
//! - Refusals for read replicas use `DBS.200023` (the real code is undocumented);
//!   `replica_upgradable` makes the API upgrade a replica alone instead.
//! - The minor versions `/datastores` (MySQL) and `/small-version` (PostgreSQL) list are
//!   the configured instances' versions and `latest_version`s, plus those released at
//!   run time (`POST /__emulator/versions`, `{"engine": "MySQL", "version": "8.0.33"}`);
//!   an upgrade installs the latest of its instance's engine and major version when it is
//!   submitted: the instance's `latest_version`, or a newer release. A delayed upgrade's job is unknown to `/jobs` until the
//!   maintenance window opens (`window_opens_after_seconds` after submission) and shows in
//!   `/schedule-tasks` meanwhile.
//! - Job and task names are `UpgradeMinorVersion`; times are UTC (`+0000`).
//! - `clock_skew_seconds` offsets only the clock the signature check uses (a request
//!   whose `X-Sdk-Date` is more than 15 minutes from it is `APIGW.0303`); the times the
//!   emulator reports and its jobs' timing follow the real clock.
//! - The task center (`GET /tasklist`) filters by `id`, `instance_id`, `status`, `name`
//!   and the creation-time window `start_time`/`end_time` (UNIX milliseconds, UTC, both
//!   or neither, inclusive); its `limit` defaults to 50, where the real API's is 10.
//! - A policy denial (`extra_credentials[].deny`) is HTTP 403 `DBS.200010` (`"Policy
//!   doesn't allow <action> to be performed."`): the real code of a denial is
//!   undocumented. Only the upgrade (`rds:instance:upgradeDatabaseVersion`) and the
//!   instance listing (`rds:instance:list`) can be denied.
//! - A user scoped to an enterprise project (`extra_credentials[].enterprise_project_id`,
//!   as a policy with the condition `g:EnterpriseProjectId` scopes it) is refused with the
//!   same 403 `DBS.200010` when an instance listing does not name its project (`eps_id`)
//!   or an upgrade is of another project's instance; other APIs are not scoped.
//! - Refusals such as a running backup or full storage come only from an instance's
//!   `upgrade_refusals`, one per upgrade request, not from its state.
//! - IAM (`iam.rs`) checks an OIDC id token's `iss` and `exp` only: its signature is not
//!   verified against the identity provider's keys, and no `aud` or identity conversion
//!   rule is applied. Temporary credentials of any flow act as the main user (its
//!   permissions and flow-control quota); an agency's own policy is not modelled. The
//!   STS v5 `POST /v5/agencies/assume` is not served. The `token` method of
//!   `securitytokens` needs no signature (the IAM token in the body authenticates it).
//!   What IAM issued is not kept in the state file: a restarted emulator knows none of it.
//! - The lock after more than five bad signatures in a row lasts `signature_lock_seconds`
//!   (300 by default, as the gateway's five minutes) and answers `APIGW.0301` "AK access
//!   failed to reach the limit,forbidden".
//!
//! Flow control (config key `flow_control`; see `flow_control.rs` for the algorithms):
//! on by default at the documented standard policy, 60 accepted requests per user (the
//! access key that signed the request) per API (method + route template, the key of
//! `stats.requests`; `GET /v3/projects` is an API too) per 60 s, and 8000 per API over
//! all users. A refused request is not processed and not counted in `stats.requests`
//! (nor in `upgrade_posts`): it is a 429 `APIGW.0308` whose `error_msg` names the policy
//! as the gateway does (`policy user over ratelimit,limit:60,time:1 minute`, or
//! `policy api …` for the total), counted in `stats.throttled`; `stats.after_first_window`
//! counts each API's accepted and refused requests once its first window has passed (a
//! client learning the policy from 429s meets them in that window). The signature is checked
//! first; a request refused with 401 does not count against any quota, since the
//! gateway cannot know whose quota it would be. `extra_credentials` adds users.
//! `POST /__emulator/flow_control` (body: the same object as the config key, every key
//! optional, defaults as above) replaces the policy at run time with every window empty,
//! e.g. `{"enabled": false}` or `{"limit": 1, "window_seconds": 60}` for a 429 storm;
//! `POST /__emulator/reset` goes back to the configured policy with empty windows.
//! What the model knowingly leaves out:
//! - Only the documented per-user and per-API policies: no IP policy, no per-tenant or
//!   per-app quotas, no raised quota except what the config says.
//! - One algorithm for every API at a time; its bursts follow the algorithm exactly (a
//!   fixed window admits `2 × limit` across a boundary, a full token bucket `limit` at
//!   once), with no jitter and no shared state between gateway nodes.
//! - No `Retry-After` unless `retry_after: true` (the real header is undocumented); the
//!   gateway code is always `APIGW.0308`, never `APIG.0308`.
//! - Windows and run-time policy changes are not kept in the state file: a restarted
//!   emulator starts the configured policy with empty windows.
//! - The `throttle` fault below is separate: it refuses at random, whatever the quota.
//!
//! Gates (`POST /__emulator/gate`, `{"route": "<METHOD> <route template>", "hold":
//! "before" | "after" | "none"}`; see `gate.rs`) hold a route's requests before or after
//! processing until opened again; `stats.held` counts who waits at each.
//!
//! `stats.peak_running_upgrades` is the most upgrade jobs that ran at once, computed from
//! every job's run (from its start — submission, or the window opening for a delayed
//! one — to its end), not sampled.
//!
//! Faults (`POST /__emulator/faults`, `{"probability", "kinds", "seed"}`; each signed API
//! request draws one kind with that probability, after its signature was checked):
//! - `throttle`: 429 `APIGW.0308` with `Retry-After: 1` from the API's quota over all
//!   users (`policy api over ratelimit`: other tenants flood the API, which from one
//!   access key looks random), naming the route's total under flow control, else 8000
//!   per minute; not processed.
//! - `throttle_user`: the same from this user's quota (`policy user over ratelimit`:
//!   another user of the key crowded the request out), naming the route's per-user
//!   policy under flow control, else 200 per 5 minutes; not processed.
//! - `server_error`: 500 or 503 `DBS.200001`; not processed.
//! - `reset_after_processing`: processed, then the connection is closed with no answer.
//! - `latency`: processed after a 0.2–2 s delay.
//! - `html_error`: 502 with a gateway's HTML page (`text/html`); not processed.
//! - `truncated_json`, `empty_body`, `wrong_types`: processed; a successful answer keeps
//!   its status but its body is cut in half, emptied, or has every top-level field
//!   replaced by a value of another type (`"instances": "x"`, `"job_id": 12345`).
//!   Error answers pass unchanged.

mod api;
mod auth;
pub mod config;
mod dr;
pub mod flow_control;
pub mod gate;
mod iam;
mod identity;
mod refusals;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use config::{Config, InstanceSpec};
use flow_control::{FlowControl, FlowControlConfig};
use gate::{GateConfig, Gates, Hold};
use state::{Faults, Instance, Release, World};

/// The signed API routes (method, route template): the keys of `stats.requests`,
/// `stats.throttled` and `flow_control.routes`.
const API_ROUTES: [(&str, &str); 10] = [
    ("GET", IAM_PROJECTS),
    ("GET", INSTANCES),
    ("POST", DB_UPGRADE),
    ("GET", JOBS),
    ("GET", TASKLIST),
    ("GET", TASKLIST_DETAIL),
    ("GET", SCHEDULE_TASKS),
    ("GET", DATASTORES),
    ("GET", SMALL_VERSIONS),
    ("GET", DR_RELATIONS),
];
const IAM_PROJECTS: &str = "/v3/projects";
const INSTANCES: &str = "/v3/{project_id}/instances";
const DB_UPGRADE: &str = "/v3/{project_id}/instances/{instance_id}/db-upgrade";
const JOBS: &str = "/v3/{project_id}/jobs";
const TASKLIST: &str = "/v3/{project_id}/tasklist";
const TASKLIST_DETAIL: &str = "/v3/{project_id}/instances/{instance_id}/tasklist/detail";
const SCHEDULE_TASKS: &str = "/v3/{project_id}/schedule-tasks";
const DATASTORES: &str = "/v3/{project_id}/datastores/{database_name}";
const DR_RELATIONS: &str = "/v3/{project_id}/instances/disaster-recovery-relation";
const SMALL_VERSIONS: &str = "/v3/{project_id}/datastores/{database_name}/small-version";
/// IAM's and the metadata server's routes: counted in `stats.requests`, outside flow
/// control (see `iam`).
const SECURITY_TOKENS: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
const ID_TOKEN_TOKENS: &str = "/v3.0/OS-AUTH/id-token/tokens";
const METADATA_SECURITY_KEY: &str = "/openstack/latest/securitykey";
const METADATA_SESSION: &str = "/meta-data/latest/api/token";

/// `"<METHOD> <route template>"` of every signed API route.
fn api_keys() -> Vec<String> {
    API_ROUTES
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

/// State shared by every connection.
pub struct Shared {
    world: Mutex<World>,
    /// Locked after `world` when both are needed, never before.
    flow: Mutex<FlowControl>,
    initial: Config,
    state_file: Option<PathBuf>,
    rng: Mutex<fastrand::Rng>,
    gates: Gates,
    /// Locked after `world` when both are needed, never before.
    identity: Mutex<identity::Identity>,
}

impl Shared {
    /// The world, with finished jobs settled.
    fn lock(&self) -> MutexGuard<'_, World> {
        let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if world.settle(state::now()) && self.state_file.is_some() {
            self.write_state(&world);
        }
        world
    }

    fn identity(&self) -> MutexGuard<'_, identity::Identity> {
        self.identity.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flow(&self) -> MutexGuard<'_, FlowControl> {
        self.flow.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self) {
        if self.state_file.is_some() {
            let world = self.world.lock().unwrap_or_else(|e| e.into_inner());
            self.write_state(&world);
        }
    }

    fn write_state(&self, world: &World) {
        let Some(path) = &self.state_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec(world)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            eprintln!(
                "hwrds-emulator: cannot save state to {}: {e}",
                path.display()
            );
        }
    }
}

/// Builds the shared state: from the state file when it exists, else from `config`.
pub fn load(config: Config, state_file: Option<PathBuf>) -> Result<Arc<Shared>, String> {
    config.flow_control.validate(&api_keys())?;
    let world = match &state_file {
        Some(path) if path.exists() => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("parsing {}: {e}", path.display()))?
        }
        _ => World::new(config.clone()),
    };
    let shared = Arc::new(Shared {
        world: Mutex::new(world),
        flow: Mutex::new(FlowControl::new(config.flow_control.clone())),
        initial: config,
        state_file,
        rng: Mutex::new(fastrand::Rng::with_seed(1)),
        gates: Gates::default(),
        identity: Mutex::new(identity::Identity::default()),
    });
    shared.save();
    Ok(shared)
}

/// Closes the connection a request arrived on (for `reset_after_processing`).
#[derive(Clone)]
struct ConnectionAbort(Arc<Notify>);

/// Serves the emulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let app = router(shared);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let abort = Arc::new(Notify::new());
        let app = app
            .clone()
            .layer(axum::Extension(ConnectionAbort(abort.clone())));
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = abort.notified() => {}
            }
        });
    }
}

/// The bound address's first stdout line, as the contract says.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(IAM_PROJECTS, get(api::iam_projects))
        .route(INSTANCES, get(api::list_instances))
        .route(DB_UPGRADE, post(api::upgrade))
        .route(JOBS, get(api::show_job))
        .route(TASKLIST, get(api::list_tasks))
        .route(TASKLIST_DETAIL, get(api::task_detail))
        .route(SCHEDULE_TASKS, get(api::schedule_tasks))
        .route(DATASTORES, get(api::datastores))
        .route(SMALL_VERSIONS, get(api::small_versions))
        .route(DR_RELATIONS, get(dr::dr_relations))
        .route_layer(middleware::from_fn_with_state(shared.clone(), signed_api));
    let identity = Router::new()
        .route(SECURITY_TOKENS, post(iam::security_tokens))
        .route(ID_TOKEN_TOKENS, post(iam::id_token))
        .route(METADATA_SECURITY_KEY, get(iam::security_key))
        .route(METADATA_SESSION, axum::routing::put(iam::metadata_session))
        .route_layer(middleware::from_fn_with_state(shared.clone(), counted));
    let admin = Router::new()
        .route("/__emulator/stats", get(stats))
        .route(
            "/__emulator/credentials",
            get(|State(shared): State<Arc<Shared>>| async move {
                Json(shared.identity().issued()).into_response()
            }),
        )
        .route("/__emulator/instances", post(add_instances))
        .route("/__emulator/faults", post(set_faults))
        .route("/__emulator/flow_control", post(set_flow_control))
        .route("/__emulator/gate", post(set_gate))
        .route("/__emulator/versions", post(release_version))
        .route("/__emulator/reset", post(reset));
    api.merge(identity)
        .merge(admin)
        .fallback(|| async {
            api::error(
                StatusCode::NOT_FOUND,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment.",
            )
        })
        .layer(middleware::from_fn(request_id))
        .with_state(shared)
}

async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key("X-Request-Id")
        && let Ok(value) = HeaderValue::from_str(&random_hex_id())
    {
        response.headers_mut().insert("X-Request-Id", value);
    }
    response
}

/// 32 random hex digits, as request ids and job ids are made of.
pub(crate) fn random_hex_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn gateway_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = random_hex_id();
    let mut response = (
        status,
        Json(json!({"error_msg": message, "error_code": code, "request_id": request_id})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("X-Request-Id", value);
    }
    response
}

/// IAM's and the metadata server's routes: counted like the others, each checking its
/// own authentication.
async fn counted(
    State(shared): State<Arc<Shared>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let key = format!("{} {}", request.method(), matched.as_str());
    {
        let mut world = shared.lock();
        *world.stats.requests.entry(key).or_default() += 1;
    }
    next.run(request).await
}

/// Every signed API route: verify the signature, apply flow control, count it, wait at
/// its gate if one is closed before processing, maybe inject a fault, and wait at its
/// gate if one is closed after processing (a refusal passes no gate).
async fn signed_api(
    State(shared): State<Arc<Shared>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let key = format!("{} {}", request.method(), matched.as_str());
    match checked_and_processed(&shared, key.clone(), request, next).await {
        Ok(response) => {
            shared.gates.pass(&key, Hold::After).await;
            response
        }
        // Refused at the gateway (signature, flow control): nothing to hold.
        Err(refused) => refused,
    }
}

/// The gateway's checks, the gate before processing, then the request itself (or the
/// fault that takes its place); `Err` is a refusal of the gateway's, never processed.
async fn checked_and_processed(
    shared: &Shared,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return Err(gateway_error(
            StatusCode::BAD_REQUEST,
            "APIGW.0201",
            "Request body too large or unreadable.",
        ));
    };
    let fault = {
        let mut world = shared.world.lock().unwrap_or_else(|e| e.into_inner());
        let agent = parts
            .headers
            .get("user-agent")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        *world.stats.user_agents.entry(agent).or_default() += 1;
        let server_clock = state::now() + world.config.clock_skew_seconds;
        let verified = auth::verify(
            &world.config,
            &mut shared.identity(),
            &parts,
            &body,
            server_clock,
        );
        let user = match verified {
            Ok(user) => user,
            Err(rejection) => {
                // Refused before flow control: counted as a request, not against a quota.
                *world.stats.requests.entry(key).or_default() += 1;
                world.stats.rejected_signatures += 1;
                return Err(gateway_error(
                    StatusCode::UNAUTHORIZED,
                    rejection.code,
                    &rejection.message,
                ));
            }
        };
        let at = state::now();
        let (admitted, window) = {
            let mut flow = shared.flow();
            (flow.admit(&key, &user, at), flow.window_seconds(&key))
        };
        world
            .stats
            .count_after_first_window(&key, at, window, admitted.is_err());
        if let Err(refusal) = admitted {
            *world.stats.throttled.entry(key).or_default() += 1;
            return Err(throttled(&refusal));
        }
        *world.stats.requests.entry(key.clone()).or_default() += 1;
        let outside = auth::outside_enterprise_project(&world.config, &user, &key, &parts, |id| {
            world
                .instances
                .get(id)
                .map(|i| i.spec.enterprise_project_id.clone())
        });
        if let Some(action) = auth::denied_action(&world.config, &user, &key).or(outside) {
            // IAM authorization: the service refuses what the user's policy denies.
            return Err(gateway_error(
                StatusCode::FORBIDDEN,
                "DBS.200010",
                &format!("Policy doesn't allow {action} to be performed."),
            ));
        }
        pick_fault(shared, &world.faults)
    };
    shared.gates.pass(&key, Hold::Before).await;
    let abort = parts.extensions.get::<ConnectionAbort>().cloned();
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let response = match fault.as_deref() {
        Some(kind @ ("throttle" | "throttle_user")) => {
            // Under flow control the gateway names the policy in force, as it does for
            // any refusal; without it, a policy of its own.
            let by = if kind == "throttle" {
                flow_control::Policy::Api
            } else {
                flow_control::Policy::User
            };
            let message = shared.flow().crowded_out(&key, by).map_or_else(
                || match by {
                    flow_control::Policy::Api => "The throttling threshold has been reached: policy api over ratelimit,limit:8000,time:1 minute",
                    flow_control::Policy::User => "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute",
                }
                .to_string(),
                |refusal| refusal.message(),
            );
            let mut r = gateway_error(StatusCode::TOO_MANY_REQUESTS, "APIGW.0308", &message);
            r.headers_mut()
                .insert("Retry-After", HeaderValue::from_static("1"));
            r
        }
        Some("server_error") => {
            // From the seeded generator, so a fault seed replays the same answers.
            let coin = shared.rng.lock().unwrap_or_else(|e| e.into_inner()).bool();
            let status = if coin {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            api::error(
                status,
                "DBS.200001",
                "Internal service error, please try again later.",
            )
        }
        Some("reset_after_processing") => {
            let _processed = next.run(request).await;
            if let Some(ConnectionAbort(abort)) = abort {
                abort.notify_one();
            }
            std::future::pending::<Response>().await
        }
        Some("html_error") => {
            // A load balancer's own page: the request never reached the service.
            let mut r = (StatusCode::BAD_GATEWAY, GATEWAY_PAGE).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            );
            r
        }
        Some(kind @ ("truncated_json" | "empty_body" | "wrong_types")) => {
            // The request is processed; its successful answer is garbled on the way back.
            let response = next.run(request).await;
            if !response.status().is_success() {
                return Ok(response);
            }
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(garble(kind, &bytes)))
        }
        Some("latency") => {
            let delay = fastrand::u64(200..2000);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            next.run(request).await
        }
        _ => next.run(request).await,
    };
    Ok(response)
}

/// The gateway's 429 for a request flow control refused (it was not processed).
fn throttled(refusal: &flow_control::Throttled) -> Response {
    let mut response = gateway_error(
        StatusCode::TOO_MANY_REQUESTS,
        "APIGW.0308",
        &refusal.message(),
    );
    if let Some(seconds) = refusal.retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert("Retry-After", value);
    }
    response
}

/// What a gateway in front of the service answers when the service behind it fails.
const GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A successful answer, garbled as the fault `kind` says.
fn garble(kind: &str, body: &[u8]) -> Vec<u8> {
    match kind {
        "empty_body" => Vec::new(),
        "truncated_json" => body[..body.len() / 2].to_vec(),
        _ => {
            // Every top-level field gets a value of another type: `"instances": "x"`.
            let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
                return b"\"x\"".to_vec();
            };
            let wrong: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(_) => json!(12345),
                        _ => json!("x"),
                    };
                    (k, v)
                })
                .collect();
            serde_json::to_vec(&wrong).unwrap_or_default()
        }
    }
}

fn pick_fault(shared: &Shared, faults: &Faults) -> Option<String> {
    if faults.probability <= 0.0 || faults.kinds.is_empty() {
        return None;
    }
    let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
    (rng.f64() < faults.probability).then(|| faults.kinds[rng.usize(..faults.kinds.len())].clone())
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let mut world = shared.lock();
    world.stats.peak_running_upgrades = world.peak_running_upgrades(state::now());
    let mut stats = serde_json::to_value(&world.stats).unwrap_or_default();
    if let Some(fields) = stats.as_object_mut() {
        // Run-time only, like the gates themselves: not part of the saved stats.
        fields.insert("held".into(), json!(shared.gates.held_now()));
    }
    Json(stats).into_response()
}

#[derive(serde::Deserialize)]
struct InstancesBody {
    instances: Vec<InstanceSpec>,
}

async fn add_instances(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<InstancesBody>,
) -> Response {
    {
        let mut world = shared.lock();
        let at = state::now();
        for spec in body.instances {
            world
                .instances
                .insert(spec.id.clone(), Instance::new(spec, at));
        }
    }
    shared.save();
    Json(json!({"ok": true})).into_response()
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Response {
    const KINDS: [&str; 9] = [
        "throttle",
        "throttle_user",
        "server_error",
        "reset_after_processing",
        "latency",
        "truncated_json",
        "html_error",
        "empty_body",
        "wrong_types",
    ];
    if let Some(bad) = faults.kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
        return api::error(
            StatusCode::BAD_REQUEST,
            "EMULATOR.0001",
            &format!("unknown fault kind {bad:?}"),
        );
    }
    *shared.rng.lock().unwrap_or_else(|e| e.into_inner()) = fastrand::Rng::with_seed(faults.seed);
    shared.lock().faults = faults;
    shared.save();
    Json(json!({"ok": true})).into_response()
}

/// Replaces the flow-control policy; every window starts afresh.
async fn set_flow_control(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let config = serde_json::from_slice::<FlowControlConfig>(&body)
        .map_err(|e| format!("flow_control: {e}"))
        .and_then(|c| c.validate(&api_keys()).map(|()| c));
    match config {
        Ok(config) => {
            *shared.flow() = FlowControl::new(config);
            Json(json!({"ok": true})).into_response()
        }
        Err(message) => api::error(StatusCode::BAD_REQUEST, "EMULATOR.0001", &message),
    }
}

/// Closes or opens one route's gate (see [`gate`]).
async fn set_gate(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let config = serde_json::from_slice::<GateConfig>(&body)
        .map_err(|e| format!("gate: {e}"))
        .and_then(|c| {
            if api_keys().contains(&c.route) {
                Ok(c)
            } else {
                Err(format!(
                    "gate: {:?} is not a signed API route (\"<METHOD> <route template>\")",
                    c.route
                ))
            }
        });
    match config {
        Ok(config) => {
            shared.gates.set(config);
            Json(json!({"ok": true})).into_response()
        }
        Err(message) => api::error(StatusCode::BAD_REQUEST, "EMULATOR.0001", &message),
    }
}

/// Releases a minor version: the version lists show it, and upgrades of its engine and
/// major version submitted from now on install it (when it is their newest).
async fn release_version(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let release = serde_json::from_slice::<Release>(&body)
        .map_err(|e| format!("versions: {e}"))
        .and_then(|r| match r.problem() {
            Some(problem) => Err(format!("versions: {problem}")),
            None => Ok(r),
        });
    match release {
        Ok(release) => {
            {
                let mut world = shared.lock();
                if !world.released.contains(&release) {
                    world.released.push(release);
                }
            }
            shared.save();
            Json(json!({"ok": true})).into_response()
        }
        Err(message) => api::error(StatusCode::BAD_REQUEST, "EMULATOR.0001", &message),
    }
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.gates.open_all();
    *shared.identity() = identity::Identity::default();
    *shared.world.lock().unwrap_or_else(|e| e.into_inner()) = World::new(shared.initial.clone());
    *shared.flow() = FlowControl::new(shared.initial.flow_control.clone());
    shared.save();
    Json(json!({"ok": true})).into_response()
}
