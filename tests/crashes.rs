//! Crashes and interruptions with real Terraform, each on one side of the submission
//! (the emulator's gates hold the upgrade POST before or after it is processed): the
//! provider SIGKILLed while its POST waits unprocessed (nothing runs; the next apply
//! submits once), after it was processed but before its answer, or while it waits for
//! the job (the next apply adopts the job); Terraform itself SIGKILLed once the upgrade
//! was submitted (an OOM kill, a cancelled pipeline: nothing is written to the state for
//! the create in flight); the emulator restarted from its state file mid-job; Ctrl-C
//! while the POST is held before or after processing (the job is kept) or while it waits
//! for its quota (nothing is submitted, nothing recorded). Every time the next apply
//! finishes the one job that was started, and nothing is submitted twice.

pub mod common;

use std::time::Duration;

use common::client::console_upgrade;
use common::fixtures::{ORDERS, PAYMENTS, flat, upgrade};
use common::processes::{Running, provider_children, signal};
use common::{Emulator, Workspace, hwrds_workspace, truth};
use hwrds::rds::Api;
use serde_json::json;

fn body() -> String {
    upgrade("orders", ORDERS, "")
}

fn status(ws: &Workspace) -> serde_json::Value {
    ws.resource_attributes("hwrds_db_minor_upgrade.orders")["status"].clone()
}

/// `terraform apply` of `ws` in the background.
fn apply_in_background(ws: &Workspace) -> Running {
    ws.spawn(&["apply", "-auto-approve", "-input=false"])
}

/// What the state file holds (empty when there is none).
fn state_text(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default()
}

/// The next apply adopts the upgrade of `instance_id` under way: still the one job.
fn next_apply_adopts(emu: &Emulator, ws: &Workspace, instance_id: &str) {
    let run = ws.apply();
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("Adopted an upgrade already under way"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.upgrade_jobs(instance_id),
        1,
        "the job was adopted, not repeated"
    );
}

/// The next plan says an upgrade is under way, the next apply adopts it and finishes it:
/// still the one job.
fn next_apply_adopts_the_one_job(emu: &Emulator, ws: &Workspace) {
    let plan = ws.run(&["plan", "-input=false"]);
    plan.assert_ok();
    assert!(
        flat(&plan.all()).contains("An upgrade is already under way"),
        "{}",
        plan.all()
    );
    next_apply_adopts(emu, ws, ORDERS);
    assert_eq!(status(ws), "Completed");
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
    let ws = common::workspace(&emu, &body());
    let apply = apply_in_background(&ws);
    // Wait until the upgrade is submitted, then kill the provider that waits for it.
    apply.until("a job started", || emu.upgrade_jobs(ORDERS) > 0);
    std::thread::sleep(Duration::from_millis(500));
    apply.kill_providers();
    let run = apply.wait(Duration::from_secs(30));
    assert_ne!(run.code, 0, "the apply fails when its provider dies");

    if let_it_finish {
        std::thread::sleep(Duration::from_secs_f64(job_seconds + 2.0));
        next_apply_adopts(&emu, &ws, ORDERS);
        assert_eq!(status(&ws), "Completed");
    } else {
        next_apply_adopts_the_one_job(&emu, &ws);
    }
}

/// The provider dies while its upgrade POST waits at the gateway, before the service
/// processed it: the request goes with its connection, no job runs, nothing is in the
/// state, and the next apply submits the one upgrade.
#[test]
fn provider_killed_while_the_submission_is_unprocessed_then_no_job_and_next_apply_submits_once() {
    let emu = Emulator::demo(2.0);
    let ws = common::workspace(&emu, &body());
    emu.gate(Api::Upgrade.route(), "before");
    let apply = apply_in_background(&ws);
    apply.until("the upgrade POST held before processing", || {
        emu.held(Api::Upgrade.route()) == 1
    });
    apply.kill_providers();
    // The emulator lets go of the request once its connection is gone.
    apply.until("the held request let go", || {
        emu.held(Api::Upgrade.route()) == 0
    });
    let run = apply.wait(Duration::from_secs(30));
    assert_ne!(run.code, 0, "the apply fails when its provider dies");
    emu.gate(Api::Upgrade.route(), "none");
    assert_eq!(emu.upgrade_posts(ORDERS), 0, "never processed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 0, "no job runs");
    assert!(
        !state_text(&ws).contains("hwrds_db_minor_upgrade"),
        "nothing recorded: {}",
        state_text(&ws)
    );
    let run = ws.apply();
    run.assert_ok();
    assert!(
        !flat(&run.all()).contains("Adopted an upgrade already under way"),
        "there was nothing to adopt: {}",
        run.all()
    );
    assert_eq!(status(&ws), "Completed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "submitted once");
}

/// The provider dies after the service processed its upgrade POST (the job runs) but
/// before the answer with the job id reached it: nothing is in the state, and the next
/// plan and apply find the job and adopt it.
#[test]
fn provider_killed_after_the_submission_was_processed_before_its_answer_then_next_apply_adopts_the_job()
 {
    let emu = Emulator::demo(10.0);
    let ws = common::workspace(&emu, &body());
    emu.gate(Api::Upgrade.route(), "after");
    let apply = apply_in_background(&ws);
    apply.until("the answer to the upgrade POST held", || {
        emu.held(Api::Upgrade.route()) == 1
    });
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "processed: the job runs");
    apply.kill_providers();
    let run = apply.wait(Duration::from_secs(30));
    assert_ne!(run.code, 0, "the apply fails when its provider dies");
    emu.gate(Api::Upgrade.route(), "none");
    assert!(
        !state_text(&ws).contains("hwrds_db_minor_upgrade"),
        "nothing recorded: {}",
        state_text(&ws)
    );
    next_apply_adopts_the_one_job(&emu, &ws);
}

#[test]
fn emulator_restarted_mid_job_then_tracking_resumes() {
    let mut emu = Emulator::start(json!({"job_seconds": 8}), true);
    let body = upgrade("orders", ORDERS, "  timeouts {\n    create = \"2s\"\n  }\n");
    let mut ws = common::workspace(&emu, &body);
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
fn ctrl_c_while_the_submission_is_held_before_processing_sees_it_through_and_keeps_the_job() {
    ctrl_c_while_the_submission_is_held("before");
}

#[test]
fn ctrl_c_while_the_answer_to_the_submission_is_held_keeps_the_job() {
    ctrl_c_while_the_submission_is_held("after");
}

/// Ctrl-C while the upgrade POST is held at `hold` processing: a sent submission is seen
/// through to its answer, whose job the state records as still running; the next apply
/// finishes that one job.
fn ctrl_c_while_the_submission_is_held(hold: &str) {
    let emu = Emulator::demo(6.0);
    let ws = common::workspace(&emu, &body());
    emu.gate(Api::Upgrade.route(), hold);
    let apply = apply_in_background(&ws);
    apply.until("the upgrade POST held", || {
        emu.held(Api::Upgrade.route()) == 1
    });
    signal(apply.pid(), "INT");
    apply.until("Terraform saw the interrupt", || {
        apply.stdout_so_far().contains("Interrupt received")
    });
    // Let Terraform's stop reach the provider while the request is still held.
    std::thread::sleep(Duration::from_millis(500));
    emu.gate(Api::Upgrade.route(), "none");
    let run = apply.wait(Duration::from_secs(60));
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    assert!(
        flat(&run.all()).contains("Upgrade still running"),
        "{}",
        run.all()
    );
    assert_eq!(status(&ws), "Running", "{}", run.all());
    ws.apply().assert_ok();
    assert_eq!(status(&ws), "Completed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "exactly one job in the end");
}

/// Ctrl-C while the submission waits for its API's quota (another client spent it; the
/// gateway refused the POST unprocessed): the create stops before sending the upgrade
/// again, records nothing, and the next apply submits the one upgrade.
#[test]
fn ctrl_c_before_submitting_records_nothing_and_submits_nothing() {
    let emu = Emulator::start(
        json!({"job_seconds": 1, "flow_control": {"enabled": true,
               "routes": {Api::Upgrade.route(): {"limit": 1, "window_seconds": 600}}}}),
        false,
    );
    // The console's upgrade of another instance spends the POST's quota for 10 minutes.
    console_upgrade(&emu.url, PAYMENTS).expect("console upgrade accepted");
    let ws = common::workspace(&emu, &body());
    let apply = apply_in_background(&ws);
    let throttled = || {
        emu.stats()["throttled"][Api::Upgrade.route()]
            .as_u64()
            .unwrap_or(0)
    };
    apply.until("the upgrade POST refused for its quota", || throttled() > 0);
    signal(apply.pid(), "INT");
    let run = apply.wait(Duration::from_secs(60));
    assert_eq!(emu.upgrade_posts(ORDERS), 0, "{}", emu.stats());
    assert_eq!(emu.upgrade_jobs(ORDERS), 0);
    assert!(
        flat(&run.all()).contains("interrupted before instance"),
        "{}",
        run.all()
    );
    assert!(
        !state_text(&ws).contains("hwrds_db_minor_upgrade"),
        "nothing recorded: {}",
        state_text(&ws)
    );
    emu.admin("/__emulator/flow_control", json!({"enabled": false}));
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
    let resource = |options: &str| upgrade("it", &id, options);
    let ws = common::workspace(&emu, &resource(options));
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
    let state = state_text(&ws);
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
    next_apply_adopts(&emu, &ws, &id);
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

/// A fleet under flow control (4 requests per 8 s per API) has its provider SIGKILLed
/// while it submits: some upgrades are running, the rest not yet sent. The apply run at
/// once must succeed — no lockout: the instances whose upgrades the killed run submitted
/// show as not ACTIVE (and a PostgreSQL standby as abnormal) in the listing that the plan
/// reads first, while the look for their upgrades waits for its quota long enough for
/// those short jobs to end; the checks must judge by what the look and the facts read
/// after it show, not by the facts from before the wait. Still one job per instance, the
/// state has each one's id, and the plan after is empty.
#[test]
fn fleet_killed_while_submitting_under_flow_control_then_the_first_reapply_adopts_and_finishes() {
    let ids: Vec<String> = (0..8).map(|i| format!("fs{i:030}in01")).collect();
    let instances: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let postgres = json!({"engine": "PostgreSQL", "version": "14",
                                  "complete_version": "14.8", "latest_version": "14.12"});
            let mut spec = match i % 4 {
                0 => json!({"type": "Single"}),
                1 => json!({"type": "Ha", "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"]}),
                2 => json!({"type": "Ha", "job_queryable": false}),
                _ => json!({"type": "Single"}),
            };
            if i % 4 >= 2 {
                spec.as_object_mut()
                    .unwrap()
                    .extend(postgres.as_object().unwrap().clone());
            }
            spec["id"] = json!(id);
            spec["name"] = json!(format!("fleet-{i}"));
            spec["job_seconds"] = json!(3);
            spec
        })
        .collect();
    let emu = Emulator::start(
        json!({"instances": instances,
               "flow_control": {"enabled": true, "limit": 4, "window_seconds": 8}}),
        false,
    );
    let ws = hwrds_workspace(
        common::terraform(),
        &emu,
        &common::fixtures::fleet(&ids, ""),
    );
    let apply = apply_in_background(&ws);
    let posts = || ids.iter().map(|id| emu.upgrade_posts(id)).sum::<u64>();
    // The first window's four submissions; the next ones wait 8 s for the POST's quota.
    apply.until("four upgrades submitted", || posts() >= 4);
    apply.kill_providers();
    let submitted: Vec<&String> = ids.iter().filter(|id| emu.upgrade_jobs(id) > 0).collect();
    assert!(
        !submitted.is_empty() && submitted.len() < ids.len(),
        "killed while submitting: {} of {} jobs started",
        submitted.len(),
        ids.len()
    );
    let killed = apply.wait(Duration::from_secs(60));
    assert_ne!(killed.code, 0, "the apply fails when its provider dies");

    let run = ws.run_with_timeout(
        &["apply", "-auto-approve", "-input=false"],
        Duration::from_secs(300),
    );
    assert_eq!(
        run.code,
        0,
        "the first apply after the crash succeeds (no lockout):\n{}",
        run.all()
    );
    let state = ws.fleet_attributes("fleet");
    let truth = truth::read(&emu.url, &ids).expect("emulator");
    for (id, t) in ids.iter().zip(&truth) {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: one job: {}", emu.stats());
        assert_eq!(t.tasks.len(), 1, "{id}: {:?}", t.tasks);
        let attrs = &state[id];
        assert_eq!(attrs["job_id"], t.tasks[0].id.as_str(), "{id}: {attrs}");
        assert_eq!(attrs["status"], "Completed", "{id}: {attrs}");
        assert_eq!(attrs["version_after"], t.version.as_str(), "{id}: {attrs}");
    }
    let plan = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    assert_eq!(plan.code, 0, "the final plan is empty:\n{}", plan.all());
}

/// An upgrade submitted a moment before the next plan, as by an apply killed right after
/// its POST: new jobs (and the instance's view of them) show with a delay, so the plan
/// sees the instance as before and plans its versions; by the saved plan's apply the
/// upgrade shows under way. The target stays as planned; `version_before` cannot (see
/// `plan_carry`): Terraform up to 1.15 refuses that apply before anything is sent, and
/// the next apply adopts the upgrade — one job, never a second.
#[test]
fn an_upgrade_the_plan_could_not_see_yet_is_adopted_by_the_next_apply() {
    let visible_after = 6.0;
    let emu = Emulator::start(
        json!({"job_seconds": 12, "job_visible_after_seconds": visible_after}),
        false,
    );
    let ws = common::workspace(&emu, &body());
    let submitted = std::time::Instant::now();
    let job = console_upgrade(&emu.url, ORDERS).expect("an upgrade submitted elsewhere");
    let plan = ws.run(&["plan", "-input=false", "-out=tfplan"]);
    plan.assert_ok();
    let shown = flat(&plan.all());
    assert!(
        submitted.elapsed().as_secs_f64() < visible_after,
        "the plan ran before the upgrade showed ({:?}); nothing tested",
        submitted.elapsed()
    );
    assert!(
        !shown.contains("An upgrade is already under way")
            && shown.contains(r#"version_before = "8.0.28""#)
            && shown.contains(r#"target_version = "8.0.32""#),
        "{shown}"
    );
    std::thread::sleep(
        Duration::from_secs_f64(visible_after + 0.5).saturating_sub(submitted.elapsed()),
    );
    let refused = ws.run(&["apply", "-input=false", "tfplan"]);
    assert_ne!(refused.code, 0, "{}", refused.all());
    let said = flat(&refused.all());
    assert!(
        said.contains("Provider produced inconsistent final plan")
            && said.contains(".version_before: was known, but now unknown")
            && !said.contains(".target_version"),
        "{said}"
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "nothing sent");
    next_apply_adopts(&emu, &ws, ORDERS);
    let state = ws.resource_attributes("hwrds_db_minor_upgrade.orders");
    assert_eq!(state["job_id"], job.as_str());
    assert_eq!(state["target_version"], "8.0.32");
}
