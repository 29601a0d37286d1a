//! `make release`'s packaging, installed the way users install it: `scripts/release`
//! packages this build's binary (HWRDS_RELEASE_BIN) into a temporary dist directory; the
//! zip goes into a filesystem mirror in Terraform's packed layout, and real Terraform
//! (no dev_overrides) runs `init` and `plan` against the emulator. The lock file's `h1:`
//! hash is the one of the zip's contents, and the `zh:` hash that SHA256SUMS publishes
//! is exactly what Terraform checks the zip against.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Runs scripts/release on this build's binary; returns the dist directory.
fn package() -> tempfile::TempDir {
    let dist = tempfile::tempdir().expect("temp dir");
    let out = Command::new("bash")
        .arg(common::repo_root().join("scripts/release"))
        .env(
            "HWRDS_RELEASE_BIN",
            env!("CARGO_BIN_EXE_terraform-provider-hwrds"),
        )
        .env("HWRDS_DIST_DIR", dist.path())
        .env("HWRDS_RELEASE_PLATFORM", "linux_amd64")
        .output()
        .expect("run scripts/release");
    assert!(
        out.status.success(),
        "scripts/release failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dist
}

/// A workspace whose CLI configuration installs hwrds from `mirror` only.
fn mirror_workspace(mirror: &Path, emu: &common::Emulator) -> common::Workspace {
    let main_tf = std::fs::read_to_string(common::repo_root().join("examples/quickstart/main.tf"))
        .expect("quickstart");
    let mut ws = common::Workspace::new(common::terraform(), &[], &main_tf);
    ws.write(
        "cli.tfrc",
        &format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hwrds/hwrds\"]\n  }}\n}}\n",
            mirror.display()
        ),
    );
    ws.set_env("HWRDS_ENDPOINT", &emu.url);
    ws.set_env("HW_REGION_NAME", "ap-southeast-1");
    ws.set_env("HW_ACCESS_KEY", common::ACCESS_KEY);
    ws.set_env("HW_SECRET_KEY", common::SECRET_KEY);
    ws
}

fn lock_file(hash: &str) -> String {
    format!(
        "provider \"registry.terraform.io/hwrds/hwrds\" {{\n  version = \"{VERSION}\"\n  hashes = [\n    \"{hash}\",\n  ]\n}}\n"
    )
}

#[test]
fn release_archive_installs_from_a_filesystem_mirror() {
    let dist = package();
    let exe = format!("terraform-provider-hwrds_v{VERSION}");
    let zip_name = format!("terraform-provider-hwrds_{VERSION}_linux_amd64.zip");
    let manifest_name = format!("terraform-provider-hwrds_{VERSION}_manifest.json");
    let read = |name: &str| {
        std::fs::read(dist.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    // The files and their checksums.
    let binary = read(&exe);
    assert_eq!(
        binary,
        std::fs::read(env!("CARGO_BIN_EXE_terraform-provider-hwrds")).unwrap(),
        "{exe} is the packaged binary"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read(&manifest_name)).unwrap();
    assert_eq!(
        manifest,
        serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}})
    );
    let zip = read(&zip_name);
    let zip_sha = sha256_hex(&zip);
    let sums = String::from_utf8(read(&format!(
        "terraform-provider-hwrds_{VERSION}_SHA256SUMS"
    )))
    .unwrap();
    assert!(
        sums.lines().any(|l| l == format!("{zip_sha}  {zip_name}")),
        "SHA256SUMS lacks the zip's checksum {zip_sha}:\n{sums}"
    );
    assert!(
        sums.lines()
            .any(|l| l == format!("{}  {manifest_name}", sha256_hex(&read(&manifest_name)))),
        "SHA256SUMS lacks the manifest:\n{sums}"
    );
    let again = package();
    assert_eq!(
        sha256_hex(&std::fs::read(again.path().join(&zip_name)).unwrap()),
        zip_sha,
        "the zip is reproducible"
    );

    // Packed mirror layout: <mirror>/<hostname>/<namespace>/<type>/<zip>.
    let mirror = tempfile::tempdir().expect("mirror");
    let packed: PathBuf = mirror.path().join("registry.terraform.io/hwrds/hwrds");
    std::fs::create_dir_all(&packed).unwrap();
    std::fs::copy(dist.path().join(&zip_name), packed.join(&zip_name)).unwrap();

    let emu = common::Emulator::start(serde_json::json!({}), false);

    // A fresh init installs the zip and records the h1: hash of its contents
    // (Terraform's dirhash: the sha256 of "<sha256 of each file>  <name>\n" lines).
    let ws = mirror_workspace(mirror.path(), &emu);
    let init = ws.run(&["init", "-input=false"]);
    init.assert_ok();
    assert!(
        init.all()
            .contains(&format!("Installed hwrds/hwrds v{VERSION}")),
        "{}",
        init.all()
    );
    let summary = format!("{}  {exe}\n", sha256_hex(&binary));
    let h1 = format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary.as_bytes()))
    );
    let lock = std::fs::read_to_string(ws.path().join(".terraform.lock.hcl")).unwrap();
    assert!(lock.contains(&h1), "lock file lacks {h1}:\n{lock}");
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "plan proposes the upgrades:\n{}", plan.all());
    assert!(
        plan.stdout.contains("version_before      = \"8.0.28\""),
        "{}",
        plan.stdout
    );

    // A lock file listing the published zh: checksum (as one written from SHA256SUMS)
    // accepts the zip and keeps that hash next to the h1: one.
    let ws = mirror_workspace(mirror.path(), &emu);
    ws.write(".terraform.lock.hcl", &lock_file(&format!("zh:{zip_sha}")));
    ws.run(&["init", "-input=false"]).assert_ok();
    let lock = std::fs::read_to_string(ws.path().join(".terraform.lock.hcl")).unwrap();
    assert!(
        lock.contains(&format!("\"zh:{zip_sha}\"")) && lock.contains(&h1),
        "lock file lacks zh:{zip_sha} or {h1}:\n{lock}"
    );
    assert_eq!(ws.plan().code, 2);

    // Any other zh: checksum is refused: the zh: hash really is the zip's SHA-256.
    let ws = mirror_workspace(mirror.path(), &emu);
    let wrong = format!("zh:{}", sha256_hex(b"not the release"));
    ws.write(".terraform.lock.hcl", &lock_file(&wrong));
    let init = ws.run(&["init", "-input=false"]);
    assert_ne!(
        init.code,
        0,
        "a wrong zh: hash was accepted:\n{}",
        init.all()
    );
    assert!(
        init.all().contains("doesn't match any of the checksums"),
        "{}",
        init.all()
    );
}
