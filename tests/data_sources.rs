//! The instance data source with real Terraform against the emulator process: versions,
//! nodes, the latest minor version, upgrade blockers, not-found diagnostics at the
//! attribute, provider validation at the line, and no secret in logs or state.

pub mod common;

use common::fixtures::REPLICA;
use common::{Emulator, SECRET_KEY, workspace};
use serde_json::json;

#[test]
fn instances_with_versions_and_blockers() {
    let emu = Emulator::start(json!({}), false);
    let body = format!(
        r#"
data "hwrds_db_instance" "orders" {{
  name = "orders"
}}
data "hwrds_db_instance" "analytics" {{
  name = "analytics"
}}
data "hwrds_db_instance" "replica" {{
  id = "{REPLICA}"
}}
data "hwrds_db_instance" "reporting" {{
  name = "reporting"
}}
output "orders" {{ value = data.hwrds_db_instance.orders }}
output "analytics" {{ value = data.hwrds_db_instance.analytics }}
output "replica" {{ value = data.hwrds_db_instance.replica }}
output "reporting" {{ value = data.hwrds_db_instance.reporting }}
"#
    );
    let mut ws = workspace(&emu, &body);
    ws.set_env("TF_LOG", "TRACE");
    let run = ws.apply();
    run.assert_ok();
    assert!(
        !run.all().contains(SECRET_KEY),
        "the secret key must never be logged"
    );
    let out = ws.run(&["output", "-json"]);
    out.assert_ok();
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let orders = &outputs["orders"]["value"];
    assert_eq!(orders["engine"], "MySQL");
    assert_eq!(orders["complete_version"], "8.0.28");
    assert_eq!(orders["latest_version"], "8.0.32");
    assert_eq!(orders["upgrade_available"], true);
    assert_eq!(orders["upgrade_blockers"], json!([]));
    assert_eq!(orders["up_to_date"], false);
    assert_eq!(orders["nodes"][0]["role"], "master");
    assert_eq!(orders["maintenance_window"], "22:00-02:00");
    let analytics = &outputs["analytics"]["value"];
    assert_eq!(
        analytics["latest_version"], "14.12",
        "PostgreSQL minor versions come from small-version"
    );
    let replica = &outputs["replica"]["value"];
    assert_eq!(replica["upgrade_available"], false);
    assert_eq!(replica["up_to_date"], false);
    assert!(
        replica["upgrade_blockers"][0]
            .as_str()
            .unwrap()
            .contains("read replica"),
        "{replica}"
    );
    let reporting = &outputs["reporting"]["value"];
    assert!(
        reporting["upgrade_blockers"][0]
            .as_str()
            .unwrap()
            .contains("MySQL and PostgreSQL only")
    );
    assert_eq!(reporting["latest_version"], serde_json::Value::Null);
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap();
    assert!(
        !state.contains(SECRET_KEY),
        "the secret key must never reach the state"
    );
}

#[test]
fn diagnostics_point_at_the_attribute() {
    let emu = Emulator::start(json!({}), false);
    let ws = workspace(
        &emu,
        "data \"hwrds_db_instance\" \"x\" {\n  id = \"nope\"\n}\n",
    );
    let run = ws.plan();
    assert_eq!(run.code, 1);
    let out = run.all();
    assert!(out.contains("RDS instance not found"), "{out}");
    assert!(out.contains("id = \"nope\""), "the line is shown:\n{out}");

    let ws = workspace(
        &emu,
        "data \"hwrds_db_instance\" \"x\" {\n  id   = \"a\"\n  name = \"b\"\n}\n",
    );
    let run = ws.run(&["validate"]);
    assert_ne!(run.code, 0);
    assert!(run.all().contains("Set either id or name"), "{}", run.all());

    let body = "provider \"hwrds\" {\n  endpoint = \"http://rds.example.com\"\n}\ndata \"hwrds_db_instance\" \"x\" {\n  name = \"orders\"\n}\n";
    let ws = workspace(&emu, body);
    let run = ws.run(&["validate"]);
    assert_ne!(run.code, 0);
    let out = run.all();
    assert!(out.contains("non-loopback"), "{out}");
    assert!(
        out.contains("endpoint = \"http://rds.example.com\""),
        "the line is shown:\n{out}"
    );
}
