//! The state of `hwrds_db_minor_upgrade` as a typed model, converted to and from the
//! `cty` object Terraform stores in one place: create, read, update, import, the move
//! from the official provider and the list resource's import state all build it here.
//!
//! Reading treats an unknown attribute as absent (a planned value known after apply);
//! writing sets every attribute the model owns, null where it is `None`. The plan keeps
//! working on the raw value, where unknowns matter. `triggers` and `timeouts`, which the
//! provider never changes, stay as they were.

use crate::cty::Value;
use crate::upgrade::job::{JobSnapshot, JobStatus};

use super::db_minor_upgrade::schema;
use super::schedule::{MAINTENANCE_WINDOW, SCHEDULED_END, SCHEDULED_START};

/// Every attribute of the resource but `triggers` and `timeouts`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeState {
    /// `<instance_id>/<job_id>`.
    pub id: Option<String>,
    pub instance_id: String,
    pub is_delayed: bool,
    pub second_switch: bool,
    pub wait_for_completion: Option<bool>,
    /// None until a job is known (a state moved from the official provider).
    pub job_id: Option<String>,
    pub status: Option<JobStatus>,
    pub progress: Option<String>,
    pub fail_reason: Option<String>,
    pub engine: Option<String>,
    pub instance_type: Option<String>,
    pub version_before: Option<String>,
    /// The minor version the upgrade installs, as the plan showed it.
    pub target_version: Option<String>,
    pub version_after: Option<String>,
    pub submitted_at: Option<String>,
    pub finished_at: Option<String>,
    pub maintenance_window: Option<String>,
    pub scheduled_start: Option<String>,
    pub scheduled_end: Option<String>,
    /// The value read, for what the model does not own.
    rest: Value,
}

impl UpgradeState {
    /// A new state of the upgrade of `instance_id`, with no job yet and the arguments'
    /// defaults (an import's, a listing's).
    pub fn new(instance_id: &str) -> Self {
        let mut state = Self::from_value(&Value::null_object(&schema().block.value_type()));
        state.instance_id = instance_id.to_string();
        state.wait_for_completion = Some(true);
        state
    }

    /// Records the job this resource tracks, and the id naming both.
    pub fn set_job(&mut self, job_id: &str) {
        self.id = Some(format!("{}/{job_id}", self.instance_id));
        self.job_id = Some(job_id.to_string());
    }

    /// The job id, empty when none is known.
    pub fn job_id(&self) -> &str {
        self.job_id.as_deref().unwrap_or_default()
    }

    /// The model of a state, planned or stored value (unknown attributes read as absent).
    pub fn from_value(value: &Value) -> Self {
        let text = |name: &str| value.attr_string(name);
        UpgradeState {
            id: text("id"),
            instance_id: text("instance_id").unwrap_or_default(),
            is_delayed: value.attr_bool("is_delayed").unwrap_or(false),
            second_switch: value.attr_bool("second_switch").unwrap_or(true),
            wait_for_completion: value.attr_bool("wait_for_completion"),
            job_id: text("job_id"),
            status: text("status").map(|s| JobStatus::parse(&s)),
            progress: text("progress"),
            fail_reason: text("fail_reason"),
            engine: text("engine"),
            instance_type: text("instance_type"),
            version_before: text("version_before"),
            target_version: text("target_version"),
            version_after: text("version_after"),
            submitted_at: text("submitted_at"),
            finished_at: text("finished_at"),
            maintenance_window: text(MAINTENANCE_WINDOW),
            scheduled_start: text(SCHEDULED_START),
            scheduled_end: text(SCHEDULED_END),
            rest: value.clone(),
        }
    }

    /// The value Terraform stores.
    pub fn to_value(&self) -> Value {
        let mut value = self.rest.clone();
        let texts = [
            ("id", self.id.clone()),
            ("instance_id", Some(self.instance_id.clone())),
            ("job_id", self.job_id.clone()),
            ("status", self.status.as_ref().map(JobStatus::to_string)),
            ("progress", self.progress.clone()),
            ("fail_reason", self.fail_reason.clone()),
            ("engine", self.engine.clone()),
            ("instance_type", self.instance_type.clone()),
            ("version_before", self.version_before.clone()),
            ("target_version", self.target_version.clone()),
            ("version_after", self.version_after.clone()),
            ("submitted_at", self.submitted_at.clone()),
            ("finished_at", self.finished_at.clone()),
            (MAINTENANCE_WINDOW, self.maintenance_window.clone()),
            (SCHEDULED_START, self.scheduled_start.clone()),
            (SCHEDULED_END, self.scheduled_end.clone()),
        ];
        for (name, text) in texts {
            value.set_attr(name, Value::opt_string(text));
        }
        value.set_attr("is_delayed", Value::Bool(self.is_delayed));
        value.set_attr("second_switch", Value::Bool(self.second_switch));
        value.set_attr(
            "wait_for_completion",
            self.wait_for_completion.map_or(Value::Null, Value::Bool),
        );
        value
    }

    /// The attributes that follow the job; unknown in a plan that resumes tracking.
    pub const TRACKING: [&'static str; 5] = [
        "status",
        "progress",
        "fail_reason",
        "version_after",
        "finished_at",
    ];

    /// Takes the attributes that follow the job ([`Self::TRACKING`]) from `prior`.
    pub fn track_as(&mut self, prior: &UpgradeState) {
        self.status = prior.status.clone();
        self.progress = prior.progress.clone();
        self.fail_reason = prior.fail_reason.clone();
        self.version_after = prior.version_after.clone();
        self.finished_at = prior.finished_at.clone();
    }

    /// Whether the job's outcome is recorded: completed or failed.
    pub fn is_finished(&self) -> bool {
        self.status.as_ref().is_some_and(JobStatus::is_finished)
    }

    /// Records a job snapshot: its status, progress (100% once completed), failure, end
    /// (now, when a finished job gives none) and creation when none is recorded yet.
    pub fn record(&mut self, snap: &JobSnapshot) {
        self.status = Some(snap.status.clone());
        self.progress = match snap.status {
            JobStatus::Completed => Some("100%".to_string()),
            _ => snap.progress.clone(),
        };
        self.fail_reason = snap.fail_reason.clone();
        self.finished_at = snap.is_finished().then(|| {
            snap.ended
                .clone()
                .unwrap_or_else(|| crate::rds::models::rfc3339(time::OffsetDateTime::now_utc()))
        });
        if self.submitted_at.is_none() {
            self.submitted_at = snap.created.clone();
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
        state.status = Some(JobStatus::Scheduled);
        state.scheduled_start = Some("2026-01-01T22:00:00Z".into());
        let value = state.to_value();
        assert_eq!(value.attr_string("id").as_deref(), Some("i-1/j-1"));
        assert_eq!(value.attr_string("status").as_deref(), Some("Scheduled"));
        assert_eq!(value.attr_bool("second_switch"), Some(true));
        assert!(value.get_attr("version_after").unwrap().is_null());
        assert_eq!(UpgradeState::from_value(&value).to_value(), value);
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
