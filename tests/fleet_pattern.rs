//! The fleet guide's pattern (`examples/fleet/main.tf`, as written) with real Terraform
//! against a fleet of ten emulator instances, MySQL and PostgreSQL: blocked instances
//! (frozen, storage full, an abnormal node, a read replica, another engine) are left out
//! of the plan and named in `excluded` with their reasons; the plan succeeds; the apply
//! upgrades the others (one already on its latest version is recorded, not submitted);
//! after it `excluded` is unchanged, the next plan adds and destroys nothing, and
//! `terraform query` lists each upgrade with the version its instance runs now. An
//! instance that becomes blocked later leaves the map: the plan forgets its record.

pub mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Emulator, Workspace, workspace};
use serde_json::{Value, json};

/// An instance id: `prefix` (8 hex digits) and a fixed tail, 36 characters.
fn id(prefix: &str) -> String {
    format!("{prefix}0a0b0c0d0e0f0a0b0c0d0e0fin01")
}

fn instance(prefix: &str, name: &str, extra: Value) -> Value {
    let mut spec = json!({"id": id(prefix), "name": name});
    for (k, v) in extra.as_object().expect("an object") {
        spec[k] = v.clone();
    }
    spec
}

/// Ten instances; `search` names two of them.
fn fleet() -> Vec<Value> {
    let pg = |extra: Value| {
        let mut spec = json!({"engine": "PostgreSQL", "version": "14", "complete_version": "14.8",
                   "latest_version": "14.12"});
        for (k, v) in extra.as_object().expect("an object") {
            spec[k] = v.clone();
        }
        spec
    };
    vec![
        instance("0dde0001", "orders", json!({})),
        instance(
            "0dde0002",
            "payments",
            json!({"type": "Ha", "complete_version": "8.0.25",
                   "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"]}),
        ),
        instance(
            "0dde0003",
            "payments-replica",
            json!({"type": "Replica", "primary_id": id("0dde0002"), "complete_version": "8.0.25"}),
        ),
        instance(
            "0dde0004",
            "inventory",
            json!({"complete_version": "8.0.32"}),
        ),
        instance("0dde0005", "billing", json!({"status": "FROZEN"})),
        instance("0dde0006", "ledger", json!({"status": "STORAGE FULL"})),
        instance("5ea4c001", "search", json!({})),
        instance("5ea4c002", "search", json!({"complete_version": "8.0.30"})),
        instance("0dde0009", "analytics", pg(json!({"type": "Ha"}))),
        instance(
            "0dde000a",
            "events",
            pg(json!({"node_statuses": ["ABNORMAL"]})),
        ),
        instance(
            "0dde000b",
            "reporting",
            json!({"engine": "SQLServer", "version": "2019_SE", "complete_version": "",
                   "latest_version": ""}),
        ),
    ]
}

/// A workspace holding the guide's example as written, plus an output of each listed
/// instance's `up_to_date`.
fn fleet_workspace(emu: &Emulator) -> Workspace {
    let ws = workspace(emu, "");
    let example = std::fs::read_to_string(common::repo_root().join("examples/fleet/main.tf"))
        .expect("the fleet example");
    ws.write("main.tf", &example);
    ws.write(
        "observe.tf",
        "output \"up_to_date\" {\n  value = { for name, i in local.instances : name => i.up_to_date }\n}\n",
    );
    ws
}

/// The planned actions of each `hwrds_db_minor_upgrade.fleet` instance, by key.
fn actions(plan: &Value) -> BTreeMap<String, String> {
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "hwrds_db_minor_upgrade")
        .map(|c| {
            let key = c["index"].as_str().expect("a name key").to_string();
            let actions = c["change"]["actions"]
                .as_array()
                .expect("actions")
                .iter()
                .map(|a| a.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",");
            (key, actions)
        })
        .collect()
}

/// The plan's value of the output `name`.
fn planned_output<'a>(plan: &'a Value, name: &str) -> &'a Value {
    &plan["planned_values"]["outputs"][name]["value"]
}

fn keys(map: &Value) -> BTreeSet<String> {
    map.as_object()
        .unwrap_or_else(|| panic!("a map: {map}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Each excluded instance's first reason starts as expected.
fn assert_reasons(excluded: &Value) {
    for (name, reason) in [
        ("billing", "Instance is frozen"),
        ("ledger", "Instance storage is full"),
        (
            "payments-replica",
            "A read replica may not be upgradable alone",
        ),
        ("events", "PostgreSQL instance has an abnormal node"),
        (
            "reporting",
            "Engine does not support minor version upgrades",
        ),
    ] {
        let reasons = excluded[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {excluded}"));
        assert_eq!(reasons.len(), 1, "{name}: {reasons:?}");
        let text = reasons[0].as_str().unwrap_or_default();
        assert!(text.starts_with(reason), "{name}: {text}");
    }
}

const BLOCKED: [&str; 5] = [
    "billing",
    "ledger",
    "payments-replica",
    "events",
    "reporting",
];
const PLANNED: [&str; 6] = [
    "analytics",
    "inventory",
    "orders",
    "payments",
    "search-5ea4c001",
    "search-5ea4c002",
];

#[test]
fn the_guides_fleet_pattern_plans_around_blocked_instances_and_survives_the_next_plan() {
    let emu = Emulator::start(
        json!({"job_seconds": 1, "window_opens_after_seconds": 1, "instances": fleet()}),
        false,
    );
    let ws = fleet_workspace(&emu);

    // The plan: the instances nothing blocks, keyed by name; the blocked ones excluded.
    let run = ws.plan();
    assert_eq!(
        run.code,
        2,
        "the plan succeeds with changes:\n{}",
        run.all()
    );
    assert!(!run.all().contains("Error:"), "{}", run.all());
    let plan = ws.saved_plan();
    let planned = actions(&plan);
    assert_eq!(
        planned.keys().cloned().collect::<BTreeSet<_>>(),
        set(&PLANNED)
    );
    assert!(planned.values().all(|a| a == "create"), "{planned:?}");
    let excluded = planned_output(&plan, "excluded").clone();
    assert_eq!(keys(&excluded), set(&BLOCKED), "{excluded}");
    assert_reasons(&excluded);
    println!("excluded: {excluded:#}");
    let up_to_date = planned_output(&plan, "up_to_date");
    assert_eq!(up_to_date["inventory"], true, "{up_to_date}");
    assert_eq!(up_to_date["orders"], false, "{up_to_date}");

    // The apply: PostgreSQL at once, MySQL in its window; inventory is only recorded.
    ws.apply().assert_ok();
    let out = ws.run(&["output", "-json"]);
    out.assert_ok();
    let outputs: Value = serde_json::from_str(&out.stdout).expect("outputs JSON");
    assert_eq!(outputs["excluded"]["value"], excluded);
    let fleet = &outputs["fleet"]["value"];
    assert_eq!(keys(fleet), set(&PLANNED));
    assert_eq!(fleet["analytics"]["status"], "Completed", "{fleet}");
    assert_eq!(fleet["analytics"]["before"], "14.8", "{fleet}");
    assert_eq!(fleet["inventory"]["status"], "UpToDate", "{fleet}");
    assert_eq!(fleet["orders"]["status"], "Scheduled", "{fleet}");
    assert_eq!(fleet["search-5ea4c002"]["before"], "8.0.30", "{fleet}");
    for name in BLOCKED {
        let prefix = excluded_id(name);
        assert_eq!(emu.upgrade_posts(&prefix), 0, "{name} was not submitted");
    }
    assert_eq!(
        emu.upgrade_posts(&id("0dde0004")),
        0,
        "inventory is up to date"
    );

    // After the MySQL windows: every planned instance runs its latest version, none is
    // excluded, and the next plan neither adds nor destroys.
    let deadline = Instant::now() + Duration::from_secs(60);
    let plan = loop {
        let plan = ws.saved_plan();
        let up_to_date = planned_output(&plan, "up_to_date").clone();
        if PLANNED.iter().all(|n| up_to_date[n] == true) {
            break plan;
        }
        assert!(
            Instant::now() < deadline,
            "the upgrades did not complete: {up_to_date}"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let again = actions(&plan);
    assert_eq!(
        again.keys().cloned().collect::<BTreeSet<_>>(),
        set(&PLANNED)
    );
    assert!(
        again.values().all(|a| a == "no-op"),
        "nothing to add or destroy: {again:?}"
    );
    assert_eq!(planned_output(&plan, "excluded"), &excluded);
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    let run = ws.plan();
    assert_eq!(run.code, 0, "no changes after the upgrades:\n{}", run.all());

    // The report: one line per upgrade job, with the version its instance runs now.
    ws.write(
        "upgrades.tfquery.hcl",
        "list \"hwrds_db_minor_upgrade\" \"fleet\" {\n  provider = hwrds\n}\n",
    );
    let query = ws.run(&["query", "-no-color"]);
    query.assert_ok();
    println!("terraform query:\n{}", query.stdout);
    let lines: Vec<&str> = query
        .stdout
        .lines()
        .filter(|l| l.starts_with("list.hwrds_db_minor_upgrade.fleet"))
        .collect();
    assert_eq!(
        lines.len(),
        5,
        "one job per upgraded instance:\n{}",
        query.stdout
    );
    for (name, now) in [
        ("orders", "8.0.32"),
        ("payments", "8.0.32"),
        ("analytics", "14.12"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("{name}: "))
                && l.contains(&format!("instance now on {now}"))),
            "{name}:\n{}",
            query.stdout
        );
    }
    assert!(!query.stdout.contains("inventory"), "{}", query.stdout);

    // An upgraded instance that becomes blocked leaves the map: its record is forgotten
    // (nothing is done to the instance) and `excluded` says why.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [instance("0dde0001", "orders",
                json!({"status": "FROZEN", "complete_version": "8.0.32"}))]}),
    );
    let plan = ws.saved_plan();
    let after = actions(&plan);
    assert_eq!(after["orders"], "delete", "{after:?}");
    assert!(
        after
            .iter()
            .filter(|(k, _)| k.as_str() != "orders")
            .all(|(_, a)| a == "no-op"),
        "{after:?}"
    );
    let excluded = planned_output(&plan, "excluded");
    assert!(
        excluded["orders"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("Instance is frozen"),
        "{excluded}"
    );
    let run = ws.plan();
    assert_eq!(run.code, 2, "{}", run.all());
    for shown in [
        "hwrds_db_minor_upgrade.fleet[\"orders\"] will be destroyed",
        "is not in for_each map",
        "Plan: 0 to add, 0 to change, 1 to destroy.",
    ] {
        assert!(run.stdout.contains(shown), "{shown:?}:\n{}", run.stdout);
    }
    let posts = emu.upgrade_posts(&id("0dde0001"));
    let job = ws.fleet_attributes("fleet")[&id("0dde0001")]["job_id"].clone();
    assert!(job.is_string(), "{job}");
    let forget = ws.run(&["apply", "-input=false", "tfplan"]);
    forget.assert_ok();
    assert!(
        forget.all().contains("Upgrade forgotten, not undone"),
        "{}",
        forget.all()
    );

    // Unfrozen, it is recorded again and nothing is submitted: its upgrade of the last
    // day is adopted.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [instance("0dde0001", "orders",
                json!({"complete_version": "8.0.32"}))]}),
    );
    let plan = ws.saved_plan();
    assert_eq!(actions(&plan)["orders"], "create");
    assert!(
        !planned_output(&plan, "excluded")
            .as_object()
            .unwrap()
            .contains_key("orders")
    );
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    let again = &ws.fleet_attributes("fleet")[&id("0dde0001")];
    assert_eq!(again["status"], "Completed", "{again}");
    assert_eq!(again["job_id"], job, "{again}");
    assert_eq!(
        emu.upgrade_posts(&id("0dde0001")),
        posts,
        "nothing submitted"
    );
}

/// The id of a blocked instance by name.
fn excluded_id(name: &str) -> String {
    fleet()
        .into_iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{name} is in the fleet"))
}
