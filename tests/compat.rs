//! The resource's core suite on each Terraform release a user may run: the plan shows
//! the versions, apply upgrades, the second plan is empty, import (command and `import`
//! block) adopts the job, and an apply interrupted by Ctrl-C resumes without submitting
//! again.
//!
//! Which Terraform: `HWRDS_COMPAT_TERRAFORM` (executables separated by spaces; `make
//! compat` lists 1.6.6 to 1.15.5, every minor release, from `scripts/install-terraform
//! --compat`), else `TF_ACC_TERRAFORM_PATH`, else the two `make test` keeps: 1.6.6 and
//! 1.15.5. Every version runs even when one fails; the test prints one line per version
//! and fails if any did.

pub mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fixtures::{ANALYTICS, ORDERS, flat, upgrade};
use common::{Emulator, Workspace, hwrds_workspace};
use serde_json::Value;

/// The Terraform executables to test, from the environment (see the module doc).
fn terraforms() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("HWRDS_COMPAT_TERRAFORM") {
        let paths: Vec<PathBuf> = list.split_whitespace().map(PathBuf::from).collect();
        assert!(
            !paths.is_empty(),
            "HWRDS_COMPAT_TERRAFORM lists no Terraform"
        );
        return paths;
    }
    if std::env::var_os("TF_ACC_TERRAFORM_PATH").is_some() {
        return vec![common::terraform()];
    }
    vec![common::terraform_16(), common::terraform()]
}

fn attrs(ws: &Workspace, name: &str) -> Value {
    ws.resource_attributes(&format!("hwrds_db_minor_upgrade.{name}"))
}

#[track_caller]
fn assert_no_changes(ws: &Workspace, after: &str) {
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        0,
        "a plan after {after} has changes:\n{}",
        plan.all()
    );
}

/// `Terraform vX.Y.Z`: what the executable says it is.
fn version_of(terraform: &Path) -> String {
    let ws = Workspace::new(terraform.to_path_buf(), &[], "");
    let run = ws.run(&["version"]);
    run.assert_ok();
    run.stdout
        .lines()
        .next()
        .filter(|l| l.starts_with("Terraform v"))
        .unwrap_or_else(|| panic!("{} is not Terraform:\n{}", terraform.display(), run.all()))
        .to_string()
}

/// Plan with the versions, apply, empty second plan.
fn plan_apply_and_empty_plan(terraform: &Path, emu: &Emulator) -> String {
    let body = format!(
        "{}{}",
        upgrade("orders", ORDERS, ""),
        upgrade("analytics", ANALYTICS, "")
    );
    let ws = hwrds_workspace(terraform.to_path_buf(), emu, &body);
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        2,
        "the plan proposes both upgrades:\n{}",
        plan.all()
    );
    for shown in [
        "version_before      = \"8.0.28\"",
        "version_before      = \"14.8\"",
        "target_version      = \"8.0.32\"",
        "target_version      = \"14.12\"",
        "engine              = \"PostgreSQL\"",
        "Plan: 2 to add, 0 to change, 0 to destroy.",
    ] {
        assert!(
            plan.stdout.contains(shown),
            "the plan shows {shown}:\n{}",
            plan.stdout
        );
    }
    ws.apply().assert_ok();
    for (name, id, after) in [
        ("orders", ORDERS, "8.0.32"),
        ("analytics", ANALYTICS, "14.12"),
    ] {
        let a = attrs(&ws, name);
        assert_eq!(a["status"], "Completed", "{name}: {a}");
        assert_eq!(a["version_after"], after, "{name}: {a}");
        assert_eq!(
            a["target_version"], after,
            "{name}: installed as planned: {a}"
        );
        assert_eq!(emu.upgrade_jobs(id), 1, "{name}: exactly one job");
    }
    assert_no_changes(&ws, "apply");
    attrs(&ws, "orders")["job_id"]
        .as_str()
        .expect("job_id")
        .to_string()
}

/// `terraform import` by instance/job id, and an `import` block by instance id.
fn import(terraform: &Path, emu: &Emulator, job_id: &str) {
    let ws = hwrds_workspace(terraform.to_path_buf(), emu, &upgrade("orders", ORDERS, ""));
    ws.run(&[
        "import",
        "hwrds_db_minor_upgrade.orders",
        &format!("{ORDERS}/{job_id}"),
    ])
    .assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["job_id"], job_id, "{a}");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_no_changes(&ws, "terraform import");

    let body = format!(
        "import {{\n  to = hwrds_db_minor_upgrade.orders\n  id = \"{ORDERS}\"\n}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let ws = hwrds_workspace(terraform.to_path_buf(), emu, &body);
    let apply = ws.apply();
    apply.assert_ok();
    assert!(
        apply.stdout.contains("1 imported"),
        "the import block imports:\n{}",
        apply.stdout
    );
    assert_eq!(attrs(&ws, "orders")["job_id"], job_id);
    assert_no_changes(&ws, "an import block");
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "importing submits nothing");
}

/// Ctrl-C while the job runs keeps it in the state; the next apply finishes it.
fn interrupt_and_resume(terraform: &Path) {
    let emu = Emulator::demo(8.0);
    let ws = hwrds_workspace(
        terraform.to_path_buf(),
        &emu,
        &upgrade("orders", ORDERS, ""),
    );
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color"],
        "Creating...",
        Duration::from_secs(2),
    );
    let out = flat(&run.all());
    assert!(out.contains("Upgrade still running"), "{out}");
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Running", "{a}");
    let job_id = a["job_id"].clone();
    assert!(job_id.as_str().is_some_and(|j| !j.is_empty()), "{a}");
    ws.apply().assert_ok();
    let a = attrs(&ws, "orders");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_eq!(a["job_id"], job_id, "the same job");
    assert_eq!(emu.stats()["upgrade_posts"][ORDERS], 1, "submitted once");
    assert_no_changes(&ws, "the resumed apply");
}

fn core_suite(terraform: &Path) {
    let emu = Emulator::demo(1.0);
    let job_id = plan_apply_and_empty_plan(terraform, &emu);
    import(terraform, &emu, &job_id);
    interrupt_and_resume(terraform);
}

#[test]
fn core_suite_on_each_terraform_version() {
    let mut results = Vec::new();
    for terraform in terraforms() {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            let version = version_of(&terraform);
            core_suite(&terraform);
            version
        });
        let seconds = started.elapsed().as_secs_f64();
        let line = match &outcome {
            Ok(version) => format!(
                "compat: {version}: passed (plan with versions, apply, empty plan, import, \
                 interrupt-and-resume) in {seconds:.0} s"
            ),
            Err(_) => format!(
                "compat: {}: FAILED after {seconds:.0} s",
                terraform.display()
            ),
        };
        println!("{line}");
        results.push((line, outcome.is_ok()));
    }
    let summary: Vec<&str> = results.iter().map(|(l, _)| l.as_str()).collect();
    println!("{}", summary.join("\n"));
    assert!(
        results.iter().all(|(_, ok)| *ok),
        "the core suite failed on some versions:\n{}",
        summary.join("\n")
    );
}
