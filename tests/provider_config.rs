//! Provider configuration through real Terraform: credentials from the Huawei Cloud CLI's
//! shared config file and its profiles (never logged), and the shared rate limit setting.

mod common;

use common::{ACCESS_KEY, Emulator, SECRET_KEY, hwrds_workspace};
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
    let (mut ws, _dir) = hwrds_workspace(common::terraform(), &emu, &body);
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
    let (mut ws, _dir) = hwrds_workspace(common::terraform(), &emu, &bad);
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
    let (ws, _dir) = hwrds_workspace(common::terraform(), &emu, &bad);
    let run = ws.plan();
    assert_eq!(run.code, 1);
    assert!(
        run.all().contains("max_requests_per_second = 0"),
        "{}",
        run.all()
    );
}
