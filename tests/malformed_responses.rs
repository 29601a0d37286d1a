//! Malformed answers from the API (the emulator's `truncated_json`, `html_error`,
//! `empty_body` and `wrong_types` faults) against the RDS client over real HTTP: every
//! one is a typed error with an excerpt of what came, never a panic; reads are asked
//! again and recover when the fault is intermittent; the upgrade POST is never sent
//! twice — a garbled answer to it is ambiguous and the task-center search finds the job.

pub mod common;

use common::Emulator;
use common::client::{EmulatorClient, attempt, ctx, submit_upgrade};
use hwrds::rds::{InstanceFilter, RdsClient, RdsError, UpgradeRequest};
use hwrds::upgrade::submission::Origin;
use hwrds::upgrade::submission::submit_once;
use serde_json::json;

const KINDS: [&str; 4] = ["truncated_json", "html_error", "empty_body", "wrong_types"];
const INSTANCES_ROUTE: &str = "GET /v3/{project_id}/instances";
const UPGRADE_ROUTE: &str = "POST /v3/{project_id}/instances/{instance_id}/db-upgrade";

fn client(emulator: &Emulator, max_retries: u32) -> RdsClient {
    // The emulator's flow control is off here: no per-API quota to pace by either.
    EmulatorClient::fast(&emulator.url)
        .max_retries(max_retries)
        .build()
        .unwrap()
}

fn instances(ids: &[&str]) -> serde_json::Value {
    let list: Vec<_> = ids
        .iter()
        .map(|id| json!({"id": id, "name": format!("db-{id}"), "job_seconds": 0.5}))
        .collect();
    json!({"instances": list})
}

fn count(emu: &Emulator, route: &str) -> u64 {
    emu.stats()["requests"][route].as_u64().unwrap_or(0)
}

const REQUEST: UpgradeRequest = UpgradeRequest {
    is_delayed: false,
    second_switch: true,
};

/// What each kind must look like to the caller once the retries are spent.
#[track_caller]
fn assert_typed(kind: &str, err: &RdsError) {
    let text = err.to_string();
    match (kind, err) {
        ("html_error", RdsError::Api { status, code, .. }) => {
            assert_eq!((*status, code.as_str()), (502, "HTTP.502"), "{text}");
            assert!(text.contains("502 Bad Gateway"), "an excerpt: {text}");
        }
        ("truncated_json", RdsError::Decode { status, message }) => {
            assert_eq!(*status, 200);
            assert!(message.contains("ends early"), "{text}");
            assert!(message.contains("body \"{"), "an excerpt: {text}");
        }
        ("empty_body", RdsError::Decode { status, message }) => {
            assert_eq!(*status, 200);
            assert!(message.contains("empty"), "{text}");
        }
        ("wrong_types", RdsError::Decode { status, message }) => {
            assert_eq!(*status, 200);
            assert!(message.contains("expected shape"), "{text}");
            assert!(
                message.contains(r#"\"instances\":\"x\""#),
                "an excerpt: {text}"
            );
        }
        _ => panic!("{kind}: unexpected error kind {err:?}"),
    }
    assert!(text.len() < 600, "short enough to read: {text}");
}

#[tokio::test]
async fn every_malformed_answer_to_a_read_is_a_typed_error_after_the_retries() {
    let emu = Emulator::start(instances(&["r1"]), false);
    let c = client(&emu, 2);
    c.project_id(&ctx()).await.unwrap();
    let job_id = submit_upgrade(&c, &ctx(), "r1", REQUEST).await.unwrap();
    let mut cases = 0;
    for kind in KINDS {
        emu.faults(json!({"probability": 1.0, "kinds": [kind], "seed": 1}));
        let before = count(&emu, INSTANCES_ROUTE);
        let err = c
            .instances(&ctx(), &InstanceFilter::default())
            .await
            .unwrap_err();
        assert_typed(kind, &err);
        assert_eq!(
            count(&emu, INSTANCES_ROUTE) - before,
            3,
            "{kind}: a read is asked again (1 + max_retries 2)"
        );
        // The job API too (its envelope is another shape).
        let err = c.job(&ctx(), &job_id).await.unwrap_err();
        assert!(
            matches!(
                err,
                RdsError::Decode { .. } | RdsError::Api { status: 502, .. }
            ),
            "{kind}: {err:?}"
        );
        cases += 2;
    }
    emu.faults(json!({"probability": 0}));
    eprintln!("malformed reads: {cases} cases, each a typed error");
}

#[tokio::test]
async fn reads_recover_from_intermittent_malformed_answers() {
    let emu = Emulator::start(instances(&["r1", "r2"]), false);
    let c = client(&emu, 8);
    c.project_id(&ctx()).await.unwrap();
    for kind in KINDS {
        emu.faults(json!({"probability": 0.5, "kinds": [kind], "seed": 11}));
        for _ in 0..8 {
            let list = c.instances(&ctx(), &InstanceFilter::default()).await;
            assert_eq!(list.map(|l| l.len()).ok(), Some(2), "{kind}");
        }
    }
    // All four at once, every other call.
    emu.faults(json!({"probability": 0.5, "kinds": KINDS, "seed": 12}));
    for _ in 0..16 {
        c.instance(&ctx(), "r1").await.unwrap().unwrap();
    }
    emu.faults(json!({"probability": 0}));
    let total = count(&emu, INSTANCES_ROUTE);
    assert!(total > 48, "faults did fire: {total} requests for 48 reads");
}

#[tokio::test]
async fn a_garbled_answer_to_the_upgrade_is_ambiguous_and_never_resent() {
    let ids = [
        "u-truncated_json",
        "u-html_error",
        "u-empty_body",
        "u-wrong_types",
    ];
    let emu = Emulator::start(instances(&ids), false);
    let c = client(&emu, 5);
    c.project_id(&ctx()).await.unwrap();
    for kind in KINDS {
        let id = format!("u-{kind}");
        emu.faults(json!({"probability": 1.0, "kinds": [kind], "seed": 1}));
        let before = count(&emu, UPGRADE_ROUTE);
        let err = submit_upgrade(&c, &ctx(), &id, REQUEST).await.unwrap_err();
        emu.faults(json!({"probability": 0}));
        assert_eq!(count(&emu, UPGRADE_ROUTE) - before, 1, "{kind}: sent once");
        let stats = emu.stats();
        if kind == "html_error" {
            // A gateway error: whether the service got the request is unknown, so it is
            // ambiguous (here nothing started; the provider's search finds no job).
            assert!(
                matches!(&err, RdsError::Ambiguous(m) if m.contains("502")),
                "{kind}: {err:?}"
            );
            assert_eq!(stats["upgrade_jobs"][&id], json!(null), "{kind}: {stats}");
        } else {
            // The job started but its id was lost: the caller must go and look.
            let RdsError::Ambiguous(message) = &err else {
                panic!("{kind}: expected Ambiguous, got {err:?}");
            };
            assert!(message.contains("HTTP 200"), "{kind}: {message}");
            assert!(
                err.to_string().contains("may or may not have happened"),
                "{err}"
            );
            assert_eq!(stats["upgrade_jobs"][&id], 1, "{kind}: {stats}");
        }
    }
}

#[tokio::test]
async fn the_task_center_search_resolves_a_garbled_submit() {
    let emu = Emulator::start(instances(&[]), false);
    let c = client(&emu, 8);
    c.project_id(&ctx()).await.unwrap();
    // Half of all answers garbled, the submit's included: the client's calls are
    // sequential, so a seed fixes which ones. Seeds are tried until the submit itself was
    // garbled (the job is then adopted, not new); every try must start exactly one job.
    for kind in ["truncated_json", "empty_body", "wrong_types"] {
        let mut adopted = 0;
        for seed in 1..=12 {
            let id = format!("s-{kind}-{seed}");
            emu.admin("/__emulator/instances", instances(&[&id]));
            emu.faults(json!({"probability": 0.5, "kinds": [kind], "seed": seed}));
            let submitted = submit_once::submit_once(&c, &ctx(), &attempt(&id, REQUEST))
                .await
                .unwrap_or_else(|e| panic!("{kind} seed {seed}: {e}"));
            emu.faults(json!({"probability": 0}));
            let stats = emu.stats();
            assert_eq!(stats["upgrade_jobs"][&id], 1, "{kind} {seed}: {stats}");
            assert_eq!(stats["upgrade_posts"][&id], 1, "{kind} {seed}: {stats}");
            if submitted.origin == Origin::Adopted {
                assert!(!submitted.job.id.is_empty());
                adopted += 1;
                break;
            }
        }
        assert_eq!(adopted, 1, "{kind}: no seed garbled the submit");
    }
}
