//! Crashes and interruptions with real Terraform: the provider killed with SIGKILL while
//! it waits (Terraform loses the result), Terraform itself SIGKILLed once the upgrade was
//! submitted (an OOM kill, a cancelled pipeline: nothing is written to the state for the
//! create in flight), the emulator restarted from its state file mid-job, Ctrl-C right
//! after the submission — every time the next apply finishes the one job that was
//! started, and nothing is submitted twice.

mod common;

use std::time::Duration;

use common::processes::{provider_children, signal};
use common::{Emulator, Workspace, hwrds_workspace, truth};
use serde_json::json;

const ORDERS: &str = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01";
const BODY: &str = "resource \"hwrds_db_minor_upgrade\" \"orders\" {\n  instance_id = \"a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01\"\n}\n";

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn status(ws: &Workspace) -> serde_json::Value {
    ws.resource_attributes("hwrds_db_minor_upgrade.orders")["status"].clone()
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
        signal(pid, "KILL");
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

/// How the job of a SIGKILLed Terraform is found by the next run.
#[derive(Clone, Copy, PartialEq)]
enum NextRun {
    /// Plans and applies while the job still runs.
    WhileRunning,
    /// Waits until the job has finished: the instance is on the latest version.
    AfterItFinished,
    /// A delayed upgrade, still waiting for the maintenance window.
    WhileScheduled,
}

/// Terraform is SIGKILLed once the upgrade of `instance` was submitted (its provider goes
/// too, as a cancelled CI job's would): the state has no record of it. The next plan
/// shows the create without an error, and the next apply adopts the job — still exactly
/// one, the state has its id and ends `Completed`, and the plan after is empty.
fn terraform_killed_after_submitting(instance: serde_json::Value, next: NextRun) {
    let id = instance["id"].as_str().expect("instance id").to_string();
    let delayed = next == NextRun::WhileScheduled;
    let emu = Emulator::start(
        json!({"job_seconds": 6, "window_opens_after_seconds": 10, "instances": [instance]}),
        false,
    );
    // A delayed upgrade's apply returns once it is submitted; waiting for the job keeps
    // Terraform busy while the kill comes.
    let options = if delayed {
        "  is_delayed          = true\n  wait_for_completion = true\n"
    } else {
        ""
    };
    let resource = |options: &str| {
        format!(
            "resource \"hwrds_db_minor_upgrade\" \"it\" {{\n  instance_id = \"{id}\"\n{options}}}\n"
        )
    };
    let (ws, _dir) = hwrds_workspace(common::terraform(), &emu, &resource(options));
    let apply = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
    let started = std::time::Instant::now();
    while emu.upgrade_jobs(&id) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job started:\n{}",
            apply.stdout_so_far()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let providers = provider_children(apply.pid());
    signal(apply.pid(), "KILL");
    for pid in providers {
        signal(pid, "KILL");
    }
    let killed = apply.wait(Duration::from_secs(30));
    assert_eq!(killed.code, -1, "terraform died of the signal");
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    assert!(
        !state.contains("hwrds_db_minor_upgrade"),
        "a SIGKILLed Terraform records nothing of the create in flight: {state}"
    );

    if delayed {
        // The next run does not wait for the window: it records the scheduled job.
        ws.write(
            "main.tf",
            &format!(
                "{}{}",
                common::HWRDS_HEADER,
                resource("  is_delayed = true\n")
            ),
        );
    }
    if next == NextRun::AfterItFinished {
        std::thread::sleep(Duration::from_secs(8));
    }
    let plan = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    assert_eq!(
        plan.code,
        2,
        "the plan shows the create, without an error:\n{}",
        plan.all()
    );
    let run = ws.apply();
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("Adopted an upgrade already under way"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.upgrade_jobs(&id),
        1,
        "the job was adopted, not repeated"
    );
    let attrs = ws.resource_attributes("hwrds_db_minor_upgrade.it");
    if delayed {
        assert_eq!(attrs["status"], "Scheduled", "{attrs}");
        let scheduled = truth::read(&emu.url, std::slice::from_ref(&id)).expect("emulator")[0]
            .scheduled
            .clone();
        assert_eq!(scheduled.len(), 1, "{scheduled:?}");
        assert_eq!(attrs["job_id"], scheduled[0].id.as_str(), "{attrs}");
        // The window opens 10 s after the submission, the job takes 6 s.
        let done = started + Duration::from_secs(18);
        std::thread::sleep(done.saturating_duration_since(std::time::Instant::now()));
        ws.run(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
            .assert_ok();
    }
    let attrs = ws.resource_attributes("hwrds_db_minor_upgrade.it");
    let emulator = &truth::read(&emu.url, std::slice::from_ref(&id)).expect("emulator")[0];
    assert_eq!(attrs["status"], "Completed", "{attrs}");
    assert_eq!(emulator.tasks.len(), 1, "{:?}", emulator.tasks);
    assert_eq!(attrs["job_id"], emulator.tasks[0].id.as_str(), "{attrs}");
    assert_eq!(emulator.tasks[0].status, "Completed");
    assert_eq!(attrs["version_after"], emulator.version.as_str(), "{attrs}");
    assert_eq!(emu.upgrade_jobs(&id), 1);
    let plan = ws.plan();
    assert_eq!(plan.code, 0, "the final plan is empty:\n{}", plan.all());
}

#[test]
fn terraform_killed_mid_apply_mysql_ha_next_apply_adopts_the_running_job() {
    terraform_killed_after_submitting(
        json!({"id": "k1ha0000000000000000000000000000in01", "name": "ha",
               "type": "Ha", "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"]}),
        NextRun::WhileRunning,
    );
}

#[test]
fn terraform_killed_mid_apply_mysql_single_next_apply_adopts_the_finished_job() {
    terraform_killed_after_submitting(
        json!({"id": "k2single000000000000000000000000in01", "name": "single"}),
        NextRun::AfterItFinished,
    );
}

/// The PostgreSQL primary/standby whose job API does not answer (task-center tracking):
/// its own running upgrade makes the standby `UPGRADING`, which must not read as an
/// abnormal node that forbids the upgrade.
#[test]
fn terraform_killed_mid_apply_postgresql_next_apply_adopts_the_running_job() {
    terraform_killed_after_submitting(
        json!({"id": "k3pg00000000000000000000000000000in03", "name": "pg",
               "engine": "PostgreSQL", "version": "14", "complete_version": "14.8",
               "latest_version": "14.12", "type": "Ha", "job_queryable": false}),
        NextRun::WhileRunning,
    );
}

#[test]
fn terraform_killed_mid_apply_delayed_mysql_next_apply_adopts_the_scheduled_job() {
    terraform_killed_after_submitting(
        json!({"id": "k4delayed00000000000000000000000in01", "name": "delayed"}),
        NextRun::WhileScheduled,
    );
}
