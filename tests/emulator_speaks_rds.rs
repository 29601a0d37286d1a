//! hwrds-emulator speaks the RDS API as the cloud does, over real HTTP with hand-signed
//! requests: the CLI's first line, stats shape, signature refusals, the seed's
//! constraints, busy instances, HA phases, delayed upgrades, failed jobs, faults and the
//! state file; minor versions released at run time; the peak of running upgrades and the
//! task center's time window.

pub mod common;

use std::time::Duration;

use common::signed::*;
use common::{Emulator, PROJECT_ID, SECRET_KEY};
use serde_json::{Value, json};

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
