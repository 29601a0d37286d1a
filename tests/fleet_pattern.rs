//! The fleet guide's pattern (`examples/fleet/main.tf`, as written) with real Terraform
//! against a fleet of emulator instances, MySQL and PostgreSQL (eleven, and about fifty):
//! the plan succeeds; instances blocked now (frozen, storage full, an abnormal node) are
//! recorded `Skipped` with a warning naming them, a read replica and another engine stay
//! out of the map, and `excluded` names all five with their reasons; the PR summary's
//! counts match the plan; the apply upgrades the others (those already on their latest
//! version recorded, not submitted); after it `excluded` is unchanged and the next plan
//! changes nothing; `terraform query` lists each upgraded instance with the version it
//! runs now. A newer minor version plans updates in place only, with the DR warning, and
//! upgrades each instance once. An instance that becomes blocked keeps its record (no
//! destroy); its next upgrade is skipped until it is unblocked, then submitted once.

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
    common::upgrade_changes(plan)
        .map(|c| {
            let key = c["index"].as_str().expect("a name key").to_string();
            (key, common::change_actions(c))
        })
        .collect()
}

/// The plan's value of the output `name`.
fn planned_output<'a>(plan: &'a Value, name: &str) -> &'a Value {
    &plan["planned_values"]["outputs"][name]["value"]
}

fn keys_of(map: &Value) -> BTreeSet<String> {
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

/// Blocked now, and recorded `Skipped` with a warning (`on_blocked = "skip"`).
const SKIPPED: [&str; 3] = ["billing", "ledger", "events"];
/// Never in the map: a read replica and another engine.
const LEFT_OUT: [&str; 2] = ["payments-replica", "reporting"];
/// Every instance something blocks: the `excluded` output.
const BLOCKED: [&str; 5] = [
    "billing",
    "ledger",
    "payments-replica",
    "events",
    "reporting",
];
/// Upgraded (inventory only recorded: it runs its latest version).
const PLANNED: [&str; 6] = [
    "analytics",
    "inventory",
    "orders",
    "payments",
    "search-5ea4c001",
    "search-5ea4c002",
];

/// Every key of the map, the generated instances' included.
fn all_keys(extra: &[Value]) -> BTreeSet<String> {
    let mut keys = set(&PLANNED);
    keys.extend(set(&SKIPPED));
    keys.extend(
        extra
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string()),
    );
    keys
}

/// The planned `status` of each upgrade, by key (null when known only after apply).
fn planned_status(plan: &Value) -> BTreeMap<String, Value> {
    common::upgrade_changes(plan)
        .map(|c| {
            let key = c["index"].as_str().expect("a name key").to_string();
            (key, c["change"]["after"]["status"].clone())
        })
        .collect()
}

/// The PR summary of the saved plan `tfplan` (with the plan's log), printed, and the plan.
fn pr_summary(ws: &Workspace) -> (String, Value) {
    let (_, plan) = ws.saved_plan_and_log();
    let out = std::process::Command::new(common::hwrds_binary())
        .args(["summary", "--plan", "plan.json", "--log", "plan.log.jsonl"])
        .current_dir(ws.path())
        .output()
        .expect("run the summary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    println!("PR summary:\n{text}");
    (text, plan)
}

/// Waits until every instance of `names` runs its latest version (the MySQL upgrades
/// run in their windows), then returns that plan.
fn plan_once_upgraded(ws: &Workspace, names: &BTreeSet<String>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let plan = ws.saved_plan();
        let up_to_date = planned_output(&plan, "up_to_date").clone();
        if names.iter().all(|n| up_to_date[n] == true) {
            return plan;
        }
        assert!(
            Instant::now() < deadline,
            "the upgrades did not complete: {up_to_date}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn the_guides_fleet_pattern_plans_around_blocked_instances_and_survives_the_next_plan() {
    the_guides_pattern_on(&[]);
}

/// The issue's fleet: about fifty instances (the eleven above and forty more, MySQL and
/// PostgreSQL, singles and primary/standby, some already on their latest version).
#[test]
fn fifty_instances_through_the_guides_pattern_and_a_new_minor_version() {
    the_guides_pattern_on(&generated(40));
}

/// `n` more instances: MySQL 8.0 and 5.7, PostgreSQL 14 and 16, singles and HA; every
/// fifth already on its latest version.
fn generated(n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| {
            let name = format!("svc-{k:02}");
            let prefix = format!("9e{k:06x}");
            let on_latest = k % 5 == 4;
            let ty = if k % 2 == 0 { "Single" } else { "Ha" };
            let zones = json!(["ap-southeast-1a", "ap-southeast-1b"]);
            let spec = match k % 4 {
                0 => json!({"complete_version": if on_latest {"8.0.32"} else {"8.0.28"}}),
                1 => json!({"version": "5.7", "complete_version": if on_latest {"5.7.44"} else {"5.7.38"},
                            "latest_version": "5.7.44"}),
                2 => json!({"engine": "PostgreSQL", "version": "14",
                            "complete_version": if on_latest {"14.12"} else {"14.8"},
                            "latest_version": "14.12"}),
                _ => json!({"engine": "PostgreSQL", "version": "16",
                            "complete_version": if on_latest {"16.4"} else {"16.2"},
                            "latest_version": "16.4"}),
            };
            let mut spec = instance(&prefix, &name, spec);
            spec["type"] = json!(ty);
            if ty == "Ha" {
                spec["availability_zones"] = zones;
            }
            spec
        })
        .collect()
}

fn the_guides_pattern_on(extra: &[Value]) {
    let mut instances = fleet();
    instances.extend(extra.iter().cloned());
    let emu = Emulator::start(
        json!({"job_seconds": 1, "window_opens_after_seconds": 1, "instances": instances,
               "dr_relations": [{"instance_id": id("0dde0009"),
                                 "master_instance_id": id("0dde0009"),
                                 "slave_instance_ids": [id("0dde00ff")]}]}),
        false,
    );
    let ws = fleet_workspace(&emu);
    let keys = all_keys(extra);

    // The plan: every instance but the replica and SQL Server, keyed by name; those
    // blocked now skipped with a warning naming them, none failing the plan.
    let run = ws.plan();
    let out = run.all();
    assert_eq!(run.code, 2, "the plan succeeds with changes:\n{out}");
    assert!(!out.contains("Error:"), "{out}");
    for name in SKIPPED {
        assert!(
            out.contains(&format!("Warning: {name}: Upgrade skipped: ")),
            "{name}:\n{out}"
        );
    }
    assert!(
        !out.contains("second_switch has no effect"),
        "no warning about a setting left at its default:\n{out}"
    );
    assert!(
        out.contains("Warning: analytics: Instance is in a disaster-recovery relation"),
        "{out}"
    );
    let (text, plan) = pr_summary(&ws);
    let planned = actions(&plan);
    assert_eq!(planned.keys().cloned().collect::<BTreeSet<_>>(), keys);
    assert!(planned.values().all(|a| a == "create"), "{planned:?}");
    let status = planned_status(&plan);
    for name in SKIPPED {
        assert_eq!(status[name], "Skipped", "{name}");
    }
    for change in plan["resource_changes"].as_array().unwrap() {
        if change["type"] == "hwrds_db_minor_upgrade" {
            let after = &change["change"]["after"];
            assert!(
                after["instance_name"].is_string(),
                "named in the plan: {after}"
            );
        }
    }
    let excluded = planned_output(&plan, "excluded").clone();
    assert_eq!(keys_of(&excluded), set(&BLOCKED), "{excluded}");
    assert_reasons(&excluded);
    // The PR summary's rows match the plan.
    let on_latest = 1 + extra.iter().filter(|i| up_to_date(i)).count();
    let upgrades = keys.len() - SKIPPED.len() - on_latest;
    for line in [
        format!(
            "- **Upgrades planned: {upgrades}** ({upgrades} to create, 0 to update in place, 0 to replace)"
        ),
        format!("- Nothing to install: {on_latest}"),
        format!("- Skipped (blocked now): {}", SKIPPED.len()),
        format!("- Excluded: {}", BLOCKED.len()),
    ] {
        assert!(text.contains(&line), "{line}:\n{text}");
    }
    for name in LEFT_OUT {
        assert!(!planned.contains_key(name), "{name}");
    }

    // The apply: PostgreSQL at once, MySQL in its window; nothing for the skipped and
    // the up-to-date ones.
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    let out = ws.run(&["output", "-json"]);
    out.assert_ok();
    let outputs: Value = serde_json::from_str(&out.stdout).expect("outputs JSON");
    assert_eq!(outputs["excluded"]["value"], excluded);
    let fleet = &outputs["fleet"]["value"];
    assert_eq!(keys_of(fleet), keys);
    assert_eq!(fleet["analytics"]["status"], "Completed", "{fleet}");
    assert_eq!(fleet["analytics"]["before"], "14.8", "{fleet}");
    assert_eq!(fleet["inventory"]["status"], "UpToDate", "{fleet}");
    assert_eq!(fleet["orders"]["status"], "Scheduled", "{fleet}");
    assert_eq!(fleet["billing"]["status"], "Skipped", "{fleet}");
    assert_eq!(fleet["search-5ea4c002"]["before"], "8.0.30", "{fleet}");
    for name in BLOCKED {
        assert_eq!(emu.upgrade_posts(&excluded_id(name)), 0, "{name}");
    }
    assert_eq!(
        emu.upgrade_posts(&id("0dde0004")),
        0,
        "inventory is up to date"
    );
    for i in extra.iter().filter(|i| up_to_date(i)) {
        assert_eq!(emu.upgrade_posts(i["id"].as_str().unwrap()), 0, "{i}");
    }

    // After the MySQL windows, the next plan changes nothing: the skipped ones are
    // checked again (and warned about), the upgraded ones are final.
    let mut upgraded = keys.clone();
    for name in SKIPPED {
        upgraded.remove(name);
    }
    let plan = plan_once_upgraded(&ws, &upgraded);
    let again = actions(&plan);
    assert_eq!(again.keys().cloned().collect::<BTreeSet<_>>(), keys);
    assert!(again.values().all(|a| a == "no-op"), "{again:?}");
    assert_eq!(planned_output(&plan, "excluded"), &excluded);
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();

    // The report: one line per instance upgraded, with the version it runs now.
    ws.write(
        "upgrades.tfquery.hcl",
        "list \"hwrds_db_minor_upgrade\" \"fleet\" {\n  provider = hwrds\n  limit = 1000\n}\n",
    );
    let query = ws.run(&["query", "-no-color"]);
    query.assert_ok();
    println!("terraform query:\n{}", query.stdout);
    let lines: Vec<&str> = query
        .stdout
        .lines()
        .filter(|l| l.starts_with("list.hwrds_db_minor_upgrade.fleet"))
        .collect();
    let submitted = 5 + extra.iter().filter(|i| !up_to_date(i)).count();
    assert_eq!(lines.len(), submitted, "{}", query.stdout);
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

    // A newer minor version of each engine: the triggers change, and the plan updates
    // in place — nothing to add, nothing to destroy — with the DR warning.
    for (engine, version) in [("MySQL", "8.0.33"), ("PostgreSQL", "14.13")] {
        emu.admin(
            "/__emulator/versions",
            json!({"engine": engine, "version": version}),
        );
    }
    let run = ws.plan();
    let out = run.all();
    assert_eq!(run.code, 2, "{out}");
    assert!(
        out.contains("Warning: analytics: Instance is in a disaster-recovery relation"),
        "the DR warning in the update's plan:\n{out}"
    );
    assert!(
        out.contains(r#"~ target_version      = "8.0.32" -> "8.0.33""#),
        "{out}"
    );
    let (text, plan) = pr_summary(&ws);
    let changed = actions(&plan);
    assert!(
        changed.values().all(|a| a == "update" || a == "no-op"),
        "only updates in place: {changed:?}"
    );
    assert_eq!(changed["orders"], "update");
    assert_eq!(changed["analytics"], "update");
    let updates = changed.values().filter(|a| *a == "update").count();
    assert!(
        out.contains(&format!(
            "Plan: 0 to add, {updates} to change, 0 to destroy."
        )),
        "{out}"
    );
    assert!(text.contains("to update in place, 0 to replace)"), "{text}");
    assert!(!text.contains("[!WARNING]"), "{text}");
    let posts = emu.upgrade_posts(&id("0dde0009"));
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    assert_eq!(
        emu.upgrade_posts(&id("0dde0009")),
        posts + 1,
        "analytics upgraded once"
    );
    let analytics = &ws.fleet_attributes("fleet")[&id("0dde0009")];
    assert_eq!(analytics["version_after"], "14.13", "{analytics}");

    // An upgraded instance that becomes blocked keeps its record: no destroy; the next
    // new version is skipped for it, with a warning, until it is unfrozen.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [instance("0dde0001", "orders",
                json!({"status": "FROZEN", "complete_version": "8.0.33"}))]}),
    );
    let plan = ws.saved_plan();
    assert!(
        actions(&plan).values().all(|a| a == "no-op"),
        "{:?}",
        actions(&plan)
    );
    assert!(
        planned_output(&plan, "excluded")["orders"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("Instance is frozen"),
        "{}",
        planned_output(&plan, "excluded")
    );
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.34"}),
    );
    let run = ws.plan();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.all()
            .contains("Warning: orders: Upgrade skipped: Instance is frozen"),
        "{}",
        run.all()
    );
    let posts = emu.upgrade_posts(&id("0dde0001"));
    ws.apply().assert_ok();
    assert_eq!(
        ws.fleet_attributes("fleet")[&id("0dde0001")]["status"],
        "Skipped"
    );
    assert_eq!(
        emu.upgrade_posts(&id("0dde0001")),
        posts,
        "nothing submitted"
    );
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [instance("0dde0001", "orders", json!({"complete_version": "8.0.33"}))]}),
    );
    let plan = ws.saved_plan();
    assert_eq!(actions(&plan)["orders"], "update");
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    assert_eq!(
        emu.upgrade_posts(&id("0dde0001")),
        posts + 1,
        "submitted once unfrozen"
    );
}

/// Whether a generated instance already runs its latest version.
fn up_to_date(spec: &Value) -> bool {
    spec["complete_version"] == spec["latest_version"]
        || (spec["latest_version"].is_null() && spec["complete_version"] == "8.0.32")
}

/// The id of a blocked instance by name.
fn excluded_id(name: &str) -> String {
    fleet()
        .into_iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{name} is in the fleet"))
}
