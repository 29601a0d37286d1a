//! Wire models of the RDS calls hwrds makes (serde, tolerant of unknown and missing
//! fields), and Huawei's time format.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Datastore {
    #[serde(rename = "type")]
    pub engine: String,
    pub version: String,
    pub complete_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub availability_zone: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelatedInstance {
    pub id: String,
    #[serde(rename = "type")]
    pub relation: String,
}

/// An RDS instance as `GET /instances` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(rename = "type")]
    pub instance_type: String,
    pub datastore: Datastore,
    pub nodes: Vec<Node>,
    pub related_instance: Vec<RelatedInstance>,
    pub maintenance_window: Option<String>,
    pub region: Option<String>,
    pub enterprise_project_id: Option<String>,
}

impl Instance {
    /// For a read replica: its primary's id.
    pub fn primary_id(&self) -> Option<&str> {
        self.related_instance
            .iter()
            .find(|r| r.relation == "replica_of")
            .map(|r| r.id.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InstanceList {
    pub instances: Vec<Instance>,
    pub total_count: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobInstance {
    pub id: String,
    pub name: String,
}

/// A job (`GET /jobs?id=`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Job {
    pub id: String,
    pub name: String,
    /// `Running`, `Completed` or `Failed`.
    pub status: String,
    pub created: Option<String>,
    pub ended: Option<String>,
    pub process: Option<String>,
    /// Sibling services name the progress field `progress`.
    pub progress: Option<String>,
    pub fail_reason: Option<String>,
    pub instance: Option<JobInstance>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed")
    }

    /// Progress like `60%`, from `process` or `progress`.
    pub fn progress_text(&self) -> Option<&str> {
        self.process
            .as_deref()
            .or(self.progress.as_deref())
            .filter(|p| !p.is_empty())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobEnvelope {
    pub job: Job,
}

/// A task-center entry (`GET /tasklist`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Task {
    pub id: String,
    pub name: String,
    pub instance_id: String,
    pub instance_name: String,
    pub instance_status: String,
    pub process: Option<String>,
    pub fail_reason: Option<String>,
    pub create_time: Option<String>,
    pub end_time: Option<String>,
    pub status: String,
}

impl Task {
    /// The task-center entry seen as a job.
    pub fn as_job(&self) -> Job {
        Job {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status.clone(),
            created: self.create_time.clone(),
            ended: self.end_time.clone(),
            process: self.process.clone(),
            progress: None,
            fail_reason: self.fail_reason.clone(),
            instance: Some(JobInstance {
                id: self.instance_id.clone(),
                name: self.instance_name.clone(),
            }),
        }
    }
}

/// An operation waiting for the maintenance window (`GET /schedule-tasks`), e.g. a
/// delayed upgrade; `status` is `Initing`, `Pending`, `Running`, `Completed`, `Failed`,
/// `Unauthorized` or `Canceled`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduledTask {
    pub id: String,
    pub name: String,
    pub instance_id: String,
    pub status: String,
    pub create_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

impl ScheduledTask {
    /// The scheduled task seen as a job: waiting for its window (`Scheduled`), running,
    /// or finished (a canceled one failed, and says so).
    pub fn as_job(&self) -> Job {
        let (status, fail_reason) = match self.status.as_str() {
            "Completed" => ("Completed", None),
            "Failed" => ("Failed", None),
            "Canceled" => (
                "Failed",
                Some("the scheduled upgrade was canceled".to_string()),
            ),
            "Running" => ("Running", None),
            _ => ("Scheduled", None),
        };
        Job {
            id: self.id.clone(),
            name: self.name.clone(),
            status: status.to_string(),
            created: self.create_time.clone(),
            fail_reason,
            instance: Some(JobInstance {
                id: self.instance_id.clone(),
                name: String::new(),
            }),
            ..Default::default()
        }
    }

    /// Whether the task has yet to run or is running.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Initing" | "Pending" | "Running" | "Unauthorized"
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ScheduledTaskList {
    pub total_count: Option<u64>,
    pub schedule_tasks: Vec<ScheduledTask>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TaskList {
    pub total_count: Option<u64>,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataStoreVersion {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DataStoreList {
    #[serde(rename = "dataStores")]
    pub data_stores: Vec<DataStoreVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmallVersion {
    pub id: String,
    pub name: String,
    pub favored: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SmallVersionList {
    pub data_stores: Vec<SmallVersion>,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpgradeAccepted {
    pub job_id: String,
}

/// Parses Huawei's `2021-07-12T09:22:04+0800` (offset without a colon), as well as
/// RFC 3339 (`+08:00`, `Z`).
pub fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 5 {
        let (head, offset) = text.split_at(text.len() - 5);
        let sign = offset.as_bytes()[0];
        if (sign == b'+' || sign == b'-') && offset[1..].bytes().all(|b| b.is_ascii_digit()) {
            let fixed = format!("{head}{}:{}", &offset[..3], &offset[3..]);
            return time::OffsetDateTime::parse(&fixed, &Rfc3339).ok();
        }
    }
    None
}

/// RFC 3339 in UTC, as the provider shows times.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc3339;
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huawei_times() {
        let t = parse_time("2021-07-12T09:22:04+0800").unwrap();
        assert_eq!(rfc3339(t), "2021-07-12T01:22:04Z");
        assert_eq!(
            rfc3339(parse_time("2021-07-12T01:22:04Z").unwrap()),
            "2021-07-12T01:22:04Z"
        );
        assert!(parse_time("2021-07-12T09:22:04+08:00").is_some());
        assert!(parse_time("yesterday").is_none());
        assert!(parse_time("").is_none());
    }

    #[test]
    fn tolerant_models() {
        let job: JobEnvelope = serde_json::from_str(
            r#"{"job":{"id":"j","status":"Running","progress":"40%","extra":{"x":1}}}"#,
        )
        .unwrap();
        assert_eq!(job.job.progress_text(), Some("40%"));
        assert!(!job.job.is_finished());
        let list: InstanceList = serde_json::from_str(
            r#"{"instances":[{"id":"i","type":"Replica","related_instance":[{"id":"p","type":"replica_of"}],"datastore":{"type":"MySQL","version":"8.0"}}]}"#,
        )
        .unwrap();
        assert_eq!(list.instances[0].primary_id(), Some("p"));
        assert_eq!(list.instances[0].datastore.complete_version, None);
    }
}

/// `GET /instances/disaster-recovery-relation`: the project's DR relations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrRelationList {
    pub instance_dr_relations: Vec<DrRelation>,
}

/// One DR relation as seen from `instance_id`, an instance of this region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrRelation {
    pub instance_id: String,
    pub master_instance: Option<DrPeer>,
    pub slave_instances: Vec<DrPeer>,
}

/// An instance of a DR relation, in its region and project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrPeer {
    pub instance_id: String,
    pub region: String,
    pub project_id: String,
    pub project_name: String,
}

impl DrRelation {
    /// Whether `id` takes part in the relation (as this region's instance, the master or
    /// a DR instance).
    pub fn involves(&self, id: &str) -> bool {
        self.instance_id == id
            || self
                .master_instance
                .as_ref()
                .is_some_and(|m| m.instance_id == id)
            || self.slave_instances.iter().any(|s| s.instance_id == id)
    }
}
