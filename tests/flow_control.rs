//! Fleets under the API's flow control, with real Terraform and the emulator enforcing
//! a scaled-down policy: every apply succeeds within the quota, one job per instance,
//! the state equals the emulator, a 429 storm delays an apply without failing it (past
//! the create timeout the job id is still kept), and an upgrade run elsewhere while a
//! submission waits for its quota is adopted instead of run a second time.

pub mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::fixtures::POST_UPGRADE;
use common::processes::Running;
use common::{Emulator, Workspace, hwrds_workspace};
use serde_json::json;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("fc{i:030}in01")).collect()
}

/// A mixed fleet: MySQL single and HA, PostgreSQL whose jobs the job API does not know.
fn fleet(ids: &[String], job_seconds: f64) -> Vec<serde_json::Value> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| match i % 3 {
            0 => json!({"id": id, "name": id, "type": "Single", "job_seconds": job_seconds}),
            1 => json!({"id": id, "name": id, "type": "Ha", "job_seconds": job_seconds}),
            _ => json!({"id": id, "name": id, "engine": "PostgreSQL", "version": "14",
                        "complete_version": "14.8", "latest_version": "14.12",
                        "job_queryable": false, "job_seconds": job_seconds}),
        })
        .collect()
}

/// The emulator's newest upgrade job (id, status) of each of `ids`, read as a user would:
/// the task center.
fn jobs_by_instance(emu: &Emulator, ids: &[String]) -> HashMap<String, (String, String)> {
    common::truth::read(&emu.url, ids)
        .expect("task center")
        .into_iter()
        .filter_map(|i| {
            let task = i.tasks.first()?.clone();
            Some((i.id, (task.id, task.status)))
        })
        .collect()
}

fn fleet_state(ws: &Workspace) -> HashMap<String, serde_json::Value> {
    let fleet = ws.fleet_attributes("fleet");
    assert!(!fleet.is_empty(), "fleet in state");
    fleet
}

/// `terraform apply` of `ws` in the background, once it has submitted an upgrade of one
/// of `ids`.
fn apply_until_submitted(ws: &Workspace, emu: &Emulator, ids: &[String]) -> Running {
    let apply = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    apply.until("a submission", || {
        ids.iter().map(|id| emu.upgrade_jobs(id)).sum::<u64>() > 0
    });
    apply
}

/// Waits for a background apply to finish (a storm may hold it for minutes).
fn finish(apply: Running) -> common::Run {
    apply.wait(Duration::from_secs(600))
}

#[test]
fn fleet_applies_within_a_scaled_down_policy() {
    let ids = ids(12);
    let emu = Emulator::start(
        json!({"instances": fleet(&ids, 4.0),
               "flow_control": {"enabled": true, "limit": 10, "window_seconds": 2}}),
        false,
    );
    let mut ws = hwrds_workspace(
        common::terraform(),
        &emu,
        &common::fixtures::fleet(&ids, ""),
    );
    // The provider assumes far more than the emulator allows, and learns the real policy
    // from the 429 bodies.
    ws.set_env("HWRDS_API_QUOTA_PER_MINUTE", "6000");
    ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=12"])
        .assert_ok();
    let stats = emu.stats();
    for id in &ids {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: {stats}");
    }
    let jobs = jobs_by_instance(&emu, &ids);
    let state = fleet_state(&ws);
    assert_eq!(state.len(), ids.len());
    for id in &ids {
        let (job, status) = &jobs[id];
        assert_eq!(state[id]["job_id"], job.as_str(), "{id}");
        assert_eq!(status, "Completed", "{id}");
        assert_eq!(state[id]["status"], "Completed", "{id}: {}", state[id]);
        assert!(state[id]["version_after"].is_string(), "{}", state[id]);
    }
    ws.run(&["plan", "-detailed-exitcode", "-no-color"])
        .assert_ok();
    let (accepted, throttled) = (
        common::stats_total(&stats, "requests"),
        common::stats_total(&stats, "throttled"),
    );
    eprintln!(
        "accepted {accepted}, throttled {throttled}: {}",
        stats["throttled"]
    );
    assert!(throttled > 0, "the policy was never reached: {stats}");
    assert!(
        throttled * 5 <= accepted,
        "more than one request in six refused: {accepted} accepted, {throttled} throttled"
    );
    // One tracker follows the fleet with listings of the task center: fewer requests than
    // instances (each job followed alone would take a dozen polls).
    let tracking: u64 = ["GET /v3/{project_id}/tasklist", "GET /v3/{project_id}/jobs"]
        .iter()
        .map(|route| stats["requests"][route].as_u64().unwrap_or(0))
        .sum();
    eprintln!("tracking requests: {tracking} for {} jobs", ids.len());
    assert!(
        tracking <= ids.len() as u64,
        "tracking took {tracking} requests for {} jobs: {stats}",
        ids.len()
    );
}

#[test]
fn an_upgrade_run_elsewhere_while_a_submission_waits_for_its_quota_is_adopted() {
    // One submission per 20 s for each user: ours waits for its slot while a console user
    // (another access key, its own quota) upgrades the same instance in 1 s.
    let console = ("CONSOLEUSERAK00000000", "console-user-secret");
    let ids = ids(2);
    let emu = Emulator::start(
        json!({"instances": fleet(&ids, 1.0),
               "extra_credentials": [{"access_key": console.0, "secret_key": console.1}],
               "flow_control": {"enabled": true,
                                "routes": {POST_UPGRADE: {"limit": 1, "window_seconds": 20}}}}),
        false,
    );
    // Our user's slot is spent on another instance first.
    common::client::console_upgrade(&emu.url, &ids[1]).expect("spending the slot");
    let ws = hwrds_workspace(
        common::terraform(),
        &emu,
        &common::fixtures::upgrade("x", &ids[0], ""),
    );
    let apply = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    apply.until("our submission refused for its quota", || {
        emu.stats()["throttled"][POST_UPGRADE].as_u64().unwrap_or(0) > 0
    });
    let by_console = common::client::console_upgrade_by(
        common::client::EmulatorClient::new(&emu.url).user(console.0, console.1),
        &ids[0],
    )
    .expect("the console's upgrade");
    let run = finish(apply);
    assert_eq!(run.code, 0, "{}", run.all());
    let stats = emu.stats();
    assert_eq!(
        emu.upgrade_jobs(&ids[0]),
        1,
        "the instance was upgraded twice: {stats}"
    );
    let state = ws.resource_attributes("hwrds_db_minor_upgrade.x");
    assert_eq!(state["job_id"], by_console.as_str(), "{state}");
    assert_eq!(state["status"], "Completed", "{state}");
}

#[test]
fn a_429_storm_delays_an_apply_without_failing_it() {
    let ids = ids(3);
    let emu = Emulator::start(
        json!({"instances": fleet(&ids, 3.0), "flow_control": {"enabled": true}}),
        false,
    );
    let ws = hwrds_workspace(
        common::terraform(),
        &emu,
        &common::fixtures::fleet(&ids, ""),
    );
    let apply = apply_until_submitted(&ws, &emu, &ids);
    // Another client exhausts the quota for 8 s: one request per API per 4 s for all.
    emu.admin(
        "/__emulator/flow_control",
        json!({"enabled": true, "limit": 1, "window_seconds": 4}),
    );
    std::thread::sleep(Duration::from_secs(8));
    emu.admin("/__emulator/flow_control", json!({"enabled": true}));
    let run = finish(apply);
    assert_eq!(run.code, 0, "{}", run.all());
    let stats = emu.stats();
    assert!(
        common::stats_total(&stats, "throttled") > 0,
        "no storm reached the provider: {stats}"
    );
    let state = fleet_state(&ws);
    for id in &ids {
        assert_eq!(emu.upgrade_jobs(id), 1, "{stats}");
        assert_eq!(state[id]["status"], "Completed", "{}", state[id]);
    }
}

#[test]
fn past_the_create_timeout_under_a_storm_the_job_id_is_kept() {
    let ids = ids(1);
    let emu = Emulator::start(
        json!({"instances": fleet(&ids, 30.0), "flow_control": {"enabled": true}}),
        false,
    );
    let timeouts = "  timeouts {\n    create = \"6s\"\n  }\n";
    let ws = hwrds_workspace(
        common::terraform(),
        &emu,
        &common::fixtures::fleet(&ids, timeouts),
    );
    let apply = apply_until_submitted(&ws, &emu, &ids);
    // Every API refuses nearly everything until well past the create timeout.
    emu.admin(
        "/__emulator/flow_control",
        json!({"enabled": true, "limit": 1, "window_seconds": 30}),
    );
    let run = finish(apply);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("Upgrade still running"), "{}", run.all());
    emu.admin("/__emulator/flow_control", json!({"enabled": true}));
    let state = fleet_state(&ws);
    let (job, _) = &jobs_by_instance(&emu, &ids)[&ids[0]];
    assert_eq!(state[&ids[0]]["job_id"], job.as_str());
    assert_eq!(emu.upgrade_jobs(&ids[0]), 1);
}
