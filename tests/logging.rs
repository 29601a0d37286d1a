//! What a user sees with `TF_LOG_PROVIDER=INFO` during an upgrade: each step (submitted,
//! progress, completed) as a provider log line, and nothing below INFO.

mod common;

use common::{Emulator, hwrds_workspace};
use serde_json::json;

#[test]
fn info_logs_follow_each_step() {
    let emu = Emulator::start(json!({"job_seconds": 4}), false);
    let body = "resource \"hwrds_db_minor_upgrade\" \"orders\" {\n  instance_id = \"a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01\"\n}\n";
    let (mut ws, _dir) = hwrds_workspace(common::terraform(), &emu, body);
    ws.set_env("TF_LOG_PROVIDER", "INFO");
    let run = ws.apply();
    run.assert_ok();
    let provider_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-hwrds"))
        .collect();
    let all = provider_lines.join("\n");
    for step in [
        "upgrade submitted",
        "upgrade in progress",
        "upgrade completed",
    ] {
        assert!(all.contains(step), "{step:?} is logged:\n{all}");
    }
    assert!(all.contains('%'), "progress percentages are logged: {all}");
    assert!(
        !provider_lines
            .iter()
            .any(|l| l.contains("[DEBUG]") || l.contains("[TRACE]")),
        "nothing below INFO:\n{all}"
    );
}
