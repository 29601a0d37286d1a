//! hwrds-emulator's gates hold a route's requests before or after they are processed until
//! opened, so that tests can meet a request at a known moment; a request whose client left
//! while held before processing is never processed.

pub mod common;

use std::time::Duration;

use common::fixtures::POST_UPGRADE;
use common::signed::*;
use common::{Emulator, counter};
use serde_json::{Value, json};

/// Polls (at most 10 s) until `route`'s gate holds `n` requests.
async fn until_held(emu: &Emulator, route: &str, n: u64) {
    let started = std::time::Instant::now();
    while emu.held(route) != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{route} never held {n}: {}",
            emu.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The upgrade of instance `a`, sent once the upgrade route's gate is closed at `hold`
/// and running in the background; returns once the gate holds it.
async fn held_upgrade(
    emu: &std::sync::Arc<Emulator>,
    hold: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    emu.gate(POST_UPGRADE, hold);
    let held = tokio::spawn({
        let emu = emu.clone();
        async move { upgrade(&emu, "a", json!({})).await }
    });
    until_held(emu, POST_UPGRADE, 1).await;
    held
}

#[tokio::test]
async fn a_gate_holds_an_upgrade_before_it_is_processed_until_opened() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "before").await;
    let stats = emu.stats();
    assert_eq!(
        counter(&stats, "requests", POST_UPGRADE),
        1,
        "it passed the gateway: {stats}"
    );
    assert_eq!(
        counter(&stats, "upgrade_posts", "a"),
        0,
        "not processed yet: {stats}"
    );
    assert_eq!(counter(&stats, "upgrade_jobs", "a"), 0, "{stats}");
    // Other routes are not held.
    assert_eq!(instance(&emu, "a").await["status"], "ACTIVE");
    emu.gate(POST_UPGRADE, "none");
    let (status, body) = held_upgrade.await.expect("the request task");
    assert_eq!(status, 200, "{body}");
    assert!(body["job_id"].is_string(), "{body}");
    assert_eq!(emu.upgrade_jobs("a"), 1);
    assert_eq!(emu.held(POST_UPGRADE), 0);
}

#[tokio::test]
async fn a_gate_holds_the_answer_of_a_processed_upgrade() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "after").await;
    assert_eq!(emu.upgrade_jobs("a"), 1, "processed: the job exists");
    assert!(!held_upgrade.is_finished(), "but its answer waits");
    emu.gate(POST_UPGRADE, "none");
    let (status, body) = held_upgrade.await.expect("the request task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(emu.upgrade_jobs("a"), 1);
}

#[tokio::test]
async fn a_request_whose_client_left_while_held_before_processing_is_never_processed() {
    let emu = std::sync::Arc::new(Emulator::start(
        json!({"instances": [spec("a", json!({}))]}),
        false,
    ));
    let held_upgrade = held_upgrade(&emu, "before").await;
    // The client goes away (its connection closes) while the request waits.
    held_upgrade.abort();
    until_held(&emu, POST_UPGRADE, 0).await;
    emu.gate(POST_UPGRADE, "none");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = emu.stats();
    assert_eq!(counter(&stats, "upgrade_posts", "a"), 0, "{stats}");
    assert_eq!(counter(&stats, "upgrade_jobs", "a"), 0, "{stats}");
    assert_eq!(instance(&emu, "a").await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_gate_names_a_signed_route_and_reset_opens_every_gate() {
    let emu = Emulator::start(json!({"instances": [spec("a", json!({}))]}), false);
    for bad in [
        json!({"route": "POST /nowhere", "hold": "before"}),
        json!({"route": POST_UPGRADE, "hold": "sometimes"}),
    ] {
        let (status, body) =
            common::http(&emu.url, "POST", "/__emulator/gate", Some(&bad.to_string()));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    emu.gate(POST_UPGRADE, "before");
    emu.admin("/__emulator/reset", json!({}));
    let (status, body) = upgrade(&emu, "a", json!({})).await;
    assert_eq!(status, 200, "not held after the reset: {body}");
}
