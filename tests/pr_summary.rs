//! `terraform-provider-hwrds summary` on the saved plan of a fleet, through real Terraform
//! and the emulator process: six instances (MySQL primary/standby, MySQL single, a
//! PostgreSQL, a delayed upgrade in its maintenance window, one already on the latest
//! version, and a read replica the configuration leaves out through an output), upgraded
//! with one `for_each`. Each planned upgrade appears once with the plan's from → to, the
//! counts match `resource_changes`, the exclusions and the warnings of `terraform plan
//! -json` are there. A second plan, after the apply, upgrades one again in place (nothing
//! to install: it already runs the target) and destroys another, which the summary flags. Bad inputs fail with a message, never a panic.

pub mod common;

use std::cmp::Ordering;
use std::process::{Command, Output};

use common::fixtures::{ANALYTICS, ORDERS, PAYMENTS, REPLICA};
use common::{Emulator, Workspace, hwrds_workspace};
use hwrds::upgrade::facts::compare_versions;
use serde_json::{Value, json};

const BILLING: &str = "f6a7b8c9d0e14f2a3b4c5d6e7f8a9b0cin01";
const INVENTORY: &str = "a7b8c9d0e1f24a3b4c5d6e7f8a9b0c1din01";
const WINDOW: &str = "18:00-19:00";

fn emulator() -> Emulator {
    Emulator::start(
        json!({"job_seconds": 1, "window_opens_after_seconds": 7200, "instances": [
            {"id": ORDERS, "name": "orders"},
            {"id": PAYMENTS, "name": "payments", "type": "Ha", "complete_version": "8.0.25",
             "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"]},
            {"id": ANALYTICS, "name": "analytics", "engine": "PostgreSQL", "version": "14",
             "complete_version": "14.8", "latest_version": "14.12", "type": "Ha"},
            {"id": BILLING, "name": "billing", "maintenance_window": WINDOW},
            {"id": INVENTORY, "name": "inventory", "complete_version": "8.0.32.240101"},
            {"id": REPLICA, "name": "payments-replica", "type": "Replica",
             "primary_id": PAYMENTS, "complete_version": "8.0.25"}
        ]}),
        false,
    )
}

/// The fleet: every instance but read replicas and `var.leave_out`, by name; billing
/// delayed; `second_switch = false` set on analytics (a warning: PostgreSQL ignores it); orders
/// upgraded again when `var.round` changes. `blocked` and `excluded` say who is left out.
const FLEET: &str = r#"
variable "round" {
  type    = string
  default = "1"
}

variable "leave_out" {
  type    = list(string)
  default = []
}

data "hwrds_db_instances" "all" {}

locals {
  instances = { for i in data.hwrds_db_instances.all.instances : i.name => i }
}

resource "hwrds_db_minor_upgrade" "fleet" {
  for_each      = { for name, i in local.instances : name => i if i.type != "Replica" && !contains(var.leave_out, name) }
  instance_id   = each.value.id
  is_delayed    = each.key == "billing"
  second_switch = each.key == "analytics" ? false : null
  triggers      = { round = each.key == "orders" ? var.round : "1" }
}

output "blocked" {
  value = { for name, i in local.instances : name => i.upgrade_blockers if i.type == "Replica" }
}

output "excluded" {
  value = { for name in var.leave_out : name => "left out of this change" }
}
"#;

/// The provider binary's `summary` with `args`, in the workspace.
fn summary(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(common::hwrds_binary())
        .env("HWRDS_METADATA_ENDPOINT", common::NO_METADATA)
        .arg("summary")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run terraform-provider-hwrds summary")
}

/// The comment for the workspace's saved plan and log.
fn comment(ws: &Workspace) -> String {
    let out = summary(
        ws.path(),
        &["--plan", "plan.json", "--log", "plan.log.jsonl"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "summary failed: {stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    println!("{text}");
    text
}

/// The cells of the upgrades table, row by row.
fn table(comment: &str) -> Vec<Vec<String>> {
    comment
        .lines()
        .skip_while(|l| !l.starts_with("| Instance |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `for_each` key of an address `hwrds_db_minor_upgrade.fleet["key"]`.
fn key(address: &str) -> &str {
    address
        .split_once("[\"")
        .and_then(|(_, rest)| rest.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("not a fleet address: {address}"))
}

fn count(comment: &str, label: &str) -> usize {
    let line = comment
        .lines()
        .find(|l| l.contains(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{comment}"));
    let after = line.split(&format!("{label}: ")).nth(1).unwrap();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a count")
}

/// Every upgrade of the plan is in the comment once, where it belongs and with the
/// plan's versions; the counts are the plan's; every warning of the log is listed with
/// its instance. Returns the table.
fn matches_the_plan(comment: &str, plan: &Value, log: &str) -> Vec<Vec<String>> {
    let rows = table(comment);
    let changes: Vec<&Value> = plan["resource_changes"]
        .as_array()
        .expect("resource_changes")
        .iter()
        .filter(|c| c["type"] == "hwrds_db_minor_upgrade")
        .collect();
    let (mut upgrades, mut nothing, mut unchanged, mut replaced, mut destroyed) = (0, 0, 0, 0, 0);
    for change in &changes {
        let name = key(change["address"].as_str().unwrap());
        let actions: Vec<&str> = change["change"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let after = &change["change"]["after"];
        let (before, target) = (
            after["version_before"].as_str().unwrap_or_default(),
            after["target_version"].as_str().unwrap_or_default(),
        );
        let in_table: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[0] == name || r[0].starts_with(&format!("{name} (")))
            .collect();
        let bullet = format!("- **{name}** (`{}`)", change["address"].as_str().unwrap());
        match actions.as_slice() {
            ["no-op"] => {
                unchanged += 1;
                assert!(comment.contains(&bullet), "{name} unchanged:\n{comment}");
            }
            ["delete"] => {
                destroyed += 1;
                assert!(
                    comment.contains(&format!("> {bullet}")),
                    "{name}:\n{comment}"
                );
            }
            _ => {
                if actions.len() == 2 {
                    replaced += 1;
                    assert!(
                        comment.contains(&format!("> {bullet}")),
                        "{name}:\n{comment}"
                    );
                }
                if compare_versions(before, target) == Ordering::Equal {
                    nothing += 1;
                    assert!(in_table.is_empty(), "{name} installs nothing:\n{comment}");
                    assert!(
                        comment.contains(&format!(
                            "{bullet}: already runs {before}, the target {target}"
                        )),
                        "{name} has nothing to install:\n{comment}"
                    );
                } else {
                    upgrades += 1;
                    assert_eq!(in_table.len(), 1, "{name} once in the table:\n{comment}");
                    assert_eq!(in_table[0][3], format!("{before} → {target}"), "{name}");
                    assert_eq!(in_table[0][1], after["engine"].as_str().unwrap());
                    assert_eq!(in_table[0][2], after["instance_type"].as_str().unwrap());
                }
            }
        }
    }
    assert_eq!(
        rows.len(),
        upgrades,
        "one table row per upgrade:\n{comment}"
    );
    assert_eq!(count(comment, "Upgrades planned"), upgrades, "{comment}");
    assert_eq!(count(comment, "Nothing to install"), nothing, "{comment}");
    assert_eq!(count(comment, "Unchanged"), unchanged, "{comment}");
    assert_eq!(count(comment, "Replaced"), replaced, "{comment}");
    assert_eq!(count(comment, "Destroyed"), destroyed, "{comment}");

    let warnings: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["type"] == "diagnostic" && m["diagnostic"]["severity"] == "warning")
        .collect();
    assert!(!warnings.is_empty(), "the plan warns: {log}");
    for w in &warnings {
        let d = &w["diagnostic"];
        // Warnings about no resource (dev_overrides in effect) say so.
        // The provider's summary begins with the instance's name: said once, in bold.
        let summary = d["summary"].as_str().unwrap();
        let (about, said) = match d["address"].as_str() {
            Some(address) => {
                let name = key(address);
                let said = summary
                    .strip_prefix(&format!("{name}: "))
                    .unwrap_or(summary);
                (format!("**{name}**"), said)
            }
            None => ("(no instance)".to_string(), summary),
        };
        let line = format!("- {about}: {said}");
        assert!(comment.contains(&line), "{line:?} missing:\n{comment}");
    }
    rows
}

fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("{name} not in {rows:?}"))
}

#[test]
fn the_summary_of_a_fleet_plan_is_the_plan() {
    let emu = emulator();
    let ws = hwrds_workspace(common::terraform(), &emu, FLEET);

    let (log, plan) = ws.saved_plan_and_log();
    let text = comment(&ws);
    let rows = matches_the_plan(&text, &plan, &log);
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(count(&text, "Nothing to install"), 1, "inventory: {text}");
    assert_eq!(count(&text, "Excluded"), 1, "{text}");
    // The impact the plan states, without the time the When column shows.
    let restart = "restart (the database is unavailable for the upgrade's duration)";
    for (name, impact, when) in [
        ("orders", restart, "now"),
        (
            "payments",
            "two switchovers (primary and standby swap, then swap back)",
            "now",
        ),
        (
            "analytics",
            "possibly a switchover to the standby (one brief disconnection)",
            "now",
        ),
        ("billing", restart, "maintenance window 18:00-19:00 UTC"),
    ] {
        let row = row(&rows, name);
        assert_eq!((row[4].as_str(), row[5].as_str()), (impact, when), "{name}");
    }
    assert!(
        text.contains("- **payments-replica**: A read replica may not be upgradable alone"),
        "the replica left out, with the reason of `blocked`:\n{text}"
    );
    for warned in ["inventory", "analytics"] {
        assert!(
            text.contains(&format!("- **{warned}**: ")),
            "{warned}:\n{text}"
        );
    }
    assert!(
        !text.contains("[!WARNING]"),
        "nothing replaced or destroyed"
    );

    // After the apply: orders upgraded again (its trigger changes; it now runs the target),
    // inventory left out of the fleet (its record destroyed), the others unchanged.
    ws.run(&["apply", "-input=false", "tfplan"]).assert_ok();
    ws.write(
        "terraform.auto.tfvars",
        "round     = \"2\"\nleave_out = [\"inventory\"]\n",
    );
    let (log, plan) = ws.saved_plan_and_log();
    let text = comment(&ws);
    matches_the_plan(&text, &plan, &log);
    assert_eq!(count(&text, "Replaced"), 0, "an update in place: {text}");
    assert!(
        text.contains("- **orders** (`hwrds_db_minor_upgrade.fleet[\"orders\"]`): already runs 8.0.32, the target 8.0.32"),
        "{text}"
    );
    assert_eq!(count(&text, "Destroyed"), 1, "{text}");
    assert!(text.contains("> [!WARNING]"), "{text}");
    assert!(
        text.contains("- **inventory**: left out of this change"),
        "the `excluded` output:\n{text}"
    );
    assert_eq!(count(&text, "Excluded"), 2, "{text}");
}

#[test]
fn bad_inputs_fail_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("state.json", r#"{"format_version": "1.0", "values": {}}"#);
    write("text.txt", "Plan: 1 to add, 0 to change, 0 to destroy.");
    write(
        "plan.log.jsonl",
        "{\"@level\":\"info\",\"type\":\"version\",\"terraform\":\"1.15.5\"}\n\
         {\"@level\":\"info\",\"type\":\"change_summary\"}\n",
    );
    write(
        "plan.json",
        r#"{"format_version": "1.2", "planned_values": {}}"#,
    );
    for (args, code, says) in [
        (
            &["--plan", "missing.json"][..],
            1,
            "cannot read missing.json: ",
        ),
        (
            &["--plan", "state.json"],
            1,
            "state.json: not the JSON of a saved plan",
        ),
        (&["--plan", "text.txt"], 1, "text.txt: not JSON"),
        (&["--plan", "plan.log.jsonl"], 1, "give it with --log"),
        (
            &["--plan", "plan.json", "--log", "text.txt"],
            1,
            "text.txt: not the log of `terraform plan -json`",
        ),
        (
            &["--plan", "plan.json", "--log", "missing.jsonl"],
            1,
            "cannot read missing.jsonl",
        ),
        (&[], 2, "--plan is required"),
        (&["--frobnicate"], 2, "unknown argument"),
    ] {
        let out = summary(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("terraform-provider-hwrds summary: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let help = summary(dir.path(), &["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--plan FILE"));
}
