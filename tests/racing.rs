//! Racing upgrades of one instance with real Terraform and the emulator: two
//! configurations (two states) applying an upgrade of the same instance at the same
//! moment, and an upgrade started in the console while Terraform plans and applies. Every
//! time the instance is upgraded once, and every state records that one job.

pub mod common;

use std::process::Stdio;
use std::time::Duration;

use common::fixtures::ORDERS;
use common::{Emulator, Workspace};
use serde_json::json;

const ANALYTICS: &str = "pgaa00000000000000000000000000000in03";

fn body(instance_id: &str) -> String {
    format!(
        "resource \"hwrds_db_minor_upgrade\" \"this\" {{\n  instance_id = \"{instance_id}\"\n}}\n"
    )
}

fn attrs(ws: &Workspace) -> serde_json::Value {
    ws.resource_attributes("hwrds_db_minor_upgrade.this")
}

/// Starts the upgrade of `instance_id` the way the console does: one signed API call.
fn console_upgrade(emu: &Emulator, instance_id: &str) -> String {
    common::client::console_upgrade(&emu.url, instance_id).expect("console upgrade accepted")
}

/// Two configurations apply the upgrade of one MySQL HA instance, the second `offset`
/// after the first. New jobs show in the listings only after a second, as in the cloud,
/// so the later apply's first look usually misses the earlier one's job and its request
/// is refused as busy.
/// Returns how many upgrade requests were refused as busy.
fn race(offset: Duration) -> u64 {
    let emu = Emulator::start(
        json!({"job_seconds": 3, "job_visible_after_seconds": 1,
               "instances": [{"id": ORDERS, "name": "orders", "type": "Ha",
                              "availability_zones": ["az1", "az2"]}]}),
        false,
    );
    let first = common::workspace(&emu, &body(ORDERS));
    let second = common::workspace(&emu, &body(ORDERS));
    let apply = |ws: &Workspace| {
        ws.command(&["apply", "-auto-approve", "-no-color"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start terraform apply")
    };
    let a = apply(&first);
    std::thread::sleep(offset);
    let b = apply(&second);
    for (name, child) in [("first", a), ("second", b)] {
        let out = child.wait_with_output().expect("terraform apply");
        assert!(
            out.status.success(),
            "{name} apply failed (offset {offset:?}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stats = emu.stats();
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "offset {offset:?}: {stats}");
    let (x, y) = (attrs(&first), attrs(&second));
    assert_eq!(x["job_id"], y["job_id"], "offset {offset:?}");
    assert_eq!(x["status"], "Completed", "{x}");
    assert_eq!(y["status"], "Completed", "{y}");
    assert_eq!(y["version_after"], "8.0.32", "{y}");
    for ws in [&first, &second] {
        ws.run(&["plan", "-detailed-exitcode", "-no-color"])
            .assert_ok();
    }
    stats["upgrade_posts"][ORDERS].as_u64().unwrap_or(0) - 1
}

#[test]
fn two_configurations_applying_one_instance_at_once_start_one_upgrade() {
    let refused: Vec<u64> = [0, 400, 1500]
        .into_iter()
        .map(|ms| race(Duration::from_millis(ms)))
        .collect();
    eprintln!("upgrade requests refused as busy per round: {refused:?}");
    assert!(
        refused.iter().sum::<u64>() >= 1,
        "no round reached the busy answer, so none raced the submissions: {refused:?}"
    );
}

/// The console starts the upgrade of a PostgreSQL primary/standby instance while
/// Terraform plans: the instance is MODIFYING and its standby UPGRADING, which the plan
/// shows as the upgrade being followed (not an abnormal node), and the apply adopts it.
#[test]
fn console_upgrade_of_postgresql_while_terraform_plans_is_adopted_not_doubled() {
    let emu = Emulator::start(
        json!({"instances": [{"id": ANALYTICS, "name": "analytics", "engine": "PostgreSQL",
                              "version": "14", "complete_version": "14.8", "latest_version": "14.12",
                              "type": "Ha", "job_seconds": 8, "job_queryable": false}]}),
        false,
    );
    let ws = common::workspace(&emu, &body(ANALYTICS));
    let console_job = console_upgrade(&emu, ANALYTICS);
    std::thread::sleep(Duration::from_secs(2)); // past the switchover's start: a node UPGRADING
    let plan = ws.run(&["plan", "-no-color"]);
    plan.assert_ok();
    let text = plan.all().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("An upgrade is already under way"), "{text}");
    assert!(text.contains(&console_job), "{text}");
    assert!(!text.contains("abnormal node"), "{text}");
    ws.apply().assert_ok();
    assert_eq!(emu.upgrade_jobs(ANALYTICS), 1, "{}", emu.stats());
    let state = attrs(&ws);
    assert_eq!(state["job_id"], console_job.as_str());
    assert_eq!(state["status"], "Completed", "{state}");
    assert_eq!(state["version_after"], "14.12", "{state}");
}

/// The console's upgrade of a MySQL instance starts and finishes between a saved plan and
/// its apply, while its job does not show in the task center yet. Terraform itself refuses
/// the stale plan (the instance's version is not the planned one) before anything is
/// submitted; the next apply adopts the console's upgrade instead of repeating it.
#[test]
fn console_upgrade_between_plan_and_apply_is_adopted_not_doubled() {
    let emu = Emulator::start(
        json!({"job_seconds": 1, "job_visible_after_seconds": 4,
               "instances": [{"id": ORDERS, "name": "orders", "type": "Single"}]}),
        false,
    );
    let ws = common::workspace(&emu, &body(ORDERS));
    ws.run(&["plan", "-out=tfplan", "-no-color"]).assert_ok();
    let console_job = console_upgrade(&emu, ORDERS);
    std::thread::sleep(Duration::from_millis(1500));
    let stale = ws.run(&["apply", "-no-color", "tfplan"]);
    assert_ne!(stale.code, 0, "{}", stale.all());
    assert!(stale.all().contains("version_before"), "{}", stale.all());
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "{}", emu.stats());
    std::thread::sleep(Duration::from_secs(3)); // the console's job shows by now
    ws.apply().assert_ok();
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "{}", emu.stats());
    let state = attrs(&ws);
    assert_eq!(state["job_id"], console_job.as_str());
    assert_eq!(state["version_after"], "8.0.32", "{state}");
}

/// The console's upgrade runs while a plan is saved and finishes before that plan is
/// applied: the plan could not know the version the upgrade started from for sure, so the
/// apply of the saved plan adopts the finished upgrade instead of failing Terraform's
/// final-plan check or submitting another.
#[test]
fn saved_plan_over_an_upgrade_under_way_applies_after_it_finished() {
    let emu = Emulator::start(
        json!({"instances": [{"id": ORDERS, "name": "orders", "type": "Ha", "job_seconds": 5}]}),
        false,
    );
    let ws = common::workspace(&emu, &body(ORDERS));
    let console_job = console_upgrade(&emu, ORDERS);
    let plan = ws.run(&["plan", "-out=tfplan", "-no-color"]);
    plan.assert_ok();
    assert!(
        plan.all().contains("An upgrade is already under way"),
        "{}",
        plan.all()
    );
    std::thread::sleep(Duration::from_secs(6));
    ws.run(&["apply", "-no-color", "tfplan"]).assert_ok();
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "{}", emu.stats());
    let state = attrs(&ws);
    assert_eq!(state["job_id"], console_job.as_str());
    assert_eq!(state["status"], "Completed", "{state}");
    ws.run(&["plan", "-detailed-exitcode", "-no-color"])
        .assert_ok();
}
