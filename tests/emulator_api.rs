//! hwrds-emulator's contract and behaviour, over real HTTP with hand-signed requests:
//! the CLI's first line, stats shape, signature refusals, the seed's constraints, busy
//! instances, HA phases, delayed upgrades, failed jobs, faults and the state file; flow
//! control (each algorithm, per user, per route, the total, run-time changes), the peak
//! of running upgrades and the task center's time window; minor versions released at run
//! time.

pub mod common;

use std::time::Duration;

use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY};
use hwrds::rds::signer::{SignableRequest, authorization};
use serde_json::{Value, json};

thread_local! {
    /// One client (and its connections) per test: each test runs on its own thread.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

/// Sends a request signed with `secret` at `sdk_date` (None = now).
async fn signed(
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
async fn exchange(
    emu: &Emulator,
    (access_key, secret): (&str, &str),
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
    let headers = vec![("Host".to_string(), host), ("X-Sdk-Date".to_string(), date)];
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
    let response = client
        .request(method.parse().unwrap(), url)
        .header("X-Sdk-Date", &headers[1].1)
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

async fn get(emu: &Emulator, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    signed(emu, "GET", path, query, None, SECRET_KEY, None).await
}

async fn upgrade(emu: &Emulator, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/v3/{PROJECT_ID}/instances/{id}/db-upgrade");
    signed(emu, "POST", &path, &[], Some(body), SECRET_KEY, None).await
}

async fn instance(emu: &Emulator, id: &str) -> Value {
    let (status, body) = get(emu, &format!("/v3/{PROJECT_ID}/instances"), &[("id", id)]).await;
    assert_eq!(status, 200);
    body["instances"][0].clone()
}

async fn job(emu: &Emulator, id: &str) -> (u16, Value) {
    get(emu, &format!("/v3/{PROJECT_ID}/jobs"), &[("id", id)]).await
}

fn spec(id: &str, extra: Value) -> Value {
    let mut base = json!({"id": id, "name": id, "engine": "MySQL", "version": "8.0",
        "complete_version": "8.0.28", "latest_version": "8.0.32", "type": "Single", "job_seconds": 0.5});
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    base
}

#[tokio::test]
async fn it_listens_on_a_local_port_and_its_stats_have_every_documented_key() {
    let emu = Emulator::start(json!({}), false);
    assert!(emu.url.starts_with("http://127.0.0.1:"), "{}", emu.url);
    let stats = emu.stats();
    for key in [
        "requests",
        "upgrade_posts",
        "upgrade_jobs",
        "rejected_signatures",
    ] {
        assert!(stats.get(key).is_some(), "stats has {key}: {stats}");
    }
}

/// Refused signatures are counted apart; the API's requests count them with the one
/// accepted after them.
#[tokio::test]
async fn wrong_expired_and_missing_signatures_are_refused_and_counted() {
    let emu = Emulator::start(json!({}), false);
    let path = format!("/v3/{PROJECT_ID}/instances");
    let (status, body) = signed(&emu, "GET", &path, &[], None, "wrong", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_code"], "APIGW.0301");
    assert!(body["request_id"].is_string());
    let (status, body) = signed(
        &emu,
        "GET",
        &path,
        &[],
        None,
        SECRET_KEY,
        Some("20200101T000000Z".into()),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error_code"], "APIGW.0303",
        "an X-Sdk-Date 15+ minutes off has expired"
    );
    let (status, _) = common::http(&emu.url, "GET", &path, None);
    assert_eq!(status, 401, "unsigned requests are refused");
    assert_eq!(emu.stats()["rejected_signatures"], 3);
    let (status, body) = get(&emu, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["total_count"], 5);
    assert_eq!(emu.stats()["requests"]["GET /v3/{project_id}/instances"], 4);
}

#[tokio::test]
async fn another_projects_path_is_forbidden() {
    let emu = Emulator::start(json!({}), false);
    let (status, body) = get(&emu, "/v3/other-project/instances", &[]).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("APIGW.0310"))
    );
}

#[tokio::test]
async fn the_project_is_found_by_its_region_name() {
    let emu = Emulator::start(json!({}), false);
    let (status, body) = get(&emu, "/v3/projects", &[("name", "ap-southeast-1")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["projects"][0]["id"], PROJECT_ID);
}

#[tokio::test]
async fn the_seeds_constraints_are_enforced() {
    let emu = Emulator::start(
        json!({"instances": [
            spec("sql", json!({"engine": "SQLServer", "version": "2019_SE"})),
            spec("pg-old", json!({"engine": "PostgreSQL", "version": "11", "complete_version": "11.1", "latest_version": "11.22"})),
            spec("pg-sick", json!({"engine": "PostgreSQL", "version": "14", "complete_version": "14.8", "latest_version": "14.12", "type": "Ha", "node_statuses": ["ACTIVE", "ABNORMAL"]})),
            spec("pg", json!({"engine": "PostgreSQL", "version": "14", "complete_version": "14.8", "latest_version": "14.12"})),
            spec("frozen", json!({"status": "FROZEN"})),
            spec("replica", json!({"type": "Replica", "primary_id": "frozen"})),
        ]}),
        false,
    );
    let cases = [
        ("sql", json!({}), 403, "DBS.280343"),
        ("pg-old", json!({}), 403, "DBS.280343"),
        ("pg-sick", json!({}), 400, "DBS.201014"),
        ("pg", json!({"is_delayed": true}), 400, "DBS.280343"),
        ("frozen", json!({}), 400, "DBS.201014"),
        ("replica", json!({}), 400, "DBS.200023"),
        ("missing", json!({}), 404, "DBS.200002"),
        ("pg", json!({"is_delayed": "yes"}), 400, "DBS.280001"),
    ];
    for (id, body, status, code) in cases {
        let (got, answer) = upgrade(&emu, id, body).await;
        assert_eq!(
            (got, answer["error_code"].as_str()),
            (status, Some(code)),
            "{id}: {answer}"
        );
    }
    let (status, answer) = upgrade(&emu, "pg", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = upgrade(&emu, "pg", json!({})).await;
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (409, Some("DBS.200019")),
        "busy while running"
    );
    let stats = emu.stats();
    assert_eq!(
        stats["upgrade_posts"]["pg"], 4,
        "every signed POST that reached the handler"
    );
    assert_eq!(stats["upgrade_jobs"]["pg"], 1);
}

/// An emulator whose delayed upgrades start 0.8 s after submission, with the instances
/// `ha` (two AZs, jobs of 2.4 s), `ha-same-az` (one AZ), `later` and `broken` (whose
/// upgrade fails).
fn phases() -> Emulator {
    Emulator::start(
        json!({"window_opens_after_seconds": 0.8, "instances": [
            spec("ha", json!({"type": "Ha", "job_seconds": 2.4, "availability_zones": ["az1", "az2"]})),
            spec("ha-same-az", json!({"type": "Ha", "job_seconds": 0.3, "availability_zones": ["az1", "az1"]})),
            spec("later", json!({"job_seconds": 0.3})),
            spec("broken", json!({"fail_upgrade": true, "job_seconds": 0.3})),
        ]}),
        false,
    )
}

#[tokio::test]
async fn an_ha_upgrade_switches_over_half_way_and_back_with_second_switch() {
    let emu = phases();
    let (_, accepted) = upgrade(&emu, "ha", json!({"second_switch": true})).await;
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let during = instance(&emu, "ha").await;
    assert_eq!(during["status"], "MODIFYING");
    // Switchover at half way (1.2 s); the job ends at 2.4 s.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let switched = instance(&emu, "ha").await;
    assert_eq!(
        switched["nodes"][0]["role"], "slave",
        "switchover at half way: {switched}"
    );
    let (_, running) = job(&emu, &job_id).await;
    assert_eq!(running["job"]["status"], "Running");
    assert!(running["job"]["process"].as_str().unwrap().ends_with('%'));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let done = instance(&emu, "ha").await;
    assert_eq!(done["status"], "ACTIVE");
    assert_eq!(done["datastore"]["complete_version"], "8.0.32");
    assert_eq!(
        done["nodes"][0]["role"], "master",
        "second switch puts the primary back in az1"
    );
    let (_, finished) = job(&emu, &job_id).await;
    assert_eq!(finished["job"]["status"], "Completed");
    assert!(
        finished["job"]["ended"]
            .as_str()
            .unwrap()
            .ends_with("+0000")
    );
}

#[tokio::test]
async fn an_ha_upgrade_within_one_az_does_not_switch_back() {
    let emu = phases();
    let (_, _) = upgrade(&emu, "ha-same-az", json!({"second_switch": true})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        instance(&emu, "ha-same-az").await["nodes"][0]["role"],
        "slave",
        "no switch back within one AZ"
    );
}

#[tokio::test]
async fn a_delayed_upgrade_is_a_scheduled_task_until_its_window_then_a_job() {
    let emu = phases();
    let (_, accepted) = upgrade(&emu, "later", json!({"is_delayed": true})).await;
    let delayed = accepted["job_id"].as_str().unwrap().to_string();
    let (status, answer) = job(&emu, &delayed).await;
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (400, Some("DBS.200543")),
        "not a job until the window"
    );
    let (_, scheduled) = get(&emu, &format!("/v3/{PROJECT_ID}/schedule-tasks"), &[]).await;
    assert_eq!(scheduled["schedule_tasks"][0]["status"], "Pending");
    assert_eq!(
        instance(&emu, "later").await["status"],
        "ACTIVE",
        "nothing happens before the window"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, finished) = job(&emu, &delayed).await;
    assert_eq!(finished["job"]["status"], "Completed");
}

#[tokio::test]
async fn a_failed_upgrade_says_why_and_keeps_the_version() {
    let emu = phases();
    let (_, accepted) = upgrade(&emu, "broken", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, failed) = job(&emu, accepted["job_id"].as_str().unwrap()).await;
    assert_eq!(failed["job"]["status"], "Failed");
    assert!(
        failed["job"]["fail_reason"]
            .as_str()
            .unwrap()
            .contains("rolled back")
    );
    assert_eq!(
        instance(&emu, "broken").await["datastore"]["complete_version"],
        "8.0.28"
    );
}

/// An emulator of the one instance `s` (jobs of 1.5 s) that saves its state to a file.
fn with_state_file() -> Emulator {
    Emulator::start(
        json!({"instances": [spec("s", json!({"job_seconds": 1.5}))]}),
        true,
    )
}

#[tokio::test]
async fn a_throttle_fault_answers_429_apigw_0308() {
    let emu = with_state_file();
    emu.faults(json!({"probability": 1.0, "kinds": ["throttle"], "seed": 1}));
    let (status, body) = get(&emu, &format!("/v3/{PROJECT_ID}/instances"), &[]).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (429, Some("APIGW.0308"))
    );
}

#[tokio::test]
async fn a_server_error_fault_answers_500_or_503() {
    let emu = with_state_file();
    emu.faults(json!({"probability": 1.0, "kinds": ["server_error"], "seed": 1}));
    let (status, _) = get(&emu, &format!("/v3/{PROJECT_ID}/instances"), &[]).await;
    assert!(status == 500 || status == 503);
}

/// Submits the upgrade of `s`, restarts the emulator 0.3 s into the job; the job's id.
async fn upgrade_then_restart(emu: &mut Emulator) -> String {
    let (_, accepted) = upgrade(emu, "s", json!({})).await;
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.restart();
    job_id
}

#[tokio::test]
async fn a_job_carries_on_across_a_restart_with_the_state_file() {
    let mut emu = with_state_file();
    let job_id = upgrade_then_restart(&mut emu).await;
    let (status, running) = job(&emu, &job_id).await;
    assert_eq!(status, 200, "the restarted emulator knows the job");
    assert_eq!(running["job"]["status"], "Running");
    assert_eq!(emu.upgrade_jobs("s"), 1, "counters survive too");
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let (_, done) = job(&emu, &job_id).await;
    assert_eq!(
        done["job"]["status"], "Completed",
        "the job carried on across the restart"
    );
    assert_eq!(
        instance(&emu, "s").await["datastore"]["complete_version"],
        "8.0.32"
    );
}

#[tokio::test]
async fn reset_brings_a_restarted_emulator_back_to_its_configured_start() {
    let mut emu = with_state_file();
    upgrade_then_restart(&mut emu).await;
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(
        instance(&emu, "s").await["datastore"]["complete_version"],
        "8.0.32",
        "upgraded before the reset"
    );
    emu.admin("/__emulator/reset", json!({}));
    assert_eq!(
        instance(&emu, "s").await["datastore"]["complete_version"],
        "8.0.28"
    );
}

/// The names a versions listing answered with.
fn names(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_released_minor_version_is_listed_and_installed_by_later_upgrades() {
    let pg = json!({"engine": "PostgreSQL", "version": "12", "complete_version": "12.18",
                    "latest_version": "12.20"});
    let emu = Emulator::start(
        json!({"instances": [spec("early", json!({"job_seconds": 1.5})), spec("late", json!({})),
                             spec("pg", pg)]}),
        true,
    );
    let (_, early) = upgrade(&emu, "early", json!({})).await;
    assert!(early["job_id"].is_string(), "{early}");
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "postgresql", "version": "12.21"}),
    );
    let mysql = format!("/v3/{PROJECT_ID}/datastores/mysql");
    let (status, listed) = get(&emu, &mysql, &[]).await;
    assert_eq!(status, 200, "{listed}");
    assert!(
        names(&listed, "dataStores").contains(&"8.0.33".to_string()),
        "{listed}"
    );
    let small = format!("/v3/{PROJECT_ID}/datastores/postgresql/small-version");
    let (_, listed) = get(&emu, &small, &[("version", "12")]).await;
    assert!(
        names(&listed, "data_stores").contains(&"12.21".to_string()),
        "{listed}"
    );
    let (_, other_major) = get(&emu, &small, &[("version", "13")]).await;
    assert!(!names(&other_major, "data_stores").contains(&"12.21".to_string()));

    let (_, late) = upgrade(&emu, "late", json!({})).await;
    let (_, pg) = upgrade(&emu, "pg", json!({})).await;
    assert!(late["job_id"].is_string() && pg["job_id"].is_string());
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let version = |v: Value| v["datastore"]["complete_version"].clone();
    assert_eq!(
        version(instance(&emu, "late").await),
        "8.0.33",
        "submitted after the release"
    );
    assert_eq!(version(instance(&emu, "pg").await), "12.21");
    assert_eq!(
        version(instance(&emu, "early").await),
        "8.0.32",
        "submitted before the release: the target of its submission"
    );
    // The release survives a restart.
    let mut emu = emu;
    emu.restart();
    let (_, listed) = get(&emu, &mysql, &[]).await;
    assert!(
        names(&listed, "dataStores").contains(&"8.0.33".to_string()),
        "{listed}"
    );

    for bad in [
        json!({"engine": "SQLServer", "version": "15.0.4"}),
        json!({"engine": "MySQL", "version": "8.0"}),
        json!({"engine": "PostgreSQL", "version": "12.x"}),
        json!({"engine": "MySQL"}),
    ] {
        let (status, body) = common::http(
            &emu.url,
            "POST",
            "/__emulator/versions",
            Some(&bad.to_string()),
        );
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("EMULATOR.0001"), "{body}");
    }
    emu.admin("/__emulator/reset", json!({}));
    let (_, listed) = get(&emu, &mysql, &[]).await;
    assert!(
        !names(&listed, "dataStores").contains(&"8.0.33".to_string()),
        "reset: {listed}"
    );
}

const LIST_INSTANCES: &str = "GET /v3/{project_id}/instances";
const POST_UPGRADE: &str = "POST /v3/{project_id}/instances/{instance_id}/db-upgrade";

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

fn count(stats: &Value, counter: &str, key: &str) -> u64 {
    stats[counter][key].as_u64().unwrap_or(0)
}

/// Sleeps until `offset` seconds after `start`.
async fn sleep_until(start: std::time::Instant, offset: f64) {
    tokio::time::sleep_until((start + Duration::from_secs_f64(offset)).into()).await;
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
    assert_eq!(count(&stats, "requests", LIST_INSTANCES), 60, "{stats}");
    assert_eq!(count(&stats, "throttled", LIST_INSTANCES), 1, "{stats}");
    assert_eq!(count(&stats, "requests", "GET /v3/projects"), 1, "{stats}");
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
    assert_eq!(count(&stats, "requests", LIST_INSTANCES), 4, "{stats}");
    assert_eq!(count(&stats, "throttled", LIST_INSTANCES), 2, "{stats}");
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
        count(&stats, "requests", LIST_INSTANCES),
        6,
        "3 refused signatures and 3 accepted: {stats}"
    );
    assert_eq!(count(&stats, "throttled", LIST_INSTANCES), 2, "{stats}");
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
    assert_eq!(count(&stats, "upgrade_posts", "a"), 1, "{stats}");
    assert_eq!(
        count(&stats, "upgrade_posts", "b"),
        0,
        "a refused POST never reached the handler: {stats}"
    );
    assert_eq!(count(&stats, "upgrade_jobs", "b"), 0, "{stats}");
    assert_eq!(count(&stats, "requests", POST_UPGRADE), 1, "{stats}");
    assert_eq!(count(&stats, "throttled", POST_UPGRADE), 1, "{stats}");
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
    assert_eq!(count(&stats, "throttled", LIST_INSTANCES), 1, "{stats}");
    assert_eq!(count(&stats, "requests", LIST_INSTANCES), 2, "{stats}");
}

/// Seconds since the Unix epoch.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
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

#[tokio::test]
async fn peak_running_upgrades_counts_overlapping_jobs_exactly() {
    let emu = Emulator::start(
        json!({"window_opens_after_seconds": 1.0, "instances": [
            spec("a", json!({"job_seconds": 2.5})),
            spec("b", json!({"job_seconds": 2.5})),
            spec("c", json!({"job_seconds": 1.0})),
            spec("d", json!({"job_seconds": 0.3})),
            spec("e", json!({"job_seconds": 0.3})),
        ]}),
        false,
    );
    assert_eq!(emu.stats()["peak_running_upgrades"], 0);
    let start = std::time::Instant::now();
    assert_eq!(upgrade(&emu, "a", json!({})).await.0, 200);
    assert_eq!(upgrade(&emu, "b", json!({})).await.0, 200);
    assert_eq!(upgrade(&emu, "c", json!({"is_delayed": true})).await.0, 200);
    let submitted = start.elapsed().as_secs_f64();
    assert!(
        submitted < 1.4,
        "c's run (from {submitted} s + 1 s) must overlap a's (to 2.5 s)"
    );
    assert_eq!(
        emu.stats()["peak_running_upgrades"],
        2,
        "the delayed job runs from the window's opening"
    );
    // Nothing looks while all three run: the peak is computed, not sampled.
    sleep_until(start, submitted + 2.2).await;
    let stats = emu.stats();
    assert_eq!(stats["peak_running_upgrades"], 3, "all have ended: {stats}");
    assert_eq!(upgrade(&emu, "d", json!({})).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(upgrade(&emu, "e", json!({})).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = emu.stats();
    assert_eq!(
        stats["peak_running_upgrades"], 3,
        "sequential jobs never overlap: {stats}"
    );
    assert_eq!(stats["upgrade_jobs"].as_object().unwrap().len(), 5);
}

/// Now as the task center's UNIX milliseconds.
fn now_millis() -> String {
    ((unix_now() * 1000.0).floor() as u64).to_string()
}

#[tokio::test]
async fn the_task_center_lists_jobs_created_in_a_time_window() {
    let emu = Emulator::start(
        json!({"instances": [
            spec("a", json!({"job_seconds": 0.2})),
            spec("b", json!({"job_seconds": 0.2})),
            spec("c", json!({"job_seconds": 0.2})),
        ]}),
        false,
    );
    let path = format!("/v3/{PROJECT_ID}/tasklist");
    let first = now_millis();
    let mut ids = Vec::new();
    let mut windows = Vec::new();
    for instance in ["a", "b", "c"] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let before = now_millis();
        let (_, accepted) = upgrade(&emu, instance, json!({})).await;
        ids.push(accepted["job_id"].as_str().unwrap().to_string());
        windows.push((before, now_millis()));
    }
    let last = now_millis();
    let (before_b, after_b) = &windows[1];
    let (status, only_b) = get(
        &emu,
        &path,
        &[("start_time", before_b), ("end_time", after_b)],
    )
    .await;
    assert_eq!(status, 200, "{only_b}");
    assert_eq!(only_b["total_count"], 1, "{only_b}");
    assert_eq!(only_b["tasks"][0]["id"], ids[1].as_str());
    assert_eq!(only_b["tasks"][0]["instance_id"], "b");

    // Pages of one over the whole window: newest first, each job once, the same twice.
    let page = |offset: &'static str| {
        let (first, last) = (first.clone(), last.clone());
        let emu = &emu;
        let path = path.clone();
        async move {
            let (status, body) = get(
                emu,
                &path,
                &[
                    ("start_time", &first),
                    ("end_time", &last),
                    ("limit", "1"),
                    ("offset", offset),
                ],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["total_count"], 3, "{body}");
            body["tasks"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let pages = [page("0").await, page("1").await, page("2").await];
    assert_eq!(
        pages.to_vec(),
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!([page("0").await, page("1").await, page("2").await], pages);
    let (_, past_the_end) = get(&emu, &path, &[("offset", "3")]).await;
    assert_eq!(past_the_end["tasks"], json!([]), "{past_the_end}");

    let (_, by_id) = get(&emu, &path, &[("id", &ids[2])]).await;
    assert_eq!(by_id["total_count"], 1, "{by_id}");
    let (_, before_all) = get(&emu, &path, &[("start_time", "0"), ("end_time", &first)]).await;
    assert_eq!(before_all["total_count"], 0, "{before_all}");

    for query in [
        vec![("start_time", first.as_str())],
        vec![("end_time", last.as_str())],
        vec![("start_time", "yesterday"), ("end_time", last.as_str())],
        vec![("limit", "51")],
        vec![("limit", "0")],
    ] {
        let (status, body) = get(&emu, &path, &query).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (400, Some("DBS.280001")),
            "{query:?}: {body}"
        );
    }
    let (status, body) = get(&emu, &path, &[("limit", "50")]).await;
    assert_eq!((status, body["total_count"].as_u64()), (200, Some(3)));
}

/// Requests waiting at `route`'s gate now.
fn held(emu: &Emulator, route: &str) -> u64 {
    count(&emu.stats(), "held", route)
}

/// Polls (at most 10 s) until `route`'s gate holds `n` requests.
async fn until_held(emu: &Emulator, route: &str, n: u64) {
    let started = std::time::Instant::now();
    while held(emu, route) != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{route} never held {n}: {}",
            emu.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn gate(emu: &Emulator, route: &str, hold: &str) {
    emu.admin("/__emulator/gate", json!({"route": route, "hold": hold}));
}

/// The upgrade of instance `a`, sent once the upgrade route's gate is closed at `hold`
/// and running in the background; returns once the gate holds it.
async fn held_upgrade(
    emu: &std::sync::Arc<Emulator>,
    hold: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    gate(emu, POST_UPGRADE, hold);
    let held = tokio::spawn({
        let emu = emu.clone();
        async move { upgrade(&emu, "a", json!({})).await }
    });
    until_held(emu, POST_UPGRADE, 1).await;
    held
}

#[tokio::test]
async fn a_gate_holds_an_upgrade_before_it_is_processed_until_opened() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "before").await;
    let stats = emu.stats();
    assert_eq!(
        count(&stats, "requests", POST_UPGRADE),
        1,
        "it passed the gateway: {stats}"
    );
    assert_eq!(
        count(&stats, "upgrade_posts", "a"),
        0,
        "not processed yet: {stats}"
    );
    assert_eq!(count(&stats, "upgrade_jobs", "a"), 0, "{stats}");
    // Other routes are not held.
    assert_eq!(instance(&emu, "a").await["status"], "ACTIVE");
    gate(&emu, POST_UPGRADE, "none");
    let (status, body) = held_upgrade.await.expect("the request task");
    assert_eq!(status, 200, "{body}");
    assert!(body["job_id"].is_string(), "{body}");
    assert_eq!(emu.upgrade_jobs("a"), 1);
    assert_eq!(held(&emu, POST_UPGRADE), 0);
}

#[tokio::test]
async fn a_gate_holds_the_answer_of_a_processed_upgrade() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "after").await;
    assert_eq!(emu.upgrade_jobs("a"), 1, "processed: the job exists");
    assert!(!held_upgrade.is_finished(), "but its answer waits");
    gate(&emu, POST_UPGRADE, "none");
    let (status, body) = held_upgrade.await.expect("the request task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(emu.upgrade_jobs("a"), 1);
}

#[tokio::test]
async fn a_request_whose_client_left_while_held_before_processing_is_never_processed() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "before").await;
    // The client goes away (its connection closes) while the request waits.
    held_upgrade.abort();
    until_held(&emu, POST_UPGRADE, 0).await;
    gate(&emu, POST_UPGRADE, "none");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = emu.stats();
    assert_eq!(count(&stats, "upgrade_posts", "a"), 0, "{stats}");
    assert_eq!(count(&stats, "upgrade_jobs", "a"), 0, "{stats}");
    assert_eq!(instance(&emu, "a").await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_gate_names_a_signed_route_and_reset_opens_every_gate() {
    let emu = Emulator::start(json!({"instances": [spec("a", json!({}))]}), false);
    for bad in [
        json!({"route": "POST /nowhere", "hold": "before"}),
        json!({"route": POST_UPGRADE, "hold": "sometimes"}),
    ] {
        let (status, body) =
            common::http(&emu.url, "POST", "/__emulator/gate", Some(&bad.to_string()));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    gate(&emu, POST_UPGRADE, "before");
    emu.admin("/__emulator/reset", json!({}));
    let (status, body) = upgrade(&emu, "a", json!({})).await;
    assert_eq!(status, 200, "not held after the reset: {body}");
}
