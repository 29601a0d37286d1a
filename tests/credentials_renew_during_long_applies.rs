//! Applies that outlive their credentials, through real Terraform against the emulator
//! with 3-second credentials: from an agency, from OIDC with a token file the "CI"
//! rotates during the apply, and from the ECS metadata server with its rotation, every
//! upgrade completes with one job per instance, and the count of IAM credential
//! requests shows renewal (more than one, far fewer than the API requests). Static
//! temporary keys that expire end the apply in an error that keeps every submitted job
//! in the state, and the next apply with fresh keys adopts them. Under `TF_LOG=TRACE`
//! no id token, temporary secret, security token or IAM subject token is logged.

pub mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::fixtures::{flat, fleet};
use common::{ACCESS_KEY, Emulator, Run, SECRET_KEY, Workspace, counter, stats_total, workspace};
use serde_json::{Value, json};

/// How long every temporary credential the emulator issues lives.
const LIFETIME: f64 = 3.0;
const SECURITY_TOKENS: &str = "POST /v3.0/OS-CREDENTIAL/securitytokens";
const ID_TOKENS: &str = "POST /v3.0/OS-AUTH/id-token/tokens";
const SECURITY_KEY: &str = "GET /openstack/latest/securitykey";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn ids(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("1dc0{i:04x}0a0b0c0d0e0f0a0b0c0d0e0fin01"))
        .collect()
}

/// An emulator of `n` MySQL instances whose upgrades take `job_seconds`, with an agency,
/// GitHub's identity provider and an agency attached to "the server"; `extra` on top.
fn emulator(n: usize, job_seconds: f64, extra: Value) -> Emulator {
    let instances: Vec<Value> = ids(n)
        .iter()
        .map(|id| json!({"id": id, "name": format!("db-{}", &id[..8]), "job_seconds": job_seconds}))
        .collect();
    let mut config = json!({
        "instances": instances,
        "agencies": [{"domain_name": "ops", "domain_id": "d0d0", "agency_name": "rds-upgrader"}],
        "identity_providers": [{"id": "github", "issuer": ISSUER}],
        "metadata_agency": "ecs-rds-upgrader",
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Emulator::start(config, false)
}

/// A workspace upgrading the emulator's fleet, signed with nothing yet: each test sets
/// its source.
fn fleet_workspace(emu: &Emulator, n: usize) -> Workspace {
    let mut ws = workspace(emu, &fleet(&ids(n), ""));
    ws.unset_env("HW_ACCESS_KEY");
    ws.unset_env("HW_SECRET_KEY");
    ws
}

/// An unsigned JWT from GitHub's issuer that expires in `seconds` (the emulator checks
/// `iss` and `exp`, not the signature).
fn id_token(seconds: u64, serial: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJlLW9mLXRoZS1jaQ",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(
            json!({"iss": ISSUER, "sub": "repo:org/fleet:ref:refs/heads/main", "aud": "huaweicloud",
                   "exp": now + seconds, "jti": format!("token-{serial}")})
        )
    )
}

/// Rewrites `path` with a fresh id token living `life` every `every` until dropped, as a
/// CI runner rotates its token file; the tokens written, for the secret grep.
struct TokenRotation {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl TokenRotation {
    fn start(path: &Path, life: u64, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        std::fs::write(path, id_token(life, 0)).unwrap();
        let (path, flag) = (path.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut written = vec![std::fs::read_to_string(&path).unwrap()];
            let mut serial = 1;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                let token = id_token(life, serial);
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, &token).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
                written.push(token);
                serial += 1;
            }
            written
        });
        TokenRotation {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TokenRotation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One timed `terraform apply`.
fn timed_apply(ws: &Workspace) -> (Run, Duration) {
    let started = Instant::now();
    let run = ws.apply();
    (run, started.elapsed())
}

/// IAM's credential requests: temporary keys from IAM, keys from the metadata server.
fn credential_requests(stats: &Value) -> u64 {
    counter(stats, "requests", SECURITY_TOKENS) + counter(stats, "requests", SECURITY_KEY)
}

/// Every upgrade completed with one job per instance, no "tracking will resume", and a
/// count of credential requests that shows renewal: between (lifetimes − 1) and
/// (3 × lifetimes + 4) for an apply of at least four lifetimes.
fn assert_renewed_through(source: &str, emu: &Emulator, ws: &Workspace, run: &Run, took: Duration) {
    run.assert_ok();
    let all = flat(&run.all());
    assert!(!all.contains("tracking will resume"), "{all}");
    let fleet = ws.fleet_attributes("fleet");
    assert_eq!(fleet.len(), 6);
    for (id, attrs) in &fleet {
        assert_eq!(attrs["status"], "Completed", "{id}: {attrs}");
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: one job");
    }
    let stats = emu.stats();
    let lifetimes = took.as_secs_f64() / LIFETIME;
    assert!(
        lifetimes >= 4.0,
        "the apply lasted {took:?}, not four lifetimes"
    );
    let requests = credential_requests(&stats);
    let api = stats_total(&stats, "requests")
        - requests
        - counter(&stats, "requests", ID_TOKENS)
        - counter(&stats, "requests", "PUT /meta-data/latest/api/token");
    eprintln!(
        "{source}: apply {:.1} s, credential lifetime {LIFETIME} s ({lifetimes:.1} lifetimes), \
         {requests} IAM credential requests ({} id-token exchanges), {api} API requests, \
         1 job per instance for {} instances",
        took.as_secs_f64(),
        counter(&stats, "requests", ID_TOKENS),
        fleet.len()
    );
    assert!(
        (requests as f64) >= lifetimes - 1.0 && (requests as f64) <= 3.0 * lifetimes + 4.0,
        "{source}: {requests} credential requests over {lifetimes:.1} lifetimes"
    );
    assert!(requests < api, "not one per request: {requests} of {api}");
}

#[test]
fn an_apply_outlives_its_agency_credentials() {
    let emu = emulator(6, 13.0, json!({"temporary_credential_seconds": LIFETIME}));
    let mut ws = fleet_workspace(&emu, 6);
    ws.set_env("HW_ACCESS_KEY", ACCESS_KEY);
    ws.set_env("HW_SECRET_KEY", SECRET_KEY);
    // The provider block, as a configuration written for the official provider has it.
    ws.write(
        "provider.tf",
        "provider \"hwrds\" {\n  assume_role {\n    agency_name  = \"rds-upgrader\"\n    domain_name  = \"ops\"\n    duration     = 900\n    session_name = \"fleet-pipeline\"\n  }\n}\n",
    );
    let (run, took) = timed_apply(&ws);
    assert_renewed_through("agency", &emu, &ws, &run, took);
}

#[test]
fn an_apply_outlives_its_oidc_credentials_and_rereads_the_rotated_token_file() {
    let emu = emulator(6, 13.0, json!({"temporary_credential_seconds": LIFETIME}));
    let mut ws = fleet_workspace(&emu, 6);
    let token_file = ws.path().join("id-token");
    ws.set_env("HW_ASSUME_ROLE_IDP_ID", "github");
    ws.set_env(
        "HW_ASSUME_ROLE_ID_TOKEN_FILE",
        &token_file.display().to_string(),
    );
    // Each token lives 4 s and is replaced every 2 s: only a provider that reads the
    // file again at each renewal gets through.
    let rotation = TokenRotation::start(&token_file, 4, Duration::from_secs(2));
    let (run, took) = timed_apply(&ws);
    let written = rotation.finish();
    assert!(written.len() >= 6, "{} tokens written", written.len());
    assert_renewed_through("OIDC", &emu, &ws, &run, took);
}

#[test]
fn an_apply_outlives_the_metadata_servers_keys_through_their_rotation() {
    let emu = emulator(6, 13.0, json!({"temporary_credential_seconds": LIFETIME}));
    let mut ws = fleet_workspace(&emu, 6);
    ws.set_env("HWRDS_METADATA_ENDPOINT", &emu.url);
    let (run, took) = timed_apply(&ws);
    assert!(
        counter(&emu.stats(), "requests", "PUT /meta-data/latest/api/token") >= 1,
        "the session-token handshake was made"
    );
    assert_renewed_through("metadata", &emu, &ws, &run, took);
}

/// Temporary keys of the agency, from the emulator's IAM, as a CI secret would hold them.
fn temporary_keys(emu: &Emulator) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = json!({"auth": {"identity": {"methods": ["assume_role"],
        "assume_role": {"agency_name": "rds-upgrader", "domain_name": "ops"}}}});
    let (status, _, answer) = runtime.block_on(common::signed::exchange_with(
        emu,
        (ACCESS_KEY, SECRET_KEY),
        &[("Content-Type", "application/json;charset=UTF-8")],
        "POST",
        "/v3.0/OS-CREDENTIAL/securitytokens",
        &[],
        Some(body),
        None,
    ));
    assert_eq!(status, 201, "{answer}");
    answer["credential"].clone()
}

#[test]
fn expired_static_credentials_end_the_apply_in_an_error_and_the_next_apply_adopts_the_jobs() {
    let emu = emulator(6, 8.0, json!({"temporary_credential_seconds": 4.0}));
    let keys = temporary_keys(&emu);
    let mut ws = fleet_workspace(&emu, 6);
    ws.set_env("HW_ACCESS_KEY", keys["access"].as_str().unwrap());
    ws.set_env("HW_SECRET_KEY", keys["secret"].as_str().unwrap());
    ws.set_env("HW_SECURITY_TOKEN", keys["securitytoken"].as_str().unwrap());
    // Four submit at once; two wait for a slot, which frees after the keys expired.
    ws.set_env("HWRDS_MAX_CONCURRENT_UPGRADES", "4");
    let run = ws.apply();
    assert_ne!(run.code, 0, "{}", run.all());
    let all = flat(&run.all());
    assert!(
        all.contains("Credentials expired while following the upgrade"),
        "{all}"
    );
    assert!(all.contains("token expires"), "{all}");
    assert!(all.contains("run terraform apply again"), "{all}");
    assert!(
        all.contains("Credentials expired: nothing submitted"),
        "the creates waiting for a slot say why they submitted nothing: {all}"
    );
    let submitted: Vec<String> = ids(6)
        .into_iter()
        .filter(|id| emu.upgrade_jobs(id) == 1)
        .collect();
    assert_eq!(submitted.len(), 4, "the waiting creates submitted nothing");
    let recorded = ws.fleet_attributes("fleet");
    for id in &submitted {
        let job = recorded[id]["job_id"].as_str().unwrap_or_default();
        assert!(!job.is_empty(), "{id}: job id kept in the state");
    }
    assert_eq!(recorded.len(), 4, "{recorded:?}");

    ws.set_env("HW_ACCESS_KEY", ACCESS_KEY);
    ws.set_env("HW_SECRET_KEY", SECRET_KEY);
    ws.unset_env("HW_SECURITY_TOKEN");
    let again = ws.apply();
    again.assert_ok();
    for (id, attrs) in ws.fleet_attributes("fleet") {
        assert_eq!(attrs["status"], "Completed", "{id}: {attrs}");
        assert_eq!(
            emu.upgrade_jobs(&id),
            1,
            "{id}: adopted, not submitted again"
        );
    }
}

#[test]
fn trace_logs_hold_no_id_token_temporary_secret_security_token_or_subject_token() {
    let emu = emulator(2, 7.0, json!({"temporary_credential_seconds": LIFETIME}));
    let mut ws = workspace(&emu, &fleet(&ids(2), ""));
    ws.unset_env("HW_ACCESS_KEY");
    ws.unset_env("HW_SECRET_KEY");
    let token_file = ws.path().join("id-token");
    ws.set_env("HW_ASSUME_ROLE_IDP_ID", "github");
    ws.set_env(
        "HW_ASSUME_ROLE_ID_TOKEN_FILE",
        &token_file.display().to_string(),
    );
    // OIDC then an agency: every kind of secret passes through the provider.
    ws.set_env("HW_ASSUME_ROLE_AGENCY_NAME", "rds-upgrader");
    ws.set_env("HW_ASSUME_ROLE_DOMAIN_ID", "d0d0");
    ws.set_env("TF_LOG", "TRACE");
    let rotation = TokenRotation::start(&token_file, 4, Duration::from_secs(2));
    let run = ws.apply();
    let tokens = rotation.finish();
    run.assert_ok();
    let logs = run.all();
    assert!(
        logs.contains("credentials obtained"),
        "the provider's DEBUG lines are in the log"
    );
    assert!(
        logs.contains("OIDC id token from"),
        "DEBUG names the source"
    );
    let (status, issued) = common::http(&emu.url, "GET", "/__emulator/credentials", None);
    assert_eq!(status, 200);
    let issued: Value = serde_json::from_str(&issued).unwrap();
    let mut secrets: Vec<String> = tokens;
    for t in issued["temporary"].as_array().unwrap() {
        secrets.push(t["secret"].as_str().unwrap().to_string());
        secrets.push(t["securitytoken"].as_str().unwrap().to_string());
    }
    for s in issued["subject_tokens"].as_array().unwrap() {
        secrets.push(s.as_str().unwrap().to_string());
    }
    assert!(secrets.len() >= 8, "{} secrets", secrets.len());
    eprintln!(
        "TRACE log of {} lines: {} secrets looked for (id tokens, temporary secrets, security tokens, subject tokens)",
        logs.lines().count(),
        secrets.len()
    );
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap();
    for secret in &secrets {
        // A JWT's payload alone would identify it too.
        let needle = secret.split('.').nth(1).unwrap_or(secret);
        assert!(!logs.contains(needle), "a secret is in the TRACE log");
        assert!(!state.contains(needle), "a secret is in the state");
    }
}
