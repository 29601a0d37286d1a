//! hwrds-emulator's flow control refuses what the API gateway would, with its answers:
//! each algorithm (sliding and fixed windows, token bucket), per user, per route, the
//! total, and run-time changes undone by a reset.

pub mod common;

use std::time::Duration;

use common::fixtures::{LIST_INSTANCES, POST_UPGRADE};
use common::signed::*;
use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY, counter};
use serde_json::{Value, json};

/// The second user of the flow-control tests (`extra_credentials`).
const OTHER: (&str, &str) = ("OTHERUSERAK", "OTHERUSERSK");

/// `GET /instances` as the default user: status and body.
async fn list(emu: &Emulator) -> (u16, Value) {
    get(emu, &format!("/v3/{PROJECT_ID}/instances"), &[]).await
}

/// `GET /instances` as `user`: status, headers and body.
async fn list_as(emu: &Emulator, user: (&str, &str)) -> (u16, reqwest::header::HeaderMap, Value) {
    let path = format!("/v3/{PROJECT_ID}/instances");
    exchange(emu, user, "GET", &path, &[], None, None).await
}

/// Statuses of `n` back-to-back `GET /instances` as `user`.
async fn burst(emu: &Emulator, user: (&str, &str), n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(list_as(emu, user).await.0);
    }
    statuses
}

fn throttle_message(policy: &str, limit: u32, time: &str) -> String {
    format!(
        "The throttling threshold has been reached: policy {policy} over ratelimit,limit:{limit},time:{time}"
    )
}

/// Asserts a refusal is the gateway's 429, body and all.
#[track_caller]
fn assert_throttled(status: u16, body: &Value, message: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error_code"], "APIGW.0308", "{body}");
    assert_eq!(body["error_msg"], message, "{body}");
    let id = body["request_id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "request_id is 32 hex digits: {body}"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(3),
        "only error_msg, error_code and request_id: {body}"
    );
}

#[tokio::test]
async fn the_documented_policy_is_on_by_default_with_the_gateways_body() {
    // `{}`: every key defaults, as when the config file has no `flow_control` at all.
    let emu = Emulator::start(json!({"flow_control": {}}), false);
    let statuses = burst(&emu, (ACCESS_KEY, SECRET_KEY), 60).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let (status, headers, body) = list_as(&emu, (ACCESS_KEY, SECRET_KEY)).await;
    assert_throttled(status, &body, &throttle_message("user", 60, "1 minute"));
    assert_eq!(
        body.to_string(),
        format!(
            r#"{{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:60,time:1 minute","request_id":"{}"}}"#,
            body["request_id"].as_str().unwrap()
        )
    );
    assert!(
        !headers.contains_key("retry-after"),
        "no Retry-After by default"
    );
    assert_eq!(
        headers["x-request-id"].to_str().unwrap(),
        body["request_id"],
        "the header and the body name the same request"
    );
    // The IAM lookup is an API of its own, with its own quota.
    let (status, _) = get(&emu, "/v3/projects", &[]).await;
    assert_eq!(status, 200);
    let stats = emu.stats();
    assert_eq!(counter(&stats, "requests", LIST_INSTANCES), 60, "{stats}");
    assert_eq!(counter(&stats, "throttled", LIST_INSTANCES), 1, "{stats}");
    assert_eq!(
        counter(&stats, "requests", "GET /v3/projects"),
        1,
        "{stats}"
    );
}

#[tokio::test]
async fn sliding_window_frees_a_slot_when_the_oldest_request_leaves_it() {
    let emu = Emulator::start(
        json!({"flow_control": {"limit": 3, "window_seconds": 3}}),
        false,
    );
    let start = std::time::Instant::now();
    assert_eq!(list(&emu).await.0, 200, "A at 0 s");
    sleep_until(start, 1.5).await;
    assert_eq!(list(&emu).await.0, 200, "B at 1.5 s");
    assert_eq!(list(&emu).await.0, 200, "C at 1.5 s");
    let (status, body) = list(&emu).await;
    assert_throttled(status, &body, &throttle_message("user", 3, "3 second"));
    sleep_until(start, 3.3).await;
    assert_eq!(list(&emu).await.0, 200, "A has left the window: one slot");
    let (status, body) = list(&emu).await;
    assert_throttled(status, &body, &throttle_message("user", 3, "3 second"));
    assert!(
        start.elapsed() < Duration::from_millis(4500),
        "B and C were still in the window"
    );
    let stats = emu.stats();
    assert_eq!(counter(&stats, "requests", LIST_INSTANCES), 4, "{stats}");
    assert_eq!(counter(&stats, "throttled", LIST_INSTANCES), 2, "{stats}");
    // Once the API's first window (from A) has passed: one accepted, one refused.
    let later = &stats["after_first_window"][LIST_INSTANCES];
    assert_eq!(
        (later["requests"].as_u64(), later["throttled"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
}

#[tokio::test]
async fn each_user_has_a_quota_and_all_users_share_the_total() {
    let emu = Emulator::start(
        json!({
            "extra_credentials": [{"access_key": OTHER.0, "secret_key": OTHER.1}],
            "flow_control": {"limit": 2, "window_seconds": 60, "total": 3},
        }),
        false,
    );
    let path = format!("/v3/{PROJECT_ID}/instances");
    // Refused signatures are not charged to anyone's quota.
    for _ in 0..3 {
        let (status, _) = signed(&emu, "GET", &path, &[], None, "wrong", None).await;
        assert_eq!(status, 401);
    }
    assert_eq!(burst(&emu, (ACCESS_KEY, SECRET_KEY), 2).await, [200, 200]);
    let (status, _, body) = list_as(&emu, (ACCESS_KEY, SECRET_KEY)).await;
    assert_throttled(status, &body, &throttle_message("user", 2, "1 minute"));
    // The other user's quota is untouched, but the API's total (3) is reached after one.
    assert_eq!(burst(&emu, OTHER, 1).await, [200]);
    let (status, _, body) = list_as(&emu, OTHER).await;
    assert_throttled(status, &body, &throttle_message("api", 3, "1 minute"));
    // Another API has quotas of its own.
    let (status, _, _) = exchange(
        &emu,
        OTHER,
        "GET",
        &format!("/v3/{PROJECT_ID}/schedule-tasks"),
        &[],
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let stats = emu.stats();
    assert_eq!(stats["rejected_signatures"], 3);
    assert_eq!(
        counter(&stats, "requests", LIST_INSTANCES),
        6,
        "3 refused signatures and 3 accepted: {stats}"
    );
    assert_eq!(counter(&stats, "throttled", LIST_INSTANCES), 2, "{stats}");
}

#[tokio::test]
async fn a_route_override_and_a_refused_upgrade_that_starts_nothing() {
    let emu = Emulator::start(
        json!({
            "instances": [spec("a", json!({})), spec("b", json!({}))],
            "flow_control": {"limit": 100, "window_seconds": 60,
                "routes": {POST_UPGRADE: {"limit": 1, "window_seconds": 300}}},
        }),
        false,
    );
    let (status, body) = upgrade(&emu, "a", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = upgrade(&emu, "b", json!({})).await;
    assert_throttled(status, &body, &throttle_message("user", 1, "5 minute"));
    // Other APIs keep the policy-wide limit.
    assert_eq!(burst(&emu, (ACCESS_KEY, SECRET_KEY), 5).await, [200; 5]);
    let stats = emu.stats();
    assert_eq!(counter(&stats, "upgrade_posts", "a"), 1, "{stats}");
    assert_eq!(
        counter(&stats, "upgrade_posts", "b"),
        0,
        "a refused POST never reached the handler: {stats}"
    );
    assert_eq!(counter(&stats, "upgrade_jobs", "b"), 0, "{stats}");
    assert_eq!(counter(&stats, "requests", POST_UPGRADE), 1, "{stats}");
    assert_eq!(counter(&stats, "throttled", POST_UPGRADE), 1, "{stats}");
    let b = instance(&emu, "b").await;
    assert_eq!(b["status"], "ACTIVE", "no job runs on b: {b}");
    let (_, tasks) = get(
        &emu,
        &format!("/v3/{PROJECT_ID}/tasklist"),
        &[("instance_id", "b")],
    )
    .await;
    assert_eq!(tasks["total_count"], 0, "{tasks}");
}

#[tokio::test]
async fn flow_control_changes_at_run_time_and_reset_restores_the_configured_policy() {
    let emu = Emulator::start(
        json!({"flow_control": {"limit": 2, "window_seconds": 60}}),
        false,
    );
    let me = (ACCESS_KEY, SECRET_KEY);
    assert_eq!(burst(&emu, me, 3).await, [200, 200, 429]);
    emu.admin("/__emulator/flow_control", json!({"enabled": false}));
    assert_eq!(burst(&emu, me, 10).await, [200; 10], "disabled");
    emu.admin(
        "/__emulator/flow_control",
        json!({"limit": 1, "window_seconds": 60, "retry_after": true}),
    );
    assert_eq!(burst(&emu, me, 1).await, [200], "a new policy starts empty");
    let (status, headers, body) = list_as(&emu, me).await;
    assert_throttled(status, &body, &throttle_message("user", 1, "1 minute"));
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (59..=60).contains(&wait),
        "seconds until a slot frees: {wait}"
    );
    let (status, text) = common::http(
        &emu.url,
        "POST",
        "/__emulator/flow_control",
        Some(r#"{"routes": {"GET /v3/{project_id}/nothing": {"limit": 1}}}"#),
    );
    assert_eq!(status, 400, "an unknown API is refused: {text}");
    assert!(text.contains("nothing"), "{text}");
    let (status, text) = common::http(
        &emu.url,
        "POST",
        "/__emulator/flow_control",
        Some(r#"{"limt": 5}"#),
    );
    assert_eq!(status, 400, "a misspelt key is refused: {text}");
    emu.admin("/__emulator/reset", json!({}));
    assert_eq!(
        burst(&emu, me, 3).await,
        [200, 200, 429],
        "back to the configured policy, windows empty"
    );
    let stats = emu.stats();
    assert_eq!(counter(&stats, "throttled", LIST_INSTANCES), 1, "{stats}");
    assert_eq!(counter(&stats, "requests", LIST_INSTANCES), 2, "{stats}");
}

/// Sleeps until `seconds` before the next multiple of `window` since the epoch (or after
/// it, when negative); the boundary's time.
async fn sleep_to_boundary(window: f64, seconds: f64) -> f64 {
    let now = unix_now();
    let mut boundary = (now / window).ceil() * window;
    if boundary - seconds <= now + 0.05 {
        boundary += window;
    }
    tokio::time::sleep(Duration::from_secs_f64(boundary - seconds - now)).await;
    boundary
}

#[tokio::test]
async fn fixed_windows_admit_a_full_quota_on_each_side_of_a_boundary() {
    let emu = Emulator::start(
        json!({"flow_control": {"limit": 2, "window_seconds": 4, "algorithm": "fixed"}}),
        false,
    );
    let me = (ACCESS_KEY, SECRET_KEY);
    let boundary = sleep_to_boundary(4.0, 1.5).await;
    assert_eq!(burst(&emu, me, 3).await, [200, 200, 429]);
    assert!(unix_now() < boundary, "the first burst took over 1.5 s");
    tokio::time::sleep(Duration::from_secs_f64(boundary + 0.1 - unix_now())).await;
    assert_eq!(
        burst(&emu, me, 3).await,
        [200, 200, 429],
        "a new window: 4 accepted within 2 s, which a 2-per-4-s sliding window would refuse"
    );
    assert!(unix_now() < boundary + 4.0, "all within the second window");
}

#[tokio::test]
async fn a_token_bucket_refills_at_limit_per_window() {
    let emu = Emulator::start(
        json!({"flow_control": {"limit": 4, "window_seconds": 8, "algorithm": "token_bucket"}}),
        false,
    );
    let me = (ACCESS_KEY, SECRET_KEY);
    let start = std::time::Instant::now();
    assert_eq!(burst(&emu, me, 5).await, [200, 200, 200, 200, 429]);
    let refused_at = start.elapsed().as_secs_f64();
    assert!(refused_at < 2.0, "the burst took {refused_at} s");
    // Half a token a second: 2.5 s later one token, where a sliding window is still full.
    sleep_until(start, refused_at + 2.5).await;
    let (status, body) = list(&emu).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = list(&emu).await;
    assert_throttled(status, &body, &throttle_message("user", 4, "8 second"));
}

/// The `throttle` and `throttle_user` faults under flow control are refusals by a policy
/// in force, the API's over all users (other tenants flood the API) or this user's
/// (another user of the key crowded the request out): their answers name it, as the
/// gateway's do; without flow control they name policies of their own.
#[tokio::test]
async fn throttle_faults_name_the_policy_in_force() {
    let emu = Emulator::start(
        json!({"flow_control": {"limit": 4, "window_seconds": 4, "total": 100}}),
        false,
    );
    emu.faults(json!({"probability": 1.0, "kinds": ["throttle"], "seed": 1}));
    let (status, body) = list(&emu).await;
    assert_throttled(status, &body, &throttle_message("api", 100, "4 second"));
    emu.faults(json!({"probability": 1.0, "kinds": ["throttle_user"], "seed": 1}));
    let (status, body) = list(&emu).await;
    assert_throttled(status, &body, &throttle_message("user", 4, "4 second"));
    let off = Emulator::start(json!({}), false);
    off.faults(json!({"probability": 1.0, "kinds": ["throttle"], "seed": 1}));
    let (status, body) = list(&off).await;
    assert_throttled(status, &body, &throttle_message("api", 8000, "1 minute"));
    off.faults(json!({"probability": 1.0, "kinds": ["throttle_user"], "seed": 1}));
    let (status, body) = list(&off).await;
    assert_throttled(status, &body, &throttle_message("user", 200, "5 minute"));
}
