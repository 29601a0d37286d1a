//! The examples as a user meets them: `make demo`'s script runs the quickstart against the
//! emulator and prints the versions before and after; every `.tf` file is formatted.

mod common;

use std::process::Command;

#[test]
fn demo_shows_versions_before_and_after() {
    let root = common::repo_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/demo"))
        .env(
            "HWRDS_PROVIDER_BIN",
            env!("CARGO_BIN_EXE_terraform-provider-hwrds"),
        )
        .env("HWRDS_EMULATOR_BIN", env!("CARGO_BIN_EXE_hwrds-emulator"))
        .env("TF_ACC_TERRAFORM_PATH", common::terraform())
        .env("TF_CLI_ARGS", "-no-color")
        .env_remove("TF_LOG")
        .output()
        .expect("run scripts/demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for expected in [
        "version_before      = \"8.0.28\"",
        "version_before      = \"8.0.25\"",
        "\"orders\" = \"8.0.28 -> 8.0.32 (job ",
        "\"payments\" = \"8.0.25 -> 8.0.32 (job ",
        "Completed)",
        "No changes.",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
}

#[test]
fn every_example_is_formatted() {
    let root = common::repo_root();
    let out = Command::new(common::terraform())
        .args(["fmt", "-check", "-recursive", "-diff"])
        .arg(root.join("examples"))
        .output()
        .expect("run terraform fmt");
    assert!(
        out.status.success(),
        "terraform fmt -check found unformatted files:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
