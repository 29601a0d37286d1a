//! `hwrds_db_minor_upgrade` end to end: real Terraform drives this build's provider
//! against the emulator process. Happy paths per engine and type, every plan-time
//! refusal at its attribute, delayed and failed jobs, Ctrl-C and timeouts mid-wait,
//! faults, import, a fleet through `hwrds_db_instances`, and the core on Terraform 1.6.6.

pub mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::fixtures::{ANALYTICS, ORDERS, PAYMENTS, REPLICA, REPORTING, flat, fleet, upgrade};
use common::{Emulator, Workspace, hwrds_workspace, workspace};
use serde_json::{Value, json};

fn attrs(ws: &Workspace, name: &str) -> Value {
    ws.resource_attributes(&format!("hwrds_db_minor_upgrade.{name}"))
}

/// The second plan after a successful apply must be empty.
fn assert_no_changes(ws: &Workspace) {
    let plan = ws.plan();
    assert_eq!(plan.code, 0, "expected no changes:\n{}", plan.all());
}

fn happy_paths(terraform: PathBuf) {
    let emu = Emulator::demo(1.0);
    let body = format!(
        "{}{}{}\
data \"hwrds_db_instance\" \"payments\" {{\n  id         = \"{PAYMENTS}\"\n  depends_on = [hwrds_db_minor_upgrade.payments]\n}}\n\
output \"payments_nodes\" {{ value = data.hwrds_db_instance.payments.nodes }}\n",
        upgrade("orders", ORDERS, ""),
        upgrade("payments", PAYMENTS, "  second_switch = true\n"),
        upgrade("analytics", ANALYTICS, ""),
    );
    let ws = hwrds_workspace(terraform, &emu, &body);
    let plan = ws.run(&["plan", "-input=false"]);
    plan.assert_ok();
    let out = plan.all();
    for shown in [
        "version_before      = \"8.0.28\"",
        "version_before      = \"8.0.25\"",
        "version_before      = \"14.8\"",
        "engine              = \"PostgreSQL\"",
    ] {
        assert!(out.contains(shown), "the plan shows {shown}:\n{out}");
    }
    let apply = ws.apply();
    apply.assert_ok();
    for (name, id, before, after) in [
        ("orders", ORDERS, "8.0.28", "8.0.32"),
        ("payments", PAYMENTS, "8.0.25", "8.0.32"),
        ("analytics", ANALYTICS, "14.8", "14.12"),
    ] {
        let a = attrs(&ws, name);
        assert_eq!(a["status"], "Completed", "{name}: {a}");
        assert_eq!(a["version_before"], before, "{name}");
        assert_eq!(a["version_after"], after, "{name}");
        assert_eq!(a["progress"], "100%");
        assert_eq!(a["id"], format!("{id}/{}", a["job_id"].as_str().unwrap()));
        assert!(a["finished_at"].as_str().unwrap().contains('T'), "{a}");
        assert_eq!(emu.upgrade_jobs(id), 1, "{name}: exactly one job");
    }
    assert_eq!(attrs(&ws, "analytics")["engine"], "PostgreSQL");
    // MySQL HA with second_switch: the primary is back where it was.
    let out = ws.run(&["output", "-json", "payments_nodes"]);
    out.assert_ok();
    let nodes: Value = serde_json::from_str(&out.stdout).unwrap();
    let master = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["role"] == "master")
        .expect("a master node");
    assert_eq!(master["availability_zone"], "ap-southeast-1a", "{nodes}");
    assert_no_changes(&ws);
}

#[test]
fn happy_paths_mysql_single_ha_and_postgresql() {
    happy_paths(common::terraform());
}

#[test]
fn terraform_1_6_core() {
    happy_paths(common::terraform_16());
    failed_job_then_new_attempt(common::terraform_16());
}

#[test]
fn plan_time_refusals_point_at_the_attribute() {
    let emu = Emulator::demo(1.0);
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [
            {"id": "pg1100000000000000000000000000000in03", "name": "old-pg", "engine": "PostgreSQL",
             "version": "11", "complete_version": "11.1", "latest_version": "11.22"},
            {"id": "pgab00000000000000000000000000000in03", "name": "sick-pg", "engine": "PostgreSQL",
             "version": "14", "complete_version": "14.8", "latest_version": "14.12", "type": "Ha",
             "node_statuses": ["ACTIVE", "ABNORMAL"]},
            {"id": "busy0000000000000000000000000000in01", "name": "busy", "status": "BACKING UP"}
        ]}),
    );
    let cases: [(String, &str, &str); 8] = [
        (
            upgrade("r", "pg1100000000000000000000000000000in03", ""),
            "PostgreSQL 11 below 11.2 cannot be upgraded",
            "instance_id = \"pg11",
        ),
        (
            upgrade("r", "pgab00000000000000000000000000000in03", ""),
            "PostgreSQL instance has an abnormal node",
            "instance_id = \"pgab",
        ),
        (
            upgrade("r", "busy0000000000000000000000000000in01", ""),
            "has status BACKING UP",
            "instance_id = \"busy",
        ),
        (
            upgrade("r", REPORTING, ""),
            "minor version upgrades are available for MySQL and PostgreSQL only",
            "instance_id = \"e5f6",
        ),
        (
            upgrade("r", ANALYTICS, "  is_delayed  = true\n"),
            "PostgreSQL upgrades run immediately only",
            "is_delayed  = true",
        ),
        (
            upgrade("r", "nope0000", ""),
            "RDS instance not found",
            "instance_id = \"nope0000\"",
        ),
        (
            upgrade("r", "bad/id", ""),
            "Invalid instance id",
            "instance_id = \"bad/id\"",
        ),
        (
            upgrade(
                "r",
                ORDERS,
                "  timeouts {\n    create = \"ten minutes\"\n  }\n",
            ),
            "Invalid duration",
            "create = \"ten minutes\"",
        ),
    ];
    for (body, message, line) in cases {
        let ws = workspace(&emu, &body);
        let run = ws.plan();
        let out = flat(&run.all());
        assert_eq!(run.code, 1, "{body}\n{out}");
        assert!(out.contains(message), "{message}:\n{out}");
        assert!(
            out.contains(&flat(line)),
            "the line {line:?} is shown:\n{out}"
        );
    }
    assert_eq!(
        emu.stats()["upgrade_posts"],
        json!({}),
        "a plan submits nothing"
    );
}

#[test]
fn a_read_replica_plans_with_a_warning_naming_its_primary() {
    let emu = Emulator::demo(1.0);
    // A read replica is a warning (the API decides); it names the instance, its engine
    // and version.
    let ws = workspace(&emu, &upgrade("r", REPLICA, ""));
    let out = flat(&ws.plan().all());
    assert!(
        out.contains("A read replica may not be upgradable alone"),
        "{out}"
    );
    assert!(
        out.contains("payments-replica") && out.contains("MySQL 8.0.25"),
        "{out}"
    );
    assert!(
        out.contains(PAYMENTS),
        "names the primary to upgrade instead:\n{out}"
    );

    assert_eq!(
        emu.stats()["upgrade_posts"],
        json!({}),
        "a plan submits nothing"
    );
}

#[test]
fn warnings_do_not_stop_the_plan() {
    let emu = Emulator::demo(1.0);
    // Warnings: second_switch on a single instance; already on the latest version.
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": "f00000000000000000000000000000000in01", "name": "fresh",
            "complete_version": "8.0.32", "latest_version": "8.0.32"}]}),
    );
    let body = format!(
        "{}{}",
        upgrade("single", ORDERS, "  second_switch = false\n"),
        upgrade("latest", "f00000000000000000000000000000000in01", "")
    );
    let ws = workspace(&emu, &body);
    let run = ws.plan();
    let out = flat(&run.all());
    assert_eq!(run.code, 2, "warnings do not stop the plan:\n{out}");
    assert!(out.contains("second_switch has no effect"), "{out}");
    assert!(out.contains("second_switch = false"), "{out}");
    assert!(out.contains("already on the latest minor version"), "{out}");
    assert!(out.contains("already runs 8.0.32"), "{out}");
    assert_eq!(
        emu.stats()["upgrade_posts"],
        json!({}),
        "a plan submits nothing"
    );
}

#[test]
fn delayed_upgrade_returns_at_once_and_later_completes() {
    let emu = Emulator::start(
        json!({"job_seconds": 1, "window_opens_after_seconds": 6}),
        false,
    );
    let ws = workspace(&emu, &upgrade("orders", ORDERS, "  is_delayed = true\n"));
    let started = std::time::Instant::now();
    ws.apply().assert_ok();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a delayed upgrade does not wait for the window"
    );
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Scheduled", "{a}");
    assert_eq!(a["wait_for_completion"], false);
    assert_no_changes(&ws);
    std::thread::sleep(Duration::from_secs(9));
    ws.run(&["apply", "-refresh-only", "-auto-approve"])
        .assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_eq!(a["version_after"], "8.0.32");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    assert_no_changes(&ws);
}

fn failed_job_then_new_attempt(terraform: PathBuf) {
    let emu = Emulator::start(
        json!({"job_seconds": 1, "instances": [{"id": ORDERS, "name": "orders", "fail_upgrade": true}]}),
        false,
    );
    let ws = hwrds_workspace(terraform, &emu, &upgrade("orders", ORDERS, ""));
    let run = ws.apply();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("Upgrade job failed"), "{}", run.all());
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Failed");
    assert!(!a["fail_reason"].as_str().unwrap_or("").is_empty(), "{a}");
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    // A create that ends in an error is tainted (Terraform's rule): the new attempt is a
    // replacement. A failed update is retried in place (tests/upgrades_in_place.rs).
    assert!(
        plan.all().contains("is tainted, so must be replaced"),
        "{}",
        plan.all()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

#[test]
fn failed_job_is_an_error_and_the_next_plan_tries_again() {
    failed_job_then_new_attempt(common::terraform());
}

#[test]
fn interrupted_apply_keeps_the_job_and_resumes_without_resubmitting() {
    let emu = Emulator::demo(12.0);
    let ws = workspace(&emu, &upgrade("orders", ORDERS, ""));
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color"],
        "Creating...",
        Duration::from_secs(3),
    );
    let out = flat(&run.all());
    assert!(out.contains("Upgrade still running"), "{out}");
    assert!(out.contains("Run terraform apply again"), "{out}");
    assert!(out.contains("nothing is submitted again"), "{out}");
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Running", "{a}");
    assert!(a["job_id"].as_str().is_some_and(|j| !j.is_empty()));
    let job_id = a["job_id"].clone();
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.all().contains("updated in-place"), "{}", plan.all());
    ws.apply().assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_eq!(a["job_id"], job_id);
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "exactly one job");
    assert_eq!(emu.stats()["upgrade_posts"][ORDERS], 1, "one request");
    assert_no_changes(&ws);
}

#[test]
fn timed_out_wait_keeps_the_job_and_the_next_apply_finishes() {
    let emu = Emulator::demo(8.0);
    let ws = workspace(
        &emu,
        &upgrade("orders", ORDERS, "  timeouts {\n    create = \"3s\"\n  }\n"),
    );
    let run = ws.apply();
    run.assert_ok();
    assert!(
        flat(&run.all()).contains("reached its timeout"),
        "{}",
        run.all()
    );
    assert_eq!(attrs(&ws, "orders")["status"], "Running");
    ws.apply().assert_ok();
    assert_eq!(attrs(&ws, "orders")["status"], "Completed");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    assert_no_changes(&ws);
}

#[test]
fn faults_at_30_percent_still_one_job_per_instance() {
    let instances: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("fa{i:030}in01"), "name": format!("f{i}")}))
        .collect();
    let emu = Emulator::start(json!({"job_seconds": 1, "instances": instances}), false);
    emu.faults(json!({"probability": 0.3, "kinds": ["throttle", "server_error", "reset_after_processing", "latency"], "seed": 7}));
    // Every instance, not only those with an upgrade available: a retried apply must
    // keep the resources whose upgrade already happened.
    let body = "provider \"hwrds\" {\n  max_retries = 10\n}\ndata \"hwrds_db_instances\" \"all\" {}\nresource \"hwrds_db_minor_upgrade\" \"fleet\" {\n  for_each    = { for i in data.hwrds_db_instances.all.instances : i.id => i }\n  instance_id = each.key\n}\n";
    let ws = workspace(&emu, body);
    let mut applies = 0;
    loop {
        applies += 1;
        let run = ws.apply();
        if run.code == 0 {
            break;
        }
        assert!(applies < 4, "applies keep failing:\n{}", run.all());
    }
    emu.faults(json!({"probability": 0}));
    for i in 0..6 {
        let id = format!("fa{i:030}in01");
        assert_eq!(emu.upgrade_jobs(&id), 1, "{id}: {}", emu.stats());
    }
    assert_no_changes(&ws);
    let state = ws.state();
    let statuses: Vec<&Value> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "hwrds_db_minor_upgrade")
        .flat_map(|r| r["instances"].as_array().unwrap())
        .map(|i| &i["attributes"]["status"])
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "Completed"),
        "{statuses:?}"
    );
}

#[test]
fn import_by_job_and_by_instance() {
    let emu = Emulator::demo(1.0);
    let first = workspace(&emu, &upgrade("orders", ORDERS, ""));
    first.apply().assert_ok();
    let job_id = attrs(&first, "orders")["job_id"]
        .as_str()
        .unwrap()
        .to_string();

    let ws = workspace(&emu, &upgrade("orders", ORDERS, ""));
    ws.run(&[
        "import",
        "hwrds_db_minor_upgrade.orders",
        &format!("{ORDERS}/{job_id}"),
    ])
    .assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["job_id"], job_id.as_str());
    assert_eq!(a["status"], "Completed");
    assert_eq!(a["version_after"], "8.0.32");
    assert_no_changes(&ws);

    let body = format!(
        "import {{\n  to = hwrds_db_minor_upgrade.orders\n  id = \"{ORDERS}\"\n}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let ws = workspace(&emu, &body);
    ws.apply().assert_ok();
    assert_eq!(attrs(&ws, "orders")["job_id"], job_id.as_str());
    assert_no_changes(&ws);

    let ws = workspace(&emu, &upgrade("p", PAYMENTS, ""));
    let run = ws.run(&["import", "hwrds_db_minor_upgrade.p", PAYMENTS]);
    assert_ne!(run.code, 0);
    assert!(
        run.all().contains("No upgrade job to import"),
        "{}",
        run.all()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "importing submits nothing");
}

#[test]
fn fleet_of_twenty_through_for_each() {
    let mut instances: Vec<Value> = (0..20)
        .map(|i| json!({"id": format!("fl{i:030}in01"), "name": format!("fleet-{i:02}")}))
        .collect();
    instances.push(json!({"id": format!("xx{:030}in01", 0), "name": "other", "engine": "PostgreSQL", "version": "14", "complete_version": "14.8", "latest_version": "14.12"}));
    let emu = Emulator::start(json!({"job_seconds": 2, "instances": instances}), false);
    let body = "data \"hwrds_db_instances\" \"fleet\" {\n  engine      = \"mysql\"\n  name_prefix = \"fleet-\"\n}\nresource \"hwrds_db_minor_upgrade\" \"fleet\" {\n  for_each    = { for i in data.hwrds_db_instances.fleet.instances : i.id => i if i.upgrade_available }\n  instance_id = each.key\n}\n";
    let ws = workspace(&emu, body);
    let run = ws.run(&["apply", "-auto-approve", "-parallelism=20"]);
    run.assert_ok();
    assert!(run.all().contains("20 added"), "{}", run.all());
    for i in 0..20 {
        assert_eq!(emu.upgrade_jobs(&format!("fl{i:030}in01")), 1);
    }
    assert_eq!(
        emu.upgrade_jobs(&format!("xx{:030}in01", 0)),
        0,
        "filtered out"
    );
    // One shared listing per provider process (plan, apply) and one final read per
    // upgraded instance for its new version — not a lookup per resource per phase.
    let stats = emu.stats();
    let listings = stats["requests"]["GET /v3/{project_id}/instances"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        listings <= 20 + 2,
        "instance lookups are shared, not one per resource: {listings}"
    );
}

#[test]
fn a_missing_version_after_is_read_again_on_refresh() {
    let emu = Emulator::demo(1.0);
    let ws = workspace(&emu, &upgrade("orders", ORDERS, ""));
    ws.apply().assert_ok();
    // As if the read after completion had failed: the state lacks the new version.
    let path = ws.path().join("terraform.tfstate");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["resources"][0]["instances"][0]["attributes"]["version_after"] = Value::Null;
    std::fs::write(&path, state.to_string()).unwrap();
    ws.run(&["apply", "-refresh-only", "-auto-approve"])
        .assert_ok();
    assert_eq!(attrs(&ws, "orders")["version_after"], "8.0.32");
    assert_no_changes(&ws);
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

#[test]
fn the_plan_names_each_instance_and_an_earlier_state_gets_its_name_on_refresh() {
    let emu = Emulator::demo(1.0);
    let ws = workspace(&emu, &upgrade("orders", ORDERS, ""));
    let plan = ws.saved_plan();
    let after = &plan["resource_changes"][0]["change"]["after"];
    assert_eq!(after["instance_name"], "orders", "{after}");
    ws.run(&["apply", "tfplan"]).assert_ok();
    assert_eq!(attrs(&ws, "orders")["instance_name"], "orders");

    // As if written by an earlier version: no instance_name at all.
    let path = ws.path().join("terraform.tfstate");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let attributes = &mut state["resources"][0]["instances"][0]["attributes"];
    attributes
        .as_object_mut()
        .expect("attributes")
        .remove("instance_name");
    std::fs::write(&path, state.to_string()).unwrap();
    assert_no_changes(&ws);
    ws.run(&["apply", "-refresh-only", "-auto-approve"])
        .assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["instance_name"], "orders", "{a}");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_no_changes(&ws);
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "{}", emu.stats());
}

#[test]
fn the_plan_shows_the_impact_and_an_earlier_state_gets_it_on_refresh() {
    // The demo's payments is MySQL primary/standby in two availability zones.
    let emu = Emulator::demo(1.0);
    let body = format!(
        "{}{}",
        upgrade("orders", ORDERS, ""),
        upgrade("payments", PAYMENTS, "")
    );
    let ws = workspace(&emu, &body);
    let plan = ws.saved_plan();
    let impacts = [
        (
            "orders",
            "restart (the database is unavailable for the upgrade's duration), now",
        ),
        (
            "payments",
            "two switchovers (primary and standby swap, then swap back), now",
        ),
    ];
    for (name, impact) in impacts {
        let address = format!("hwrds_db_minor_upgrade.{name}");
        let change = plan["resource_changes"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["address"] == address.as_str()))
            .map(|c| &c["change"])
            .unwrap_or_else(|| panic!("{address} not in {plan}"));
        assert_eq!(change["after"]["impact"], impact, "{change}");
    }
    let apply = ws.run(&["apply", "tfplan"]);
    apply.assert_ok();
    assert!(!apply.all().contains("inconsistent"), "{}", apply.all());
    for (name, impact) in impacts {
        assert_eq!(attrs(&ws, name)["impact"], impact, "as planned");
    }

    // As if written by an earlier version: no impact at all.
    let path = ws.path().join("terraform.tfstate");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for instance in state["resources"].as_array_mut().expect("resources") {
        instance["instances"][0]["attributes"]
            .as_object_mut()
            .expect("attributes")
            .remove("impact");
    }
    std::fs::write(&path, state.to_string()).unwrap();
    assert_no_changes(&ws);
    ws.run(&["apply", "-refresh-only", "-auto-approve"])
        .assert_ok();
    for (name, impact) in impacts {
        assert_eq!(attrs(&ws, name)["impact"], impact, "{name} on refresh");
    }
    assert_no_changes(&ws);
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "{}", emu.stats());
    assert_eq!(emu.upgrade_posts(PAYMENTS), 1, "{}", emu.stats());
}

#[test]
fn a_default_second_switch_does_not_warn_and_each_instance_warns_in_its_own_name() {
    const BILLING: &str = "b1111111111111111111111111111111in01";
    let emu = Emulator::start(
        json!({"instances": [{"id": ORDERS, "name": "orders", "type": "Single"},
                             {"id": BILLING, "name": "billing", "type": "Single"}]}),
        false,
    );
    let ids = [ORDERS.to_string(), BILLING.to_string()];
    // As the README sets it: true is the default, so nothing is ignored.
    let ws = workspace(&emu, &fleet(&ids, "  second_switch = true\n"));
    let run = ws.plan();
    let out = flat(&run.all());
    assert_eq!(run.code, 2, "{out}");
    assert!(!out.contains("has no effect"), "{out}");
    assert_eq!(
        out.matches("Warning:").count(),
        1,
        "Terraform's development-overrides warning only: {out}"
    );

    // false would change the upgrade where it applies: each instance says so in its name.
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            common::HWRDS_HEADER,
            fleet(&ids, "  second_switch = false\n")
        ),
    );
    let run = ws.plan();
    let out = flat(&run.all());
    assert_eq!(run.code, 2, "{out}");
    for name in ["orders", "billing"] {
        assert!(
            out.contains(&format!(
                "Warning: {name}: second_switch has no effect on this instance"
            )),
            "{name}: {out}"
        );
    }
    assert!(!out.contains("similar warning"), "none folded: {out}");
    assert_eq!(
        emu.stats()["upgrade_posts"],
        json!({}),
        "a plan submits nothing"
    );
}

#[test]
fn an_instance_already_on_its_latest_version_is_recorded_up_to_date_and_nothing_is_sent() {
    const ON_IT: &str = "8.0.32.240101";
    let emu = Emulator::start(
        json!({"job_seconds": 1, "instances": [
            {"id": ORDERS, "name": "orders", "complete_version": ON_IT, "latest_version": "8.0.32"},
            {"id": PAYMENTS, "name": "payments", "type": "Single"}]}),
        false,
    );
    let body = format!(
        "{}{}",
        upgrade("orders", ORDERS, ""),
        upgrade("payments", PAYMENTS, "")
    );
    let ws = workspace(&emu, &body);
    let plan = ws.saved_plan();
    let after = |name: &str| -> Value {
        plan["resource_changes"]
            .as_array()
            .expect("changes")
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["change"]["after"].clone())
            .unwrap_or_else(|| panic!("{name} in {plan}"))
    };
    let orders = after("orders");
    assert_eq!(orders["version_before"], ON_IT, "{orders}");
    assert_eq!(
        orders["target_version"], ON_IT,
        "one form for both: {orders}"
    );
    assert_eq!(orders["instance_name"], "orders", "{orders}");
    let payments = after("payments");
    assert_eq!(payments["instance_name"], "payments", "{payments}");
    assert_eq!(payments["target_version"], "8.0.32", "{payments}");

    // Said once, at the instance, naming it.
    let json = ws.run(&["plan", "-json"]);
    json.assert_ok();
    let said: Vec<Value> = json
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["type"] == "diagnostic")
        .filter(|m| {
            m["diagnostic"]["summary"]
                .as_str()
                .is_some_and(|s| s.contains("nothing to install"))
        })
        .collect();
    assert_eq!(said.len(), 1, "{}", json.stdout);
    let diagnostic = &said[0]["diagnostic"];
    assert_eq!(
        diagnostic["summary"],
        "orders: Instance is already on the latest minor version: nothing to install",
        "{diagnostic}"
    );
    assert_eq!(diagnostic["severity"], "warning", "{diagnostic}");
    assert!(
        diagnostic["snippet"]["code"]
            .as_str()
            .is_some_and(|code| code.contains("instance_id")),
        "at instance_id: {diagnostic}"
    );

    ws.run(&["apply", "tfplan"]).assert_ok();
    assert_eq!(
        emu.upgrade_posts(ORDERS),
        0,
        "nothing sent: {}",
        emu.stats()
    );
    assert_eq!(emu.upgrade_posts(PAYMENTS), 1, "{}", emu.stats());
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "UpToDate", "{a}");
    assert_eq!(a["job_id"], Value::Null, "{a}");
    assert_eq!(a["id"], ORDERS, "{a}");
    assert_eq!(a["version_after"], ON_IT, "{a}");
    assert_eq!(attrs(&ws, "payments")["status"], "Completed");
    let state = ws.run(&["show", "-json"]);
    state.assert_ok();
    let state: Value = serde_json::from_str(&state.stdout).expect("state JSON");
    let recorded = state["values"]["root_module"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "orders")
        .cloned()
        .expect("orders in the state");
    assert_eq!(
        recorded["identity"],
        json!({"instance_id": ORDERS}),
        "{recorded}"
    );
    assert_no_changes(&ws);
    assert_eq!(emu.upgrade_posts(ORDERS), 0, "{}", emu.stats());
}
