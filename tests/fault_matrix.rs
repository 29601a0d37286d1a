//! The fault matrix, end to end: real Terraform upgrades a fleet with
//! `hwrds_db_minor_upgrade` for_each while the emulator injects one fault kind at a given
//! rate. Every cell must end with every apply finished (re-applying as a user would, at
//! most 4 applies), exactly one upgrade job per instance, and a state whose jobs are
//! Completed and are the emulator's own (same job id, status and version).
//!
//! `make test` runs the short matrix (each kind at 30 % on 8 instances); `make soak`
//! (`HWRDS_SOAK=1`) the full one: each kind at 10, 30 and 50 % on 20 instances. One
//! summary line per cell goes to stderr (`--nocapture` shows them).

pub mod common;

use std::time::{Duration, Instant};

use common::{Emulator, truth};
use serde_json::{Value, json};

const MAX_APPLIES: u32 = 4;

fn soak() -> bool {
    std::env::var("HWRDS_SOAK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// (rates, fleet size) for this run.
fn plan() -> (&'static [f64], usize) {
    if soak() {
        (&[0.1, 0.3, 0.5], 20)
    } else {
        (&[0.3], 8)
    }
}

const FLEET: &str = r#"provider "hwrds" {
  max_retries = 10
}
data "hwrds_db_instances" "all" {}
resource "hwrds_db_minor_upgrade" "fleet" {
  for_each    = { for i in data.hwrds_db_instances.all.instances : i.id => i }
  instance_id = each.key
}
"#;

/// What the emulator itself says about an instance's upgrade: (job id, status, version).
fn emulator_truth(emu: &Emulator, ids: &[String]) -> Vec<(String, String, String)> {
    truth::read(&emu.url, ids)
        .unwrap()
        .into_iter()
        .map(|instance| {
            let tasks = &instance.tasks;
            assert_eq!(tasks.len(), 1, "{}: {tasks:?}", instance.id);
            (
                tasks[0].id.clone(),
                tasks[0].status.clone(),
                instance.version,
            )
        })
        .collect()
}

fn cell(kind: &str, rate: f64, size: usize) {
    let ids: Vec<String> = (0..size)
        .map(|i| format!("fm{:02}{i:028}in01", kind.len()))
        .collect();
    let instances: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"id": id, "name": format!("{kind}-{i:02}")}))
        .collect();
    let emu = Emulator::start(json!({"job_seconds": 1, "instances": instances}), false);
    emu.faults(json!({"probability": rate, "kinds": [kind], "seed": 7}));
    let ws = common::workspace(&emu, FLEET);
    let started = Instant::now();
    let mut applies = 0;
    loop {
        applies += 1;
        let run = ws.run_with_timeout(
            &["apply", "-auto-approve", "-input=false"],
            Duration::from_secs(300),
        );
        if run.code == 0 {
            break;
        }
        assert!(
            applies < MAX_APPLIES,
            "{kind} at {rate}: {applies} applies failed; the last:\n{}",
            run.all()
        );
    }
    let took = started.elapsed();
    let faulted_stats = emu.stats();
    emu.faults(json!({"probability": 0}));
    let requests: u64 = faulted_stats["requests"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    for id in &ids {
        assert_eq!(
            emu.upgrade_jobs(id),
            1,
            "{kind} at {rate}: {id}: {faulted_stats}"
        );
    }
    let state = ws.state();
    let in_state: Vec<(String, Value)> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "hwrds_db_minor_upgrade")
        .flat_map(|r| r["instances"].as_array().unwrap().clone())
        .map(|i| {
            (
                i["index_key"].as_str().unwrap().to_string(),
                i["attributes"].clone(),
            )
        })
        .collect();
    assert_eq!(in_state.len(), size, "{kind} at {rate}: {state}");
    let truth = emulator_truth(&emu, &ids);
    for (id, (job_id, status, version)) in ids.iter().zip(&truth) {
        let (_, attrs) = in_state
            .iter()
            .find(|(key, _)| key == id)
            .unwrap_or_else(|| panic!("{kind} at {rate}: {id} not in state"));
        assert_eq!(
            attrs["status"], "Completed",
            "{kind} at {rate}: {id}: {attrs}"
        );
        assert_eq!(status, "Completed", "{kind} at {rate}: {id}");
        assert_eq!(
            attrs["job_id"],
            job_id.as_str(),
            "{kind} at {rate}: {id}: {attrs}"
        );
        assert_eq!(
            attrs["version_after"],
            version.as_str(),
            "{kind} at {rate}: {id}: {attrs}"
        );
    }
    eprintln!(
        "fault matrix: {kind:<22} rate {rate:.1}  instances {size:>2}  applies {applies}  \
         requests {requests:>4}  jobs/instance 1  all Completed  {:.1} s",
        took.as_secs_f64()
    );
}

fn row(kind: &str) {
    let (rates, size) = plan();
    for &rate in rates {
        cell(kind, rate, size);
    }
}

#[test]
fn throttle() {
    row("throttle");
}

#[test]
fn server_error() {
    row("server_error");
}

#[test]
fn reset_after_processing() {
    row("reset_after_processing");
}

#[test]
fn latency() {
    row("latency");
}
