//! Requests to the emulator signed by hand (as any SDK would sign them), for the tests of
//! the emulator's API itself: the status, headers and body of each answer.

use std::time::Duration;

use hwrds::rds::signer::{SignableRequest, authorization};
use serde_json::{Value, json};

use super::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY};

thread_local! {
    /// One client (and its connections) per test: each test runs on its own thread.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

/// Sends a request signed with `secret` at `sdk_date` (None = now).
pub async fn signed(
    emu: &Emulator,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
    secret: &str,
    sdk_date: Option<String>,
) -> (u16, Value) {
    let (status, _, body) = exchange(
        emu,
        (ACCESS_KEY, secret),
        method,
        path,
        query,
        body,
        sdk_date,
    )
    .await;
    (status, body)
}

/// Sends a request signed with the `(access key, secret key)` pair at `sdk_date` (None =
/// now); the answer's status, headers and body.
pub async fn exchange(
    emu: &Emulator,
    keys: (&str, &str),
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
    sdk_date: Option<String>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    exchange_with(emu, keys, &[], method, path, query, body, sdk_date).await
}

/// [`exchange`] with more signed headers (`X-Security-Token`, `X-Domain-Id`).
#[allow(clippy::too_many_arguments)]
pub async fn exchange_with(
    emu: &Emulator,
    (access_key, secret): (&str, &str),
    extra_headers: &[(&str, &str)],
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
    sdk_date: Option<String>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let date =
        sdk_date.unwrap_or_else(|| hwrds::rds::signer::sdk_date(time::OffsetDateTime::now_utc()));
    let host = emu.url.trim_start_matches("http://").to_string();
    let body_bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = vec![("Host".to_string(), host), ("X-Sdk-Date".to_string(), date)];
    headers.extend(
        extra_headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let auth = authorization(
        access_key,
        secret,
        &SignableRequest {
            method,
            path,
            query: &q,
            headers: &headers,
            body: &body_bytes,
        },
    );
    let encoded: Vec<String> = q
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                hwrds::rds::signer::percent_encode(k),
                hwrds::rds::signer::percent_encode(v)
            )
        })
        .collect();
    let url = if encoded.is_empty() {
        format!("{}{path}", emu.url)
    } else {
        format!("{}{path}?{}", emu.url, encoded.join("&"))
    };
    let client = CLIENT.with(Clone::clone);
    let mut request = client.request(method.parse().unwrap(), url);
    for (name, value) in headers.iter().skip(1) {
        request = request.header(name, value);
    }
    let response = request
        .header("Authorization", auth)
        .body(body_bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert!(
        headers.contains_key("x-request-id"),
        "every response has X-Request-Id"
    );
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A signed GET as the default user.
pub async fn get(emu: &Emulator, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    signed(emu, "GET", path, query, None, SECRET_KEY, None).await
}

/// A signed upgrade POST of instance `id` as the default user.
pub async fn upgrade(emu: &Emulator, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/v3/{PROJECT_ID}/instances/{id}/db-upgrade");
    signed(emu, "POST", &path, &[], Some(body), SECRET_KEY, None).await
}

/// Instance `id` as the listing shows it.
pub async fn instance(emu: &Emulator, id: &str) -> Value {
    let (status, body) = get(emu, &format!("/v3/{PROJECT_ID}/instances"), &[("id", id)]).await;
    assert_eq!(status, 200);
    body["instances"][0].clone()
}

/// Job `id` as the job API shows it.
pub async fn job(emu: &Emulator, id: &str) -> (u16, Value) {
    get(emu, &format!("/v3/{PROJECT_ID}/jobs"), &[("id", id)]).await
}

/// An instance for the emulator's config: MySQL single 8.0.28 (latest 8.0.32), jobs of
/// 0.5 s, with `extra` on top.
pub fn spec(id: &str, extra: Value) -> Value {
    let mut base = json!({"id": id, "name": id, "engine": "MySQL", "version": "8.0",
        "complete_version": "8.0.28", "latest_version": "8.0.32", "type": "Single", "job_seconds": 0.5});
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    base
}

/// Sleeps until `offset` seconds after `start`.
pub async fn sleep_until(start: std::time::Instant, offset: f64) {
    tokio::time::sleep_until((start + Duration::from_secs_f64(offset)).into()).await;
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
