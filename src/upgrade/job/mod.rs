//! An upgrade job as the domain knows it: its status ([`JobStatus`]) and what is known of
//! it at one moment ([`JobSnapshot`]), read from the job API, the task center or the
//! scheduled tasks.
//!
//! - [`lookup`]: where the APIs show an instance's upgrades (under way, the latest, one
//!   job by its id, a new delayed job's window).
//! - [`patience`]: looking again for a job that does not show yet, within the caller's
//!   deadline.
//!
//! Following a job to its end is [`super::tracking`]'s; submitting one exactly once is
//! [`super::submission`]'s.

pub mod lookup;
pub mod patience;

use crate::rds::models::{Job, ScheduledTask, Task, parse_time, rfc3339};

pub use lookup::{
    Since, active_or_latest, find_active, latest_upgrade, new_job_times, pending_upgrade,
    running_upgrades, snapshot,
};
pub use patience::UNSEEN_JOB_PATIENCE;

/// The status of an upgrade job, as the job API and the task center spell it (and the
/// resource's `status` attribute shows it). Parsed and printed here only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// A delayed upgrade waiting for the maintenance window.
    Scheduled,
    Running,
    Completed,
    Failed,
    /// No job: the instance already ran the version an upgrade would install, and no
    /// upgrade of it in the last day showed, so nothing was submitted (an upgrade run's
    /// [`crate::upgrade::run::Ran::UpToDate`]). Never an API's status.
    UpToDate,
    /// No job: the instance could not be upgraded when planned (frozen, storage full, an
    /// abnormal node, not ACTIVE, a read replica …) and the resource's `on_blocked` is
    /// `skip`, so nothing was submitted; every plan checks it again. Never an API's status.
    Skipped,
    /// A status hwrds does not know, kept as the API gave it (empty: none read).
    Other(String),
}

impl JobStatus {
    /// The statuses of an upgrade in the task center.
    pub const TASK_CENTER: [JobStatus; 3] =
        [JobStatus::Running, JobStatus::Completed, JobStatus::Failed];

    /// The status a text names; an unknown one is kept as it is.
    pub fn parse(text: &str) -> Self {
        match text {
            "Scheduled" => JobStatus::Scheduled,
            "Running" => JobStatus::Running,
            "Completed" => JobStatus::Completed,
            "Failed" => JobStatus::Failed,
            "UpToDate" => JobStatus::UpToDate,
            "Skipped" => JobStatus::Skipped,
            other => JobStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Scheduled => "Scheduled",
            JobStatus::Running => "Running",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::UpToDate => "UpToDate",
            JobStatus::Skipped => "Skipped",
            JobStatus::Other(text) => text,
        }
    }

    /// Completed or failed, or with no job (up to date, skipped): nothing more will
    /// happen to it.
    pub fn is_finished(&self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed) || self.has_no_job()
    }

    /// A record without a job: up to date, or skipped.
    pub fn has_no_job(&self) -> bool {
        matches!(self, JobStatus::UpToDate | JobStatus::Skipped)
    }

    /// Running, or scheduled to run in the maintenance window.
    pub fn is_under_way(&self) -> bool {
        matches!(self, JobStatus::Running | JobStatus::Scheduled)
    }
}

impl Default for JobStatus {
    /// No status read yet.
    fn default() -> Self {
        JobStatus::Other(String::new())
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about an upgrade job at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSnapshot {
    pub id: String,
    pub status: JobStatus,
    pub progress: Option<String>,
    pub fail_reason: Option<String>,
    /// RFC 3339.
    pub created: Option<String>,
    /// RFC 3339, once finished.
    pub ended: Option<String>,
    /// The instance's complete version right after the job completed, when known.
    pub version_after: Option<String>,
    /// RFC 3339: the window a scheduled (delayed) job is planned to run in, when it was
    /// read from the scheduled tasks.
    pub scheduled_start: Option<String>,
    pub scheduled_end: Option<String>,
}

impl JobSnapshot {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    pub fn from_job(job: &Job) -> Self {
        JobSnapshot {
            id: job.id.clone(),
            status: JobStatus::parse(&job.status),
            progress: job.progress_text().map(str::to_string),
            fail_reason: job.fail_reason.clone().filter(|r| !r.is_empty()),
            created: job.created.as_deref().and_then(to_rfc3339),
            ended: job.ended.as_deref().and_then(to_rfc3339),
            ..Default::default()
        }
    }

    pub fn from_task(task: &Task) -> Self {
        Self::from_job(&task.as_job())
    }

    pub fn from_scheduled(task: &ScheduledTask) -> Self {
        JobSnapshot {
            scheduled_start: task.start_time.as_deref().and_then(to_rfc3339),
            scheduled_end: task.end_time.as_deref().and_then(to_rfc3339),
            ..Self::from_job(&task.as_job())
        }
    }
}

pub(super) fn to_rfc3339(huawei: &str) -> Option<String> {
    parse_time(huawei).map(rfc3339)
}

/// Whether a task-center entry is a minor version upgrade.
pub fn is_upgrade(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("upgrade") && !name.contains("major")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_task_names() {
        assert!(is_upgrade("UpgradeMinorVersion"));
        assert!(is_upgrade("Upgrade DB engine minor version"));
        assert!(!is_upgrade("UpgradeMajorVersion"));
        assert!(!is_upgrade("CreateBackup"));
    }

    #[test]
    fn statuses_parse_and_print_alike() {
        for status in [
            "Scheduled",
            "Running",
            "Completed",
            "Failed",
            "UpToDate",
            "Pending",
            "",
        ] {
            assert_eq!(JobStatus::parse(status).as_str(), status);
        }
        assert_eq!(JobStatus::parse("Completed"), JobStatus::Completed);
        assert!(JobStatus::parse("Failed").is_finished());
        assert!(!JobStatus::parse("Pending").is_finished());
        assert!(JobStatus::Scheduled.is_under_way() && !JobStatus::Completed.is_under_way());
    }

    #[test]
    fn scheduled_statuses_map_to_job_statuses() {
        let task = |status: &str| ScheduledTask {
            id: "j".into(),
            status: status.into(),
            ..Default::default()
        };
        assert_eq!(
            JobSnapshot::from_scheduled(&task("Pending")).status,
            JobStatus::Scheduled
        );
        assert_eq!(
            JobSnapshot::from_scheduled(&task("Running")).status,
            JobStatus::Running
        );
        let canceled = JobSnapshot::from_scheduled(&task("Canceled"));
        assert!(canceled.is_finished());
        assert!(canceled.fail_reason.unwrap().contains("canceled"));
    }
}
