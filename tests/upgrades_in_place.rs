//! Upgrades in place, through real Terraform (1.15.5): a newly released minor version
//! (the `triggers` of the guide's pattern changing) plans an update, not a replacement,
//! with the checks and warnings of a create (the DR relation's included) and the new
//! `target_version`; the apply submits the new upgrade once per instance, and the next
//! plan is empty. Triggers changed on an instance already on its target record it
//! `UpToDate` without adopting the previous job. An apply interrupted while the new job
//! runs keeps the new job id, and the next apply resumes it without submitting again; a
//! failed upgrade in place is an error, and the next plan tries again in place; one the
//! checks refuse at apply (frozen since the plan) submits nothing, fails, and keeps the
//! previous upgrade in the state, so the next plan proposes it again.
//! The resource's identity is its instance, unchanged by the update; an identity stored
//! by an earlier version (with the job) is upgraded.

pub mod common;

use common::{Emulator, Workspace, workspace};
use serde_json::{Value, json};

const ORDERS: &str = "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c01in01";
const LEDGER: &str = "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c02in01";
const LEDGER_DR: &str = "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c03in01";

fn fleet() -> Emulator {
    Emulator::start(
        json!({
            "job_seconds": 1,
            "instances": [
                {"id": ORDERS, "name": "orders", "complete_version": "8.0.28",
                 "latest_version": "8.0.32"},
                {"id": LEDGER, "name": "ledger", "engine": "PostgreSQL", "version": "14",
                 "complete_version": "14.8", "latest_version": "14.12"},
            ],
            "dr_relations": [{"instance_id": LEDGER, "master_instance_id": LEDGER,
                              "slave_instance_ids": [LEDGER_DR]}],
        }),
        false,
    )
}

/// Both instances, each upgraded to its latest minor version as the guide writes it.
fn config() -> String {
    let mut body = String::new();
    for (name, id) in [("orders", ORDERS), ("ledger", LEDGER)] {
        body.push_str(&format!(
            r#"
data "hwrds_db_instance" "{name}" {{
  id = "{id}"
}}

resource "hwrds_db_minor_upgrade" "{name}" {{
  instance_id = data.hwrds_db_instance.{name}.id
  triggers = {{
    minor = data.hwrds_db_instance.{name}.latest_version
  }}
}}
"#
        ));
    }
    body
}

/// The planned actions of each upgrade, by resource name.
fn actions(plan: &Value) -> Vec<(String, String)> {
    common::upgrade_changes(plan)
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            (name, common::change_actions(c))
        })
        .collect()
}

/// The stored object of the resource `name`: attributes, identity and its version.
fn stored(ws: &Workspace, name: &str) -> Value {
    let state = ws.state();
    state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["mode"] == "managed" && r["name"] == name)
        .map(|r| r["instances"][0].clone())
        .unwrap_or_else(|| panic!("{name} is in the state: {state}"))
}

#[test]
fn a_new_minor_version_plans_updates_in_place_with_the_checks_and_submits_each_once() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    let first: Vec<Value> = ["orders", "ledger"].map(|n| stored(&ws, n)).into();
    for (object, version) in first.iter().zip(["8.0.32", "14.12"]) {
        let attrs = &object["attributes"];
        assert_eq!(attrs["status"], "Completed", "{attrs}");
        assert_eq!(attrs["version_after"], version, "{attrs}");
        assert_eq!(object["identity_schema_version"], 1, "{object}");
        assert_eq!(
            object["identity"],
            json!({"instance_id": attrs["instance_id"]}),
            "the identity is the instance: {object}"
        );
    }
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    assert_eq!(emu.upgrade_jobs(LEDGER), 1);

    // New minor versions: the triggers change, and the plan updates both in place.
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "PostgreSQL", "version": "14.13"}),
    );
    let run = ws.plan();
    let out = run.all();
    assert_eq!(run.code, 2, "{out}");
    for shown in [
        "hwrds_db_minor_upgrade.orders will be updated in-place",
        "hwrds_db_minor_upgrade.ledger will be updated in-place",
        r#"~ target_version      = "8.0.32" -> "8.0.33""#,
        r#"~ target_version      = "14.12" -> "14.13""#,
        r#"~ version_before      = "8.0.28" -> "8.0.32""#,
        "Plan: 0 to add, 2 to change, 0 to destroy.",
        // The checks of a create run in an update's plan: its warnings show.
        "ledger: Instance is in a disaster-recovery relation",
    ] {
        assert!(out.contains(shown), "{shown:?}:\n{out}");
    }
    assert!(!out.contains("must be replaced"), "{out}");
    assert!(!out.contains("destroy and then create"), "{out}");
    println!("the plan of one instance:\n{out}");
    let plan = ws.saved_plan();
    assert_eq!(
        actions(&plan),
        [
            ("ledger".to_string(), "update".to_string()),
            ("orders".to_string(), "update".to_string())
        ]
    );

    // The apply submits one new upgrade each, and records it.
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    assert_eq!(emu.upgrade_jobs(ORDERS), 2);
    assert_eq!(emu.upgrade_jobs(LEDGER), 2);
    for ((name, version), before) in [("orders", "8.0.33"), ("ledger", "14.13")]
        .into_iter()
        .zip(&first)
    {
        let object = stored(&ws, name);
        let attrs = &object["attributes"];
        assert_eq!(attrs["status"], "Completed", "{attrs}");
        assert_eq!(attrs["target_version"], version, "{attrs}");
        assert_eq!(attrs["version_after"], version, "{attrs}");
        assert_ne!(
            attrs["job_id"], before["attributes"]["job_id"],
            "a new job: {attrs}"
        );
        assert_eq!(object["identity"], before["identity"], "{object}");
    }
    let run = ws.plan();
    assert_eq!(run.code, 0, "no change after the upgrades:\n{}", run.all());
}

#[test]
fn an_update_on_an_instance_already_on_its_target_submits_nothing() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    let job = stored(&ws, "orders")["attributes"]["job_id"].clone();
    // The triggers change without a newer version: nothing to install; the previous
    // job (of the last hour) is not adopted as the new upgrade.
    ws.write(
        "main.tf",
        &format!("{}{}", common::HWRDS_HEADER, config()).replace(
            "minor = data.hwrds_db_instance.orders.latest_version",
            "minor = data.hwrds_db_instance.orders.latest_version\n    again = \"yes\"",
        ),
    );
    let run = ws.plan();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        run.stdout
    );
    ws.apply().assert_ok();
    let attrs = stored(&ws, "orders")["attributes"].clone();
    assert_eq!(attrs["status"], "UpToDate", "{attrs}");
    assert!(attrs["job_id"].is_null(), "{attrs} (was {job})");
    assert_eq!(attrs["version_after"], "8.0.32", "{attrs}");
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "nothing submitted again");
    assert_eq!(ws.plan().code, 0);
}

#[test]
fn an_identity_stored_with_its_job_by_an_earlier_version_is_upgraded() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    // The state as version 0 of the identity wrote it: the instance and the job.
    let path = ws.path().join("terraform.tfstate");
    let mut state = ws.state();
    for resource in state["resources"].as_array_mut().expect("resources") {
        if resource["mode"] != "managed" {
            continue;
        }
        let object = &mut resource["instances"][0];
        let attrs = object["attributes"].clone();
        object["identity_schema_version"] = json!(0);
        object["identity"] =
            json!({"instance_id": attrs["instance_id"], "job_id": attrs["job_id"]});
    }
    state["serial"] = json!(state["serial"].as_u64().unwrap_or(0) + 1);
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();

    let run = ws.plan();
    assert_eq!(run.code, 0, "no change:\n{}", run.all());
    ws.apply().assert_ok();
    let object = stored(&ws, "orders");
    assert_eq!(object["identity_schema_version"], 1, "{object}");
    assert_eq!(
        object["identity"],
        json!({"instance_id": ORDERS}),
        "{object}"
    );
}

#[test]
fn an_interrupted_update_keeps_the_new_job_and_the_next_apply_resumes_it() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    let first = stored(&ws, "orders")["attributes"]["job_id"].clone();
    // The next upgrade takes a while: the apply is interrupted while it runs.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders", "complete_version": "8.0.32",
                              "latest_version": "8.0.32", "job_seconds": 12}]}),
    );
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color"],
        "hwrds_db_minor_upgrade.orders: Modifying...",
        std::time::Duration::from_secs(3),
    );
    let out = run.all();
    assert!(out.contains("Upgrade still running"), "{out}");
    let attrs = stored(&ws, "orders")["attributes"].clone();
    assert_eq!(attrs["status"], "Running", "{attrs}");
    assert!(attrs["job_id"].is_string(), "{attrs}");
    assert_ne!(attrs["job_id"], first, "the new job is recorded: {attrs}");
    assert_eq!(attrs["target_version"], "8.0.33", "{attrs}");
    assert_eq!(emu.upgrade_posts(ORDERS), 2);

    // The next apply resumes the same job: nothing submitted again.
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.all().contains("updated in-place"), "{}", plan.all());
    ws.apply().assert_ok();
    let done = stored(&ws, "orders")["attributes"].clone();
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["job_id"], attrs["job_id"], "{done}");
    assert_eq!(done["version_after"], "8.0.33", "{done}");
    assert_eq!(emu.upgrade_posts(ORDERS), 2, "one request per upgrade");
    assert_eq!(emu.upgrade_jobs(ORDERS), 2);
    assert_eq!(ws.plan().code, 0);
}

#[test]
fn a_failed_upgrade_in_place_is_an_error_and_the_next_plan_tries_again_in_place() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders", "complete_version": "8.0.32",
                              "latest_version": "8.0.32", "job_seconds": 1,
                              "fail_upgrade": true}]}),
    );
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    let run = ws.apply();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains("orders: Upgrade job failed"),
        "{}",
        run.all()
    );
    let failed = stored(&ws, "orders");
    assert_eq!(failed["attributes"]["status"], "Failed", "{failed}");
    assert!(failed.get("status").is_none(), "not tainted: {failed}");
    assert_eq!(emu.upgrade_posts(ORDERS), 2);

    // The next plan is a new attempt, in place; it submits once more.
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("hwrds_db_minor_upgrade.orders will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders", "complete_version": "8.0.32",
                              "latest_version": "8.0.32", "job_seconds": 1}]}),
    );
    ws.apply().assert_ok();
    let done = stored(&ws, "orders")["attributes"].clone();
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["version_after"], "8.0.33", "{done}");
    assert_eq!(emu.upgrade_posts(ORDERS), 3, "one request per attempt");
}

#[test]
fn an_update_refused_at_apply_keeps_the_previous_upgrade_and_is_proposed_again() {
    let emu = fleet();
    let ws = workspace(&emu, &config());
    ws.apply().assert_ok();
    let before = stored(&ws, "orders")["attributes"].clone();
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    let plan = ws.saved_plan();
    assert_eq!(
        actions(&plan)[1],
        ("orders".to_string(), "update".to_string())
    );
    // Frozen between the plan and the apply: nothing is submitted, the apply fails, and
    // the state keeps the previous upgrade (its job, its triggers).
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders", "complete_version": "8.0.32",
                              "status": "FROZEN"}]}),
    );
    let run = ws.run(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains("orders: Instance is frozen"),
        "{}",
        run.all()
    );
    let kept = stored(&ws, "orders");
    assert_eq!(
        kept["attributes"], before,
        "the previous upgrade stays: {kept}"
    );
    assert!(kept.get("status").is_none(), "not tainted: {kept}");
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "nothing submitted");

    // Unfrozen, the next plan proposes the upgrade again, in place.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders", "complete_version": "8.0.32"}]}),
    );
    let run = ws.plan();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout
            .contains("hwrds_db_minor_upgrade.orders will be updated in-place"),
        "{}",
        run.stdout
    );
    ws.apply().assert_ok();
    assert_eq!(
        stored(&ws, "orders")["attributes"]["version_after"],
        "8.0.33"
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 2);
}
