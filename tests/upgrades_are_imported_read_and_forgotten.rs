//! Importing, reading and destroying `hwrds_db_minor_upgrade` as fast tables: an import
//! takes a job or the instance's most recent one and refuses ids it cannot, a read
//! follows a job to its end and then costs no request, and a destroy forgets the upgrade,
//! saying what goes on. None of them submits an upgrade. The provider is driven through
//! its protocol layer in memory (tests/common/in_process.rs) against the emulator
//! process. Through real Terraform: tests/upgrade_resource.rs.

pub mod common;

use std::time::Duration;

use common::Emulator;
use common::fixtures::{ORDERS, PAYMENTS};
use common::in_process::{InProcess, errors, the_diagnostic};
use common::rule_tables::{all_posts, console_upgrade, orders_only, recorded, text};
use hwrds::tfplugin::Severity::{Error, Warning};
use serde_json::json;

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
