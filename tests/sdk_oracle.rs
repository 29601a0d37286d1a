//! Huawei's official Python SDK as an independent oracle: our signatures must equal its
//! signer's on the same requests, and the SDK, used as a client, must work against the
//! emulator end to end (its models parse every response; a wrong secret gets a 401).

pub mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::fixtures::PAYMENTS;
use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY, repo_root};
use hwrds::rds::signer::{SignableRequest, authorization};
use serde_json::json;

fn python() -> std::path::PathBuf {
    let path = repo_root().join(".tools/venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run `make test` (scripts/install-terraform installs Huawei's SDK)",
        path.display()
    );
    path
}

#[test]
fn our_signatures_equal_the_official_signer() {
    struct Case {
        method: &'static str,
        path: &'static str,
        query: Vec<(&'static str, &'static str)>,
        body: &'static str,
    }
    let cases = vec![
        Case {
            method: "GET",
            path: "/v3/0483b6b16e954cb88930a360d2c4e663/instances",
            query: vec![
                ("limit", "100"),
                ("offset", "0"),
                ("datastore_type", "MySQL"),
            ],
            body: "",
        },
        Case {
            method: "POST",
            path: "/v3/p1/instances/i1/db-upgrade",
            query: vec![],
            body: r#"{"is_delayed":false,"second_switch":true}"#,
        },
        Case {
            method: "GET",
            path: "/v3/p1/instances",
            query: vec![("name", "orders db+1/2=3&x~y*z"), ("é", "ü ñ"), ("z", "")],
            body: "",
        },
        Case {
            method: "GET",
            path: "/v3/p1/jobs",
            query: vec![("id", "e7a7535b-eb9b-45ac-a83a-020dc5016d94")],
            body: "",
        },
    ];
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for case in &cases {
        let mut headers = vec![
            (
                "Host".to_string(),
                "rds.ap-southeast-1.myhuaweicloud.com".to_string(),
            ),
            ("X-Sdk-Date".to_string(), "20261124T101500Z".to_string()),
            (
                "X-Project-Id".to_string(),
                "0483b6b16e954cb88930a360d2c4e663".to_string(),
            ),
        ];
        if !case.body.is_empty() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        let query: Vec<(String, String)> = case
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ours.push(authorization(
            "AK_TEST",
            "SK-secret/with+odd=chars",
            &SignableRequest {
                method: case.method,
                path: case.path,
                query: &query,
                headers: &headers,
                body: case.body.as_bytes(),
            },
        ));
        requests.push(json!({
            "method": case.method, "host": "rds.ap-southeast-1.myhuaweicloud.com", "path": case.path,
            "query": query, "headers": headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "body": case.body, "ak": "AK_TEST", "sk": "SK-secret/with+odd=chars",
        }));
    }
    let mut child = Command::new(python())
        .arg(repo_root().join("tests/sdk_oracle/sign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(requests).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the SDK signer failed");
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn the_official_sdk_works_against_the_emulator() {
    let emu = Emulator::demo(1.0);
    let out = Command::new(python())
        .arg(repo_root().join("tests/sdk_oracle/emulator_client.py"))
        .args([&emu.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID, PAYMENTS])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SDK client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["total_count"], 5);
    assert_eq!(seen["version_before"], "8.0.25");
    assert_eq!(seen["version_after"], "8.0.32");
    let statuses = seen["statuses"].as_array().unwrap();
    assert_eq!(statuses.last().unwrap(), "Completed");
    assert_eq!(statuses[0], "Running");
    assert_eq!(seen["tasks"][0][0], seen["job_id"]);
    assert_eq!(seen["wrong_secret"], json!([401, "APIGW.0301"]));
    assert_eq!(emu.upgrade_jobs(PAYMENTS), 1);
    assert_eq!(emu.stats()["rejected_signatures"], 1);
}

#[test]
fn the_official_iam_sdk_gets_temporary_credentials_from_the_emulator_and_calls_rds_with_them() {
    use base64::Engine;
    let emu = Emulator::start(
        json!({
            "agencies": [{"domain_name": "ops", "domain_id": "d0d0", "agency_name": "rds-upgrader"}],
            "identity_providers": [{"id": "github", "issuer": "https://token.actions.githubusercontent.com"}],
        }),
        false,
    );
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let exp = common::signed::unix_now() as u64 + 600;
    let id_token = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256"})),
        b64(json!({"iss": "https://token.actions.githubusercontent.com", "exp": exp}))
    );
    let out = Command::new(python())
        .arg(repo_root().join("tests/sdk_oracle/emulator_iam.py"))
        .args([
            &emu.url, ACCESS_KEY, SECRET_KEY, "d0d0", PROJECT_ID, &id_token,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SDK client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen["agency_instances"].as_array().unwrap().len(),
        5,
        "{seen}"
    );
    assert_eq!(seen["oidc_instances"], seen["agency_instances"]);
    assert_eq!(seen["token_methods"], json!(["mapped"]));
    for key in ["agency_expires_at", "oidc_expires_at"] {
        assert!(seen[key].as_str().unwrap().ends_with('Z'), "{seen}");
    }
    let stats = emu.stats();
    assert_eq!(
        common::counter(
            &stats,
            "requests",
            "POST /v3.0/OS-CREDENTIAL/securitytokens"
        ),
        2
    );
    assert_eq!(stats["rejected_signatures"], 0);
}
