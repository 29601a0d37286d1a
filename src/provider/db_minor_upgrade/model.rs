//! The model of `hwrds_db_minor_upgrade`: the names of its attributes, and a plan or a
//! state of it as typed fields, converted to and from the `cty` object Terraform sends
//! and stores in this one place. Create, read, update, import, the move from the official
//! provider and the list resource's import state all build it here; the plan works on it
//! too, since a [`Field`] can say "unknown" (known after apply).
//!
//! A leaf: it knows the domain's job status and upgrade request, and nothing else of
//! the resource. Writing sets every attribute the model owns (null where a field is null,
//! unknown where it is unknown); `triggers` and `timeouts`, which the provider never
//! changes, stay as read.

use std::collections::BTreeMap;

use crate::cty::Value;
use crate::rds::UpgradeRequest;
use crate::upgrade::job::{JobSnapshot, JobStatus};

/// The resource's attribute names.
pub mod attr {
    pub const ID: &str = "id";
    pub const INSTANCE_ID: &str = "instance_id";
    pub const INSTANCE_NAME: &str = "instance_name";
    pub const IS_DELAYED: &str = "is_delayed";
    pub const SECOND_SWITCH: &str = "second_switch";
    pub const TRIGGERS: &str = "triggers";
    pub const WAIT_FOR_COMPLETION: &str = "wait_for_completion";
    pub const JOB_ID: &str = "job_id";
    pub const STATUS: &str = "status";
    pub const PROGRESS: &str = "progress";
    pub const FAIL_REASON: &str = "fail_reason";
    pub const ENGINE: &str = "engine";
    pub const INSTANCE_TYPE: &str = "instance_type";
    pub const VERSION_BEFORE: &str = "version_before";
    pub const TARGET_VERSION: &str = "target_version";
    pub const VERSION_AFTER: &str = "version_after";
    pub const SUBMITTED_AT: &str = "submitted_at";
    pub const FINISHED_AT: &str = "finished_at";
    pub const MAINTENANCE_WINDOW: &str = "maintenance_window";
    pub const SCHEDULED_START: &str = "scheduled_start";
    pub const SCHEDULED_END: &str = "scheduled_end";
    pub const IMPACT: &str = "impact";
    /// The `timeouts` block.
    pub const TIMEOUTS: &str = "timeouts";
}

/// One attribute's value: known, null, or unknown until the apply (in a plan only; a
/// stored state is wholly known).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    Known(T),
    #[default]
    Null,
    Unknown,
}

impl<T> Field<T> {
    /// The value when it is known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Field::Known(v) => Some(v),
            _ => None,
        }
    }

    /// Whether the plan leaves it to the apply.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Field::Unknown)
    }

    /// Whether it is known and `v`.
    pub fn is(&self, v: &T) -> bool
    where
        T: PartialEq,
    {
        self.known() == Some(v)
    }

    /// Sets it to `value` if the plan left it unknown; a planned value stays.
    pub fn fill(&mut self, value: impl Into<Field<T>>) {
        if self.is_unknown() {
            *self = value.into();
        }
    }
}

impl Field<String> {
    /// The text when it is known.
    pub fn as_deref(&self) -> Option<&str> {
        self.known().map(String::as_str)
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Null, Field::Known)
    }
}

impl From<&str> for Field<String> {
    fn from(v: &str) -> Self {
        Field::Known(v.to_string())
    }
}

impl From<String> for Field<String> {
    fn from(v: String) -> Self {
        Field::Known(v)
    }
}

/// A plan or a state of the resource: every attribute but `triggers` and `timeouts`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeState {
    /// `<instance_id>/<job_id>`; the instance id alone for a record `UpToDate`, which
    /// has no job.
    pub id: Field<String>,
    pub instance_id: Field<String>,
    /// The instance's name as the API shows it (null in states of earlier versions until
    /// a refresh fills it).
    pub instance_name: Field<String>,
    pub is_delayed: Field<bool>,
    pub second_switch: Field<bool>,
    pub wait_for_completion: Field<bool>,
    /// Null until a job is known (a state moved from the official provider), and for
    /// good in a record `UpToDate` (nothing was submitted).
    pub job_id: Field<String>,
    pub status: Field<JobStatus>,
    pub progress: Field<String>,
    pub fail_reason: Field<String>,
    pub engine: Field<String>,
    pub instance_type: Field<String>,
    pub version_before: Field<String>,
    /// The minor version the upgrade installs, as the plan showed it.
    pub target_version: Field<String>,
    pub version_after: Field<String>,
    pub submitted_at: Field<String>,
    pub finished_at: Field<String>,
    pub maintenance_window: Field<String>,
    pub scheduled_start: Field<String>,
    pub scheduled_end: Field<String>,
    /// What the upgrade does to the service, and when ([`super::impact`]); null in states
    /// of earlier versions until a refresh fills it.
    pub impact: Field<String>,
    /// The value read, for what the model does not own.
    rest: Value,
}

impl UpgradeState {
    /// A new state of the upgrade of `instance_id`, with no job yet and the arguments'
    /// defaults (an import's, a listing's).
    pub fn new(instance_id: &str) -> Self {
        let rest = Value::Object(BTreeMap::from([
            (attr::TRIGGERS.to_string(), Value::Null),
            (attr::TIMEOUTS.to_string(), Value::Null),
        ]));
        let mut state = Self::from_value(&rest);
        state.instance_id = instance_id.into();
        state.is_delayed = Field::Known(false);
        state.second_switch = Field::Known(true);
        state.wait_for_completion = Field::Known(true);
        state
    }

    /// The instance id; empty while the plan does not know it.
    pub fn instance_id(&self) -> &str {
        self.instance_id.as_deref().unwrap_or_default()
    }

    /// How diagnostics name the instance: its name when known, else its id.
    pub fn who(&self) -> &str {
        crate::provider::named::who(self.instance_name.as_deref(), self.instance_id())
    }

    /// Records the instance's name as the API shows it (null when it has none).
    pub fn set_name(&mut self, name: &str) {
        self.instance_name = Some(name.to_string()).filter(|n| !n.is_empty()).into();
    }

    /// Records the job this resource tracks, and the id naming both.
    pub fn set_job(&mut self, job_id: &str) {
        self.id = format!("{}/{job_id}", self.instance_id()).into();
        self.job_id = job_id.into();
    }

    /// The job id, empty when none is known.
    pub fn job_id(&self) -> &str {
        self.job_id.as_deref().unwrap_or_default()
    }

    /// `triggers` as configured (the model does not own it: it is never changed).
    pub fn triggers(&self) -> Option<&Value> {
        self.rest.get_attr(attr::TRIGGERS)
    }

    /// The upgrade request the arguments ask for, with their defaults.
    pub fn request(&self) -> UpgradeRequest {
        UpgradeRequest {
            is_delayed: self.is_delayed.is(&true),
            second_switch: !self.second_switch.is(&false),
        }
    }

    /// Whether the configuration asks the apply to wait for the job.
    pub fn waits(&self) -> bool {
        self.wait_for_completion.is(&true)
    }

    /// The model of a plan or a stored state.
    pub fn from_value(value: &Value) -> Self {
        let field = |name: &str| -> Field<Value> {
            match value.get_attr(name) {
                Some(Value::Unknown) => Field::Unknown,
                None | Some(Value::Null) => Field::Null,
                Some(v) => Field::Known(v.clone()),
            }
        };
        let text = |name: &str| match field(name) {
            Field::Known(Value::String(s)) => Field::Known(s),
            Field::Unknown => Field::Unknown,
            _ => Field::Null,
        };
        let flag = |name: &str| match field(name) {
            Field::Known(Value::Bool(b)) => Field::Known(b),
            Field::Unknown => Field::Unknown,
            _ => Field::Null,
        };
        let status = match text(attr::STATUS) {
            Field::Known(s) => Field::Known(JobStatus::parse(&s)),
            Field::Unknown => Field::Unknown,
            Field::Null => Field::Null,
        };
        UpgradeState {
            id: text(attr::ID),
            instance_id: text(attr::INSTANCE_ID),
            instance_name: text(attr::INSTANCE_NAME),
            is_delayed: flag(attr::IS_DELAYED),
            second_switch: flag(attr::SECOND_SWITCH),
            wait_for_completion: flag(attr::WAIT_FOR_COMPLETION),
            job_id: text(attr::JOB_ID),
            status,
            progress: text(attr::PROGRESS),
            fail_reason: text(attr::FAIL_REASON),
            engine: text(attr::ENGINE),
            instance_type: text(attr::INSTANCE_TYPE),
            version_before: text(attr::VERSION_BEFORE),
            target_version: text(attr::TARGET_VERSION),
            version_after: text(attr::VERSION_AFTER),
            submitted_at: text(attr::SUBMITTED_AT),
            finished_at: text(attr::FINISHED_AT),
            maintenance_window: text(attr::MAINTENANCE_WINDOW),
            scheduled_start: text(attr::SCHEDULED_START),
            scheduled_end: text(attr::SCHEDULED_END),
            impact: text(attr::IMPACT),
            rest: value.clone(),
        }
    }

    /// The value Terraform plans or stores.
    pub fn to_value(&self) -> Value {
        fn cty<T>(field: &Field<T>, known: impl Fn(&T) -> Value) -> Value {
            match field {
                Field::Known(v) => known(v),
                Field::Null => Value::Null,
                Field::Unknown => Value::Unknown,
            }
        }
        let text = |field: &Field<String>| cty(field, |s| Value::string(s));
        let flag = |field: &Field<bool>| cty(field, |b| Value::Bool(*b));
        let mut value = self.rest.clone();
        let attributes = [
            (attr::ID, text(&self.id)),
            (attr::INSTANCE_ID, text(&self.instance_id)),
            (attr::INSTANCE_NAME, text(&self.instance_name)),
            (attr::IS_DELAYED, flag(&self.is_delayed)),
            (attr::SECOND_SWITCH, flag(&self.second_switch)),
            (attr::WAIT_FOR_COMPLETION, flag(&self.wait_for_completion)),
            (attr::JOB_ID, text(&self.job_id)),
            (
                attr::STATUS,
                cty(&self.status, |s| Value::string(s.to_string())),
            ),
            (attr::PROGRESS, text(&self.progress)),
            (attr::FAIL_REASON, text(&self.fail_reason)),
            (attr::ENGINE, text(&self.engine)),
            (attr::INSTANCE_TYPE, text(&self.instance_type)),
            (attr::VERSION_BEFORE, text(&self.version_before)),
            (attr::TARGET_VERSION, text(&self.target_version)),
            (attr::VERSION_AFTER, text(&self.version_after)),
            (attr::SUBMITTED_AT, text(&self.submitted_at)),
            (attr::FINISHED_AT, text(&self.finished_at)),
            (attr::MAINTENANCE_WINDOW, text(&self.maintenance_window)),
            (attr::SCHEDULED_START, text(&self.scheduled_start)),
            (attr::SCHEDULED_END, text(&self.scheduled_end)),
            (attr::IMPACT, text(&self.impact)),
        ];
        for (name, v) in attributes {
            value.set_attr(name, v);
        }
        value
    }

    /// Leaves the attributes that follow the job (status, progress, failure, version after
    /// and end) to the apply: a plan that resumes tracking.
    pub fn track_later(&mut self) {
        self.status = Field::Unknown;
        self.progress = Field::Unknown;
        self.fail_reason = Field::Unknown;
        self.version_after = Field::Unknown;
        self.finished_at = Field::Unknown;
    }

    /// Leaves everything about the job to the apply: a plan that upgrades again in place
    /// (a new job, its id, status, times and window). What the plan tells of the new
    /// upgrade (versions, name, impact, maintenance window) is set by its checks.
    pub fn begin_again(&mut self) {
        self.id = Field::Unknown;
        self.job_id = Field::Unknown;
        self.submitted_at = Field::Unknown;
        self.scheduled_start = Field::Unknown;
        self.scheduled_end = Field::Unknown;
        self.track_later();
    }

    /// Whether this plan asks for another upgrade than the `prior` state records, in
    /// place: `triggers` changed (for example a newer minor version), the recorded job
    /// failed (a new attempt), or the upgrade was skipped (checked again).
    pub fn upgrades_again(&self, prior: &UpgradeState) -> bool {
        prior.status.is(&JobStatus::Failed)
            || prior.status.is(&JobStatus::Skipped)
            || prior.triggers() != self.triggers()
    }

    /// Records an upgrade skipped (`on_blocked = "skip"`, the instance blocked): status
    /// `Skipped`, no job (`job_id` null, `id` the instance id), nothing about a job.
    pub fn skip(&mut self) {
        self.id = self.instance_id().to_string().into();
        self.job_id = Field::Null;
        self.status = Field::Known(JobStatus::Skipped);
        self.progress = Field::Null;
        self.fail_reason = Field::Null;
        self.version_after = Field::Null;
        self.submitted_at = Field::Null;
        self.finished_at = Field::Null;
        self.scheduled_start = Field::Null;
        self.scheduled_end = Field::Null;
    }

    /// Takes the attributes that follow the job from `prior`.
    pub fn track_as(&mut self, prior: &UpgradeState) {
        self.status = prior.status.clone();
        self.progress = prior.progress.clone();
        self.fail_reason = prior.fail_reason.clone();
        self.version_after = prior.version_after.clone();
        self.finished_at = prior.finished_at.clone();
    }

    /// Whether the job's outcome is recorded: completed or failed.
    pub fn is_finished(&self) -> bool {
        self.status.known().is_some_and(JobStatus::is_finished)
    }

    /// Records a job snapshot: its status, progress (100% once completed), failure, end
    /// (now, when a finished job gives none) and creation when none is recorded yet.
    pub fn record(&mut self, snap: &JobSnapshot) {
        self.status = Field::Known(snap.status.clone());
        self.progress = match snap.status {
            JobStatus::Completed => "100%".into(),
            _ => snap.progress.clone().into(),
        };
        self.fail_reason = snap.fail_reason.clone().into();
        self.finished_at = snap
            .is_finished()
            .then(|| {
                snap.ended
                    .clone()
                    .unwrap_or_else(|| crate::rds::models::rfc3339(time::OffsetDateTime::now_utc()))
            })
            .into();
        if self.submitted_at.known().is_none() {
            self.submitted_at = snap.created.clone().into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_survives_the_round_trip() {
        let mut state = UpgradeState::new("i-1");
        state.set_job("j-1");
        state.status = Field::Known(JobStatus::Scheduled);
        state.scheduled_start = "2026-01-01T22:00:00Z".into();
        let value = state.to_value();
        assert_eq!(value.attr_string("id").as_deref(), Some("i-1/j-1"));
        assert_eq!(value.attr_string("status").as_deref(), Some("Scheduled"));
        assert_eq!(value.attr_bool("second_switch"), Some(true));
        assert!(value.get_attr("version_after").unwrap().is_null());
        assert!(value.get_attr(attr::TRIGGERS).unwrap().is_null());
        assert!(value.is_wholly_known());
        assert_eq!(UpgradeState::from_value(&value).to_value(), value);
    }

    #[test]
    fn a_plan_keeps_what_it_leaves_unknown() {
        let mut planned = UpgradeState::new("i-1").to_value();
        for name in [attr::INSTANCE_ID, attr::IS_DELAYED, attr::VERSION_BEFORE] {
            planned.set_attr(name, Value::Unknown);
        }
        planned.set_attr(attr::TRIGGERS, Value::Unknown);
        let model = UpgradeState::from_value(&planned);
        assert!(model.instance_id.is_unknown() && model.is_delayed.is_unknown());
        assert_eq!(
            model.instance_id(),
            "",
            "no id while the plan does not know it"
        );
        assert!(model.version_before.is_unknown());
        assert!(model.target_version == Field::Null);
        assert_eq!(
            model.to_value(),
            planned,
            "unknowns and what the model does not own stay"
        );
        let mut filled = model.clone();
        filled.version_before.fill(Some("8.0.28".to_string()));
        filled.target_version.fill(Some("8.0.32".to_string()));
        assert_eq!(filled.version_before.as_deref(), Some("8.0.28"));
        assert_eq!(filled.target_version, Field::Null, "a planned null stays");
    }

    #[test]
    fn recording_a_completed_job_fills_progress_and_finish_time() {
        let mut state = UpgradeState::new("i");
        state.set_job("j");
        state.record(&JobSnapshot {
            id: "j".into(),
            status: JobStatus::Completed,
            ended: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        });
        let value = state.to_value();
        assert_eq!(value.attr_string("progress").as_deref(), Some("100%"));
        assert_eq!(
            value.attr_string("finished_at").as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert!(value.is_wholly_known());
    }
}
