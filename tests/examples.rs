//! The examples as a user meets them: `make demo`'s script installs the release zip from
//! a filesystem mirror (no development overrides, no warnings), runs the quickstart
//! against the emulator and prints the versions before and after; every example directory passes
//! `terraform validate` with this build's provider (Terraform 1.15.5 and 1.6.6); every
//! `.tf` file is formatted.

pub mod common;

use std::path::{Path, PathBuf};
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
        .env("HWRDS_METADATA_ENDPOINT", common::NO_METADATA)
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
        "target_version      = \"8.0.32\"",
        "\"orders\" = \"8.0.28 -> 8.0.32 (job ",
        "\"payments\" = \"8.0.25 -> 8.0.32 (job ",
        "Completed)",
        "No changes.",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "Installed hwrds/hwrds v{}",
            env!("CARGO_PKG_VERSION")
        )),
        "init installs the provider from the mirror:\n{text}"
    );
    for unwanted in ["development overrides", "Warning:"] {
        assert!(
            !text.contains(unwanted),
            "{unwanted:?} in the demo:\n{text}"
        );
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

/// Every directory under `dir` holding `.tf` files.
fn example_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read examples")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    if entries
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "tf"))
    {
        found.push(dir.to_path_buf());
    }
    for path in entries.into_iter().filter(|p| p.is_dir()) {
        example_dirs(&path, found);
    }
}

/// `terraform validate` in a copy of `example` (its `.tf` files, with
/// the hwrds `required_providers` block added when the example leaves it out, as the
/// registry's resource and data-source snippets do).
fn validate_example(terraform: PathBuf, example: &Path) -> Result<(), String> {
    let ws = common::Workspace::new(terraform, &[("hwrds/hwrds", &common::hwrds_binary())], "");
    std::fs::remove_file(ws.path().join("main.tf")).expect("remove main.tf");
    let mut declares_provider = false;
    for entry in std::fs::read_dir(example).expect("read example") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).expect("read .tf");
            declares_provider |= text.contains("required_providers");
            ws.write(&path.file_name().unwrap().to_string_lossy(), &text);
        }
    }
    if !declares_provider {
        ws.write("zz_required_providers.tf", common::HWRDS_HEADER);
    }
    // dev_overrides need no `terraform init` (which would still ask the registry);
    // tests/release.rs runs init against a filesystem mirror of the packaged provider.
    let run = ws.run(&["validate"]);
    if run.code != 0 {
        return Err(format!(
            "{}: terraform validate failed:\n{}",
            example.display(),
            run.all()
        ));
    }
    Ok(())
}

#[test]
fn every_example_validates() {
    let root = common::repo_root();
    let mut dirs = Vec::new();
    example_dirs(&root.join("examples"), &mut dirs);
    for expected in [
        "examples/provider",
        "examples/resources/hwrds_db_minor_upgrade",
        "examples/data-sources/hwrds_db_instance",
        "examples/data-sources/hwrds_db_instances",
        "examples/actions/hwrds_db_minor_upgrade",
        "examples/fleet",
        "examples/quickstart",
    ] {
        assert!(dirs.contains(&root.join(expected)), "{expected} is missing");
    }
    let failures: Vec<String> = dirs
        .iter()
        .flat_map(|dir| {
            // Actions exist from Terraform 1.14: their examples validate on 1.15.5 only.
            let versions = if dir.starts_with(root.join("examples/actions")) {
                vec![common::terraform()]
            } else {
                vec![common::terraform(), common::terraform_16()]
            };
            versions
                .into_iter()
                .filter_map(|tf| validate_example(tf, dir).err())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
