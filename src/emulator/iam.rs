//! The emulator's IAM credential routes and its ECS metadata server, on the same
//! listener as RDS: temporary credentials for an agency (`assume_role`, signed with the
//! main AK/SK or a temporary credential) or for an IAM token (`token`), IAM tokens for
//! an OIDC id token, and the rotating keys of the agency attached to "this server".
//! Shapes as Huawei documents them (`expires_at` with microseconds and `Z`); IAM's own
//! refusals use IAM's `{"error": {"code", "message", "title"}}` body.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::identity::{Temporary, iam_time};
use super::state::now;
use super::{Shared, auth, gateway_error};

/// The durations IAM accepts for temporary credentials, in seconds.
const DURATIONS: std::ops::RangeInclusive<f64> = 900.0..=86_400.0;
/// What IAM gives when the request asks no duration.
const DEFAULT_DURATION: f64 = 900.0;
/// How long an IAM token from an id token lives by default (IAM's token lifetime).
const TOKEN_SECONDS: f64 = 86_400.0;
/// How long the metadata server's keys live by default.
const METADATA_SECONDS: f64 = 3_600.0;

/// IAM's own refusal.
fn iam_error(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message, "title": title}})),
    )
        .into_response()
}

fn credential_body(credential: &Temporary) -> Value {
    json!({"credential": {
        "access": credential.access_key,
        "secret": credential.secret_key,
        "securitytoken": credential.security_token,
        "expires_at": iam_time(credential.expires_at),
    }})
}

/// The lifetime of what the emulator issues: `temporary_credential_seconds` when
/// configured, else `asked`.
fn lifetime(shared: &Shared, asked: f64) -> f64 {
    shared
        .lock()
        .config
        .temporary_credential_seconds
        .unwrap_or(asked)
}

/// The request's duration, checked against IAM's range; `Err` is IAM's message.
fn duration(asked: Option<&Value>) -> Result<f64, &'static str> {
    let Some(asked) = asked else {
        return Ok(DEFAULT_DURATION);
    };
    match asked.as_f64() {
        Some(seconds) if DURATIONS.contains(&seconds) => Ok(seconds),
        _ => Err("Invalid duration_seconds: it must be an integer from 900 to 86400."),
    }
}

async fn split(request: Request) -> Result<(axum::http::request::Parts, Vec<u8>), Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, 1024 * 1024).await {
        Ok(bytes) => Ok((parts, bytes.to_vec())),
        Err(_) => Err(iam_error(StatusCode::BAD_REQUEST, "Unreadable body.")),
    }
}

/// `POST /v3.0/OS-CREDENTIAL/securitytokens`: temporary credentials for an agency
/// (`assume_role`) or an IAM token (`token`).
pub async fn security_tokens(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = match split(request).await {
        Ok(split) => split,
        Err(response) => return response,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body).map(|v| (v, body)) else {
        return iam_error(StatusCode::BAD_REQUEST, "The request body is not JSON.");
    };
    let (json, raw) = body;
    let identity = &json["auth"]["identity"];
    let methods: Vec<&str> = identity["methods"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let at = now();
    match methods.as_slice() {
        ["assume_role"] => {
            if let Err(rejection) = verify(&shared, &parts, &raw) {
                return gateway_error(StatusCode::UNAUTHORIZED, rejection.code, &rejection.message);
            }
            let role = &identity["assume_role"];
            let asked = match duration(role.get("duration_seconds")) {
                Ok(seconds) => seconds,
                Err(message) => return iam_error(StatusCode::BAD_REQUEST, message),
            };
            if let Some(name) = role["session_user"]["name"].as_str()
                && !session_name_ok(name)
            {
                return iam_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid session_user.name: 5-64 letters, digits, '-' or '_', starting with a letter.",
                );
            }
            let agency = role["agency_name"].as_str().unwrap_or_default();
            let (domain_name, domain_id) =
                (role["domain_name"].as_str(), role["domain_id"].as_str());
            if domain_name.is_none() && domain_id.is_none() {
                return iam_error(
                    StatusCode::BAD_REQUEST,
                    "Either domain_id or domain_name must be given.",
                );
            }
            let known = shared.lock().config.agencies.iter().any(|a| {
                a.agency_name == agency
                    && domain_name.is_none_or(|n| n == a.domain_name)
                    && domain_id.is_none_or(|i| i == a.domain_id)
            });
            if !known {
                return iam_error(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "The agency {agency:?} does not exist in that account or may not be assumed by this user."
                    ),
                );
            }
            let seconds = lifetime(&shared, asked);
            let credential = shared.identity().issue(at, seconds);
            (StatusCode::CREATED, Json(credential_body(&credential))).into_response()
        }
        ["token"] => {
            let token = &identity["token"];
            let asked = match duration(token.get("duration_seconds")) {
                Ok(seconds) => seconds,
                Err(message) => return iam_error(StatusCode::BAD_REQUEST, message),
            };
            let id = token["id"].as_str().unwrap_or_default();
            if !shared.identity().subject_token_valid(id, at) {
                return iam_error(
                    StatusCode::UNAUTHORIZED,
                    "The request you have made requires authentication: the token is invalid or expired.",
                );
            }
            let seconds = lifetime(&shared, asked);
            let credential = shared.identity().issue(at, seconds);
            (StatusCode::CREATED, Json(credential_body(&credential))).into_response()
        }
        _ => iam_error(
            StatusCode::BAD_REQUEST,
            "auth.identity.methods must be [\"assume_role\"] or [\"token\"].",
        ),
    }
}

/// IAM's rule for a session name.
fn session_name_ok(name: &str) -> bool {
    (5..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The gateway's signature check for an IAM call; a refusal counts as one.
fn verify(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<String, auth::Rejection> {
    let mut world = shared.lock();
    let clock = now() + world.config.clock_skew_seconds;
    let verified = auth::verify(&world.config, &mut shared.identity(), parts, body, clock);
    if verified.is_err() {
        world.stats.rejected_signatures += 1;
    }
    verified
}

/// `POST /v3.0/OS-AUTH/id-token/tokens`: an IAM token for an OIDC id token of the
/// identity provider `X-Idp-Id`, in the `X-Subject-Token` header. The token's
/// signature is not checked (a known difference): its `iss` and `exp` are.
pub async fn id_token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = match split(request).await {
        Ok(split) => split,
        Err(response) => return response,
    };
    let idp = parts
        .headers
        .get("x-idp-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let issuer = {
        let world = shared.lock();
        world
            .config
            .identity_providers
            .iter()
            .find(|p| p.id == idp)
            .map(|p| p.issuer.clone())
    };
    let Some(issuer) = issuer else {
        return iam_error(
            StatusCode::NOT_FOUND,
            &format!("Could not find identity provider: {idp}."),
        );
    };
    let jwt = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["auth"]["id_token"]["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let at = now();
    let claims = match jwt_claims(&jwt) {
        Some(claims) => claims,
        None => {
            return iam_error(
                StatusCode::BAD_REQUEST,
                "The id_token is not a JWT (header.payload.signature).",
            );
        }
    };
    if claims["iss"].as_str() != Some(issuer.as_str()) {
        return iam_error(
            StatusCode::UNAUTHORIZED,
            "The id_token's issuer does not match the identity provider.",
        );
    }
    if claims["exp"].as_f64().is_none_or(|exp| exp <= at) {
        return iam_error(StatusCode::UNAUTHORIZED, "The id_token has expired.");
    }
    let seconds = lifetime(&shared, TOKEN_SECONDS);
    let (token, expires_at) = shared.identity().issue_subject_token(at, seconds);
    let subject = claims["sub"].as_str().unwrap_or("federated-user");
    let mut response = (
        StatusCode::CREATED,
        Json(json!({"token": {
            "expires_at": iam_time(expires_at),
            "issued_at": iam_time(at),
            "methods": ["mapped"],
            "user": {"name": subject, "id": "federated",
                     "domain": {"id": "9b0f5e5b36e94d5a9b0e2a3c4d5e6f70", "name": "emulator"},
                     "OS-FEDERATION": {"identity_provider": {"id": idp}, "protocol": {"id": "oidc"}, "groups": []}},
        }})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&token) {
        response.headers_mut().insert("X-Subject-Token", value);
    }
    response
}

/// The claims of a JWT (its payload, base64url), unverified.
fn jwt_claims(jwt: &str) -> Option<Value> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `PUT /meta-data/latest/api/token`: a metadata session token for
/// `X-Metadata-Token-Ttl-Seconds` (default 21600).
pub async fn metadata_session(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let ttl = request
        .headers()
        .get("x-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(21_600.0);
    let token = shared.identity().open_metadata_session(now(), ttl);
    token.into_response()
}

/// `GET /openstack/latest/securitykey`: the keys of the agency attached to this server.
pub async fn security_key(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = now();
    if let Some(session) = request.headers().get("x-metadata-token")
        && !shared
            .identity()
            .metadata_session_valid(session.to_str().unwrap_or_default(), at)
    {
        return (StatusCode::UNAUTHORIZED, "Invalid metadata session token.").into_response();
    }
    let (agency, seconds) = {
        let world = shared.lock();
        (
            world.config.metadata_agency.clone(),
            world
                .config
                .temporary_credential_seconds
                .unwrap_or(METADATA_SECONDS),
        )
    };
    if agency.is_none() {
        return iam_error(
            StatusCode::UNAUTHORIZED,
            "Please configure Cloud Service Agency first.",
        );
    }
    let keys = shared.identity().metadata_keys(at, seconds);
    Json(credential_body(&keys)).into_response()
}
