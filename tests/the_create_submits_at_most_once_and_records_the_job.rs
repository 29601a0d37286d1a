//! The create of `hwrds_db_minor_upgrade` as fast tables: it submits one upgrade and
//! records its job — waiting for it or not, scheduled for the maintenance window, failed,
//! or still running at the create's timeout — or submits none: when it adopts an upgrade
//! already scheduled or under way, or refuses a target that moved since the plan. Each
//! test checks the recorded attributes, the diagnostics and the upgrade POSTs the
//! emulator counted. The provider is driven through its protocol layer in memory
//! (tests/common/in_process.rs) against the emulator process. Through real Terraform:
//! tests/upgrade_resource.rs, tests/delayed_upgrade.rs, tests/target_carry.rs.

pub mod common;

use std::time::Duration;

use common::Emulator;
use common::fixtures::ORDERS;
use common::in_process::{InProcess, at, errors, the_diagnostic};
use common::rule_tables::{all_posts, console_upgrade, orders_only, text};
use hwrds::cty::Value;
use hwrds::tfplugin::Severity::{Error, Warning};
use serde_json::json;

/// The upgrade jobs the task center lists for `instance_id`.
async fn task_center_jobs(emu: &Emulator, instance_id: &str) -> Vec<String> {
    let (url, id) = (emu.url.clone(), instance_id.to_string());
    let truth = tokio::task::spawn_blocking(move || common::truth::read(&url, &[id]))
        .await
        .expect("join")
        .expect("read the emulator");
    truth[0].tasks.iter().map(|t| t.id.clone()).collect()
}

#[tokio::test]
async fn create_submits_exactly_one_post_and_records_its_job() {
    let emu = orders_only(json!({"job_seconds": 30}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[("wait_for_completion", Value::Bool(false))]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let state = created.ok("create");
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "one POST: {}", emu.stats());
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
    let jobs = task_center_jobs(&emu, ORDERS).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(text(state, "job_id"), jobs[0], "the job the API started");
    assert_eq!(text(state, "id"), format!("{ORDERS}/{}", jobs[0]));
    assert_eq!(text(state, "status"), "Running");
    assert_eq!(text(state, "version_before"), "8.0.28");
    assert_eq!(text(state, "target_version"), "8.0.32");
    assert!(
        text(state, "submitted_at").contains('T'),
        "{}",
        text(state, "submitted_at")
    );
    assert!(state.is_wholly_known(), "{state:?}");
    assert!(
        created.diagnostics.is_empty(),
        "nothing to say: {:?}",
        created.diagnostics
    );
}

#[tokio::test]
async fn create_waits_for_the_job_and_records_the_version_it_installed() {
    let emu = orders_only(json!({"job_seconds": 0.3}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let state = created.ok("create");
    assert_eq!(text(state, "status"), "Completed");
    assert_eq!(text(state, "progress"), "100%");
    assert_eq!(text(state, "version_after"), "8.0.32");
    assert_eq!(text(state, "version_after"), text(state, "target_version"));
    assert!(
        text(state, "finished_at").contains('T'),
        "{}",
        text(state, "finished_at")
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 1);
}

#[tokio::test]
async fn a_job_that_fails_is_an_error_recorded_failed_and_the_next_plan_tries_again_in_place() {
    let emu = Emulator::start(
        json!({"job_seconds": 0.3,
               "instances": [{"id": ORDERS, "name": "orders", "fail_upgrade": true}]}),
        false,
    );
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let failed = the_diagnostic(
        &created.diagnostics,
        Error,
        "orders: Upgrade job failed",
        "create",
    );
    assert!(
        failed.detail.contains("The instance keeps version 8.0.28"),
        "{failed:?}"
    );
    let state = created
        .state
        .as_ref()
        .expect("the failed job is recorded, so that it is not submitted again");
    assert_eq!(text(state, "status"), "Failed");
    assert!(!text(state, "fail_reason").is_empty(), "{state:?}");
    assert!(state.get_attr("version_after").is_some_and(Value::is_null));
    let next = tf.plan_existing(&config, state).await;
    assert!(
        next.requires_replace.is_empty(),
        "a new attempt in place: {:?}",
        next.requires_replace
    );
    assert_eq!(
        next.planned.get_attr("job_id"),
        Some(&Value::Unknown),
        "a new job"
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 1);
}

#[tokio::test]
async fn a_wait_that_reaches_the_create_timeout_keeps_the_job_with_a_warning() {
    let emu = orders_only(json!({"job_seconds": 30}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[("timeouts", tf.timeouts("create", "1s"))]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let state = created.ok("a timed-out wait is not an error");
    let warning = the_diagnostic(
        &created.diagnostics,
        Warning,
        "orders: Upgrade still running; tracking will resume",
        "create",
    );
    assert!(
        warning.detail.contains("reached its timeout"),
        "{warning:?}"
    );
    assert!(
        warning.detail.contains("nothing is submitted again"),
        "{warning:?}"
    );
    assert_eq!(text(state, "status"), "Running");
    assert_eq!(
        task_center_jobs(&emu, ORDERS).await,
        [text(state, "job_id")]
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 1);
}

#[tokio::test]
async fn a_delayed_create_returns_at_once_with_the_job_scheduled() {
    let emu = orders_only(json!({"job_seconds": 1, "window_opens_after_seconds": 7200}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[("is_delayed", Value::Bool(true))]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let state = created.ok("create");
    // One warning: the upgrade is scheduled, nothing is installed yet.
    let summaries: Vec<&str> = created
        .diagnostics
        .iter()
        .map(|d| d.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        ["orders: Upgrade scheduled, not installed yet"],
        "{:?}",
        created.diagnostics
    );
    assert_eq!(text(state, "status"), "Scheduled");
    assert_eq!(state.attr_bool("wait_for_completion"), Some(false));
    assert_eq!(text(state, "maintenance_window"), "18:00-19:00");
    assert!(
        text(state, "scheduled_start").contains('T'),
        "the scheduled task's start: {state:?}"
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 1);
}

/// An upgrade already scheduled for the maintenance window, met by a create with
/// `is_delayed = false` that would wait: it is adopted (the instance refuses a second),
/// and not waited for, as its window opens after the create's timeout.
#[tokio::test]
async fn an_immediate_create_adopts_a_scheduled_upgrade_and_does_not_wait_for_its_window() {
    let emu = orders_only(json!({"job_seconds": 1, "window_opens_after_seconds": 7200}));
    let scheduler = common::client::EmulatorClient::new(&emu.url)
        .build()
        .expect("a client");
    let later = hwrds::rds::UpgradeRequest {
        is_delayed: true,
        second_switch: true,
    };
    let call = hwrds::rds::CallCtx::new(tokio_util::sync::CancellationToken::new());
    let scheduled = common::client::submit_upgrade(&scheduler, &call, ORDERS, later)
        .await
        .expect("scheduled");
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    assert_eq!(plan.planned.attr_bool("wait_for_completion"), Some(true));
    let started = std::time::Instant::now();
    let created = tf.create(&config, &plan).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let state = created.ok("create");
    assert_eq!(text(state, "job_id"), scheduled);
    assert_eq!(text(state, "status"), "Scheduled");
    let adopted = the_diagnostic(
        &created.diagnostics,
        Warning,
        "orders: Adopted a scheduled upgrade: it does not run now",
        "create",
    );
    assert_eq!(adopted.path, at("is_delayed"));
    the_diagnostic(
        &created.diagnostics,
        Warning,
        "orders: Upgrade scheduled after this apply's timeout: not waiting",
        "create",
    );
    // An immediate create looks for running upgrades only before it submits; the
    // instance's busy answer to its request leads it to the scheduled one.
    assert!(
        (1..=2).contains(&emu.upgrade_posts(ORDERS)),
        "the scheduler's, and at most one refused as busy: {}",
        emu.stats()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "no second upgrade job");
}

#[tokio::test]
async fn create_adopts_an_upgrade_already_under_way_instead_of_submitting_another() {
    let emu = orders_only(json!({"job_seconds": 30}));
    let console = console_upgrade(&emu, ORDERS).await;
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[("wait_for_completion", Value::Bool(false))]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let seen = the_diagnostic(
        &plan.diagnostics,
        Warning,
        "orders: An upgrade is already under way",
        "plan",
    );
    assert_eq!(seen.path, at("instance_id"));
    assert!(seen.detail.contains(&console), "{seen:?}");
    assert_eq!(
        plan.planned.get_attr("version_before"),
        Some(&Value::Unknown),
        "it may complete before the apply"
    );
    assert_eq!(text(&plan.planned, "target_version"), "8.0.32");

    let created = tf.create(&config, &plan).await;
    let state = created.ok("create");
    assert_eq!(text(state, "job_id"), console, "the console's job");
    assert_eq!(text(state, "version_before"), "8.0.28");
    let adopted = the_diagnostic(
        &created.diagnostics,
        Warning,
        "orders: Adopted an upgrade already under way",
        "create",
    );
    assert_eq!(adopted.path, at("instance_id"));
    assert_eq!(
        emu.upgrade_posts(ORDERS),
        1,
        "the console's POST only: {}",
        emu.stats()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1);
}

#[tokio::test]
async fn a_target_moved_since_the_plan_is_refused_unless_accept_newer_target() {
    // (row, accept_newer_target, POSTs)
    for (row, accept, posts) in [("refused", false, 0), ("accepted", true, 1)] {
        let emu = orders_only(json!({"job_seconds": 30}));
        let planning = InProcess::configured(&emu, &[]).await;
        let config = planning.config(ORDERS, &[("wait_for_completion", Value::Bool(false))]);
        let plan = planning.plan_create(&config, Vec::new()).await;
        assert_eq!(text(&plan.planned, "target_version"), "8.0.32", "{row}");
        emu.admin(
            "/__emulator/versions",
            json!({"engine": "MySQL", "version": "8.0.33"}),
        );
        let applying =
            InProcess::configured(&emu, &[("accept_newer_target", Value::Bool(accept))]).await;
        let created = applying.create(&config, &plan).await;
        assert_eq!(emu.upgrade_posts(ORDERS), posts, "{row}: {}", emu.stats());
        if accept {
            let state = created.ok(row);
            let warning = the_diagnostic(
                &created.diagnostics,
                Warning,
                "orders: Installing a newer minor version than the plan showed",
                row,
            );
            assert_eq!(warning.path, at("instance_id"), "{row}");
            assert_eq!(
                text(state, "target_version"),
                "8.0.32",
                "{row}: what the plan showed"
            );
        } else {
            assert!(created.state.is_none(), "{row}: nothing recorded");
            let error = the_diagnostic(
                &created.diagnostics,
                Error,
                "orders: Newer minor version than the plan showed",
                row,
            );
            assert_eq!(error.path, at("instance_id"), "{row}");
            assert!(
                error.detail.contains(
                    "the plan showed it installs 8.0.32, and the API would now install 8.0.33"
                ),
                "{row}: {}",
                error.detail
            );
        }
    }
}

#[tokio::test]
async fn an_instance_already_on_its_target_is_recorded_up_to_date_and_nothing_is_sent() {
    const ON_IT: &str = "8.0.32.240101";
    let emu = orders_only(json!({"job_seconds": 0.3}));
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": ORDERS, "name": "orders",
                              "complete_version": ON_IT, "latest_version": "8.0.32"}]}),
    );
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    assert!(errors(&plan.diagnostics).is_empty(), "{plan:?}");
    assert_eq!(text(&plan.planned, "version_before"), ON_IT);
    assert_eq!(
        text(&plan.planned, "target_version"),
        ON_IT,
        "one form for both: no 8.0.32 that reads like a downgrade"
    );
    assert_eq!(plan.diagnostics.iter().count(), 1, "said once: {plan:?}");
    let warning = the_diagnostic(
        &plan.diagnostics,
        Warning,
        "orders: Instance is already on the latest minor version: nothing to install",
        "already on the target",
    );
    assert_eq!(warning.path, at("instance_id"));
    assert!(
        warning.detail.contains(&format!("already runs {ON_IT}")),
        "{warning:?}"
    );

    let created = tf.create(&config, &plan).await;
    let state = created.ok("create").clone();
    assert!(created.diagnostics.is_empty(), "{:?}", created.diagnostics);
    assert_eq!(text(&state, "status"), "UpToDate");
    assert_eq!(state.get_attr("job_id"), Some(&Value::Null));
    assert_eq!(text(&state, "id"), ORDERS);
    assert_eq!(text(&state, "version_after"), ON_IT);
    assert_eq!(state.get_attr("submitted_at"), Some(&Value::Null));
    assert_eq!(all_posts(&emu), json!({}), "nothing sent: {}", emu.stats());

    // Final: a later plan shows no change, and a refresh adopts no job, not even one
    // that shows up later (a moved state with no job would adopt it).
    let next = tf.plan_existing(&config, &state).await;
    assert!(next.requires_replace.is_empty(), "{next:?}");
    assert_eq!(next.planned, state, "no diff");
    console_upgrade(&emu, ORDERS).await;
    let read = tf.read(&state).await;
    assert_eq!(read.ok("read"), &state, "the record stays as it is");
}

/// An instance on its latest version right after an upgrade no apply recorded (one
/// interrupted after its request): that job is adopted, not "up to date".
#[tokio::test]
async fn an_instance_on_its_target_after_an_unrecorded_upgrade_adopts_that_job() {
    let emu = orders_only(json!({"job_seconds": 0.3}));
    let console = console_upgrade(&emu, ORDERS).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    assert_eq!(text(&plan.planned, "version_before"), "8.0.32", "{plan:?}");
    let created = tf.create(&config, &plan).await;
    let state = created.ok("create");
    assert_eq!(text(state, "job_id"), console, "the console's job, adopted");
    assert_eq!(text(state, "status"), "Completed");
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "the console's only");
}

/// With one upgrade at a time and the slot held by another instance's job, an instance
/// with nothing to install is recorded at once: it needs no slot.
#[tokio::test]
async fn nothing_to_install_needs_no_slot_of_the_fleet_gate() {
    const FRESH: &str = "f1111111111111111111111111111111in01";
    let emu = orders_only(json!({"job_seconds": 30}));
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [{"id": FRESH, "name": "fresh",
                              "complete_version": "8.0.32.240101", "latest_version": "8.0.32"}]}),
    );
    let tf = InProcess::configured(&emu, &[("max_concurrent_upgrades", Value::int(1))]).await;
    let busy = tf.config(ORDERS, &[("wait_for_completion", Value::Bool(false))]);
    let plan = tf.plan_create(&busy, Vec::new()).await;
    tf.create(&busy, &plan).await.ok("the slot's holder");
    let config = tf.config(FRESH, &[("timeouts", tf.timeouts("create", "3s"))]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    let created = tf.create(&config, &plan).await;
    let state = created.ok("no wait for the slot");
    assert_eq!(text(state, "status"), "UpToDate");
    assert_eq!(emu.upgrade_posts(FRESH), 0, "{}", emu.stats());
    assert_eq!(emu.upgrade_posts(ORDERS), 1);
}
