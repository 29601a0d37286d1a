//! The schema of `hwrds_db_minor_upgrade`: its attributes as Terraform and the docs show
//! them, with the names the model owns ([`super::model::attr`]).

use super::model::attr;
use crate::cty::{Type, Value};
use crate::provider::{on_blocked, timeouts, upgrade_args};
use crate::schema::{Attribute, Block, Schema};

/// The resource's schema.
pub fn schema() -> Schema {
    let block = Block::new(
        "The minor version upgrades of a Huawei Cloud RDS instance (MySQL or PostgreSQL). Creating the resource submits the upgrade once and, by default, waits for the job to finish; a `triggers` change (a newer minor version) upgrades again in place, and so does the plan after a failed job. The plan shows the version the instance runs and refuses upgrades the API would refuse. Destroying it only forgets the upgrade.",
    )
    .attribute(Attribute::computed(attr::ID, Type::String, "`<instance_id>/<job_id>`; the instance id alone for an upgrade `UpToDate` (no job).").stable())
    .attribute(
        Attribute::required(attr::INSTANCE_ID, Type::String, upgrade_args::INSTANCE_ID)
            .requires_replace(),
    )
    .attribute(
        Attribute::computed(attr::INSTANCE_NAME, Type::String, "Name of the instance as the API shows it, known in the plan (a fleet's plan is readable by name); every warning and error about the upgrade begins with it (with the instance id when it has none). States written before it existed get it at the next refresh.")
            .stable(),
    )
    .attribute(
        Attribute::optional(attr::IS_DELAYED, Type::Bool, upgrade_args::IS_DELAYED)
            .default(Value::Bool(false)),
    )
    .attribute(
        Attribute::optional(attr::SECOND_SWITCH, Type::Bool, upgrade_args::SECOND_SWITCH)
            .default(Value::Bool(true)),
    )
    .attribute(
        Attribute::optional(attr::TRIGGERS, Type::map(Type::String), "Arbitrary values; any change means \"upgrade again\", in place (e.g. `{ minor = data.hwrds_db_instance.x.latest_version }`): the plan shows an update with the new `target_version`, checked like a new upgrade, and the apply submits the new upgrade once, as a create does (the previous job is never adopted as the new one). `is_delayed` and `second_switch` are the options of the next upgrade submitted: changing only them calls no API."),
    )
    .attribute(Attribute::optional(on_blocked::NAME, Type::String, on_blocked::DESCRIPTION))
    .attribute(Attribute::optional_computed(
        attr::WAIT_FOR_COMPLETION,
        Type::Bool,
        &format!(
            "{} Changing it never calls the upgrade API.",
            upgrade_args::WAIT_FOR_COMPLETION
        ),
    ))
    .attribute(Attribute::computed(attr::JOB_ID, Type::String, "Id of the upgrade job; null for an upgrade `UpToDate` (nothing was submitted).").stable())
    .attribute(Attribute::computed(attr::STATUS, Type::String, "Job status: `Scheduled` (delayed, waiting for the maintenance window), `Running`, `Completed` or `Failed`; or `UpToDate`: the instance already ran `target_version` and no upgrade of it created in the last day showed, so nothing was submitted and no job exists (`job_id` null, `id` the instance id, `version_after` the version it runs; an upgrade job of the last day, such as an interrupted apply's, is adopted instead). Like `Completed` it is final: later plans show no change (see \"Upgrading again\")."))
    .attribute(Attribute::computed(attr::PROGRESS, Type::String, "Job progress as the API reports it, e.g. `60%`."))
    .attribute(Attribute::computed(attr::FAIL_REASON, Type::String, "Why the job failed, when it did."))
    .attribute(Attribute::computed(attr::ENGINE, Type::String, "Database engine of the instance.").stable())
    .attribute(Attribute::computed(attr::INSTANCE_TYPE, Type::String, "`Single`, `Ha` or `Replica`.").stable())
    .attribute(
        Attribute::computed(attr::IMPACT, Type::String, "What the upgrade does to the service, and when, known in the plan of a new upgrade (from the engine, `instance_type`, `second_switch`, the availability zones of the nodes, `is_delayed` and the maintenance window): `switchover to the standby (one brief disconnection), now` (MySQL primary/standby with `second_switch = false`, or both nodes in one availability zone), `two switchovers (primary and standby swap, then swap back), now` (MySQL primary/standby in two availability zones with `second_switch = true`), `possibly a switchover to the standby (one brief disconnection), now` (PostgreSQL primary/standby), `restart (the database is unavailable for the upgrade's duration), now` (a single instance; `restart of the read replica ...` for a read replica); a delayed upgrade ends `in the maintenance window 22:00-02:00 UTC` instead of `now`. It describes the upgrade as planned: an upgrade `UpToDate` ran nothing. Null for an engine that takes no minor upgrade, and while the engine and type are not known (a state moved from the official provider before it adopts a job); states written before it existed get it at the next refresh.")
            .stable(),
    )
    .attribute(
        Attribute::computed(attr::VERSION_BEFORE, Type::String, "Complete version the instance ran when the upgrade was planned (known in the plan).")
            .stable(),
    )
    .attribute(
        Attribute::computed(attr::TARGET_VERSION, Type::String, "Minor version the upgrade installs, known in the plan: the latest minor version of the instance's engine and major version, as the versions API names it (the `latest_version` of `hwrds_db_instance`), e.g. `8.0.32`; the same text as `version_before` (e.g. `8.0.32.240101`) when the instance already runs it, and then the apply submits nothing (`status = \"UpToDate\"`). Null, with a warning saying why, when it cannot be told with confidence. Right before submitting, the apply checks it is still what the upgrade installs (see the provider's `accept_newer_target`). Null for an imported upgrade or one moved from the official provider.")
            .stable(),
    )
    .attribute(Attribute::computed(attr::VERSION_AFTER, Type::String, "Complete version the instance runs after the job completed (the apply warns when it is not `target_version`); for an upgrade `UpToDate`, the version it runs."))
    .attribute(Attribute::computed(attr::SUBMITTED_AT, Type::String, "When the job was created (RFC 3339).").stable())
    .attribute(Attribute::computed(attr::FINISHED_AT, Type::String, "When the job finished (RFC 3339)."))
    .block(timeouts::block());
    let block = delayed_attributes()
        .into_iter()
        .fold(block, Block::attribute);
    Schema { version: 0, block }
}

/// The attributes about when the upgrade runs (see [`super::delayed`]).
fn delayed_attributes() -> [Attribute; 3] {
    [
        Attribute::computed(
            attr::MAINTENANCE_WINDOW,
            Type::String,
            "For `is_delayed = true`: the instance's maintenance window (UTC, e.g. `22:00-02:00`) when the upgrade was planned, known in the plan — the job runs in it. Null for an immediate upgrade.",
        )
        .stable(),
        Attribute::computed(
            attr::SCHEDULED_START,
            Type::String,
            "When the job is scheduled to start (RFC 3339): the start of the planned window of the RDS scheduled task. Known after apply for `is_delayed = true` (null if the task did not show yet; the next refresh records it). Null for an immediate upgrade; a resource with `is_delayed = false` that adopted an already scheduled job (see \"Delayed upgrades\") records it from the next refresh.",
        )
        .stable(),
        Attribute::computed(
            attr::SCHEDULED_END,
            Type::String,
            "When the scheduled task's planned window ends (RFC 3339); known and null as `scheduled_start` is (null too when the API gives no end).",
        )
        .stable(),
    ]
}
