//! The `hwrds_db_minor_upgrade` list resource (`terraform query`, Terraform 1.14+): the
//! project's instances with a minor upgrade job in the task center — started by this
//! provider, in the console or by any other tool —, each once, with its most recent
//! upgrade that the filters take: its identity (the instance's), a display name
//! (instance, engine, status, when, the version the instance runs now) and, when asked,
//! the state an import would give, so `terraform query -generate-config-out=FILE` writes
//! `import` blocks and resources that adopt them without submitting anything.
//!
//! Filters: `instance_id`, `status` (`Running`, `Completed`, `Failed`) and a creation
//! window (`created_after`, `created_before`, RFC 3339). The task center is read 50
//! entries a page, newest first, and no further page is asked for once `limit` upgrades
//! were sent. Not listed: delayed upgrades still waiting for their maintenance window,
//! which the task center does not show until the window opens.

use std::collections::HashSet;
use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ProviderState;
use super::db_minor_upgrade::model::{Field, UpgradeState};
use super::findings;
use super::project_lookup;
use super::upgrade_identity;
use crate::cty::{AttributePath, Type, Value};
use crate::rds::models::{Instance, Task};
use crate::rds::{CallCtx, TaskFilter};
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{
    Ctx, Diagnostic, Diagnostics, ListItem, ListRequest, ListResource, ListSink,
};
use crate::upgrade::job::{self, JobSnapshot, JobStatus};

/// Entries asked for per task-center page (the API's maximum).
const PAGE: usize = 50;

pub struct UpgradeList {
    pub(super) provider: Arc<ProviderState>,
}

pub fn schema() -> Schema {
    let block = Block::new(
        "Finds the project's minor version upgrade jobs in the task center (whoever started them), for `terraform query`; `-generate-config-out` writes configuration that imports them.",
    )
    .attribute(Attribute::optional("instance_id", Type::String, "Only the upgrades of this instance."))
    .attribute(Attribute::optional("status", Type::String, "Only upgrades with this status: `Running`, `Completed` or `Failed`."))
    .attribute(Attribute::optional("created_after", Type::String, "Only upgrades created at or after this time (RFC 3339)."))
    .attribute(Attribute::optional("created_before", Type::String, "Only upgrades created at or before this time (RFC 3339)."));
    Schema { version: 0, block }
}

/// The listing's filters, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    pub instance_id: Option<String>,
    pub status: Option<String>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
}

impl Filters {
    /// Reads and checks the `config` block; diagnostics point at the attribute.
    pub fn from_config(config: &Value) -> Result<Filters, Diagnostics> {
        let mut diags = Diagnostics::default();
        let instance_id = config.attr_string("instance_id");
        if let Some(d) = instance_id
            .as_deref()
            .and_then(findings::validate_instance_id)
        {
            diags.push(d);
        }
        let status = config.attr_string("status");
        let in_task_center = |s: &&str| JobStatus::TASK_CENTER.iter().any(|k| k.as_str() == *s);
        if let Some(s) = status.as_deref().filter(|s| !in_task_center(s)) {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute("status"),
                "Invalid status",
                format!(
                    "{s:?} is not a status of an upgrade in the task center: use Running, Completed or Failed \
                     (delayed upgrades waiting for their maintenance window are not in the task center)."
                ),
            ));
        }
        let mut time = |name: &str| {
            let text = config.attr_string(name)?;
            match OffsetDateTime::parse(&text, &Rfc3339) {
                Ok(t) => Some(t),
                Err(e) => {
                    diags.push(Diagnostic::error_at(
                        AttributePath::attribute(name),
                        "Invalid time",
                        format!("{text:?} is not an RFC 3339 time like 2026-05-01T00:00:00Z: {e}."),
                    ));
                    None
                }
            }
        };
        let created_after = time("created_after");
        let created_before = time("created_before");
        if let (Some(after), Some(before)) = (created_after, created_before)
            && after > before
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute("created_before"),
                "Empty time window",
                "created_before is earlier than created_after: no upgrade can match.",
            ));
        }
        if diags.has_errors() {
            return Err(diags);
        }
        Ok(Filters {
            instance_id,
            status,
            created_after,
            created_before,
        })
    }

    /// The task-center query: its time window takes both ends, so an open end is the
    /// UNIX epoch or `now`.
    pub fn task_filter(&self, now: OffsetDateTime) -> TaskFilter {
        let window = (self.created_after.is_some() || self.created_before.is_some()).then(|| {
            (
                self.created_after.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                self.created_before.unwrap_or(now),
            )
        });
        TaskFilter {
            instance_id: self.instance_id.clone(),
            status: self.status.clone(),
            name: None,
            created_between: window,
            id: None,
        }
    }

    /// Whether a task-center entry is an upgrade this listing shows (the API filters
    /// too; this also drops the other kinds of tasks it lists).
    pub fn matches(&self, task: &Task) -> bool {
        job::is_upgrade(&task.name)
            && self
                .instance_id
                .as_ref()
                .is_none_or(|i| *i == task.instance_id)
            && self.status.as_ref().is_none_or(|s| *s == task.status)
    }
}

/// The display name: instance, engine, status, when, and the version it runs now.
pub fn display_name(task: &Task, instance: Option<&Instance>) -> String {
    let name = Some(task.instance_name.as_str())
        .filter(|n| !n.is_empty())
        .or(instance.map(|i| i.name.as_str()))
        .filter(|n| !n.is_empty())
        .unwrap_or(task.instance_id.as_str());
    let snap = JobSnapshot::from_task(task);
    let engine = instance
        .map(|i| format!("{} ", i.datastore.engine))
        .unwrap_or_default();
    let when = match (&snap.created, &snap.ended) {
        (Some(created), Some(ended)) => format!("{created} to {ended}"),
        (Some(created), None) => format!("since {created}"),
        _ => "at an unknown time".to_string(),
    };
    let now = instance
        .and_then(|i| i.datastore.complete_version.as_deref())
        .map(|v| format!(", instance now on {v}"))
        .unwrap_or_default();
    format!("{name}: {engine}minor upgrade {}, {when}{now}", task.status)
}

/// The state an import of this job followed by a refresh gives. `latest`: the job is
/// the instance's most recent upgrade, so a completed one left it on its current version.
pub fn imported_state(task: &Task, instance: Option<&Instance>, latest: bool) -> Value {
    let snap = JobSnapshot::from_task(task);
    let completed = snap.status == JobStatus::Completed;
    let mut state = UpgradeState::new(&task.instance_id);
    state.set_job(&task.id);
    state.progress = if completed {
        "100%".into()
    } else {
        snap.progress.clone().into()
    };
    state.fail_reason = snap.fail_reason.clone().into();
    if let Some(instance) = instance {
        state.set_name(&instance.name);
        state.engine = instance.datastore.engine.as_str().into();
        state.instance_type = instance.instance_type.as_str().into();
        if latest && completed {
            state.version_after = instance.datastore.complete_version.clone().into();
        }
    }
    state.submitted_at = snap.created.clone().into();
    state.finished_at = snap.ended.clone().filter(|_| snap.is_finished()).into();
    state.status = Field::Known(snap.status);
    state.to_value()
}

#[async_trait::async_trait]
impl ListResource for UpgradeList {
    fn type_name(&self) -> &'static str {
        "hwrds_db_minor_upgrade"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        Filters::from_config(config).err().unwrap_or_default()
    }

    async fn list(
        &self,
        ctx: &Ctx,
        config: &Value,
        request: ListRequest,
        sink: &ListSink,
    ) -> Diagnostics {
        let filters = match Filters::from_config(config) {
            Ok(f) => f,
            Err(d) => return d,
        };
        let client = match self.provider.client() {
            Ok(c) => c,
            Err(d) => return d,
        };
        let call = CallCtx::new(ctx.cancel.clone());
        let instances = match self.provider.catalog.all(client, &call).await {
            Ok(all) => all,
            Err(e) => return error("Cannot list the project's instances", &e),
        };
        let filter = filters.task_filter(OffsetDateTime::now_utc());
        let mut seen = HashSet::new();
        let mut offset = 0;
        while !sink.is_full() {
            let (tasks, total) = match client.tasks_page(&call, &filter, offset, PAGE).await {
                Ok(page) => page,
                Err(e) => return error("Cannot read the task center", &e),
            };
            let got = tasks.len();
            offset += got;
            tracing::debug!(offset, total, got, "read a task-center page");
            for task in tasks.iter().filter(|t| filters.matches(t)) {
                // Newest first: the first upgrade seen of an instance is its latest, and
                // the only one listed (the identity is the instance's).
                if !seen.insert(task.instance_id.clone()) {
                    continue;
                }
                let instance = instances.iter().find(|i| i.id == task.instance_id);
                let item = ListItem {
                    identity: upgrade_identity::value(&task.instance_id),
                    display_name: display_name(task, instance),
                    state: request
                        .include_resource_object
                        .then(|| imported_state(task, instance, true)),
                };
                if !sink.send(item) {
                    return Diagnostics::default();
                }
            }
            if got == 0 || offset as u64 >= total {
                break;
            }
        }
        Diagnostics::default()
    }
}

fn error(summary: &str, e: &crate::rds::RdsError) -> Diagnostics {
    Diagnostics::from(project_lookup::or_diagnostic(e, || {
        Diagnostic::error(summary, e.to_string())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Value {
        let mut v = Value::null_object(&schema().block.value_type());
        for (k, val) in pairs {
            v.set_attr(k, Value::string(*val));
        }
        v
    }

    fn task(id: &str, instance: &str, status: &str) -> Task {
        Task {
            id: id.into(),
            name: "UpgradeMinorVersion".into(),
            instance_id: instance.into(),
            instance_name: "orders".into(),
            status: status.into(),
            create_time: Some("2026-05-01T10:00:00+0000".into()),
            end_time: (status != JobStatus::Running.as_str())
                .then(|| "2026-05-01T10:20:00+0000".into()),
            ..Default::default()
        }
    }

    #[test]
    fn filters_are_checked_at_their_attribute() {
        let bad = Filters::from_config(&config(&[
            ("status", "Scheduled"),
            ("created_after", "yesterday"),
            ("instance_id", "a b"),
        ]));
        let d = bad.expect_err("refused");
        let paths: Vec<_> = d.iter().filter_map(|d| d.path.clone()).collect();
        for name in ["status", "created_after", "instance_id"] {
            assert!(
                paths.contains(&AttributePath::attribute(name)),
                "{name}: {d:?}"
            );
        }
        let window = Filters::from_config(&config(&[
            ("created_after", "2026-05-02T00:00:00Z"),
            ("created_before", "2026-05-01T00:00:00Z"),
        ]));
        assert!(window.is_err(), "an empty window is refused");
    }

    #[test]
    fn an_open_window_end_is_the_epoch_or_now() {
        let now = OffsetDateTime::now_utc();
        let f = Filters::from_config(&config(&[("created_after", "2026-05-01T00:00:00Z")]))
            .expect("valid");
        let (from, to) = f.task_filter(now).created_between.expect("a window");
        assert_eq!(from.unix_timestamp(), 1_777_593_600);
        assert_eq!(to, now);
        let f = Filters::from_config(&config(&[("created_before", "2026-05-01T00:00:00+08:00")]))
            .expect("valid");
        let (from, to) = f.task_filter(now).created_between.expect("a window");
        assert_eq!(from, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(to.unix_timestamp(), 1_777_564_800);
        assert_eq!(Filters::default().task_filter(now).created_between, None);
    }

    #[test]
    fn only_matching_upgrades_are_listed() {
        let f = Filters {
            instance_id: Some("i-1".into()),
            status: Some("Completed".into()),
            ..Default::default()
        };
        assert!(f.matches(&task("j", "i-1", JobStatus::Completed.as_str())));
        assert!(!f.matches(&task("j", "i-2", JobStatus::Completed.as_str())));
        assert!(!f.matches(&task("j", "i-1", JobStatus::Failed.as_str())));
        let mut backup = task("j", "i-1", JobStatus::Completed.as_str());
        backup.name = "CreateBackup".into();
        assert!(!f.matches(&backup));
    }

    #[test]
    fn the_state_is_what_an_import_gives() {
        let state = imported_state(
            &task("j-1", "i-1", JobStatus::Completed.as_str()),
            None,
            true,
        );
        assert_eq!(state.attr_string("id").as_deref(), Some("i-1/j-1"));
        assert_eq!(state.attr_string("progress").as_deref(), Some("100%"));
        assert_eq!(
            state.attr_string("finished_at").as_deref(),
            Some("2026-05-01T10:20:00Z")
        );
        assert_eq!(
            upgrade_identity::of_state(&state),
            Some(upgrade_identity::value("i-1"))
        );
        assert!(state.is_wholly_known());
        let name = display_name(&task("j-1", "i-1", JobStatus::Running.as_str()), None);
        assert_eq!(
            name,
            "orders: minor upgrade Running, since 2026-05-01T10:00:00Z"
        );
    }
}
