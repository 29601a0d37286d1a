//! The emulator's world: instances, upgrade jobs, counters and faults. Jobs progress
//! lazily from wall-clock time whenever the state is looked at, so thousands of
//! instances cost nothing while idle and a restarted emulator carries on where it was.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::config::{Config, InstanceSpec, demo_instances};

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// `2021-07-12T09:22:04+0000`: Huawei's time format (offset without a colon).
pub fn huawei_time(at: f64) -> String {
    format!("{}+0000", utc_seconds(at as i64))
}

/// `2021-07-12T09:22:04`: the UTC date and time of `unix` seconds (the epoch if out of
/// range), the part Huawei's and IAM's time formats share.
pub fn utc_seconds(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A node of an instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub availability_zone: String,
}

/// An instance: its configured facts plus what upgrades changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub spec: InstanceSpec,
    pub nodes: Vec<Node>,
    pub created: f64,
    pub updated: f64,
}

impl Instance {
    pub fn new(spec: InstanceSpec, at: f64) -> Self {
        let roles: &[&str] = match spec.instance_type.to_ascii_lowercase().as_str() {
            "ha" => &["master", "slave"],
            "replica" => &["readreplica"],
            _ => &["master"],
        };
        let nodes = roles
            .iter()
            .enumerate()
            .map(|(i, role)| Node {
                id: format!("{}no{:02}", &spec.id[..spec.id.len().min(28)], i + 1),
                name: format!("{}_node{}", spec.name, i),
                role: role.to_string(),
                status: spec
                    .node_statuses
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "ACTIVE".into()),
                availability_zone: spec
                    .availability_zones
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "ap-southeast-1a".into()),
            })
            .collect();
        Instance {
            spec,
            nodes,
            created: at,
            updated: at,
        }
    }

    fn azs_differ(&self) -> bool {
        let mut zones: Vec<&str> = self
            .nodes
            .iter()
            .map(|n| n.availability_zone.as_str())
            .collect();
        zones.dedup();
        zones.len() > 1
    }

    fn swap_roles(nodes: &mut [Node]) {
        for node in nodes {
            node.role = match node.role.as_str() {
                "master" => "slave".into(),
                "slave" => "master".into(),
                other => other.into(),
            };
        }
    }
}

/// Where a job is at a given time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Delayed: waiting for the maintenance window.
    Scheduled,
    Running(f64),
    Completed,
    Failed,
}

/// An upgrade job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub submitted_at: f64,
    pub starts_at: f64,
    pub duration: f64,
    pub second_switch: bool,
    pub delayed: bool,
    pub fail: bool,
    pub queryable: bool,
    /// Applied to the instance (the job is over and its effects are recorded).
    pub settled: bool,
    pub ended_at: Option<f64>,
    /// The version the job installs: the latest of its instance's engine and major
    /// version when it was submitted (empty in a state saved before releases existed:
    /// the instance's `latest_version`).
    #[serde(default)]
    pub target_version: String,
}

impl Job {
    pub fn phase(&self, at: f64) -> Phase {
        if at < self.starts_at {
            Phase::Scheduled
        } else if at < self.starts_at + self.duration {
            Phase::Running(((at - self.starts_at) / self.duration).clamp(0.0, 0.99))
        } else if self.fail {
            Phase::Failed
        } else {
            Phase::Completed
        }
    }

    pub fn fail_reason(&self) -> &'static str {
        "Minor version upgrade failed: the upgrade was rolled back and the instance keeps its version."
    }
}

/// Fault injection settings (`POST /__emulator/faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub probability: f64,
    pub kinds: Vec<String>,
    pub seed: u64,
}

/// Counters served by `GET /__emulator/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub requests: BTreeMap<String, u64>,
    pub upgrade_posts: BTreeMap<String, u64>,
    pub upgrade_jobs: BTreeMap<String, u64>,
    pub rejected_signatures: u64,
    /// Per job id: seconds from the job's end to the first answer (job API or task
    /// center) that reported it finished — how late a client noticed.
    #[serde(default)]
    pub completion_lag_seconds: BTreeMap<String, f64>,
    /// `User-Agent` of the signed requests, with how many came with each.
    #[serde(default)]
    pub user_agents: BTreeMap<String, u64>,
    /// Requests refused by flow control, per API (`"<METHOD> <route template>"`); they
    /// are not in `requests`.
    #[serde(default)]
    pub throttled: BTreeMap<String, u64>,
    /// Per API: when its first request (accepted or refused) arrived.
    #[serde(default)]
    pub first_request_at: BTreeMap<String, f64>,
    /// Per API: requests accepted and refused once its first window had passed (a
    /// client learning the policy from 429s is refused in its first window; after it, a
    /// client that paces right is not).
    #[serde(default)]
    pub after_first_window: BTreeMap<String, WindowCounts>,
    /// The most upgrade jobs that ran at once (see `World::peak_running_upgrades`).
    #[serde(default)]
    pub peak_running_upgrades: u64,
}

/// Accepted and refused requests of one API.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WindowCounts {
    pub requests: u64,
    pub throttled: u64,
}

impl Stats {
    /// Counts a request to `api` at `at` that was accepted (or refused) in
    /// `after_first_window` when `api`'s first window of `window_seconds` has passed.
    pub fn count_after_first_window(
        &mut self,
        api: &str,
        at: f64,
        window_seconds: f64,
        refused: bool,
    ) {
        let first = *self.first_request_at.entry(api.to_string()).or_insert(at);
        if at - first >= window_seconds {
            let counts = self.after_first_window.entry(api.to_string()).or_default();
            if refused {
                counts.throttled += 1;
            } else {
                counts.requests += 1;
            }
        }
    }

    /// Records that `job` was reported finished at `at`, the first time only.
    pub fn noticed(&mut self, job: &Job, at: f64) {
        if matches!(job.phase(at), Phase::Completed | Phase::Failed) {
            let end = job.starts_at + job.duration;
            self.completion_lag_seconds
                .entry(job.id.clone())
                .or_insert(((at - end) * 1000.0).round() / 1000.0);
        }
    }
}

/// A minor version released at run time (`POST /__emulator/versions`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// `MySQL` or `PostgreSQL` (any case).
    pub engine: String,
    /// The full minor version: `8.0.33` for MySQL, `12.21` for PostgreSQL.
    pub version: String,
}

impl Release {
    /// Why the release cannot be made, if anything.
    pub fn problem(&self) -> Option<String> {
        let parts = match self.engine.to_ascii_lowercase().as_str() {
            "mysql" => 3,
            "postgresql" => 2,
            _ => {
                return Some(format!(
                    "engine {:?}: minor versions are released for MySQL and PostgreSQL only",
                    self.engine
                ));
            }
        };
        let numbers: Vec<&str> = self.version.split('.').collect();
        let numeric = numbers
            .iter()
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        (!numeric || numbers.len() < parts).then(|| {
            format!(
                "version {:?}: a {} minor version has at least {parts} dot-separated numbers (e.g. {})",
                self.version,
                self.engine,
                if parts == 3 { "8.0.33" } else { "12.21" }
            )
        })
    }

    /// Whether it is a minor version of `engine` `major` (e.g. MySQL `8.0`, PostgreSQL `14`).
    pub fn is_of(&self, engine: &str, major: &str) -> bool {
        self.engine.eq_ignore_ascii_case(engine) && self.version.starts_with(&format!("{major}."))
    }
}

/// `14.12` → `[14, 12]`, for ordering versions numerically.
pub fn numeric_version(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Everything the emulator knows; persisted to the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub config: Config,
    pub instances: BTreeMap<String, Instance>,
    pub jobs: BTreeMap<String, Job>,
    pub stats: Stats,
    pub faults: Faults,
    /// Minor versions released at run time, in the order they were.
    #[serde(default)]
    pub released: Vec<Release>,
}

impl World {
    pub fn new(config: Config) -> Self {
        let at = now();
        let specs = config.instances.clone().unwrap_or_else(demo_instances);
        let instances = specs
            .into_iter()
            .map(|s| (s.id.clone(), Instance::new(s, at)))
            .collect();
        World {
            config,
            instances,
            jobs: BTreeMap::new(),
            stats: Stats::default(),
            faults: Faults::default(),
            released: Vec::new(),
        }
    }

    /// The version an upgrade of `spec`'s instance installs now: its configured
    /// `latest_version`, or a newer one released since for its engine and major version.
    pub fn latest_for(&self, spec: &InstanceSpec) -> String {
        self.released
            .iter()
            .filter(|r| r.is_of(&spec.engine, &spec.version))
            .map(|r| r.version.clone())
            .chain(std::iter::once(spec.latest_version.clone()))
            .filter(|v| !v.is_empty())
            .max_by_key(|v| numeric_version(v))
            .unwrap_or_default()
    }

    /// The versions of `engine` released at run time.
    pub fn released_versions<'a>(&'a self, engine: &'a str) -> impl Iterator<Item = &'a str> {
        self.released
            .iter()
            .filter(move |r| r.engine.eq_ignore_ascii_case(engine))
            .map(|r| r.version.as_str())
    }

    /// Records the effects of jobs that have ended; true when anything changed.
    pub fn settle(&mut self, at: f64) -> bool {
        let mut changed = false;
        for job in self.jobs.values_mut().filter(|j| !j.settled) {
            let phase = job.phase(at);
            if !matches!(phase, Phase::Completed | Phase::Failed) {
                continue;
            }
            job.settled = true;
            job.ended_at = Some(job.starts_at + job.duration);
            changed = true;
            let Some(instance) = self.instances.get_mut(&job.instance_id) else {
                continue;
            };
            instance.updated = at;
            if phase == Phase::Completed {
                instance.spec.complete_version = if job.target_version.is_empty() {
                    instance.spec.latest_version.clone()
                } else {
                    job.target_version.clone()
                };
                let is_pg = instance.spec.engine.eq_ignore_ascii_case("postgresql");
                let switch_back = job.second_switch && instance.azs_differ() && !is_pg;
                if instance.nodes.len() > 1 && !switch_back {
                    Instance::swap_roles(&mut instance.nodes);
                }
            }
        }
        changed
    }

    /// Whether a job already shows in `GET /jobs` and the task-center listings (a new
    /// job is invisible for `job_visible_after_seconds`).
    pub fn is_visible(&self, job: &Job, at: f64) -> bool {
        at >= job.submitted_at + self.config.job_visible_after_seconds
    }

    /// The running (or scheduled) job of an instance, if any.
    pub fn active_job(&self, instance_id: &str, at: f64) -> Option<&Job> {
        self.jobs.values().find(|j| {
            j.instance_id == instance_id
                && matches!(j.phase(at), Phase::Scheduled | Phase::Running(_))
        })
    }

    /// The most upgrade jobs that have run at once up to `at`, exactly: a job runs from
    /// its start (submission, or the window opening for a delayed one) until it ends.
    pub fn peak_running_upgrades(&self, at: f64) -> u64 {
        // +1 at each start, -1 at each end; an end sorts before a start at the same time.
        let mut events: Vec<(f64, i64)> = self
            .jobs
            .values()
            .filter(|j| j.starts_at <= at)
            .flat_map(|j| [(j.starts_at, 1), (j.starts_at + j.duration, -1)])
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut running, mut peak) = (0i64, 0i64);
        for (_, step) in events {
            running += step;
            peak = peak.max(running);
        }
        peak as u64
    }

    /// An instance as the API shows it now: status and node roles reflect a running job
    /// once that job is visible (until then the instance looks as before, as the real
    /// API's views catch up with a new job at different moments).
    pub fn instance_view(&self, instance: &Instance, at: f64) -> (String, Vec<Node>) {
        let mut nodes = instance.nodes.clone();
        let shown = self
            .active_job(&instance.spec.id, at)
            .filter(|j| self.is_visible(j, at));
        match shown.map(|j| j.phase(at)) {
            Some(Phase::Running(progress)) => {
                // Standby first, then the switchover, then the old primary.
                if nodes.len() > 1 && progress >= 0.5 {
                    Instance::swap_roles(&mut nodes);
                }
                // The node being upgraded is always the standby of the moment.
                let single = nodes.len() == 1;
                for node in nodes.iter_mut().filter(|n| single || n.role == "slave") {
                    node.status = "UPGRADING".into();
                }
                ("MODIFYING".into(), nodes)
            }
            _ => (instance.spec.status.clone(), nodes),
        }
    }
}
