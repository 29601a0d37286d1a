//! The plan of `hwrds_db_minor_upgrade` as fast tables: what it shows — the version the
//! upgrade starts from and the one it installs, the maintenance window of a delayed
//! upgrade, the target kept for the final plan, an existing upgrade by its recorded
//! status — and the checks of the configuration and of the instance, each diagnostic
//! pointing at the attribute it is about. The provider is driven through its protocol
//! layer in memory (tests/common/in_process.rs) against the emulator process; a plan
//! submits nothing. Through real Terraform: tests/upgrade_resource.rs,
//! tests/target_version.rs.

pub mod common;

use common::Emulator;
use common::fixtures::{ANALYTICS, ORDERS, PAYMENTS, REPLICA, REPORTING};
use common::in_process::{InProcess, at, errors, the_diagnostic};
use common::rule_tables::{all_posts, orders_only, recorded, text};
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
async fn the_plan_names_the_instance_and_a_state_without_its_name_gets_it_on_read() {
    let emu = orders_only(json!({}));
    let tf = InProcess::configured(&emu, &[]).await;
    let config = tf.config(ORDERS, &[]);
    let plan = tf.plan_create(&config, Vec::new()).await;
    assert_eq!(text(&plan.planned, "instance_name"), "orders", "{plan:?}");

    // A state of an earlier version: no instance_name, no impact.
    let mut earlier = recorded(&tf, &config, "Completed");
    earlier.set_attr("instance_name", Value::Null);
    earlier.set_attr("impact", Value::Null);
    earlier.set_attr("version_after", Value::string("8.0.32"));
    earlier.set_attr("wait_for_completion", Value::Bool(true));
    let read = tf.read(&earlier).await;
    let state = read.ok("read").clone();
    assert!(read.diagnostics.is_empty(), "{:?}", read.diagnostics);
    assert_eq!(text(&state, "instance_name"), "orders");
    assert_eq!(
        text(&state, "impact"),
        "restart (the database is unavailable for the upgrade's duration), now"
    );
    let mut unchanged = state.clone();
    unchanged.set_attr("instance_name", Value::Null);
    unchanged.set_attr("impact", Value::Null);
    assert_eq!(unchanged, earlier, "nothing else changes");
    let next = tf.plan_existing(&config, &state).await;
    assert!(next.requires_replace.is_empty(), "{next:?}");
    assert_eq!(next.planned, state, "no diff");
    assert_eq!(all_posts(&emu), json!({}), "nothing submitted");
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
    for (row, status, wait, new_job, kept) in table {
        let config = tf.config(ORDERS, &[("wait_for_completion", Value::Bool(wait))]);
        let prior = recorded(&tf, &config, status);
        let plan = tf.plan_existing(&config, &prior).await;
        assert!(errors(&plan.diagnostics).is_empty(), "{row}: {plan:?}");
        assert!(
            plan.requires_replace.is_empty(),
            "{row}: in place: {:?}",
            plan.requires_replace
        );
        assert_eq!(
            plan.planned.get_attr("job_id") == Some(&Value::Unknown),
            new_job,
            "{row}: {:?}",
            plan.planned
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
        if !new_job {
            assert_eq!(
                text(&plan.planned, "job_id"),
                "job-1",
                "{row}: the job stays"
            );
        }
    }
    assert_eq!(all_posts(&emu), json!({}), "a plan submits nothing");
}
