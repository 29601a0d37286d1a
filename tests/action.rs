//! The `hwrds_db_minor_upgrade` action with Terraform 1.15.5: invoked with
//! `terraform apply -invoke=...` it submits once and streams the job's progress to the
//! terminal; invoked again while the job runs it follows that job instead of submitting;
//! from a resource's `action_trigger` it runs after the resource is created.

pub mod common;

use common::fixtures::{ORDERS, REPLICA, flat};
use common::{Emulator, hwrds_workspace};
use serde_json::json;

#[test]
fn invoked_action_streams_progress_and_upgrades_once() {
    let emu = Emulator::demo(4.0);
    let body = format!(
        "action \"hwrds_db_minor_upgrade\" \"orders\" {{\n  config {{\n    instance_id = \"{ORDERS}\"\n  }}\n}}\n"
    );
    let ws = common::workspace(&emu, &body);
    let run = ws.run(&[
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.orders",
    ]);
    run.assert_ok();
    let out = flat(&run.all());
    assert!(out.contains("upgrade submitted, job"), "{out}");
    assert!(
        out.contains(", installs 8.0.32"),
        "the target is named: {out}"
    );
    assert!(out.contains("Running"), "progress is streamed: {out}");
    assert!(out.contains("upgrade completed, 8.0.28 -> 8.0.32"), "{out}");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);

    // The plan of an action runs the same checks as the resource: a read replica is a
    // warning, and the API refuses it (the emulator by default).
    let body = format!(
        "action \"hwrds_db_minor_upgrade\" \"replica\" {{\n  config {{\n    instance_id = \"{REPLICA}\"\n  }}\n}}\n"
    );
    let ws = common::workspace(&emu, &body);
    let run = ws.run(&[
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.replica",
    ]);
    assert_ne!(run.code, 0);
    let out = flat(&run.all());
    assert!(
        out.contains("A read replica may not be upgradable alone"),
        "the plan warns:\n{out}"
    );
    assert!(
        out.contains("Upgrade refused: the read replica is not upgraded alone"),
        "the API decides, and refuses:\n{out}"
    );
    assert_eq!(emu.upgrade_posts(REPLICA), 1, "never retried");
    assert_eq!(emu.upgrade_jobs(REPLICA), 0);
}

#[test]
fn action_trigger_after_create_and_second_invocation_follows_the_running_job() {
    let emu = Emulator::demo(6.0);
    let body = format!(
        "action \"hwrds_db_minor_upgrade\" \"orders\" {{\n  config {{\n    instance_id         = \"{ORDERS}\"\n    wait_for_completion = false\n  }}\n}}\n\
resource \"terraform_data\" \"release\" {{\n  input = \"v2\"\n  lifecycle {{\n    action_trigger {{\n      events  = [after_create]\n      actions = [action.hwrds_db_minor_upgrade.orders]\n    }}\n  }}\n}}\n"
    );
    let ws = common::workspace(&emu, &body);
    let run = ws.apply();
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("upgrade submitted, job"),
        "{}",
        run.all()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    // Invoked again while the job runs: it follows that job, nothing new is submitted.
    let run = ws.run(&[
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.orders",
    ]);
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("following the upgrade already under way"),
        "{}",
        run.all()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

#[test]
fn invoked_on_an_instance_already_on_its_latest_version_it_sends_nothing_and_succeeds() {
    let emu = Emulator::start(
        json!({"instances": [{"id": ORDERS, "name": "orders",
                              "complete_version": "8.0.32.240101", "latest_version": "8.0.32"}]}),
        false,
    );
    let body = format!(
        "action \"hwrds_db_minor_upgrade\" \"orders\" {{\n  config {{\n    instance_id = \"{ORDERS}\"\n  }}\n}}\n"
    );
    let ws = hwrds_workspace(common::terraform(), &emu, &body);
    let run = ws.run(&[
        "apply",
        "-auto-approve",
        "-invoke=action.hwrds_db_minor_upgrade.orders",
    ]);
    run.assert_ok();
    let out = flat(&run.all());
    assert!(
        out.contains("already runs 8.0.32.240101, its latest minor version: nothing to install"),
        "{out}"
    );
    assert!(
        out.contains("orders: Instance is already on the latest minor version: nothing to install"),
        "the plan's warning, naming the instance: {out}"
    );
    assert!(!out.contains("upgrade submitted"), "{out}");
    assert_eq!(
        emu.upgrade_posts(ORDERS),
        0,
        "nothing sent: {}",
        emu.stats()
    );
}
