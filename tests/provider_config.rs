//! Provider configuration through real Terraform: credentials from the Huawei Cloud CLI's
//! shared config file and its profiles (never logged), the shared rate limit setting,
//! the project-id lookup (the region's IAM endpoint; its failure and the way around it),
//! and every problem of the block reported at once.

pub mod common;

use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY, hwrds_workspace};
use serde_json::json;

fn shared_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("config.json");
    let file = json!({"current": "other", "profiles": [
        {"name": "other", "mode": "AKSK", "accessKeyId": "NOPE", "secretAccessKey": "NOPE"},
        {"name": "emulator", "mode": "AKSK", "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY,
         "region": "ap-southeast-1", "projectId": ""}
    ]});
    std::fs::write(&path, file.to_string()).unwrap();
    path
}

#[test]
fn credentials_from_a_shared_config_profile() {
    let emu = Emulator::start(json!({}), false);
    let files = tempfile::tempdir().unwrap();
    let path = shared_config(files.path());
    let body = format!(
        "provider \"hwrds\" {{\n  shared_config_file = \"{}\"\n  profile            = \"emulator\"\n  max_requests_per_second = 50\n}}\ndata \"hwrds_db_instance\" \"orders\" {{\n  name = \"orders\"\n}}\noutput \"version\" {{ value = data.hwrds_db_instance.orders.complete_version }}\n",
        path.display()
    );
    let mut ws = common::workspace(&emu, &body);
    for key in ["HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_REGION_NAME"] {
        ws.unset_env(key);
    }
    ws.set_env("TF_LOG", "TRACE");
    let run = ws.apply();
    run.assert_ok();
    assert!(run.all().contains("version = \"8.0.28\""), "{}", run.all());
    assert_eq!(
        run.all().matches(SECRET_KEY).count(),
        0,
        "the profile's secret is never logged"
    );

    // A profile that does not exist is reported at its line, naming the ones that do.
    let bad = body.replace("\"emulator\"", "\"staging\"");
    let mut ws = common::workspace(&emu, &bad);
    for key in ["HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_REGION_NAME"] {
        ws.unset_env(key);
    }
    let run = ws.plan();
    assert_eq!(run.code, 1);
    let out = run.all();
    assert!(out.contains("no profile \"staging\""), "{out}");
    assert!(out.contains("profile            = \"staging\""), "{out}");

    // The rate limit is checked at its line.
    let bad = body.replace(
        "max_requests_per_second = 50",
        "max_requests_per_second = 0",
    );
    let ws = common::workspace(&emu, &bad);
    let run = ws.plan();
    assert_eq!(run.code, 1);
    assert!(
        run.all().contains("max_requests_per_second = 0"),
        "{}",
        run.all()
    );
}

const ORDERS_BY_NAME: &str = "data \"hwrds_db_instance\" \"orders\" {\n  name = \"orders\"\n}\noutput \"version\" { value = data.hwrds_db_instance.orders.complete_version }\n";

fn emulator_requests(emu: &Emulator) -> u64 {
    emu.stats()["requests"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0)
}

#[test]
fn a_failed_project_lookup_says_so_and_how_to_skip_it() {
    let emu = Emulator::start(json!({}), false);
    let mut ws = common::workspace(&emu, ORDERS_BY_NAME);
    ws.set_env("HWRDS_IAM_ENDPOINT", "http://127.0.0.1:1");
    ws.set_env("HW_MAX_RETRIES", "1");
    let run = ws.plan();
    assert_eq!(run.code, 1, "{}", run.all());
    // Terraform wraps the detail: compare words.
    let out = run.all().split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Error: Cannot look up the project id",
        "project id of region \"ap-southeast-1\"",
        "GET http://127.0.0.1:1/v3/projects?name=ap-southeast-1",
        "network error",
        "set project_id in the provider block (or HW_PROJECT_ID in the environment) to skip the lookup",
    ] {
        assert!(out.contains(part), "{part:?} in:\n{out}");
    }
    assert!(!out.contains("Cannot read the RDS instance"), "{out}");
    assert_eq!(
        emulator_requests(&emu),
        0,
        "no RDS call without a project id"
    );

    // The suggestion works: with the project id given, IAM is never asked.
    ws.set_env("HW_PROJECT_ID", PROJECT_ID);
    let run = ws.apply();
    run.assert_ok();
    assert!(run.all().contains("version = \"8.0.28\""), "{}", run.all());
}

#[test]
fn the_eu_sovereign_region_looks_its_project_up_under_myhuaweicloud_eu() {
    // No endpoint configured: the region's own. A proxy that refuses connections keeps
    // the request on this machine while the error still names the URL it was for.
    let emu = Emulator::start(json!({}), false);
    let mut ws = common::workspace(&emu, ORDERS_BY_NAME);
    ws.unset_env("HWRDS_ENDPOINT");
    ws.set_env("HW_REGION_NAME", "eu-west-101");
    ws.set_env("HW_MAX_RETRIES", "0");
    for key in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        ws.set_env(key, "http://127.0.0.1:1");
    }
    for key in ["NO_PROXY", "no_proxy"] {
        ws.set_env(key, "");
    }
    let run = ws.plan();
    assert_eq!(run.code, 1, "{}", run.all());
    let out = run.all().split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Error: Cannot look up the project id",
        "project id of region \"eu-west-101\"",
        "GET https://iam.eu-west-101.myhuaweicloud.eu/v3/projects?name=eu-west-101",
        "HW_PROJECT_ID",
    ] {
        assert!(out.contains(part), "{part:?} in:\n{out}");
    }
    assert!(!out.contains("iam.myhuaweicloud.com"), "{out}");
}

#[test]
fn every_problem_of_the_provider_block_is_reported_at_once() {
    let emu = Emulator::start(json!({}), false);
    let body = format!("provider \"hwrds\" {{\n  insecure = true\n}}\n{ORDERS_BY_NAME}");
    let mut ws = hwrds_workspace(common::terraform(), &emu, &body);
    ws.set_env("HW_MAX_RETRIES", "abc");
    ws.set_env("HWRDS_FAILURE_BUDGET", "none");
    let run = ws.plan();
    assert_eq!(run.code, 1, "{}", run.all());
    let out = run.all().split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Warning: TLS certificate verification is off",
        "Error: Invalid HW_MAX_RETRIES",
        "Error: Invalid HWRDS_FAILURE_BUDGET",
    ] {
        assert!(out.contains(part), "{part:?} in:\n{out}");
    }
    assert_eq!(
        emulator_requests(&emu),
        0,
        "no call without a configuration"
    );
}
