//! The rules of `hwrds_db_minor_upgrade` as fast tables: the provider driven in process
//! (tests/common/in_process.rs) against the emulator process, one test per rule, each
//! asserting what a user would check — planned and recorded attribute values, the
//! attribute a diagnostic points at and its summary, the upgrade POSTs the emulator
//! counted. The wiring through real Terraform is proven elsewhere
//! (tests/upgrade_resource.rs, tests/target_version.rs, tests/delayed_upgrade.rs).

pub mod common;

use std::time::Duration;

use common::Emulator;
use common::fixtures::{ANALYTICS, ORDERS, PAYMENTS, REPLICA, REPORTING};
use common::in_process::{InProcess, at, errors, the_diagnostic};
use hwrds::cty::{AttributePath, PathStep, Value};
use hwrds::tfplugin::Severity::{self, Error, Warning};
use serde_json::json;

/// A row of a table of diagnostics: its name, the instance, the other arguments, and the
/// diagnostic expected (severity, summary, where it points).
type Row<'a, At> = (
    &'a str,
    &'a str,
    &'a [(&'a str, Value)],
    Severity,
    &'a str,
    At,
);

/// An emulator with the one MySQL instance [`ORDERS`] (8.0.28, latest 8.0.32) and the
/// emulator-wide settings `settings`.
fn orders_only(settings: serde_json::Value) -> Emulator {
    let mut config = json!({"instances": [{"id": ORDERS, "name": "orders", "type": "Single",
                                          "maintenance_window": "18:00-19:00"}]});
    if let (Some(all), Some(extra)) = (config.as_object_mut(), settings.as_object()) {
        all.extend(extra.clone());
    }
    Emulator::start(config, false)
}

/// The text of attribute `name`, or a description of what it is instead.
fn text(value: &Value, name: &str) -> String {
    match value.get_attr(name) {
        Some(Value::String(s)) => s.clone(),
        other => format!("<{other:?}>"),
    }
}

/// Upgrade POSTs of every instance, as the emulator counted them.
fn all_posts(emu: &Emulator) -> serde_json::Value {
    emu.stats()["upgrade_posts"].clone()
}

/// The upgrade jobs the task center lists for `instance_id`.
async fn task_center_jobs(emu: &Emulator, instance_id: &str) -> Vec<String> {
    let (url, id) = (emu.url.clone(), instance_id.to_string());
    let truth = tokio::task::spawn_blocking(move || common::truth::read(&url, &[id]))
        .await
        .expect("join")
        .expect("read the emulator");
    truth[0].tasks.iter().map(|t| t.id.clone()).collect()
}

/// Starts an upgrade of `instance_id` the way the console does; its job id.
async fn console_upgrade(emu: &Emulator, instance_id: &str) -> String {
    let (url, id) = (emu.url.clone(), instance_id.to_string());
    tokio::task::spawn_blocking(move || common::client::console_upgrade(&url, &id))
        .await
        .expect("join")
        .expect("an upgrade submitted from the console")
}

#[tokio::test]
async fn the_plan_shows_the_version_the_upgrade_starts_from_and_the_one_it_installs() {
    let emu = Emulator::demo(1.0);
    let tf = InProcess::configured(&emu, &[]).await;
    // (row, instance, engine, instance_type, version_before, target_version)
    let table = [
        (
            "mysql single",
            ORDERS,
            "MySQL",
            "Single",
            "8.0.28",
            "8.0.32",
        ),
        ("mysql ha", PAYMENTS, "MySQL", "Ha", "8.0.25", "8.0.32"),
        ("postgresql", ANALYTICS, "PostgreSQL", "Ha", "14.8", "14.12"),
    ];
    for (row, id, engine, instance_type, before, target) in table {
        let plan = tf.plan_create(&tf.config(id, &[]), Vec::new()).await;
        assert!(errors(&plan.diagnostics).is_empty(), "{row}: {plan:?}");
        let shown = |name: &str| text(&plan.planned, name);
        assert_eq!(shown("engine"), engine, "{row}: engine");
        assert_eq!(
            shown("instance_type"),
            instance_type,
            "{row}: instance_type"
        );
        assert_eq!(shown("version_before"), before, "{row}: version_before");
        assert_eq!(shown("target_version"), target, "{row}: target_version");
        assert!(
            !plan.private.is_empty(),
            "{row}: the plan keeps its values for the final plan"
        );
    }
    assert_eq!(all_posts(&emu), json!({}), "a plan submits nothing");
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

#[tokio::test]
async fn a_target_that_cannot_be_told_is_planned_null_with_a_warning_saying_why() {
    const AHEAD: &str = "ahead0000000000000000000000000in01";
    const LEGACY: &str = "legacy000000000000000000000000in01";
    let emu = Emulator::start(
        json!({"instances": [
            {"id": AHEAD, "name": "ahead", "complete_version": "8.0.35", "latest_version": "8.0.32"},
            {"id": LEGACY, "name": "legacy", "version": "5.7", "complete_version": "5.7.40",
             "latest_version": ""}]}),
        false,
    );
    let tf = InProcess::configured(&emu, &[]).await;
    // (row, instance, summary, why)
    let table = [
        (
            "runs a version newer than any listed",
            AHEAD,
            "ahead: Target version unknown",
            "runs 8.0.35, newer than 8.0.32, the latest minor version of MySQL 8.0 the versions API lists",
        ),
        (
            "a major version with no minor version listed",
            LEGACY,
            "legacy: Target version unknown",
            "The versions API lists no minor version of MySQL 5.7",
        ),
    ];
    for (row, id, summary, why) in table {
        let plan = tf.plan_create(&tf.config(id, &[]), Vec::new()).await;
        assert!(errors(&plan.diagnostics).is_empty(), "{row}: {plan:?}");
        assert_eq!(
            plan.planned.get_attr("target_version"),
            Some(&Value::Null),
            "{row}"
        );
        let warning = the_diagnostic(&plan.diagnostics, Warning, summary, row);
        assert_eq!(warning.path, at("instance_id"), "{row}");
        let detail = common::fixtures::flat(&warning.detail);
        assert!(detail.contains(why), "{row}: {detail}");
        assert!(detail.contains("target_version is null"), "{row}: {detail}");
    }
}

#[tokio::test]
async fn the_plans_checks_point_at_the_attribute_they_are_about() {
    let emu = Emulator::demo(1.0);
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [
            {"id": "pg1100000000000000000000000000000in03", "name": "old-pg", "engine": "PostgreSQL",
             "version": "11", "complete_version": "11.1", "latest_version": "11.22"}
        ]}),
    );
    let tf = InProcess::configured(&emu, &[]).await;
    let delayed = [("is_delayed", Value::Bool(true))];
    let no_second_switch = [("second_switch", Value::Bool(false))];
    // (row, instance, arguments, severity, summary, attribute)
    let table: [Row<&str>; 6] = [
        (
            "postgresql 11.1",
            "pg1100000000000000000000000000000in03",
            &[],
            Error,
            "old-pg: PostgreSQL 11 below 11.2 cannot be upgraded",
            "instance_id",
        ),
        (
            "sql server",
            REPORTING,
            &[],
            Error,
            "reporting: Engine does not support minor version upgrades",
            "instance_id",
        ),
        (
            "postgresql delayed",
            ANALYTICS,
            &delayed,
            Error,
            "analytics: PostgreSQL upgrades run immediately only",
            "is_delayed",
        ),
        (
            "no such instance",
            "nope0000",
            &[],
            Error,
            "nope0000: RDS instance not found",
            "instance_id",
        ),
        (
            "read replica",
            REPLICA,
            &[],
            Warning,
            "payments-replica: A read replica may not be upgradable alone",
            "instance_id",
        ),
        (
            "second_switch on a single instance",
            ORDERS,
            &no_second_switch,
            Warning,
            "orders: second_switch has no effect on this instance",
            "second_switch",
        ),
    ];
    for (row, id, arguments, severity, summary, attribute) in table {
        let plan = tf.plan_create(&tf.config(id, arguments), Vec::new()).await;
        let found = the_diagnostic(&plan.diagnostics, severity, summary, row);
        assert_eq!(found.path, at(attribute), "{row}: {found:?}");
        if severity == Warning {
            assert!(
                errors(&plan.diagnostics).is_empty(),
                "{row}: a warning does not stop the plan: {:?}",
                plan.diagnostics
            );
        }
    }
    // A replica's warning names the instance, its engine and version, and its primary.
    let replica = tf.plan_create(&tf.config(REPLICA, &[]), Vec::new()).await;
    let warning = the_diagnostic(
        &replica.diagnostics,
        Warning,
        "payments-replica: A read replica may not be upgradable alone",
        "read replica",
    );
    let detail = common::fixtures::flat(&warning.detail);
    for named in ["payments-replica", "MySQL 8.0.25", PAYMENTS] {
        assert!(detail.contains(named), "names {named}: {detail}");
    }
    assert_eq!(all_posts(&emu), json!({}), "a plan submits nothing");
}

/// An instance that is not ACTIVE, or a PostgreSQL one with an abnormal node, may be so
/// because an upgrade just started runs on it: the plan looks for one for a few seconds
/// before the finding stands (`UNDER_WAY_PATIENCE` of src/upgrade/under_way.rs). The rows
/// run side by side so that the table takes that time once.
#[tokio::test]
async fn a_finding_an_upgrade_would_explain_stands_when_none_is_under_way() {
    let emu = Emulator::demo(1.0);
    emu.admin(
        "/__emulator/instances",
        json!({"instances": [
            {"id": "pgab00000000000000000000000000000in03", "name": "sick-pg", "engine": "PostgreSQL",
             "version": "14", "complete_version": "14.8", "latest_version": "14.12", "type": "Ha",
             "node_statuses": ["ACTIVE", "ABNORMAL"]},
            {"id": "busy0000000000000000000000000000in01", "name": "busy", "status": "BACKING UP"},
            {"id": "frozen00000000000000000000000000in01", "name": "frozen", "status": "FROZEN"}
        ]}),
    );
    let tf = InProcess::configured(&emu, &[]).await;
    // (row, instance, summary), each at instance_id
    let table = [
        (
            "postgresql with an abnormal node",
            "pgab00000000000000000000000000000in03",
            "sick-pg: PostgreSQL instance has an abnormal node",
        ),
        (
            "backing up",
            "busy0000000000000000000000000000in01",
            "busy: Instance is backing up",
        ),
        (
            "frozen",
            "frozen00000000000000000000000000in01",
            "frozen: Instance is frozen",
        ),
    ];
    let tf = &tf;
    let plan = |id: &str| {
        let config = tf.config(id, &[]);
        async move { tf.plan_create(&config, Vec::new()).await }
    };
    let (a, b, c) = tokio::join!(plan(table[0].1), plan(table[1].1), plan(table[2].1));
    for ((row, _, summary), plan) in table.into_iter().zip([a, b, c]) {
        let found = the_diagnostic(&plan.diagnostics, Error, summary, row);
        assert_eq!(found.path, at("instance_id"), "{row}: {found:?}");
    }
    assert_eq!(all_posts(&emu), json!({}), "a plan submits nothing");
}

#[tokio::test]
async fn configuration_errors_point_at_the_attribute_before_any_plan() {
    let emu = Emulator::demo(1.0);
    let tf = InProcess::configured(&emu, &[]).await;
    let timeouts = [("timeouts", tf.timeouts("create", "ten minutes"))];
    let delayed_and_waiting = [
        ("is_delayed", Value::Bool(true)),
        ("wait_for_completion", Value::Bool(true)),
    ];
    let create_timeout =
        AttributePath::attribute("timeouts").join(PathStep::Attribute("create".into()));
    // (row, instance, arguments, severity, summary, path)
    let table: [Row<AttributePath>; 3] = [
        (
            "an instance id with a slash",
            "bad/id",
            &[],
            Error,
            "Invalid instance id",
            AttributePath::attribute("instance_id"),
        ),
        (
            "a duration that is not one",
            ORDERS,
            &timeouts,
            Error,
            "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01: Invalid duration",
            create_timeout,
        ),
        (
            "a delayed upgrade the apply waits for",
            ORDERS,
            &delayed_and_waiting,
            Warning,
            "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01: The apply will wait for the maintenance window",
            AttributePath::attribute("wait_for_completion"),
        ),
    ];
    for (row, id, arguments, severity, summary, path) in table {
        let diagnostics = tf.validate(&tf.config(id, arguments)).await;
        let found = the_diagnostic(&diagnostics, severity, summary, row);
        assert_eq!(found.path.as_ref(), Some(&path), "{row}: {found:?}");
    }
    let fine = tf.validate(&tf.config(ORDERS, &[])).await;
    assert!(fine.is_empty(), "a plain configuration is valid: {fine:?}");
}

#[tokio::test]
async fn is_delayed_plans_the_maintenance_window_and_no_wait() {
    let emu = orders_only(json!({}));
    let tf = InProcess::configured(&emu, &[]).await;
    let unknown = || format!("<{:?}>", Some(&Value::Unknown));
    let null = || format!("<{:?}>", Some(&Value::Null));
    // (row, is_delayed, wait_for_completion, planned window, scheduled times, planned wait)
    let table = [
        (
            "delayed",
            Some(true),
            None,
            "18:00-19:00".to_string(),
            unknown(),
            false,
        ),
        (
            "delayed and waiting",
            Some(true),
            Some(true),
            "18:00-19:00".to_string(),
            unknown(),
            true,
        ),
        ("immediate", Some(false), None, null(), null(), true),
        ("is_delayed not set", None, None, null(), null(), true),
        (
            "immediate, not waiting",
            Some(false),
            Some(false),
            null(),
            null(),
            false,
        ),
    ];
    for (row, is_delayed, wait, window, scheduled, waits) in table {
        let mut arguments = Vec::new();
        if let Some(delayed) = is_delayed {
            arguments.push(("is_delayed", Value::Bool(delayed)));
        }
        if let Some(wait) = wait {
            arguments.push(("wait_for_completion", Value::Bool(wait)));
        }
        let plan = tf
            .plan_create(&tf.config(ORDERS, &arguments), Vec::new())
            .await;
        assert!(errors(&plan.diagnostics).is_empty(), "{row}: {plan:?}");
        assert_eq!(
            text(&plan.planned, "maintenance_window"),
            window,
            "{row}: maintenance_window"
        );
        for name in ["scheduled_start", "scheduled_end"] {
            assert_eq!(text(&plan.planned, name), scheduled, "{row}: {name}");
        }
        assert_eq!(
            plan.planned.attr_bool("wait_for_completion"),
            Some(waits),
            "{row}: wait_for_completion"
        );
    }
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
async fn a_job_that_fails_is_an_error_recorded_failed_and_the_next_plan_replaces_it() {
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
        next.requires_replace
            .contains(&AttributePath::attribute("status")),
        "a new attempt: {:?}",
        next.requires_replace
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
    assert!(created.diagnostics.is_empty(), "{:?}", created.diagnostics);
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
async fn read_follows_an_imported_job_to_its_end_then_costs_no_request() {
    let emu = orders_only(json!({"job_seconds": 0.3}));
    let job = console_upgrade(&emu, ORDERS).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tf = InProcess::configured(&emu, &[]).await;
    let imported = tf.import(&format!("{ORDERS}/{job}")).await;
    let imported = imported.ok("import");
    assert_eq!(text(imported, "job_id"), job);
    assert_eq!(text(imported, "engine"), "MySQL");

    let before = common::stats_total(&emu.stats(), "requests");
    let read = tf.read(imported).await;
    let finished = read.ok("read").clone();
    assert_eq!(text(&finished, "status"), "Completed");
    assert_eq!(text(&finished, "version_after"), "8.0.32");
    let after_first = common::stats_total(&emu.stats(), "requests");
    assert!(after_first > before, "the unfinished job was asked about");

    let before = after_first;
    let again = tf.read(&finished).await;
    assert_eq!(again.ok("read again"), &finished, "a finished job is final");
    assert_eq!(
        common::stats_total(&emu.stats(), "requests"),
        before,
        "reading a finished job sends nothing"
    );
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "the console's only");
}

#[tokio::test]
async fn import_takes_a_job_or_the_instances_most_recent_one() {
    let emu = Emulator::demo(30.0);
    let job = console_upgrade(&emu, ORDERS).await;
    let tf = InProcess::configured(&emu, &[]).await;
    for (row, id) in [
        ("by job", format!("{ORDERS}/{job}")),
        ("by instance", ORDERS.to_string()),
    ] {
        let imported = tf.import(&id).await;
        let state = imported.ok(row);
        assert_eq!(text(state, "job_id"), job, "{row}");
        assert_eq!(text(state, "instance_id"), ORDERS, "{row}");
    }
    // (row, import id, summary)
    // Named by the instance id given (no name is read), unless it is not one.
    let refused = [
        (
            "no job after the slash",
            format!("{ORDERS}/"),
            format!("{ORDERS}: Invalid import id"),
        ),
        (
            "two slashes",
            format!("{ORDERS}/a/b"),
            format!("{ORDERS}: Invalid import id"),
        ),
        (
            "a bad instance id",
            "bad id".to_string(),
            "Invalid import id".to_string(),
        ),
        (
            "no such instance",
            "nope0000".to_string(),
            "nope0000: RDS instance not found".to_string(),
        ),
        (
            "no upgrade job",
            PAYMENTS.to_string(),
            format!("{PAYMENTS}: No upgrade job to import"),
        ),
    ];
    for (row, id, summary) in refused {
        let imported = tf.import(&id).await;
        assert!(imported.state.is_none(), "{row}: {:?}", imported.state);
        the_diagnostic(&imported.diagnostics, Error, &summary, row);
    }
    assert_eq!(emu.upgrade_posts(ORDERS), 1, "importing submits nothing");
}

#[tokio::test]
async fn the_final_plan_keeps_the_target_the_plan_showed_when_its_private_data_comes_back() {
    let emu = orders_only(json!({}));
    let config_of = |tf: &InProcess| tf.config(ORDERS, &[]);
    let planning = InProcess::configured(&emu, &[]).await;
    let first = planning
        .plan_create(&config_of(&planning), Vec::new())
        .await;
    assert_eq!(text(&first.planned, "target_version"), "8.0.32");
    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );
    // Each plan in a new provider process, as Terraform runs them.
    // (row, first plan's private data, planned target)
    let table = [
        ("terraform 1.15: derived again", Vec::new(), "8.0.33"),
        ("terraform 1.16+: carried", first.private.clone(), "8.0.32"),
    ];
    for (row, private, target) in table {
        let applying = InProcess::configured(&emu, &[]).await;
        let plan = applying.plan_create(&config_of(&applying), private).await;
        assert_eq!(text(&plan.planned, "target_version"), target, "{row}");
        assert_eq!(text(&plan.planned, "version_before"), "8.0.28", "{row}");
    }
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
async fn an_existing_upgrade_is_planned_by_its_recorded_status() {
    let emu = orders_only(json!({}));
    let tf = InProcess::configured(&emu, &[]).await;
    // (row, recorded status, wait_for_completion, replaced, status and progress planned)
    let table = [
        ("failed: a new attempt", "Failed", false, true, None),
        (
            "running, waited for: tracked again",
            "Running",
            true,
            false,
            None,
        ),
        (
            "running, not waited for: kept",
            "Running",
            false,
            false,
            Some(("Running", "40%")),
        ),
        (
            "completed: kept",
            "Completed",
            true,
            false,
            Some(("Completed", "100%")),
        ),
    ];
    for (row, status, wait, replaced, kept) in table {
        let config = tf.config(ORDERS, &[("wait_for_completion", Value::Bool(wait))]);
        let prior = recorded(&tf, &config, status);
        let plan = tf.plan_existing(&config, &prior).await;
        assert!(errors(&plan.diagnostics).is_empty(), "{row}: {plan:?}");
        assert_eq!(
            plan.requires_replace
                .contains(&AttributePath::attribute("status")),
            replaced,
            "{row}: {:?}",
            plan.requires_replace
        );
        match kept {
            Some((status, progress)) => {
                assert_eq!(text(&plan.planned, "status"), status, "{row}");
                assert_eq!(text(&plan.planned, "progress"), progress, "{row}");
            }
            None => assert_eq!(
                plan.planned.get_attr("status"),
                Some(&Value::Unknown),
                "{row}"
            ),
        }
        if row.contains("tracked again") {
            assert_eq!(
                plan.planned.get_attr("progress"),
                Some(&Value::Unknown),
                "{row}"
            );
        }
        assert_eq!(
            text(&plan.planned, "job_id"),
            "job-1",
            "{row}: the job stays"
        );
    }
    assert_eq!(all_posts(&emu), json!({}), "a plan submits nothing");
}

#[tokio::test]
async fn destroy_forgets_the_upgrade_and_says_what_goes_on() {
    let emu = orders_only(json!({}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    // (row, recorded status, summary, said)
    let table = [
        (
            "scheduled",
            "Scheduled",
            "orders: Upgrade forgotten; the scheduled upgrade will still run",
            "the RDS API cannot cancel a scheduled task",
        ),
        (
            "running",
            "Running",
            "orders: Upgrade forgotten, not undone",
            "is running and goes on",
        ),
        (
            "failed",
            "Failed",
            "orders: Upgrade forgotten, not undone",
            "nothing was installed",
        ),
        (
            "completed",
            "Completed",
            "orders: Upgrade forgotten, not undone",
            "keeps the version job job-1 installed",
        ),
    ];
    for (row, status, summary, said) in table {
        let diagnostics = tf.delete(&recorded(&tf, &config, status)).await;
        let warning = the_diagnostic(&diagnostics, Warning, summary, row);
        assert!(warning.detail.contains(said), "{row}: {warning:?}");
        assert!(errors(&diagnostics).is_empty(), "{row}: {diagnostics:?}");
    }
    assert_eq!(all_posts(&emu), json!({}), "a destroy submits nothing");
}

/// The state of an upgrade of [`ORDERS`] with `config` whose job `job-1` was last seen
/// with `status`.
fn recorded(tf: &InProcess, config: &Value, status: &str) -> Value {
    let mut state = config.clone();
    let progress = match status {
        "Completed" => "100%",
        "Running" => "40%",
        _ => "10%",
    };
    for (name, value) in [
        ("id", Value::string(format!("{ORDERS}/job-1"))),
        ("instance_name", Value::string("orders")),
        ("job_id", Value::string("job-1")),
        ("status", Value::string(status)),
        ("progress", Value::string(progress)),
        ("engine", Value::string("MySQL")),
        ("instance_type", Value::string("Single")),
        ("version_before", Value::string("8.0.28")),
        ("target_version", Value::string("8.0.32")),
        ("submitted_at", Value::string("2026-01-01T10:00:00Z")),
        ("is_delayed", Value::Bool(false)),
        ("second_switch", Value::Bool(true)),
    ] {
        state.set_attr(name, value);
    }
    for attr in tf.block().attributes {
        if state.get_attr(&attr.name).is_none_or(Value::is_unknown) {
            state.set_attr(&attr.name, Value::Null);
        }
    }
    state
}

#[tokio::test]
async fn the_plan_names_the_instance_and_a_state_without_its_name_gets_it_on_read() {
    let emu = orders_only(json!({}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    assert_eq!(text(&plan.planned, "instance_name"), "orders", "{plan:?}");

    // A state of an earlier version: no instance_name.
    let mut earlier = recorded(&tf, &config, "Completed");
    earlier.set_attr("instance_name", Value::Null);
    earlier.set_attr("version_after", Value::string("8.0.32"));
    earlier.set_attr("wait_for_completion", Value::Bool(true));
    let read = tf.read(&earlier).await;
    let state = read.ok("read").clone();
    assert!(read.diagnostics.is_empty(), "{:?}", read.diagnostics);
    assert_eq!(text(&state, "instance_name"), "orders");
    let mut unchanged = state.clone();
    unchanged.set_attr("instance_name", Value::Null);
    assert_eq!(unchanged, earlier, "nothing else changes");
    let next = tf.plan_existing(&config, &state).await;
    assert!(next.requires_replace.is_empty(), "{next:?}");
    assert_eq!(next.planned, state, "no diff");
    assert_eq!(all_posts(&emu), json!({}), "nothing submitted");
}
