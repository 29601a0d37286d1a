//! What a user sees with `TF_LOG_PROVIDER=INFO` during an upgrade: each step (submitted,
//! progress, completed) as a provider log line, and nothing below INFO.

pub mod common;

use common::fixtures::{ORDERS, upgrade};
use common::{Emulator, stats_total};
use serde_json::json;

#[test]
fn info_logs_follow_each_step() {
    let emu = Emulator::demo(4.0);
    let mut ws = common::workspace(&emu, &upgrade("orders", ORDERS, ""));
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
    // The emulator reports a running job's progress as `<n>%`, rising with time;
    // Terraform quotes the value.
    let progress: Vec<u32> = provider_lines
        .iter()
        .filter(|l| l.contains("upgrade in progress"))
        .filter_map(|l| {
            field(l, "progress")?
                .strip_prefix('"')?
                .strip_suffix("%\"")?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        !progress.is_empty(),
        "the progress lines carry progress=\"<n>%\":\n{all}"
    );
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]) && progress.iter().all(|p| *p <= 100),
        "percentages rise to at most 100: {progress:?}\n{all}"
    );
    assert!(
        !provider_lines
            .iter()
            .any(|l| l.contains("[DEBUG]") || l.contains("[TRACE]")),
        "nothing below INFO:\n{all}"
    );
}

/// The provider's lines in a Terraform run's stderr.
fn provider_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-hwrds"))
        .collect()
}

/// Lines that came from a dependency crate (`target=` other than the provider's own).
fn dependency_lines<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("target="))
                .is_some_and(|t| {
                    !t.starts_with("hwrds") && !t.starts_with("terraform_provider_hwrds")
                })
        })
        .collect()
}

/// `key=value` of a Terraform-rendered provider line (values without spaces).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!(" {key}=");
    let at = line.find(&needle)? + needle.len();
    line[at..].split_whitespace().next()
}

/// An apply of an upgrade with `TF_LOG_PROVIDER=DEBUG`, every fourth request or so
/// throttled (429, Retry-After: 1; the same ones each run): the emulator, the workspace
/// and the provider's log lines.
fn debug_apply() -> (Emulator, common::Workspace, Vec<String>) {
    let emu = Emulator::demo(2.0);
    emu.faults(json!({"probability": 0.25, "kinds": ["throttle"], "seed": 11}));
    let body = format!(
        "data \"hwrds_db_instances\" \"all\" {{}}\n{}",
        upgrade("orders", ORDERS, "")
    );
    let mut ws = common::workspace(&emu, &body);
    ws.set_env("TF_LOG_PROVIDER", "DEBUG");
    let run = ws.apply();
    run.assert_ok();
    let lines = provider_lines(&run.stderr)
        .into_iter()
        .map(str::to_string)
        .collect();
    (emu, ws, lines)
}

/// What a user sees with `TF_LOG_PROVIDER=DEBUG`: one line per API call attempt (method,
/// path, query, status, request id, error code and body of error answers, latency,
/// attempt, the wait a throttled answer asked for).
#[test]
fn debug_logs_one_line_per_api_call() {
    let (emu, _ws, lines) = debug_apply();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let all = lines.join("\n");
    let calls: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("API call "))
        .collect();

    // One line per request the API received.
    let stats = emu.stats();
    let received = stats_total(&stats, "requests");
    assert!(received > 5, "{stats}");
    assert_eq!(
        calls.len() as u64,
        received,
        "one API-call line per request the emulator received ({stats}):\n{}",
        calls.join("\n")
    );
    for line in &calls {
        assert!(line.contains("[DEBUG]"), "{line}");
        for key in [
            "http_method",
            "path",
            "status",
            "request_id",
            "latency_ms",
            "attempt",
        ] {
            assert!(field(line, key).is_some(), "{key} missing in {line}");
        }
        assert!(field(line, "path").unwrap().starts_with("/v3/"), "{line}");
        assert_eq!(field(line, "request_id").unwrap().len(), 32, "{line}");
    }

    // The upgrade submission and the reads, with their queries.
    assert!(
        calls.iter().any(|l| field(l, "http_method") == Some("POST")
            && field(l, "path")
                .is_some_and(|p| p.ends_with(&format!("/instances/{ORDERS}/db-upgrade")))
            && field(l, "status") == Some("200")),
        "the upgrade submission is logged:\n{}",
        calls.join("\n")
    );
    assert!(
        calls.iter().any(|l| field(l, "query")
            .is_some_and(|q| q.contains("status=Running") && q.contains("start_time="))),
        "queries are logged:\n{}",
        calls.join("\n")
    );

    // Throttled answers: status, code, the (short) error body, the wait asked, the retry.
    let throttled: Vec<&&str> = calls
        .iter()
        .filter(|l| field(l, "status") == Some("429"))
        .collect();
    assert!(
        !throttled.is_empty(),
        "the fault seed throttles some calls:\n{all}"
    );
    for line in &throttled {
        assert_eq!(field(line, "error_code"), Some("APIGW.0308"), "{line}");
        assert_eq!(field(line, "retry_after_ms"), Some("1000"), "{line}");
        assert!(
            line.contains("error_body=") && line.contains("throttling threshold"),
            "{line}"
        );
    }
    assert!(
        calls
            .iter()
            .any(|l| field(l, "attempt").is_some_and(|a| a != "1")),
        "retries carry their attempt number:\n{}",
        calls.join("\n")
    );
    assert!(
        !calls
            .iter()
            .filter(|l| field(l, "status").is_some_and(|s| s.starts_with('2')))
            .any(|l| l.contains("error_body=")),
        "successful bodies are not logged"
    );
}

/// None of the HTTP/2, TLS or gRPC chatter of the dependency crates at DEBUG, which
/// `HWRDS_LOG_DEPS=1` brings back.
#[test]
fn dependency_crates_stay_quiet_at_debug_unless_asked() {
    let (_emu, mut ws, lines) = debug_apply();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    // Nothing from h2, hyper, rustls, tonic, tower or reqwest at DEBUG.
    let deps = dependency_lines(&lines);
    assert!(
        deps.is_empty(),
        "dependency lines at DEBUG:\n{}",
        deps.join("\n")
    );

    // Asked for explicitly, they are there (so the check above can fail).
    ws.set_env("HWRDS_LOG_DEPS", "1");
    let run = ws.run(&["plan", "-input=false"]);
    run.assert_ok();
    let lines = provider_lines(&run.stderr);
    let deps = dependency_lines(&lines);
    assert!(
        deps.iter().any(|l| [
            "target=h2",
            "target=hyper",
            "target=tonic",
            "target=tower",
            "target=rustls",
            "target=reqwest"
        ]
        .iter()
        .any(|t| l.contains(t))),
        "HWRDS_LOG_DEPS=1 brings the dependency crates' DEBUG lines:\n{}",
        lines.join("\n")
    );
}
