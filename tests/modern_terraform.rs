//! What newer Terraform offers, through real Terraform and the emulator process:
//! resource identity (1.12+: identity in the state after create, `import` blocks by
//! identity with and without `job_id`), `terraform query` (1.14+: upgrades started
//! through the API as the console would, their identities and display names, a limit,
//! `-generate-config-out` whose file imports them with no new job and an empty plan
//! after), `moved` from the official provider's resource (1.8+: no job submitted, the
//! first refresh adopts the instance's job, empty plan after; other sources refused), and
//! Terraform 1.6.6, which knows none of it, still planning, applying and importing.
//!
//! The `moved` test needs the source provider `huaweicloud/huaweicloud` to exist for
//! Terraform (it starts it to read its schema, and `terraform init` would download it,
//! which this machine cannot): a development override points that address at this
//! build's own binary, a stand-in that answers the schema call and nothing else.
//! Terraform sends the move itself to the target provider, hwrds, with the state the
//! official provider wrote (the hand-written state file below is in Terraform's format).

pub mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fixtures::{ANALYTICS, ORDERS, upgrade};
use common::{Emulator, Workspace, hwrds_workspace};
use hwrds::rds::{CallCtx, UpgradeRequest};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The resource at `address` in `terraform show -json` (values and identity).
fn shown(ws: &Workspace, address: &str) -> Value {
    let run = ws.run(&["show", "-json"]);
    run.assert_ok();
    let state: Value = serde_json::from_str(&run.stdout).expect("show -json is JSON");
    let resources = state["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    resources
        .into_iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} not shown: {state}"))
}

#[track_caller]
fn assert_empty_plan(ws: &Workspace, after: &str) {
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        0,
        "the plan after {after} has changes:\n{}",
        plan.all()
    );
}

/// Starts upgrades through the API, as the console would, and waits until the task
/// center shows each completed; returns their job ids.
fn console_upgrades(emu: &Emulator, instances: &[&str]) -> Vec<String> {
    let client = common::client::EmulatorClient::new(&emu.url)
        .build()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ctx = CallCtx::new(CancellationToken::new());
    let request = UpgradeRequest {
        is_delayed: false,
        second_switch: true,
    };
    let jobs: Vec<String> = instances
        .iter()
        .map(|id| {
            runtime
                .block_on(common::client::submit_upgrade(&client, &ctx, id, request))
                .unwrap_or_else(|e| panic!("upgrade {id}: {e}"))
        })
        .collect();
    let ids: Vec<String> = instances.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let truth = common::truth::read(&emu.url, &ids).expect("read the emulator");
        let done = truth.iter().zip(&jobs).all(|(t, job)| {
            t.tasks
                .iter()
                .any(|task| task.id == *job && task.status == "Completed")
        });
        if done {
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "upgrades did not complete: {truth:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn identity_is_in_the_state_and_import_blocks_take_it() {
    let emu = Emulator::demo(1.0);
    let ws = common::workspace(&emu, &upgrade("orders", ORDERS, ""));
    ws.apply().assert_ok();
    let created = shown(&ws, "hwrds_db_minor_upgrade.orders");
    let job_id = created["values"]["job_id"]
        .as_str()
        .expect("job_id")
        .to_string();
    assert_eq!(
        created["identity"],
        json!({"instance_id": ORDERS}),
        "the identity is the instance: {created}"
    );
    assert_eq!(created["identity_schema_version"], 1, "{created}");
    assert_empty_plan(&ws, "create");

    let body = format!(
        "import {{\n  to = hwrds_db_minor_upgrade.orders\n  identity = {{\n    instance_id = \"{ORDERS}\"\n  }}\n}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let ws = common::workspace(&emu, &body);
    let apply = ws.apply();
    apply.assert_ok();
    assert!(
        apply.stdout.contains("1 imported, 0 added, 0 changed"),
        "{}",
        apply.stdout
    );
    let imported = shown(&ws, "hwrds_db_minor_upgrade.orders");
    assert_eq!(imported["identity"], json!({"instance_id": ORDERS}));
    assert_eq!(
        imported["values"]["job_id"], job_id,
        "the most recent job: {imported}"
    );
    assert_eq!(imported["values"]["status"], "Completed", "{imported}");
    assert_empty_plan(&ws, "an import by identity");

    // An import block of version 0's form, with job_id: Terraform keeps only the
    // attributes of today's identity, and the instance's most recent job is imported.
    let body = format!(
        "import {{\n  to = hwrds_db_minor_upgrade.orders\n  identity = {{\n    instance_id = \"{ORDERS}\"\n    job_id = \"{job_id}\"\n  }}\n}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let ws = common::workspace(&emu, &body);
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("[identity=instance_id={ORDERS}]")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("1 to import, 0 to add, 0 to change"),
        "{}",
        plan.stdout
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "importing submits nothing");
}

#[test]
fn terraform_1_6_knows_no_identity_and_still_works() {
    let emu = Emulator::demo(1.0);
    let ws = hwrds_workspace(common::terraform_16(), &emu, &upgrade("orders", ORDERS, ""));
    ws.apply().assert_ok();
    let state = ws.state();
    let instance = &state["resources"][0]["instances"][0];
    assert_eq!(instance["attributes"]["status"], "Completed", "{state}");
    assert!(
        instance.get("identity").is_none(),
        "1.6 stores no identity: {state}"
    );
    assert_empty_plan(&ws, "create on 1.6");
    let job_id = instance["attributes"]["job_id"]
        .as_str()
        .expect("job_id")
        .to_string();

    let ws = hwrds_workspace(common::terraform_16(), &emu, &upgrade("orders", ORDERS, ""));
    ws.run(&["import", "hwrds_db_minor_upgrade.orders", ORDERS])
        .assert_ok();
    assert_eq!(
        ws.resource_attributes("hwrds_db_minor_upgrade.orders")["job_id"],
        job_id
    );
    assert_empty_plan(&ws, "import on 1.6");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

/// The documented example (`examples/list-resources/`): Completed upgrades.
fn query() -> String {
    let path =
        common::repo_root().join("examples/list-resources/hwrds_db_minor_upgrade/list.tfquery.hcl");
    std::fs::read_to_string(path).expect("the list example")
}

#[test]
fn query_lists_console_upgrades_and_its_generated_config_imports_them() {
    let emu = Emulator::demo(1.0);
    let jobs = console_upgrades(&emu, &[ORDERS, ANALYTICS]);
    let ws = common::workspace(&emu, "");
    let query_file = query();
    ws.write("upgrades.tfquery.hcl", &query_file);
    let query = ws.run(&["query", "-no-color"]);
    query.assert_ok();
    println!("terraform query:\n{}", query.stdout);
    for (instance, job, name) in [
        (ORDERS, &jobs[0], "orders: MySQL minor upgrade Completed"),
        (
            ANALYTICS,
            &jobs[1],
            "analytics: PostgreSQL minor upgrade Completed",
        ),
    ] {
        let line = query
            .stdout
            .lines()
            .find(|l| l.contains(&format!("instance_id={instance}")))
            .unwrap_or_else(|| panic!("{instance} ({job}) not listed:\n{}", query.stdout));
        assert!(
            line.starts_with("list.hwrds_db_minor_upgrade.console"),
            "{line}"
        );
        assert!(line.contains(&format!("instance_id={instance}")), "{line}");
        assert!(line.contains(name), "{line}");
    }
    assert!(
        query.stdout.contains("instance now on 8.0.32"),
        "{}",
        query.stdout
    );
    assert!(
        query.stdout.contains("instance now on 14.12"),
        "{}",
        query.stdout
    );

    // A filter that matches nothing, and a limit.
    ws.write(
        "upgrades.tfquery.hcl",
        &query_file.replace("\"Completed\"", "\"Failed\""),
    );
    let none = ws.run(&["query", "-no-color"]);
    none.assert_ok();
    assert!(
        !none
            .stdout
            .lines()
            .any(|l| l.starts_with("list.hwrds_db_minor_upgrade")),
        "{}",
        none.stdout
    );
    ws.write(
        "upgrades.tfquery.hcl",
        &query_file.replace("provider = hwrds", "provider = hwrds\n  limit    = 1"),
    );
    let limited = ws.run(&["query", "-no-color"]);
    limited.assert_ok();
    let listed = limited
        .stdout
        .lines()
        .filter(|l| l.starts_with("list.hwrds_db_minor_upgrade"))
        .count();
    assert_eq!(listed, 1, "limit = 1:\n{}", limited.stdout);
    ws.write(
        "upgrades.tfquery.hcl",
        &query_file.replace("\"Completed\"", "\"Scheduled\""),
    );
    let invalid = ws.run(&["query", "-no-color"]);
    assert_eq!(invalid.code, 1, "{}", invalid.all());
    assert!(
        invalid.all().contains("Invalid status"),
        "{}",
        invalid.all()
    );

    ws.write("upgrades.tfquery.hcl", &query_file);
    ws.run(&["query", "-no-color", "-generate-config-out=upgrades.tf"])
        .assert_ok();
    let generated = std::fs::read_to_string(ws.path().join("upgrades.tf")).expect("generated file");
    println!("upgrades.tf:\n{generated}");
    for instance in [ORDERS, ANALYTICS] {
        assert!(
            generated.contains(&format!("instance_id = \"{instance}\"")),
            "{generated}"
        );
    }
    assert!(
        !generated.contains("job_id"),
        "an identity is the instance: {generated}"
    );
    assert_eq!(generated.matches("import {").count(), 2, "{generated}");
    assert!(
        !generated.contains("status"),
        "no computed value: {generated}"
    );

    let apply = ws.apply();
    apply.assert_ok();
    assert!(
        apply
            .stdout
            .contains("2 imported, 0 added, 0 changed, 0 destroyed"),
        "{}",
        apply.stdout
    );
    assert_empty_plan(&ws, "applying the generated configuration");
    let state = ws.state().to_string();
    for job in &jobs {
        assert!(state.contains(job.as_str()), "{job} imported: {state}");
    }
    let posts = emu.stats()["upgrade_posts"].clone();
    assert_eq!(posts, json!({ORDERS: 1, ANALYTICS: 1}), "no new job");
}

/// The state the official provider writes for its upgrade resource.
fn official_state(type_name: &str, instance_id: &str) -> String {
    json!({
        "version": 4,
        "terraform_version": "1.9.8",
        "serial": 3,
        "lineage": "6f1c2a9e-0d2b-4c53-9a51-3b8f8c7d2e10",
        "outputs": {},
        "resources": [{
            "mode": "managed",
            "type": type_name,
            "name": "orders",
            "provider": "provider[\"registry.terraform.io/huaweicloud/huaweicloud\"]",
            "instances": [{
                "schema_version": 0,
                "attributes": {
                    "enable_force_new": null,
                    "id": instance_id,
                    "instance_id": instance_id,
                    "is_delayed": false,
                    "region": "ap-southeast-1"
                },
                "sensitive_attributes": [],
                "private": "bnVsbA=="
            }]
        }],
        "check_results": null
    })
    .to_string()
}

/// A workspace with hwrds and, as `huaweicloud/huaweicloud`, the stand-in (see the
/// module doc), holding `state`.
fn moved_workspace(emu: &Emulator, from: &str, state: &str) -> Workspace {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-hwrds"));
    let body = format!(
        "{}moved {{\n  from = {from}\n  to   = hwrds_db_minor_upgrade.orders\n}}\n{}",
        common::HWRDS_HEADER,
        upgrade("orders", ORDERS, "")
    );
    let overrides: [(&str, &Path); 2] = [
        ("hwrds/hwrds", binary.as_path()),
        ("huaweicloud/huaweicloud", binary.as_path()),
    ];
    let mut ws = Workspace::new(common::terraform(), &overrides, &body);
    ws.set_env("HWRDS_ENDPOINT", &emu.url);
    ws.set_env("HW_REGION_NAME", "ap-southeast-1");
    ws.set_env("HW_ACCESS_KEY", common::ACCESS_KEY);
    ws.set_env("HW_SECRET_KEY", common::SECRET_KEY);
    ws.set_env("HWRDS_API_QUOTA_PER_MINUTE", "1000000");
    ws.write("terraform.tfstate", state);
    ws
}

#[test]
fn moved_from_the_official_provider_adopts_the_job_without_submitting() {
    let emu = Emulator::demo(1.0);
    // What the official provider did: submit and forget.
    let job = console_upgrades(&emu, &[ORDERS]).remove(0);
    let source = "huaweicloud_rds_instance_minor_version_upgrade";
    let ws = moved_workspace(
        &emu,
        &format!("{source}.orders"),
        &official_state(source, ORDERS),
    );
    let plan = ws.run(&["plan", "-no-color", "-input=false"]);
    plan.assert_ok();
    println!("moved plan:\n{}", plan.stdout);
    for shown in [
        format!("# {source}.orders has moved to hwrds_db_minor_upgrade.orders"),
        format!("id                  = \"{ORDERS}/{job}\""),
        "Plan: 0 to add, 0 to change, 0 to destroy.".to_string(),
        "Moved from the official provider".to_string(),
    ] {
        assert!(plan.stdout.contains(&shown), "{shown}:\n{}", plan.stdout);
    }
    ws.apply().assert_ok();
    let moved = shown(&ws, "hwrds_db_minor_upgrade.orders");
    assert_eq!(moved["identity"], json!({"instance_id": ORDERS}), "{moved}");
    assert_eq!(moved["values"]["job_id"], job.as_str(), "{moved}");
    assert_eq!(moved["values"]["status"], "Completed", "{moved}");
    assert_eq!(moved["values"]["version_after"], "8.0.32", "{moved}");
    assert_eq!(ws.state()["resources"].as_array().map(Vec::len), Some(1));
    assert_empty_plan(&ws, "the move");
    assert_eq!(emu.stats()["upgrade_posts"][ORDERS], 1, "nothing submitted");

    // Any other source is refused, and nothing is planned.
    let other = "huaweicloud_rds_instance";
    let ws = moved_workspace(
        &emu,
        &format!("{other}.orders"),
        &official_state(other, ORDERS),
    );
    let refused = ws.plan();
    assert_eq!(refused.code, 1, "{}", refused.all());
    let out = refused
        .all()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        out.contains("Cannot move this resource to hwrds_db_minor_upgrade"),
        "{out}"
    );
    assert!(
        out.contains(&format!("this moved block's source is {other}")),
        "{out}"
    );
    assert_eq!(emu.stats()["upgrade_posts"][ORDERS], 1, "nothing submitted");
}
