//! Acceptance tests against the real Huawei Cloud (`make testacc`): real Terraform, this
//! build's provider, the real RDS API. They run only with `TF_ACC=1`; otherwise each one
//! prints what it would touch and returns (the suite still compiles and runs in
//! `make test`).
//!
//! - `data_sources_read_the_real_project`: read-only. `hwrds_db_instances` lists the
//!   project's instances, `hwrds_db_instance` reads the first of them by id.
//! - `upgrade_import_and_refresh_of_the_test_instance`: upgrades `HWRDS_ACC_INSTANCE_ID`
//!   (which must be a minor version behind; the upgrade restarts its database), checks
//!   the second plan is empty, then forgets it, imports its upgrade job and refreshes.
//!
//! Credentials come from the environment, as the provider reads them: `HW_ACCESS_KEY`,
//! `HW_SECRET_KEY`, `HW_REGION_NAME`, optionally `HW_PROJECT_ID` and `HW_SECURITY_TOKEN`
//! (and `HWRDS_ENDPOINT` / `HWRDS_IAM_ENDPOINT` for another endpoint, e.g. to try the
//! suite against the emulator).

pub mod common;

use std::time::Duration;

use common::Workspace;
use serde_json::Value;

const INSTANCE_VAR: &str = "HWRDS_ACC_INSTANCE_ID";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// What the suite would use, as a user reads it.
fn target_description() -> String {
    let region = env("HW_REGION_NAME").unwrap_or_else(|| "? (HW_REGION_NAME unset)".into());
    let project = env("HW_PROJECT_ID")
        .map(|p| format!("project {p}"))
        .unwrap_or_else(|| "the region's project (looked up through IAM)".into());
    let endpoint = env("HWRDS_ENDPOINT").unwrap_or_else(|| "the region's RDS endpoint".into());
    format!("{project} of region {region}, through {endpoint}")
}

/// Prints past the test harness's capture, so `make test` shows it.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// True when the test should run. Otherwise prints why not and what it would touch.
fn acceptance(test: &str, would: &str) -> bool {
    if env("TF_ACC").as_deref() == Some("1") {
        for required in ["HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_REGION_NAME"] {
            assert!(
                env(required).is_some(),
                "TF_ACC=1 but {required} is not set: the acceptance tests need real credentials"
            );
        }
        say(&format!(
            "acceptance {test}: will {would} {}",
            target_description()
        ));
        return true;
    }
    say(&format!(
        "acceptance {test}: SKIPPED (TF_ACC is not 1; `make testacc` runs it). It would {would} \
         {}.",
        target_description()
    ));
    false
}

/// A workspace with this build's provider and the caller's HW_* environment.
fn workspace(body: &str) -> Workspace {
    let mut ws = common::hwrds_only_workspace(common::terraform(), body);
    for name in [
        "HW_ACCESS_KEY",
        "HW_SECRET_KEY",
        "HW_REGION_NAME",
        "HW_PROJECT_ID",
        "HW_SECURITY_TOKEN",
        "HWRDS_ENDPOINT",
        "HWRDS_IAM_ENDPOINT",
    ] {
        if let Some(value) = env(name) {
            ws.set_env(name, &value);
        }
    }
    ws
}

fn output(ws: &Workspace, name: &str) -> Value {
    let run = ws.run(&["output", "-json", name]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).expect("output JSON")
}

#[test]
fn data_sources_read_the_real_project() {
    if !acceptance(
        "data_sources_read_the_real_project",
        "read (only) the RDS instances of",
    ) {
        return;
    }
    let ws = workspace(
        "data \"hwrds_db_instances\" \"all\" {}\noutput \"instances\" { value = data.hwrds_db_instances.all.instances }\n",
    );
    let apply = ws.apply();
    apply.assert_ok();
    assert!(
        apply
            .stdout
            .contains("Resources: 0 added, 0 changed, 0 destroyed"),
        "{}",
        apply.stdout
    );
    let instances = output(&ws, "instances");
    let instances = instances.as_array().expect("a list of instances");
    println!("the project has {} RDS instances", instances.len());
    let Some(first) = instances.first() else {
        println!("no instance to read by id; hwrds_db_instance is not exercised");
        return;
    };
    for key in [
        "id",
        "name",
        "engine",
        "version",
        "complete_version",
        "status",
        "type",
    ] {
        assert!(
            first[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} of {first}"
        );
    }
    let id = first["id"].as_str().unwrap_or_default();
    let ws = workspace(&format!(
        "data \"hwrds_db_instance\" \"one\" {{\n  id = \"{id}\"\n}}\noutput \"one\" {{ value = data.hwrds_db_instance.one }}\n"
    ));
    ws.apply().assert_ok();
    let one = output(&ws, "one");
    for key in ["id", "name", "engine", "complete_version", "latest_version"] {
        assert_eq!(one[key], first[key], "{key}: {one} vs {first}");
    }
}

#[test]
fn upgrade_import_and_refresh_of_the_test_instance() {
    let instance = env(INSTANCE_VAR);
    let would = format!(
        "upgrade the instance {} to its latest minor version (its database restarts), then import \
         and refresh that upgrade; nothing else is changed in",
        instance
            .as_deref()
            .unwrap_or("named by HWRDS_ACC_INSTANCE_ID (unset)")
    );
    if !acceptance("upgrade_import_and_refresh_of_the_test_instance", &would) {
        return;
    }
    let Some(instance) = instance else {
        panic!(
            "TF_ACC=1 but {INSTANCE_VAR} is not set: name the test instance this test may \
             upgrade, or run only the read-only test (cargo test --test acceptance \
             data_sources)"
        );
    };

    // The instance must have an upgrade to make.
    let read = format!(
        "data \"hwrds_db_instance\" \"target\" {{\n  id = \"{instance}\"\n}}\noutput \"target\" {{ value = data.hwrds_db_instance.target }}\n"
    );
    let ws = workspace(&read);
    ws.apply().assert_ok();
    let target = output(&ws, "target");
    assert_eq!(
        target["upgrade_available"], true,
        "{instance} has no minor upgrade to make (blockers: {}); pick an instance a minor \
         version behind: {target}",
        target["upgrade_blockers"]
    );
    let before = target["complete_version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let latest = target["latest_version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("{instance}: {before} -> {latest}");

    let body = format!(
        "resource \"hwrds_db_minor_upgrade\" \"acc\" {{\n  instance_id = \"{instance}\"\n  timeouts {{\n    create = \"90m\"\n  }}\n}}\n"
    );
    let ws = workspace(&body);
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("version_before      = \"{before}\"")),
        "{}",
        plan.stdout
    );
    ws.run_with_timeout(
        &["apply", "-auto-approve", "-input=false"],
        Duration::from_secs(95 * 60),
    )
    .assert_ok();
    let a = ws.resource_attributes("hwrds_db_minor_upgrade.acc");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_eq!(a["version_before"], before.as_str(), "{a}");
    assert_eq!(a["version_after"], latest.as_str(), "{a}");
    let job_id = a["job_id"].as_str().unwrap_or_default().to_string();
    let plan = ws.plan();
    assert_eq!(plan.code, 0, "the second plan is empty:\n{}", plan.all());

    // Forget it, import the instance's latest upgrade job, refresh: the same job, no change.
    ws.run(&["state", "rm", "hwrds_db_minor_upgrade.acc"])
        .assert_ok();
    ws.run(&["import", "hwrds_db_minor_upgrade.acc", &instance])
        .assert_ok();
    let a = ws.resource_attributes("hwrds_db_minor_upgrade.acc");
    assert_eq!(a["job_id"], job_id.as_str(), "{a}");
    assert_eq!(a["status"], "Completed", "{a}");
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
        .assert_ok();
    let a = ws.resource_attributes("hwrds_db_minor_upgrade.acc");
    assert_eq!(a["version_after"], latest.as_str(), "{a}");
    // An import does not know the configuration's `timeouts` block: one apply records it
    // (an in-place update that submits nothing), and then there is nothing to do.
    ws.apply().assert_ok();
    let a = ws.resource_attributes("hwrds_db_minor_upgrade.acc");
    assert_eq!(a["job_id"], job_id.as_str(), "the same upgrade job: {a}");
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        0,
        "no changes after import and refresh:\n{}",
        plan.all()
    );
}
