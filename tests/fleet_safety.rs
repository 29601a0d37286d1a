//! Fleet safety through real Terraform and the emulator: `max_concurrent_upgrades` caps
//! the upgrade jobs running at once whatever `-parallelism`, `failure_budget` stops
//! submissions once enough upgrades failed, a failed canary keeps a dependent fleet from
//! starting, and Ctrl-C while creates wait for a slot submits nothing for them.

pub mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Emulator, Workspace};
use hwrds::rds::models::parse_time;
use serde_json::json;

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:028}in01")).collect()
}

fn instance(id: &str, job_seconds: f64, fail: bool) -> serde_json::Value {
    json!({"id": id, "name": id, "job_seconds": job_seconds, "fail_upgrade": fail})
}

fn fleet_config(provider: &str, ids: &[String], extra: &str) -> String {
    format!(
        "provider \"hwrds\" {{
{provider}}}

{}",
        common::fixtures::fleet(ids, extra)
    )
}

fn fleet_state(ws: &Workspace) -> HashMap<String, serde_json::Value> {
    ws.fleet_attributes("fleet")
}

fn jobs_started(emu: &Emulator, ids: &[String]) -> u64 {
    ids.iter().map(|id| emu.upgrade_jobs(id)).sum()
}

#[test]
fn the_cap_keeps_at_most_three_upgrades_running_whatever_the_parallelism() {
    let ids = ids("cap", 12);
    let instances: Vec<_> = ids.iter().map(|id| instance(id, 2.0, false)).collect();
    let emu = Emulator::start(json!({ "instances": instances }), false);
    let config = fleet_config("  max_concurrent_upgrades = 3\n", &ids, "");
    let ws = common::workspace(&emu, &config);
    ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=12"])
        .assert_ok();
    let stats = emu.stats();
    assert_eq!(
        stats["peak_running_upgrades"], 3,
        "never more than the cap, and the cap used: {stats}"
    );
    let state = fleet_state(&ws);
    for id in &ids {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: {stats}");
        assert_eq!(state[id]["status"], "Completed", "{}", state[id]);
        assert_eq!(state[id]["version_after"], "8.0.32", "{}", state[id]);
    }
    ws.plan().assert_ok();
}

#[test]
fn a_spent_failure_budget_stops_submissions_and_the_next_apply_upgrades_the_rest_once() {
    let ids = ids("bud", 10);
    let failing = [&ids[1], &ids[4], &ids[7]];
    let spec = |fail: bool| {
        ids.iter()
            .map(|id| {
                let fails = fail && failing.contains(&id);
                instance(id, if fails { 2.0 } else { 6.0 }, fails)
            })
            .collect::<Vec<_>>()
    };
    let emu = Emulator::start(json!({ "instances": spec(true) }), false);
    let config = fleet_config(
        "  max_concurrent_upgrades = 2\n  failure_budget          = 2\n",
        &ids,
        "",
    );
    let ws = common::workspace(&emu, &config);
    let run = ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=12"]);
    let out = run.all();
    assert_ne!(run.code, 0, "the apply fails:\n{out}");
    let stats = emu.stats();
    assert!(
        stats["peak_running_upgrades"].as_u64().unwrap_or(99) <= 2,
        "{stats}"
    );

    let truth = common::truth::read(&emu.url, &ids).expect("task center");
    let failed: Vec<_> = truth
        .iter()
        .flat_map(|i| i.tasks.iter())
        .filter(|t| t.status == "Failed")
        .collect();
    assert!(failed.len() >= 2, "{failed:?}");
    for task in &failed {
        assert!(
            out.contains(&task.instance_id),
            "the failed instance {} is named:\n{out}",
            task.instance_id
        );
    }
    // The moment the second failure could first be seen: its end plus the emulator's
    // record of when a client first saw it finished.
    let noticed = |t: &&hwrds::rds::models::Task| {
        let end = t
            .end_time
            .as_deref()
            .and_then(parse_time)
            .expect("end time");
        let lag = stats["completion_lag_seconds"][&t.id]
            .as_f64()
            .unwrap_or(0.0);
        end + time::Duration::seconds_f64(lag)
    };
    let mut seen: Vec<_> = failed.iter().map(noticed).collect();
    seen.sort();
    let second_seen = seen[1];
    let after: Vec<_> = truth
        .iter()
        .flat_map(|i| i.tasks.iter())
        .filter(|t| {
            // Task-center times have whole seconds: a second of slack.
            t.create_time
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|c| c > second_seen + time::Duration::seconds(1))
        })
        .collect();
    assert!(
        after.is_empty(),
        "submitted after the budget was spent: {after:?}"
    );

    let started = jobs_started(&emu, &ids);
    let blocked = out.matches("Failure budget spent").count() as u64;
    assert!(blocked >= 1, "some creates were stopped:\n{out}");
    assert_eq!(
        started + blocked,
        10,
        "every create either ran or was stopped:\n{out}"
    );
    let state = fleet_state(&ws);
    assert_eq!(
        state.len() as u64,
        started,
        "stopped creates leave no state"
    );

    // The user looked: the fail flags are cleared, and the next apply upgrades the rest.
    let cleared: Vec<_> = failing.iter().map(|id| instance(id, 2.0, false)).collect();
    emu.admin("/__emulator/instances", json!({ "instances": cleared }));
    let before: HashMap<_, _> = ids
        .iter()
        .map(|id| (id.clone(), emu.upgrade_jobs(id)))
        .collect();
    ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=12"])
        .assert_ok();
    let state = fleet_state(&ws);
    for id in &ids {
        let completed_before = truth
            .iter()
            .find(|i| &i.id == id)
            .is_some_and(|i| i.tasks.iter().any(|t| t.status == "Completed"));
        let new_jobs = emu.upgrade_jobs(id) - before[id];
        assert_eq!(
            new_jobs,
            u64::from(!completed_before),
            "{id}: upgraded exactly once in all"
        );
        assert_eq!(state[id]["status"], "Completed", "{}", state[id]);
    }
    ws.plan().assert_ok();
}

#[test]
fn a_failed_canary_keeps_the_fleet_from_starting() {
    let canary = "can0000000000000000000000000000in01".to_string();
    let ids = ids("cfl", 4);
    let mut instances = vec![instance(&canary, 1.0, true)];
    instances.extend(ids.iter().map(|id| instance(id, 1.0, false)));
    let emu = Emulator::start(json!({ "instances": instances }), false);
    let config = format!(
        "resource \"hwrds_db_minor_upgrade\" \"canary\" {{\n  instance_id = \"{canary}\"\n}}\n\n{}",
        fleet_config(
            "",
            &ids,
            "  depends_on  = [hwrds_db_minor_upgrade.canary]\n"
        )
    );
    let ws = common::workspace(&emu, &config);
    let run = ws.run(&["apply", "-auto-approve", "-no-color"]);
    let out = run.all();
    assert_ne!(run.code, 0, "{out}");
    assert!(out.contains("Upgrade job failed"), "{out}");
    assert_eq!(emu.upgrade_jobs(&canary), 1);
    assert_eq!(jobs_started(&emu, &ids), 0, "the fleet submitted nothing");
    assert!(fleet_state(&ws).is_empty());
}

#[test]
fn ctrl_c_while_creates_wait_for_a_slot_submits_nothing_for_them() {
    let ids = ids("ctc", 3);
    let instances: Vec<_> = ids.iter().map(|id| instance(id, 8.0, false)).collect();
    let emu = Emulator::start(json!({ "instances": instances }), false);
    let config = fleet_config("  max_concurrent_upgrades = 1\n", &ids, "");
    let ws = common::workspace(&emu, &config);
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color", "-parallelism=3"],
        "Creating...",
        Duration::from_secs(3),
    );
    let out = run.all();
    assert_eq!(jobs_started(&emu, &ids), 1, "one slot, one job:\n{out}");
    assert!(
        out.contains("Nothing was submitted for instance"),
        "the waiting creates say so:\n{out}"
    );
    let state = fleet_state(&ws);
    assert!(
        state.len() <= 1,
        "waiting creates leave no state: {state:?}"
    );
    assert_eq!(
        emu.stats()["peak_running_upgrades"],
        1,
        "one slot, one at a time"
    );

    ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=3"])
        .assert_ok();
    let state = fleet_state(&ws);
    for id in &ids {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}");
        assert_eq!(state[id]["status"], "Completed", "{}", state[id]);
    }
}
