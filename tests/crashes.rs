//! Crashes and interruptions with real Terraform: the provider killed with SIGKILL while
//! it waits (Terraform loses the result), the emulator restarted from its state file
//! mid-job, Ctrl-C right after the submission — every time the next apply finishes the
//! one job that was started, and nothing is submitted twice.

mod common;

use std::time::Duration;

use common::{Emulator, Workspace, hwrds_workspace};
use serde_json::json;

const ORDERS: &str = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01";
const BODY: &str = "resource \"hwrds_db_minor_upgrade\" \"orders\" {\n  instance_id = \"a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01\"\n}\n";

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn status(ws: &Workspace) -> serde_json::Value {
    ws.resource_attributes("hwrds_db_minor_upgrade.orders")["status"].clone()
}

/// Pids of running hwrds provider processes whose parent is `parent`.
fn provider_children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && comm.contains("terraform-prov") {
            found.push(pid);
        }
    }
    found
}

#[test]
fn provider_killed_mid_wait_then_next_apply_adopts_the_job() {
    killed_mid_wait(10.0, false);
}

/// The job finishes before the next apply: the instance is on the latest version and
/// the task center holds the fresh upgrade, which is adopted rather than repeated.
#[test]
fn provider_killed_then_job_finishes_then_next_apply_adopts_it() {
    killed_mid_wait(3.0, true);
}

fn killed_mid_wait(job_seconds: f64, let_it_finish: bool) {
    let emu = Emulator::start(json!({"job_seconds": job_seconds}), false);
    let (ws, _dir) = hwrds_workspace(common::terraform(), &emu, BODY);
    let mut child = ws
        .command(&["apply", "-auto-approve", "-no-color"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the upgrade is submitted, then kill the provider that waits for it.
    let started = std::time::Instant::now();
    while emu.upgrade_jobs(ORDERS) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let victims = provider_children(child.id());
    assert!(!victims.is_empty(), "the provider process is found");
    for pid in victims {
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    }
    let code = child.wait().unwrap();
    assert!(!code.success(), "the apply fails when its provider dies");

    if let_it_finish {
        std::thread::sleep(Duration::from_secs_f64(job_seconds + 2.0));
    } else {
        let plan = ws.run(&["plan", "-input=false"]);
        plan.assert_ok();
        assert!(
            flat(&plan.all()).contains("An upgrade is already under way"),
            "{}",
            plan.all()
        );
    }
    let run = ws.apply();
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("Adopted an upgrade already under way"),
        "{}",
        run.all()
    );
    assert_eq!(status(&ws), "Completed");
    assert_eq!(
        emu.upgrade_jobs(ORDERS),
        1,
        "the job was adopted, not repeated"
    );
}

#[test]
fn emulator_restarted_mid_job_then_tracking_resumes() {
    let mut emu = Emulator::start(json!({"job_seconds": 8}), true);
    let body = "resource \"hwrds_db_minor_upgrade\" \"orders\" {\n  instance_id = \"a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01\"\n  timeouts {\n    create = \"2s\"\n  }\n}\n";
    let (mut ws, _dir) = hwrds_workspace(common::terraform(), &emu, body);
    ws.apply().assert_ok();
    assert_eq!(status(&ws), "Running");
    let job = ws.resource_attributes("hwrds_db_minor_upgrade.orders")["job_id"].clone();
    emu.restart();
    ws.set_env("HWRDS_ENDPOINT", &emu.url);
    ws.apply().assert_ok();
    let attrs = ws.resource_attributes("hwrds_db_minor_upgrade.orders");
    assert_eq!(attrs["status"], "Completed", "{attrs}");
    assert_eq!(attrs["job_id"], job);
    assert_eq!(attrs["version_after"], "8.0.32");
    assert_eq!(emu.stats()["upgrade_jobs"][ORDERS].as_u64().unwrap_or(0), 1);
}

#[test]
fn ctrl_c_right_after_submitting_keeps_the_job() {
    let emu = Emulator::start(json!({"job_seconds": 6}), false);
    let (ws, _dir) = hwrds_workspace(common::terraform(), &emu, BODY);
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color"],
        "Creating...",
        Duration::from_millis(0),
    );
    let jobs = emu.upgrade_jobs(ORDERS);
    if jobs == 1 {
        assert!(
            flat(&run.all()).contains("Upgrade still running"),
            "{}",
            run.all()
        );
        assert!(status(&ws) == "Running" || status(&ws) == "Completed");
    } else {
        // Interrupted before the request left: nothing submitted, nothing recorded.
        assert_eq!(jobs, 0);
    }
    ws.apply().assert_ok();
    assert_eq!(status(&ws), "Completed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "exactly one job in the end");
}

/// Ctrl-C while the reads before the submission are slow (every request delayed): the
/// create stops before sending the upgrade, records nothing, and the next apply submits
/// the one upgrade.
#[test]
fn ctrl_c_before_submitting_records_nothing_and_submits_nothing() {
    let emu = Emulator::start(json!({"job_seconds": 1}), false);
    let (ws, _dir) = hwrds_workspace(common::terraform(), &emu, BODY);
    // Plan first without faults, so the interrupt lands in the apply's own reads.
    ws.run(&["plan", "-input=false", "-out=tfplan"]).assert_ok();
    emu.faults(json!({"probability": 1.0, "kinds": ["latency"], "seed": 5}));
    let run = ws.run_interrupted(
        &["apply", "-no-color", "tfplan"],
        "Creating...",
        Duration::from_millis(0),
    );
    emu.faults(json!({"probability": 0}));
    let posts = emu.stats()["upgrade_posts"][ORDERS].as_u64().unwrap_or(0);
    eprintln!(
        "interrupted {} the submission",
        if posts == 0 { "before" } else { "after" }
    );
    if posts == 0 {
        assert_eq!(emu.upgrade_jobs(ORDERS), 0);
        assert!(
            flat(&run.all()).contains("interrupted before instance"),
            "{}",
            run.all()
        );
        let state =
            std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
        assert!(
            !state.contains("hwrds_db_minor_upgrade"),
            "nothing recorded: {state}"
        );
    } else {
        // The request had left: its job is in the state.
        assert_eq!(emu.upgrade_jobs(ORDERS), 1);
        assert!(status(&ws) == "Running" || status(&ws) == "Completed");
    }
    ws.apply().assert_ok();
    assert_eq!(status(&ws), "Completed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "exactly one job in the end");
}
