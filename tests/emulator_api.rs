//! hwrds-emulator's contract and behaviour, over real HTTP with hand-signed requests:
//! the CLI's first line, stats shape, signature refusals, the seed's constraints, busy
//! instances, HA phases, delayed upgrades, failed jobs, faults and the state file.

mod common;

use std::time::Duration;

use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY};
use hwrds::rds::signer::{SignableRequest, authorization};
use serde_json::{Value, json};

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
        ACCESS_KEY,
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
    let client = reqwest::Client::new();
    let response = client
        .request(method.parse().unwrap(), url)
        .header("X-Sdk-Date", &headers[1].1)
        .header("Authorization", auth)
        .body(body_bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response has X-Request-Id"
    );
    let text = response.text().await.unwrap();
    (
        status,
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
async fn contract_and_signature_refusals() {
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
    let (status, body) = get(&emu, "/v3/other-project/instances", &[]).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("APIGW.0310"))
    );
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

#[tokio::test]
async fn ha_upgrade_phases_delayed_window_and_failure() {
    let emu = Emulator::start(
        json!({"window_opens_after_seconds": 0.8, "instances": [
            spec("ha", json!({"type": "Ha", "job_seconds": 2.4, "availability_zones": ["az1", "az2"]})),
            spec("ha-same-az", json!({"type": "Ha", "job_seconds": 0.3, "availability_zones": ["az1", "az1"]})),
            spec("later", json!({"job_seconds": 0.3})),
            spec("broken", json!({"fail_upgrade": true, "job_seconds": 0.3})),
        ]}),
        false,
    );
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

    let (_, _) = upgrade(&emu, "ha-same-az", json!({"second_switch": true})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        instance(&emu, "ha-same-az").await["nodes"][0]["role"],
        "slave",
        "no switch back within one AZ"
    );

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

#[tokio::test]
async fn faults_and_the_state_file() {
    let mut emu = Emulator::start(
        json!({"instances": [spec("s", json!({"job_seconds": 1.5}))]}),
        true,
    );
    emu.faults(json!({"probability": 1.0, "kinds": ["throttle"], "seed": 1}));
    let (status, body) = get(&emu, &format!("/v3/{PROJECT_ID}/instances"), &[]).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (429, Some("APIGW.0308"))
    );
    emu.faults(json!({"probability": 1.0, "kinds": ["server_error"], "seed": 1}));
    let (status, _) = get(&emu, &format!("/v3/{PROJECT_ID}/instances"), &[]).await;
    assert!(status == 500 || status == 503);
    emu.faults(json!({"probability": 0}));

    let (_, accepted) = upgrade(&emu, "s", json!({})).await;
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.restart();
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

    emu.admin("/__emulator/reset", json!({}));
    assert_eq!(
        instance(&emu, "s").await["datastore"]["complete_version"],
        "8.0.28"
    );
}
