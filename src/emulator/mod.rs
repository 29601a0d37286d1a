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
//! - Refusals for read replicas use `DBS.200023` (the real code is undocumented).
//! - The latest minor version offered by `/datastores` is derived from the configured
//!   instances' `latest_version`; a delayed upgrade's job is unknown to `/jobs` until the
//!   maintenance window opens (`window_opens_after_seconds` after submission) and shows in
//!   `/schedule-tasks` meanwhile.
//! - Job and task names are `UpgradeMinorVersion`; times are UTC (`+0000`).
//! - `clock_skew_seconds` offsets only the clock the signature check uses (a request
//!   whose `X-Sdk-Date` is more than 15 minutes from it is `APIGW.0303`); the times the
//!   emulator reports and its jobs' timing follow the real clock.
//!
//! Faults (`POST /__emulator/faults`, `{"probability", "kinds", "seed"}`; each signed API
//! request draws one kind with that probability, after its signature was checked):
//! - `throttle`: 429 `APIGW.0308` with `Retry-After: 1`; not processed.
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
use state::{Faults, Instance, World};

/// State shared by every connection.
pub struct Shared {
    world: Mutex<World>,
    initial: Config,
    state_file: Option<PathBuf>,
    rng: Mutex<fastrand::Rng>,
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
        initial: config,
        state_file,
        rng: Mutex::new(fastrand::Rng::with_seed(1)),
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
        .route("/v3/projects", get(api::iam_projects))
        .route("/v3/{project_id}/instances", get(api::list_instances))
        .route(
            "/v3/{project_id}/instances/{instance_id}/db-upgrade",
            post(api::upgrade),
        )
        .route("/v3/{project_id}/jobs", get(api::show_job))
        .route("/v3/{project_id}/tasklist", get(api::list_tasks))
        .route(
            "/v3/{project_id}/instances/{instance_id}/tasklist/detail",
            get(api::task_detail),
        )
        .route("/v3/{project_id}/schedule-tasks", get(api::schedule_tasks))
        .route(
            "/v3/{project_id}/datastores/{database_name}",
            get(api::datastores),
        )
        .route(
            "/v3/{project_id}/datastores/{database_name}/small-version",
            get(api::small_versions),
        )
        .route_layer(middleware::from_fn_with_state(shared.clone(), signed_api));
    let admin = Router::new()
        .route("/__emulator/stats", get(stats))
        .route("/__emulator/instances", post(add_instances))
        .route("/__emulator/faults", post(set_faults))
        .route("/__emulator/reset", post(reset));
    api.merge(admin)
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

/// Every signed API route: count it, verify the signature, then maybe inject a fault.
async fn signed_api(
    State(shared): State<Arc<Shared>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let key = format!("{} {}", request.method(), matched.as_str());
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return gateway_error(
            StatusCode::BAD_REQUEST,
            "APIGW.0201",
            "Request body too large or unreadable.",
        );
    };
    let (verdict, fault) = {
        let mut world = shared.world.lock().unwrap_or_else(|e| e.into_inner());
        *world.stats.requests.entry(key).or_default() += 1;
        let agent = parts
            .headers
            .get("user-agent")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        *world.stats.user_agents.entry(agent).or_default() += 1;
        let server_clock = state::now() + world.config.clock_skew_seconds;
        let verdict = auth::verify(&world.config, &parts, &body, server_clock);
        if verdict.is_err() {
            world.stats.rejected_signatures += 1;
        }
        let fault = pick_fault(&shared, &world.faults);
        (verdict, fault)
    };
    if let Err(rejection) = verdict {
        return gateway_error(StatusCode::UNAUTHORIZED, rejection.code, &rejection.message);
    }
    let abort = parts.extensions.get::<ConnectionAbort>().cloned();
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    match fault.as_deref() {
        Some("throttle") => {
            let mut r = gateway_error(
                StatusCode::TOO_MANY_REQUESTS,
                "APIGW.0308",
                "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute",
            );
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
                return response;
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
    }
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
    let world = shared.lock();
    Json(&world.stats).into_response()
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
    const KINDS: [&str; 8] = [
        "throttle",
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

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    *shared.world.lock().unwrap_or_else(|e| e.into_inner()) = World::new(shared.initial.clone());
    shared.save();
    Json(json!({"ok": true})).into_response()
}
