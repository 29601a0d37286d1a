//! No secret leaks: a whole upgrade (plan, apply, refresh, import) with `TF_LOG=DEBUG` and
//! with `TF_LOG=TRACE` (the API-call lines present, dependency crates' lines too at TRACE)
//! never shows the access key, the secret key, the security token, a signature or an
//! Authorization header value in any log line or in the state; the schema marks the
//! secrets sensitive.

pub mod common;

use common::fixtures::{ORDERS, upgrade};
use common::{ACCESS_KEY, Emulator, SECRET_KEY};
use serde_json::json;

const TOKEN: &str = "TEMPTOKEN-7d1f0c2a9b8e4f3d";

#[test]
fn debug_logs_and_state_hold_no_secret() {
    logs_and_state_hold_no_secret("DEBUG");
}

#[test]
fn trace_logs_and_state_hold_no_secret() {
    logs_and_state_hold_no_secret("TRACE");
}

fn logs_and_state_hold_no_secret(level: &str) {
    let emu = Emulator::start(json!({"job_seconds": 1, "security_token": TOKEN}), false);
    // Some error answers (their bodies are logged) among the successful ones.
    emu.faults(json!({"probability": 0.2, "kinds": ["throttle", "server_error"], "seed": 5}));
    let body = format!(
        "data \"hwrds_db_instances\" \"all\" {{}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let mut ws = common::workspace(&emu, &body);
    ws.set_env("HW_SECURITY_TOKEN", TOKEN);
    ws.set_env("TF_LOG", level);
    let mut logs = String::new();
    for args in [
        vec!["plan", "-input=false"],
        vec!["apply", "-auto-approve", "-input=false"],
        vec!["apply", "-refresh-only", "-auto-approve"],
        vec!["state", "rm", "hwrds_db_minor_upgrade.orders"],
        vec!["import", "hwrds_db_minor_upgrade.orders", ORDERS],
    ] {
        let run = ws.run(&args);
        run.assert_ok();
        logs.push_str(&run.all());
    }
    assert!(
        logs.contains("provider.terraform-provider-hwrds"),
        "the provider's own {level} lines are in the log"
    );
    assert!(logs.contains("upgrade submitted"), "INFO lines are logged");
    let calls = logs.lines().filter(|l| l.contains("API call ")).count();
    assert!(calls > 10, "the API-call lines are in the log ({calls})");
    assert!(
        logs.lines()
            .any(|l| l.contains("API call ") && l.contains("error_body=")),
        "error answers' bodies are in the log"
    );
    if level == "TRACE" {
        assert!(
            logs.contains("target=h2") || logs.contains("target=hyper"),
            "the dependency crates log at TRACE"
        );
    }
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap();
    for (what, secret) in [
        ("access key", ACCESS_KEY),
        ("secret key", SECRET_KEY),
        ("security token", TOKEN),
        ("signature", "Signature="),
        ("Authorization header", "SDK-HMAC-SHA256 Access"),
    ] {
        assert_eq!(logs.matches(secret).count(), 0, "{what} in the logs");
        assert_eq!(state.matches(secret).count(), 0, "{what} in the state");
    }

    let schema = ws.run(&["providers", "schema", "-json"]);
    schema.assert_ok();
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout).unwrap();
    let provider = &schema["provider_schemas"]["registry.terraform.io/hwrds/hwrds"]["provider"]["block"]
        ["attributes"];
    for secret in ["secret_key", "security_token"] {
        assert_eq!(provider[secret]["sensitive"], true, "{secret}");
    }
}
