//! When a delayed upgrade runs, through real Terraform and the emulator process: the plan
//! shows the instance's maintenance window, the state the scheduled task's start and end
//! (no value changes between plan and apply), the data sources show the window and the
//! upgrade waiting for it; switching `is_delayed` to false warns at plan that the
//! scheduled job will not run now, the destroy says it is scheduled and not installed, and
//! the create adopts it without waiting for a window after its timeout — or waits when the
//! window comes first. A delayed create warns that nothing is installed yet, and when it
//! will be; the plan's `impact` says the upgrade runs in the window. The action, invoked with `is_delayed = false` on a scheduled job,
//! does the same.

pub mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::fixtures::ORDERS;
use common::{Emulator, Workspace, hwrds_workspace, truth};
use hwrds::rds::models::{ScheduledTask, parse_time, rfc3339};
use serde_json::{Value, json};

const WINDOW: &str = "18:00-19:00";
const ADDRESS: &str = "hwrds_db_minor_upgrade.orders";

/// One MySQL instance with the maintenance window [`WINDOW`]; delayed upgrades start
/// `window_opens_after` seconds after submission.
fn emulator(window_opens_after: f64) -> Emulator {
    Emulator::start(
        json!({"job_seconds": 1, "window_opens_after_seconds": window_opens_after,
               "instances": [{"id": ORDERS, "name": "orders", "maintenance_window": WINDOW}]}),
        false,
    )
}

fn upgrade(delayed: bool) -> String {
    format!(
        "resource \"hwrds_db_minor_upgrade\" \"orders\" {{\n  instance_id = \"{ORDERS}\"\n  is_delayed  = {delayed}\n}}\n"
    )
}

/// Output with Terraform's line wrapping and box drawing undone, to search for messages.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The emulator's own scheduled task for the instance, read through the signed API.
fn scheduled_task(emu: &Emulator) -> ScheduledTask {
    let truth = truth::read(&emu.url, &[ORDERS.to_string()]).expect("read the emulator");
    let tasks = &truth[0].scheduled;
    assert_eq!(tasks.len(), 1, "one scheduled task: {tasks:?}");
    tasks[0].clone()
}

/// A Huawei time (`2026-01-01T22:00:00+0800`) as the provider writes it (RFC 3339, UTC).
fn as_rfc3339(huawei: &Option<String>) -> String {
    let text = huawei.as_deref().expect("the task has the time");
    rfc3339(parse_time(text).expect("a Huawei time"))
}

/// `terraform plan -out` then `terraform show -json` of that plan.
fn saved_plan(ws: &Workspace) -> (common::Run, Value) {
    let plan = ws.run(&["plan", "-input=false", "-out=tfplan"]);
    plan.assert_ok();
    let shown = ws.run(&["show", "-json", "tfplan"]);
    shown.assert_ok();
    let json = serde_json::from_str(&shown.stdout).expect("plan JSON");
    (plan, json)
}

/// The planned change of `address` in `terraform show -json` of a plan.
fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["resource_changes"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["address"] == address))
        .map(|c| &c["change"])
        .unwrap_or_else(|| panic!("{address} not in the plan: {plan}"))
}

fn output(ws: &Workspace, name: &str) -> Value {
    let out = ws.run(&["output", "-json", name]);
    out.assert_ok();
    serde_json::from_str(&out.stdout).expect("output JSON")
}

fn plan_shows_the_window_and_the_state_the_schedule(terraform: PathBuf) {
    let emu = emulator(7200.0);
    let body = format!(
        "{}\
data \"hwrds_db_instance\" \"before\" {{\n  id = \"{ORDERS}\"\n}}\n\
data \"hwrds_db_instance\" \"after\" {{\n  id         = \"{ORDERS}\"\n  depends_on = [{ADDRESS}]\n}}\n\
data \"hwrds_db_instances\" \"after\" {{\n  depends_on = [{ADDRESS}]\n}}\n\
output \"before\" {{ value = data.hwrds_db_instance.before }}\n\
output \"after\" {{ value = data.hwrds_db_instance.after }}\n\
output \"listed\" {{ value = data.hwrds_db_instances.after.instances }}\n",
        upgrade(true)
    );
    let ws = hwrds_workspace(terraform, &emu, &body);

    let (plan, json) = saved_plan(&ws);
    let planned = change(&json, ADDRESS);
    assert_eq!(planned["actions"], json!(["create"]), "{planned}");
    assert_eq!(planned["after"]["maintenance_window"], WINDOW, "{planned}");
    assert_eq!(
        planned["after_unknown"]["scheduled_start"], true,
        "{planned}"
    );
    assert_eq!(planned["after_unknown"]["scheduled_end"], true, "{planned}");
    let impact = format!(
        "restart (the database is unavailable for the upgrade's duration), in the maintenance window {WINDOW} UTC"
    );
    assert_eq!(planned["after"]["impact"], impact.as_str(), "{planned}");
    let text = flat(&plan.all());
    assert!(
        text.contains(&format!("+ maintenance_window = \"{WINDOW}\"")),
        "the reviewer sees the window: {text}"
    );
    assert!(
        text.contains("+ scheduled_start = (known after apply)"),
        "{text}"
    );

    let apply = ws.run(&["apply", "-input=false", "tfplan"]);
    apply.assert_ok();
    assert!(
        !apply.all().contains("inconsistent"),
        "no inconsistent result: {}",
        apply.all()
    );
    assert!(
        !apply.all().contains("not waiting"),
        "nothing to say about waiting when the apply was not to wait: {}",
        apply.all()
    );
    let state = ws.resource_attributes(ADDRESS);
    let task = scheduled_task(&emu);
    assert_eq!(state["status"], "Scheduled", "{state}");
    assert_eq!(state["job_id"], task.id.as_str(), "{state}");
    assert_eq!(state["maintenance_window"], WINDOW, "{state}");
    assert_eq!(
        state["scheduled_start"],
        as_rfc3339(&task.start_time),
        "{state}"
    );
    assert_eq!(
        state["scheduled_end"],
        as_rfc3339(&task.end_time),
        "{state}"
    );
    assert_eq!(state["impact"], impact.as_str(), "as planned: {state}");
    // The create says that nothing is installed yet, and when it will be.
    let said = flat(&apply.all());
    assert!(
        said.contains("Warning: orders: Upgrade scheduled, not installed yet"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "Upgrade job {} of instance {ORDERS} is scheduled to run from {} to {}: nothing is installed yet and the instance runs 8.0.28 until then.",
            task.id,
            as_rfc3339(&task.start_time),
            as_rfc3339(&task.end_time)
        )),
        "{said}"
    );
    let start = parse_time(state["scheduled_start"].as_str().unwrap()).unwrap();
    let from_now = start - time::OffsetDateTime::now_utc();
    assert!(
        from_now > time::Duration::minutes(115),
        "the window opens in two hours: {start}"
    );

    // The data sources: the window, and the upgrade waiting for it once it is scheduled.
    let before = output(&ws, "before");
    assert_eq!(before["maintenance_window"], WINDOW, "{before}");
    assert_eq!(before["scheduled_upgrade"], Value::Null, "{before}");
    let after = output(&ws, "after");
    assert_eq!(after["maintenance_window"], WINDOW, "{after}");
    let waiting = &after["scheduled_upgrade"];
    assert_eq!(waiting["job_id"], task.id.as_str(), "{after}");
    assert_eq!(waiting["status"], "Pending", "{after}");
    assert_eq!(waiting["start"], state["scheduled_start"], "{after}");
    assert_eq!(waiting["end"], state["scheduled_end"], "{after}");
    let listed = output(&ws, "listed");
    assert_eq!(listed[0]["id"], ORDERS, "{listed}");
    assert_eq!(listed[0]["maintenance_window"], WINDOW, "{listed}");
    assert_eq!(listed[0]["scheduled_upgrade"], *waiting, "{listed}");

    // The next plan changes nothing but the outputs (`before` reads the instance anew).
    let (_, json) = saved_plan(&ws);
    let next = change(&json, ADDRESS);
    assert_eq!(next["actions"], json!(["no-op"]), "{next}");
    assert_eq!(next["after"], next["before"], "{next}");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

#[test]
fn plan_shows_the_window_and_the_state_the_scheduled_start() {
    plan_shows_the_window_and_the_state_the_schedule(common::terraform());
}

#[test]
fn terraform_1_6_shows_the_window_and_the_scheduled_start_too() {
    plan_shows_the_window_and_the_state_the_schedule(common::terraform_16());
}

#[test]
fn an_immediate_upgrade_has_no_window_and_no_schedule() {
    let emu = emulator(7200.0);
    let ws = common::workspace(&emu, &upgrade(false));
    let (_, json) = saved_plan(&ws);
    let planned = change(&json, ADDRESS);
    for name in ["maintenance_window", "scheduled_start", "scheduled_end"] {
        assert_eq!(planned["after"][name], Value::Null, "{name}: {planned}");
        assert_ne!(planned["after_unknown"][name], true, "{name}: {planned}");
    }
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    let state = ws.resource_attributes(ADDRESS);
    assert_eq!(state["status"], "Completed", "{state}");
    for name in ["maintenance_window", "scheduled_start", "scheduled_end"] {
        assert_eq!(state[name], Value::Null, "{name}: {state}");
    }
}

/// Schedules the upgrade, then switches `is_delayed` to false: returns the plan's and
/// the apply's output and the job id of the delayed upgrade.
fn schedule_then_switch(ws: &Workspace) -> (String, String, String) {
    ws.apply().assert_ok();
    let scheduled = ws.resource_attributes(ADDRESS);
    assert_eq!(scheduled["status"], "Scheduled", "{scheduled}");
    let job_id = scheduled["job_id"].as_str().unwrap().to_string();
    ws.write(
        "main.tf",
        &format!("{}{}", common::HWRDS_HEADER, upgrade(false)),
    );
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "an update in place:\n{}", plan.all());
    let apply = ws.apply();
    apply.assert_ok();
    (flat(&plan.all()), flat(&apply.all()), job_id)
}

#[test]
fn switching_to_now_says_the_scheduled_upgrade_will_not_run_now() {
    let emu = emulator(7200.0);
    let ws = common::workspace(&emu, &upgrade(true));
    let started = Instant::now();
    let (plan, apply, job_id) = schedule_then_switch(&ws);
    let task = scheduled_task(&emu);
    let (start, end) = (as_rfc3339(&task.start_time), as_rfc3339(&task.end_time));
    for said in [
        "will be updated in-place",
        "Warning: orders: is_delayed = false will not run the scheduled upgrade now",
        &format!(
            "Upgrade job {job_id} of instance {ORDERS} is scheduled to run from {start} to {end}"
        ),
        "the RDS API can neither cancel nor reschedule a scheduled task",
        "Applying this plan will NOT upgrade the instance now",
        "The resource keeps that job",
        "cancel the scheduled task in the Huawei Cloud console first",
    ] {
        assert!(plan.contains(said), "the plan says {said:?}:\n{plan}");
    }
    assert!(!plan.contains("must be replaced"), "{plan}");
    let said = "Warning: orders: Upgrade scheduled after this apply's timeout: not waiting";
    assert!(apply.contains(said), "the apply says {said:?}:\n{apply}");
    assert!(
        !apply.contains("keeps the version job"),
        "nothing was installed: {apply}"
    );
    assert!(!apply.contains("Upgrade still running"), "{apply}");
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the apply does not wait for a window two hours away (the create timeout is one hour)"
    );
    let state = ws.resource_attributes(ADDRESS);
    assert_eq!(state["status"], "Scheduled", "{state}");
    assert_eq!(
        state["job_id"],
        job_id.as_str(),
        "the scheduled job, adopted"
    );
    assert_eq!(state["is_delayed"], false);
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
    // The record keeps when the job runs.
    assert_eq!(state["scheduled_start"], start.as_str(), "{state}");
    assert_eq!(state["scheduled_end"], end.as_str(), "{state}");
}

#[test]
fn switching_to_now_waits_when_the_window_comes_before_the_timeout() {
    let emu = emulator(25.0);
    let ws = common::workspace(&emu, &upgrade(true));
    let (plan, apply, job_id) = schedule_then_switch(&ws);
    assert!(plan.contains("Applying this plan will NOT upgrade the instance now"));
    assert!(!apply.contains("not waiting"), "{apply}");
    let state = ws.resource_attributes(ADDRESS);
    assert_eq!(state["status"], "Completed", "{state}");
    assert_eq!(state["job_id"], job_id.as_str());
    assert_eq!(state["version_after"], "8.0.32");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
    let again = ws.plan();
    assert_eq!(again.code, 0, "no changes:\n{}", again.all());
}

/// The action on the instance, with `is_delayed` as given.
fn action(delayed: bool) -> String {
    format!(
        "action \"hwrds_db_minor_upgrade\" \"orders\" {{\n  config {{\n    instance_id = \"{ORDERS}\"\n    is_delayed  = {delayed}\n  }}\n}}\n"
    )
}

/// Schedules the upgrade with the action, then invokes it again with `is_delayed =
/// false`: returns the second invocation's output and the job id of the delayed upgrade.
fn action_schedules_then_invokes_now(ws: &Workspace) -> (String, String) {
    let invoke = [
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.orders",
    ];
    let first = ws.run(&invoke);
    first.assert_ok();
    let first = flat(&first.all());
    assert!(
        first.contains("(runs in the maintenance window)"),
        "delayed: {first}"
    );
    let job_id = submitted_job_id(&first);
    ws.write(
        "main.tf",
        &format!("{}{}", common::HWRDS_HEADER, action(false)),
    );
    let again = ws.run(&invoke);
    again.assert_ok();
    let again = flat(&again.all());
    assert!(
        again.contains(&format!(
            "following the upgrade already under way, job {job_id} (Scheduled)"
        )),
        "the scheduled job is adopted: {again}"
    );
    (again, job_id)
}

/// The job id in "upgrade submitted, job <id>, ...".
fn submitted_job_id(out: &str) -> String {
    let after = out
        .split("upgrade submitted, job ")
        .nth(1)
        .unwrap_or_else(|| panic!("no job submitted: {out}"));
    after
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

/// The action meets the scheduled job as the resource does: an invocation with
/// `is_delayed = false` adopts it and does not wait for a window after its timeout.
#[test]
fn the_action_does_not_wait_for_an_adopted_window_after_its_timeout() {
    let emu = emulator(7200.0);
    let ws = common::workspace(&emu, &action(true));
    let started = Instant::now();
    let (out, job_id) = action_schedules_then_invokes_now(&ws);
    let task = scheduled_task(&emu);
    let start = as_rfc3339(&task.start_time);
    for said in [
        // Terraform tells an action's warnings so.
        "Warning: Warning when invoking action orders: Upgrade scheduled after this apply's timeout: not waiting",
        &format!(
            "Upgrade job {job_id} of instance {ORDERS} is scheduled to start at {start}, after the timeout of this invocation (3600s)"
        ),
        "invoking it again after the window has opened follows the job to the end",
        "Nothing is submitted again",
    ] {
        assert!(out.contains(said), "the invocation says {said:?}:\n{out}");
    }
    assert!(!out.contains("upgrade completed"), "{out}");
    assert!(!out.contains("Upgrade still running"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the invocation does not wait for a window two hours away (its timeout is one hour)"
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
}

/// ... and waits for it when the window opens before the timeout.
#[test]
fn the_action_waits_for_an_adopted_window_before_its_timeout() {
    let emu = emulator(25.0);
    let ws = common::workspace(&emu, &action(true));
    let (out, _) = action_schedules_then_invokes_now(&ws);
    assert!(!out.contains("not waiting"), "{out}");
    assert!(out.contains("upgrade completed, 8.0.28 -> 8.0.32"), "{out}");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
}

/// A delayed upgrade that asks to wait, with a timeout shorter than the time to its
/// window: the action returns at once with the resource's warning, as the resource does
/// (both read the new job's window before deciding), and neither waits out its timeout.
#[test]
fn a_delayed_wait_for_a_window_after_the_timeout_returns_at_once_for_action_and_resource() {
    let emu = emulator(3600.0);
    let settings = "is_delayed          = true\n    wait_for_completion = true";
    let action = format!(
        "action \"hwrds_db_minor_upgrade\" \"orders\" {{\n  config {{\n    instance_id         = \"{ORDERS}\"\n    {settings}\n    timeout             = \"40s\"\n  }}\n}}\n"
    );
    let ws = hwrds_workspace(common::terraform(), &emu, &action);
    let started = Instant::now();
    let run = ws.run(&[
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.orders",
    ]);
    let action_took = started.elapsed();
    run.assert_ok();
    let invoked = flat(&run.all());
    let job_id = submitted_job_id(&invoked);
    let start = as_rfc3339(&scheduled_task(&emu).start_time);
    for said in [
        "Warning: Warning when invoking action orders: Upgrade scheduled after this apply's timeout: not waiting",
        &format!(
            "Upgrade job {job_id} of instance {ORDERS} is scheduled to start at {start}, after the timeout of this invocation (40s)"
        ),
    ] {
        assert!(
            invoked.contains(said),
            "the invocation says {said:?}:\n{invoked}"
        );
    }
    assert!(!invoked.contains("Upgrade still running"), "{invoked}");
    assert!(
        action_took < Duration::from_secs(30),
        "returned in seconds, not at its 40 s timeout: {action_took:?}"
    );

    // The resource with the same settings, on a second instance, says the same.
    let other = common::fixtures::PAYMENTS;
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": other, "name": "billing", "maintenance_window": WINDOW}]}),
    );
    let resource = format!(
        "resource \"hwrds_db_minor_upgrade\" \"billing\" {{\n  instance_id         = \"{other}\"\n  {settings}\n  timeouts {{\n    create = \"40s\"\n  }}\n}}\n"
    );
    ws.write("main.tf", &format!("{}{resource}", common::HWRDS_HEADER));
    let started = Instant::now();
    let apply = ws.apply();
    let resource_took = started.elapsed();
    apply.assert_ok();
    let applied = flat(&apply.all());
    assert!(
        applied.contains(
            "Warning: billing: Upgrade scheduled after this apply's timeout: not waiting"
        ),
        "{applied}"
    );
    assert!(
        applied.contains("after the timeout of this apply (40s)"),
        "{applied}"
    );
    assert!(
        resource_took < Duration::from_secs(30),
        "returned in seconds: {resource_took:?}"
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
    assert_eq!(emu.upgrade_jobs(other), 1, "no second upgrade job");
}
