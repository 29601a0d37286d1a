//! `hwrds_db_instance`: one RDS instance by id or exact name, with its versions, nodes,
//! the latest minor version available and whether an upgrade is possible now (the same
//! checks as the resource's plan), its maintenance window and the upgrade waiting for it.

use std::sync::Arc;

use super::ProviderState;
use super::project_lookup;
use crate::cty::{AttributePath, Type, Value};
use crate::rds::models::{ScheduledTask, parse_time, rfc3339};
use crate::rds::{CallCtx, InstanceFilter, RdsClient};
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Ctx, DataSource, Diagnostic, Diagnostics, StateResult};
use crate::upgrade::checks::upgrade_blockers;
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::job;

pub struct InstanceDataSource {
    pub(super) provider: Arc<ProviderState>,
}

/// The object type of one node.
pub fn node_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("name", Type::String),
        ("role", Type::String),
        ("status", Type::String),
        ("availability_zone", Type::String),
    ])
}

/// The object type of the upgrade waiting for the maintenance window.
pub fn scheduled_upgrade_type() -> Type {
    Type::object([
        ("job_id", Type::String),
        ("status", Type::String),
        ("start", Type::String),
        ("end", Type::String),
    ])
}

/// The project's scheduled tasks for the data sources (one listing per process). A
/// failed listing leaves `scheduled_upgrade` null, with a warning saying it is unknown.
pub async fn scheduled_tasks(
    provider: &ProviderState,
    client: &RdsClient,
    call: &CallCtx,
) -> (Vec<ScheduledTask>, Diagnostics) {
    match provider.catalog.scheduled(client, call).await {
        Ok(tasks) => (tasks.as_ref().clone(), Diagnostics::default()),
        Err(e) => (
            Vec::new(),
            Diagnostics::from(Diagnostic::warning(
                "Cannot read the scheduled tasks",
                format!(
                    "Listing the upgrades waiting for a maintenance window failed: {e}. scheduled_upgrade is null here because it is unknown, not because nothing is scheduled."
                ),
            )),
        ),
    }
}

/// The value of `scheduled_upgrade` for `instance_id` among `tasks`.
fn scheduled_upgrade(tasks: &[ScheduledTask], instance_id: &str) -> Value {
    let Some(task) = job::pending_upgrade(tasks, instance_id) else {
        return Value::Null;
    };
    let time =
        |t: &Option<String>| Value::opt_string(t.as_deref().and_then(parse_time).map(rfc3339));
    Value::object([
        ("job_id", Value::string(&task.id)),
        ("status", Value::string(&task.status)),
        ("start", time(&task.start_time)),
        ("end", time(&task.end_time)),
    ])
}

/// The computed attributes describing an instance (shared with `hwrds_db_instances`).
pub fn instance_attributes() -> Vec<Attribute> {
    vec![
        Attribute::computed(
            "engine",
            Type::String,
            "Database engine: `MySQL`, `PostgreSQL`, `SQLServer`, ...",
        ),
        Attribute::computed("version", Type::String, "Major version, e.g. `8.0`."),
        Attribute::computed(
            "complete_version",
            Type::String,
            "Full version the instance runs, e.g. `8.0.28.231003` (MySQL and PostgreSQL).",
        ),
        Attribute::computed("status", Type::String, "Instance status, e.g. `ACTIVE`."),
        Attribute::computed(
            "type",
            Type::String,
            "`Single`, `Ha` (primary/standby) or `Replica`.",
        ),
        Attribute::computed(
            "maintenance_window",
            Type::String,
            "Maintenance window (UTC), e.g. `22:00-02:00`; delayed upgrades (`is_delayed = true`) run in it.",
        ),
        Attribute::computed(
            "enterprise_project_id",
            Type::String,
            "Enterprise project the instance belongs to (`0`: the default project).",
        ),
        Attribute::computed(
            "scheduled_upgrade",
            scheduled_upgrade_type(),
            "The minor upgrade waiting for the maintenance window (or running in it), from the RDS scheduled tasks; null when none. `job_id`; `status` as the API reports it (`Initing`, `Pending`, `Running`, `Unauthorized`); `start` and `end` of its planned window (RFC 3339). The API cannot cancel it: the console can.",
        ),
        Attribute::computed(
            "nodes",
            Type::list(node_type()),
            "Nodes with their role (`master`, `slave`, `readreplica`), status and availability zone.",
        ),
        Attribute::computed(
            "latest_version",
            Type::String,
            "Latest minor version available for the instance's engine and major version, derived from the versions API and named as it names versions (e.g. `8.0.32`); null when it cannot be derived. An upgrade of the instance installs it: `hwrds_db_minor_upgrade` plans the same string as `target_version` (unless the instance runs a version newer than any listed, when the target is unknown).",
        ),
        Attribute::computed(
            "upgrade_available",
            Type::Bool,
            "True when a minor upgrade can be submitted now and would move the instance to a newer version: `upgrade_blockers` is empty and the instance is not `up_to_date`. It turns false once the instance is upgraded, so a fleet's `for_each` filtered on it drops every upgraded instance (see the fleet upgrades guide).",
        ),
        Attribute::computed(
            "upgrade_blockers",
            Type::list(Type::String),
            "Why the upgrade API would refuse an upgrade of the instance now, one reason each (the errors of `hwrds_db_minor_upgrade`'s plan): not `ACTIVE` (frozen, storage full, backing up, ...), an abnormal PostgreSQL node, PostgreSQL 11 below 11.2, an engine without minor upgrades; and a read replica (left to its primary; the resource's plan only warns). Empty when nothing blocks an upgrade. Running the latest minor version is not a blocker: see `up_to_date`.",
        ),
        Attribute::computed(
            "up_to_date",
            Type::Bool,
            "True when the instance runs the latest minor version (`complete_version` is `latest_version`): an upgrade would install nothing, and `hwrds_db_minor_upgrade` records it as `UpToDate` without submitting. False when it runs an older one, and when it cannot be told (`latest_version` null, or a version newer than any listed).",
        ),
    ]
}

/// The values of [`instance_attributes`] for an instance.
pub fn instance_values(
    facts: &InstanceFacts,
    scheduled: &[ScheduledTask],
) -> Vec<(&'static str, Value)> {
    let blockers = upgrade_blockers(facts);
    let nodes = facts
        .nodes
        .iter()
        .map(|n| {
            Value::object([
                ("id", Value::string(&n.id)),
                ("name", Value::string(&n.name)),
                ("role", Value::string(&n.role)),
                ("status", Value::string(&n.status)),
                ("availability_zone", Value::string(&n.availability_zone)),
            ])
        })
        .collect();
    vec![
        ("engine", Value::string(&facts.engine)),
        ("version", Value::string(&facts.version)),
        (
            "complete_version",
            Value::opt_string(facts.complete_version.clone()),
        ),
        ("status", Value::string(&facts.status)),
        ("type", Value::string(&facts.instance_type)),
        (
            "maintenance_window",
            Value::opt_string(facts.maintenance_window.clone()),
        ),
        (
            "enterprise_project_id",
            Value::opt_string(facts.enterprise_project_id.clone()),
        ),
        ("scheduled_upgrade", scheduled_upgrade(scheduled, &facts.id)),
        ("nodes", Value::List(nodes)),
        (
            "latest_version",
            Value::opt_string(facts.latest_version.clone()),
        ),
        (
            "upgrade_available",
            Value::Bool(blockers.is_empty() && facts.on_latest() == Some(false)),
        ),
        (
            "upgrade_blockers",
            Value::List(blockers.into_iter().map(Value::String).collect()),
        ),
        ("up_to_date", Value::Bool(facts.on_latest() == Some(true))),
    ]
}

#[async_trait::async_trait]
impl DataSource for InstanceDataSource {
    fn type_name(&self) -> &'static str {
        "hwrds_db_instance"
    }

    fn schema(&self) -> Schema {
        let mut block = Block::new("One RDS instance, by `id` or exact `name`, with its versions and whether a minor upgrade is available.")
            .attribute(Attribute::optional_computed("id", Type::String, "Instance id. Set `id` or `name`."))
            .attribute(Attribute::optional_computed("name", Type::String, "Exact instance name. Set `id` or `name`."));
        for attribute in instance_attributes() {
            block = block.attribute(attribute);
        }
        Schema { version: 0, block }
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        let set = |name| config.get_attr(name).is_some_and(|v| !v.is_null());
        match (set("id"), set("name")) {
            (true, true) => Diagnostics::from(Diagnostic::error_at(
                AttributePath::attribute("name"),
                "Conflicting arguments",
                "Set either id or name, not both.",
            )),
            (false, false) => Diagnostics::from(Diagnostic::error_at(
                AttributePath::root(),
                "Missing argument",
                "Set id or name to choose the instance.",
            )),
            _ => Diagnostics::default(),
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value) -> StateResult {
        let client = match self.provider.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let call = CallCtx::new(ctx.cancel.clone());
        let id = config
            .get_attr("id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let name = config
            .get_attr("name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (attribute, wanted) = match (&id, &name) {
            (Some(id), _) => ("id", id.clone()),
            (None, Some(name)) => ("name", name.clone()),
            (None, None) => return StateResult::error(self.validate_config(config).await),
        };
        let found = match &id {
            Some(id) => client
                .instance(&call, id)
                .await
                .map(|i| i.into_iter().collect::<Vec<_>>()),
            None => client
                .instances(
                    &call,
                    &InstanceFilter {
                        name: name.clone(),
                        ..Default::default()
                    },
                )
                .await
                .map(|all| {
                    all.into_iter()
                        .filter(|i| Some(&i.name) == name.as_ref())
                        .collect()
                }),
        };
        let mut matches = match found {
            Ok(m) => m,
            Err(e) => {
                return StateResult::error(Diagnostics::from(project_lookup::or_diagnostic(
                    &e,
                    || {
                        Diagnostic::error_at(
                            AttributePath::attribute(attribute),
                            "Cannot read the RDS instance",
                            format!("Looking up instance {attribute} {wanted:?} failed: {e}"),
                        )
                    },
                )));
            }
        };
        if matches.len() != 1 {
            let detail = if matches.is_empty() {
                format!("No RDS instance has {attribute} {wanted:?} in this project and region.")
            } else {
                format!(
                    "{} RDS instances are named {wanted:?}; use id instead.",
                    matches.len()
                )
            };
            return StateResult::error(Diagnostics::from(Diagnostic::error_at(
                AttributePath::attribute(attribute),
                "RDS instance not found",
                detail,
            )));
        }
        let instance = matches.remove(0);
        let facts = match self.provider.catalog.facts(client, &call, &instance).await {
            Ok(f) => f,
            Err(e) => {
                return StateResult::error(Diagnostics::from(Diagnostic::error(
                    "Cannot read the available versions",
                    format!("Listing {} versions failed: {e}", instance.datastore.engine),
                )));
            }
        };
        let (scheduled, diagnostics) = scheduled_tasks(&self.provider, client, &call).await;
        let mut state = Value::null_object(&self.schema().block.value_type());
        state.set_attr("id", Value::string(&instance.id));
        state.set_attr("name", Value::string(&instance.name));
        for (name, value) in instance_values(&facts, &scheduled) {
            state.set_attr(name, value);
        }
        StateResult {
            state: Some(state),
            private: Vec::new(),
            diagnostics,
        }
    }
}
