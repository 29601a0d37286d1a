//! Exactly-once submission and tracking (`hwrds::upgrade::submit_once` and
//! `hwrds::upgrade::job`) against the emulator process: lost answers never start a
//! second job, running and scheduled upgrades are adopted, and jobs the job API does not
//! know are followed to the end.

pub mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Emulator;
use common::client::{FAST_POLL, NOW, attempt, client, ctx_within as ctx, follow, submit_upgrade};
use hwrds::rds::{CallCtx, RdsClient, RdsError, UpgradeRequest};
use hwrds::upgrade::catalog::Catalog;
use hwrds::upgrade::job::{self as upgrade_job, JobSnapshot, JobStatus};
use hwrds::upgrade::submission::last_look::LastLook;
use hwrds::upgrade::submission::submit_once::{self, Attempt};
use hwrds::upgrade::submission::{Obtained, Origin};
use hwrds::upgrade::tracking::JobTracker;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("so{i:030}in01")).collect()
}

fn emulator(ids: &[String], extra: serde_json::Value) -> Emulator {
    let instances: Vec<_> = ids
        .iter()
        .map(|id| {
            let mut spec = json!({"id": id, "name": id, "job_seconds": 2});
            if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
                s.extend(e.clone());
            }
            spec
        })
        .collect();
    Emulator::start(
        json!({"instances": instances, "window_opens_after_seconds": 2}),
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_never_start_a_second_job() {
    let ids = ids(8);
    let emu = emulator(&ids, json!({}));
    let client = client(&emu);
    // Half of all signed requests lose their answer after the server has acted.
    emu.faults(json!({"probability": 0.5, "kinds": ["reset_after_processing"], "seed": 3}));
    let mut recovered = 0;
    for id in &ids {
        let submitted = submit_once::submit_once(&client, &ctx(120), &attempt(id, NOW))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(!submitted.job.id.is_empty());
        // A lost answer is resolved by finding the job the request started.
        if submitted.origin == Origin::Adopted {
            recovered += 1;
        }
    }
    assert!(recovered > 0, "some answers were lost and recovered");
    emu.faults(json!({"probability": 0}));
    let stats = emu.stats();
    let posts: u64 = ids
        .iter()
        .map(|id| stats["upgrade_posts"][id].as_u64().unwrap_or(0))
        .sum();
    assert!(posts >= ids.len() as u64, "{stats}");
    for id in &ids {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: {stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_and_scheduled_upgrades_are_adopted() {
    let ids = ids(2);
    let emu = emulator(&ids, json!({}));
    let client = client(&emu);
    let started = submit_upgrade(&client, &ctx(10), &ids[0], NOW)
        .await
        .unwrap();
    let job = adopted(
        submit_once::submit_once(&client, &ctx(30), &attempt(&ids[0], NOW))
            .await
            .unwrap(),
        "expected adoption",
    );
    assert_eq!(job.id, started);
    // The same, from a listing of the project's running upgrades made beforehand.
    let listing = upgrade_job::running_upgrades(&client, &ctx(10))
        .await
        .unwrap();
    let with_listing = Attempt {
        running: Some(&listing),
        ..attempt(&ids[0], NOW)
    };
    let job = adopted(
        submit_once::submit_once(&client, &ctx(30), &with_listing)
            .await
            .unwrap(),
        "expected adoption from the listing",
    );
    assert_eq!(job.id, started);
    let delayed = UpgradeRequest {
        is_delayed: true,
        second_switch: true,
    };
    let scheduled = submit_upgrade(&client, &ctx(10), &ids[1], delayed)
        .await
        .unwrap();
    let job = adopted(
        submit_once::submit_once(&client, &ctx(30), &attempt(&ids[1], delayed))
            .await
            .unwrap(),
        "expected adoption",
    );
    assert_eq!(job.id, scheduled);
    assert_eq!(job.status, JobStatus::Scheduled);
    assert_eq!(emu.upgrade_jobs(&ids[0]), 1);
    assert_eq!(emu.upgrade_jobs(&ids[1]), 1);
    // The scheduled job runs once its window opens and is followed to the end.
    let tracker = JobTracker::new(client.clone(), CancellationToken::new());
    let done = follow(&tracker, &ctx(30), &scheduled, &ids[1], FAST_POLL, |_| {})
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_unknown_to_the_job_api_are_followed_through_the_task_center() {
    let ids = ids(1);
    let emu = emulator(
        &ids,
        json!({"engine": "PostgreSQL", "version": "14", "complete_version": "14.8",
               "latest_version": "14.12", "job_queryable": false}),
    );
    let client = client(&emu);
    let job = match submit_once::submit_once(&client, &ctx(30), &attempt(&ids[0], NOW))
        .await
        .unwrap()
    {
        Obtained {
            origin: Origin::Submitted,
            job,
            ..
        } => job.id,
        other => panic!("expected a new job, got {other:?}"),
    };
    let mut seen = Vec::new();
    let tracker = JobTracker::new(client.clone(), CancellationToken::new());
    let done = follow(&tracker, &ctx(30), &job, &ids[0], FAST_POLL, |snap| {
        seen.push(snap.status.clone())
    })
    .await
    .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.ended.is_some(), "{done:?}");
    assert!(seen.iter().any(|s| s.as_str() == "Running"), "{seen:?}");
    let stats = emu.stats();
    assert!(
        stats["requests"]["GET /v3/{project_id}/tasklist"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_after_a_job_is_read_through_the_catalog_after_it_finished() {
    let ids = ids(1);
    let emu = emulator(&ids, json!({"latest_version": "8.0.32"}));
    let client = client(&emu);
    let listings = || {
        emu.stats()["requests"]["GET /v3/{project_id}/instances"]
            .as_u64()
            .unwrap_or(0)
    };
    // The plan's listing, read before the job: it shows the version before.
    let catalog = Arc::new(Catalog::default());
    let before = catalog.all(&client, &ctx(10)).await.unwrap();
    assert_eq!(
        before[0].datastore.complete_version.as_deref(),
        Some("8.0.28")
    );
    assert_eq!(listings(), 1);

    let job = submit_upgrade(&client, &ctx(10), &ids[0], NOW)
        .await
        .unwrap();
    let tracker =
        JobTracker::with_catalog(client.clone(), catalog.clone(), CancellationToken::new());
    let done = follow(&tracker, &ctx(30), &job, &ids[0], FAST_POLL, |_| {})
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.version_after.as_deref(), Some("8.0.32"), "{done:?}");
    // One listing after the job finished, and the catalog's readers share it.
    assert_eq!(listings(), 2);
    let (_, shared) = catalog.snapshot().unwrap();
    assert_eq!(
        shared[0].datastore.complete_version.as_deref(),
        Some("8.0.32")
    );
}

/// An upgrade started elsewhere (the console, another configuration) moments before ours,
/// while new jobs do not show in the listings yet: our request is refused as busy.
async fn submit_behind_an_unseen_upgrade(
    visible_after: f64,
    job_seconds: f64,
) -> (Emulator, String, Obtained) {
    let ids = ids(1);
    let emu = Emulator::start(
        json!({"instances": [{"id": ids[0], "name": "orders", "type": "Ha",
                              "job_seconds": job_seconds}],
               "job_visible_after_seconds": visible_after}),
        false,
    );
    let client = client(&emu);
    let elsewhere = submit_upgrade(&client, &ctx(10), &ids[0], NOW)
        .await
        .unwrap();
    let checked = Attempt {
        version: Some("8.0.28"),
        ..attempt(&ids[0], NOW)
    };
    let submitted = submit_once::submit_once(&client, &ctx(60), &checked)
        .await
        .unwrap();
    (emu, elsewhere, submitted)
}

/// The submission adopted the other upgrade, `elsewhere`, which has completed.
#[track_caller]
fn adopted_completed(submitted: Obtained, elsewhere: &str) {
    let job = adopted(submitted, "expected the other upgrade to be adopted");
    assert_eq!(job.id, elsewhere);
    assert_eq!(job.status, JobStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_with_an_upgrade_that_finishes_meanwhile_adopts_it_and_never_submits_again() {
    // Refused as busy while the other job runs (1 s); by the next look it has finished and
    // shows as Completed: adopted, not followed by a second upgrade of the upgraded instance.
    let (emu, elsewhere, submitted) = submit_behind_an_unseen_upgrade(2.0, 1.0).await;
    let id = &ids(1)[0];
    adopted_completed(submitted, &elsewhere);
    let stats = emu.stats();
    assert_eq!(stats["upgrade_posts"][id], 2, "{stats}");
    assert_eq!(emu.upgrade_jobs(id), 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_instance_whose_version_changed_waits_for_the_upgrade_job_to_show() {
    // The other job (1 s) finishes and the instance reports the new version while its job is
    // still absent from every listing (8 s): nothing is submitted until it shows.
    let (emu, elsewhere, submitted) = submit_behind_an_unseen_upgrade(8.0, 1.0).await;
    let id = &ids(1)[0];
    let job = adopted(submitted, "expected the other upgrade to be adopted");
    assert_eq!(job.id, elsewhere);
    let stats = emu.stats();
    assert_eq!(stats["upgrade_posts"][id], 2, "{stats}");
    assert_eq!(emu.upgrade_jobs(id), 1, "{stats}");
}

/// Submits the upgrade of `id`, checked on 8.0.28, with a last look through `catalog`,
/// and a listing of running upgrades read before any other upgrade showed (none).
async fn submit_with_last_look(
    client: &RdsClient,
    catalog: &Arc<Catalog>,
    call: &CallCtx,
    id: &str,
) -> Result<Obtained, submit_once::SubmitError> {
    let last_look = LastLook::new(catalog, client, call, id, "8.0.28");
    let looked = Attempt {
        version: Some("8.0.28"),
        running: Some(&[]),
        last_look: Some(&last_look),
        ..attempt(id, NOW)
    };
    submit_once::submit_once(client, call, &looked).await
}

/// The last look's listing, read moments before the submission, shows the instance busy
/// with an upgrade run elsewhere (the console, an interrupted apply) that ends before the
/// request would arrive, so no busy answer would stop it: nothing is sent, and that
/// upgrade is adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_the_last_look_shows_running_that_ends_before_the_request_is_adopted() {
    let ids = ids(1);
    let emu = emulator(&ids, json!({"job_seconds": 1}));
    let client = client(&emu);
    let elsewhere = submit_upgrade(&client, &ctx(10), &ids[0], NOW)
        .await
        .unwrap();
    let catalog = Arc::new(Catalog::default());
    let listed = catalog
        .listed_within(&client, &ctx(10), Duration::ZERO)
        .await;
    assert_eq!(listed.unwrap()[0].status, "MODIFYING");
    // The other upgrade ends; the listing, younger than the last look's limit, does not say.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let submitted = submit_with_last_look(&client, &catalog, &ctx(30), &ids[0])
        .await
        .unwrap();
    adopted_completed(submitted, &elsewhere);
    let stats = emu.stats();
    assert_eq!(
        stats["upgrade_posts"][&ids[0]], 1,
        "only the other one: {stats}"
    );
    assert_eq!(emu.upgrade_jobs(&ids[0]), 1, "{stats}");
}

/// An instance the last look's listing shows busy with something else than an upgrade is
/// not sent an upgrade: the submission waits, as after a busy answer, until its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_the_last_look_shows_busy_without_an_upgrade_is_not_sent_one() {
    let ids = ids(1);
    let emu = emulator(&ids, json!({"status": "BACKING UP"}));
    let client = client(&emu);
    let catalog = Arc::new(Catalog::default());
    let submitted = submit_with_last_look(&client, &catalog, &ctx(3), &ids[0]).await;
    assert!(
        matches!(
            submitted,
            Err(submit_once::SubmitError::Api(RdsError::Timeout(_)))
        ),
        "{submitted:?}"
    );
    // The last look's refusal for the status it saw is the error the wait gave up on.
    assert!(
        matches!(&submitted, Err(submit_once::SubmitError::Api(RdsError::Timeout(why))) if why.contains("has status BACKING UP")),
        "{submitted:?}"
    );
    let stats = emu.stats();
    assert_eq!(
        stats["upgrade_posts"][&ids[0]].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}

/// The job `obtained` adopted; fails, naming `what`, when it submitted one instead.
#[track_caller]
fn adopted(obtained: Obtained, what: &str) -> JobSnapshot {
    assert_eq!(obtained.origin, Origin::Adopted, "{what}: {obtained:?}");
    obtained.job
}
