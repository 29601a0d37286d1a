//! `make release`'s packaging, installed the way users install it: `scripts/release`
//! packages this build's binary (HWRDS_RELEASE_BIN) into a temporary dist directory; the
//! zip goes into a filesystem mirror in Terraform's packed layout, and real Terraform
//! (no dev_overrides) runs `init` and `plan` against the emulator. The lock file's `h1:`
//! hash is the one of the zip's contents, and the `zh:` hash that SHA256SUMS publishes
//! is exactly what Terraform checks the zip against. With `GPG_FINGERPRINT`, the release
//! carries a detached signature of SHA256SUMS that verifies, as a registry verifies it,
//! under the publisher's public key alone; without it, the script says it signed nothing.

pub mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Runs scripts/release on this build's binary, with `env` added (and no GPG_* of the
/// caller's); returns the dist directory and what the script printed.
fn package_with(env: &[(&str, &Path)]) -> (tempfile::TempDir, String) {
    let dist = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new("bash");
    command
        .arg(common::repo_root().join("scripts/release"))
        .env(
            "HWRDS_RELEASE_BIN",
            env!("CARGO_BIN_EXE_terraform-provider-hwrds"),
        )
        .env("HWRDS_DIST_DIR", dist.path())
        .env("HWRDS_RELEASE_PLATFORM", "linux_amd64")
        .env_remove("GPG_FINGERPRINT")
        .env_remove("GPG_PASSPHRASE");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("run scripts/release");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/release failed:\n{printed}");
    (dist, printed)
}

fn package() -> tempfile::TempDir {
    package_with(&[]).0
}

const SUMS: &str = concat!(
    "terraform-provider-hwrds_",
    env!("CARGO_PKG_VERSION"),
    "_SHA256SUMS"
);

/// Runs gpg with this GNUPGHOME; returns (success, stdout + stderr).
fn gpg(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--no-tty"])
        .args(args)
        .output()
        .expect("run gpg (scripts/install-gnupg installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A temporary GNUPGHOME gpg accepts (private, short enough for the agent's socket);
/// its gpg-agent is stopped on drop.
struct GnupgHome(tempfile::TempDir);

impl GnupgHome {
    fn new() -> GnupgHome {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("temp GNUPGHOME");
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        GnupgHome(home)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path())
            .args(["--kill", "all"])
            .status();
    }
}

#[test]
fn signed_release_verifies_as_a_registry_verifies_it() {
    // The publisher: a throwaway RSA key without passphrase (the registries take RSA keys).
    let publisher = GnupgHome::new();
    let (ok, out) = gpg(
        publisher.path(),
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "hwrds release test <release-test@hwrds.invalid>",
            "rsa3072",
            "sign",
            "1d",
        ],
    );
    assert!(ok, "gpg --quick-gen-key:\n{out}");
    let (ok, listing) = gpg(publisher.path(), &["--with-colons", "--list-secret-keys"]);
    assert!(ok, "{listing}");
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.trim_matches(':').rsplit(':').next())
        .unwrap_or_else(|| panic!("no fingerprint in:\n{listing}"))
        .to_string();
    assert_eq!(fingerprint.len(), 40, "{fingerprint}");

    let (dist, printed) = package_with(&[
        ("GNUPGHOME", publisher.path()),
        ("GPG_FINGERPRINT", Path::new(&fingerprint)),
    ]);
    assert!(!printed.contains("NOT SIGNED"), "{printed}");
    let sums = dist.path().join(SUMS);
    let sig = dist.path().join(format!("{SUMS}.sig"));
    let signature = std::fs::read(&sig).expect("the release has SHA256SUMS.sig");
    // Binary OpenPGP (what registries take), not ASCII armour: an old-format or new-format
    // packet tag byte, bit 7 set; a signature packet, tag 2.
    assert!(
        !signature.starts_with(b"-----BEGIN"),
        "the signature is armoured"
    );
    let first = signature[0];
    assert_eq!(first & 0x80, 0x80, "not an OpenPGP packet: {first:#x}");
    let tag = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        (first >> 2) & 0x0f
    };
    assert_eq!(tag, 2, "the first packet is a signature");

    // The registry: only the publisher's exported public key (what a publisher uploads).
    let (ok, public_key) = gpg(publisher.path(), &["--armor", "--export", &fingerprint]);
    assert!(
        ok && public_key.contains("BEGIN PGP PUBLIC KEY BLOCK"),
        "{public_key}"
    );
    let registry = GnupgHome::new();
    let key_file = registry.path().join("publisher.asc");
    std::fs::write(&key_file, &public_key).unwrap();
    let (ok, out) = gpg(registry.path(), &["--import", key_file.to_str().unwrap()]);
    assert!(ok, "import of the public key:\n{out}");
    let (ok, out) = gpg(
        registry.path(),
        &[
            "--status-fd",
            "1",
            "--verify",
            sig.to_str().unwrap(),
            sums.to_str().unwrap(),
        ],
    );
    assert!(ok, "gpg --verify:\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG ") && l.contains(&fingerprint)),
        "a valid signature by {fingerprint}:\n{out}"
    );

    // And the checksums the signature vouches for are the files'.
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", SUMS])
        .current_dir(dist.path())
        .output()
        .expect("run sha256sum");
    let checked = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "sha256sum -c:\n{checked}");
    assert_eq!(checked.matches(": OK").count(), 2, "{checked}");

    // A changed SHA256SUMS no longer verifies: the signature covers its bytes.
    let mut tampered = std::fs::read(&sums).unwrap();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(&sums, tampered).unwrap();
    let (ok, out) = gpg(
        registry.path(),
        &["--verify", sig.to_str().unwrap(), sums.to_str().unwrap()],
    );
    assert!(!ok && out.contains("BAD signature"), "{out}");
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
    let (dist, printed) = package_with(&[]);
    assert!(
        printed.contains("NOT SIGNED: GPG_FINGERPRINT is not set"),
        "without a key the script says it did not sign:\n{printed}"
    );
    assert!(!dist.path().join(format!("{SUMS}.sig")).exists());
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
    assert_eq!(
        read(&manifest_name),
        std::fs::read(common::repo_root().join("terraform-registry-manifest.json")).unwrap(),
        "the release's manifest is the repository root's terraform-registry-manifest.json"
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
