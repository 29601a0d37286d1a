//! A chaos trial's design: the disruption, its moment, the fleet and its
//! workspaces, all drawn from the trial's seed; and what a trial came to.

use super::*;

/// What hits the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disruption {
    ProviderKill,
    TerraformKill,
    EmulatorRestart,
    FaultBurst,
    CtrlC,
}

impl Disruption {
    /// In turn: trial `i` gets `ALL[i % 5]`.
    pub const ALL: [Disruption; 5] = [
        Disruption::ProviderKill,
        Disruption::TerraformKill,
        Disruption::EmulatorRestart,
        Disruption::FaultBurst,
        Disruption::CtrlC,
    ];

    pub fn for_trial(index: usize) -> Self {
        Self::ALL[index % Self::ALL.len()]
    }

    pub fn name(self) -> &'static str {
        match self {
            Disruption::ProviderKill => "provider SIGKILL",
            Disruption::TerraformKill => "terraform SIGKILL",
            Disruption::EmulatorRestart => "emulator restart",
            Disruption::FaultBurst => "fault burst",
            Disruption::CtrlC => "terraform SIGINT",
        }
    }
}

/// Where the target's apply was when the disruption hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// No create had started and nothing was submitted.
    Planning,
    /// Creates started, not every instance has its job yet.
    Submitting,
    /// Every instance has its job; the apply waits for them.
    Tracking,
    /// The apply had already ended (or, for a provider kill, no provider ran any more).
    AfterApply,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Planning,
        Phase::Submitting,
        Phase::Tracking,
        Phase::AfterApply,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Planning => "planning",
            Phase::Submitting => "submitting",
            Phase::Tracking => "tracking",
            Phase::AfterApply => "after apply",
        }
    }
}

/// When the disruption comes.
#[derive(Debug, Clone, Copy)]
pub enum Aim {
    /// This many seconds after the applies start.
    At(f64),
    /// Once this many of the target's upgrade POSTs have reached the emulator (fewer
    /// than its instances: it is still submitting).
    Submissions(u64),
}

impl Aim {
    pub fn describe(self) -> String {
        match self {
            Aim::At(seconds) => format!("at {seconds:.2} s"),
            Aim::Submissions(k) => format!("at POST {k}"),
        }
    }
}

/// One instance of a trial's fleet.
#[derive(Clone)]
pub struct Member {
    pub id: String,
    /// `MySQL Single`, `PostgreSQL Ha (task center)`, …
    pub label: String,
    pub spec: Value,
}

/// The fleet of trial `index`, `size` instances in turn: MySQL single, MySQL
/// primary/standby (switching back), PostgreSQL primary/standby whose job API does not
/// answer, and a PostgreSQL instance of either type whose job API may answer; jobs of
/// `shortest` to `shortest` + 5 s.
pub fn fleet(rng: &mut fastrand::Rng, index: usize, size: usize, shortest: f64) -> Vec<Member> {
    (0..size)
        .map(|k| {
            let (engine, instance_type, queryable) = match k % 4 {
                0 => ("MySQL", "Single", true),
                1 => ("MySQL", "Ha", true),
                2 => ("PostgreSQL", "Ha", false),
                _ => (
                    "PostgreSQL",
                    if rng.bool() { "Ha" } else { "Single" },
                    rng.bool(),
                ),
            };
            let id = format!("chaos{k:02}t{index:05}{}in01", "0".repeat(21));
            let seconds = shortest + 5.0 * rng.f64();
            let mut spec = json!({
                "id": id,
                "name": format!("chaos-{k}"),
                "engine": engine,
                "type": instance_type,
                "job_seconds": (seconds * 10.0).round() / 10.0,
                "job_queryable": queryable,
            });
            if engine == "PostgreSQL" {
                spec["version"] = json!("14");
                spec["complete_version"] = json!("14.8");
                spec["latest_version"] = json!("14.12");
            }
            if instance_type == "Ha" {
                let second = if k % 4 == 1 { "b" } else { "a" };
                spec["availability_zones"] =
                    json!(["ap-southeast-1a", format!("ap-southeast-1{second}")]);
            }
            let tracking = if queryable { "" } else { " (task center)" };
            Member {
                id,
                label: format!("{engine} {instance_type}{tracking}"),
                spec,
            }
        })
        .collect()
}

pub fn configuration(members: &[Member]) -> String {
    let ids: Vec<String> = members.iter().map(|m| format!("\"{}\"", m.id)).collect();
    format!(
        "resource \"hwrds_db_minor_upgrade\" \"fleet\" {{\n  for_each    = toset([{}])\n  instance_id = each.key\n}}\n",
        ids.join(", ")
    )
}

/// The shortest job of a trial: 3 s, or, when new jobs stay invisible for a while, more
/// than that while plus the age up to which the last look before a submission trusts the
/// instance listing (`last_look::max_age` at the trial's quota). A real upgrade lasts
/// minutes, far longer than both; a job shorter than their sum could be submitted by the
/// disrupted apply, stay unseen by the next one's listing and end before its request
/// goes, which only a test's compressed time allows.
pub fn shortest_job(size: usize, window: f64, visible_after: f64) -> f64 {
    if visible_after == 0.0 {
        return 3.0;
    }
    let spacing = Duration::from_secs_f64(window / f64::from(QUOTA_LIMIT));
    let trusted = hwrds::upgrade::submission::last_look::max_age(size, spacing);
    (trusted.as_secs_f64() + visible_after + 1.0).ceil()
}

/// Everything trial `index` draws from its random source, before anything runs.
pub struct Design {
    pub disruption: Disruption,
    /// The flow-control window, seconds.
    pub window: f64,
    /// The instances of each workspace (one, or two or three sharing the credential).
    pub workspaces: Vec<Vec<Member>>,
    /// The workspace whose apply is disrupted.
    pub target: usize,
    pub aim: Aim,
    /// Seconds a new job stays invisible to the APIs.
    pub visible_after: f64,
}

impl Design {
    pub fn draw(rng: &mut fastrand::Rng, index: usize) -> Design {
        let disruption = Disruption::for_trial(index);
        let window = if rng.f64() < 0.7 {
            QUOTA_WINDOWS[0]
        } else {
            QUOTA_WINDOWS[1]
        };
        let size = rng.usize(FLEET_SIZES);
        let visible_after = if rng.bool() { 0.0 } else { 1.0 };
        let shortest = shortest_job(size, window, visible_after);
        let members = fleet(rng, index, size, shortest);
        let count = if index % 3 == 1 { rng.usize(2..=3) } else { 1 };
        let mut workspaces = vec![Vec::new(); count];
        for (k, m) in members.into_iter().enumerate() {
            workspaces[k % count].push(m);
        }
        let target = rng.usize(..count);
        let aim = if index.is_multiple_of(4) {
            Aim::Submissions(rng.u64(1..workspaces[target].len() as u64))
        } else {
            // The applies' expected length: planning, the POST quota's windows (every
            // workspace draws from it), then the last job (of mean length).
            let windows = size.div_ceil(QUOTA_LIMIT as usize) as f64 - 1.0;
            let length = 2.0 + windows * window + shortest + 2.5;
            Aim::At(((0.5 + rng.f64() * (length - 0.5)) * 100.0).round() / 100.0)
        };
        Design {
            disruption,
            window,
            workspaces,
            target,
            aim,
            visible_after,
        }
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.workspaces.iter().flatten()
    }
}

/// How one workspace fared after the disruption.
#[derive(Default)]
pub struct WorkspaceOutcome {
    pub reapplies: u32,
    /// Whether its first re-apply succeeded and finished its fleet (None: none needed).
    pub first_reapply: Option<bool>,
    /// Its first re-apply failed only on Terraform's final-plan check of `version_before`
    /// for an upgrade its plan could not see yet (see [`refused_by_the_final_plan_check`]).
    pub final_plan_refused: bool,
    /// The first error of each apply that failed (the disrupted one included).
    pub errors: Vec<String>,
    /// The failed applies' output.
    pub transcript: Vec<String>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// What one trial did and found.
pub struct Outcome {
    pub index: usize,
    pub disruption: Disruption,
    pub window: f64,
    pub workspaces: usize,
    pub aim: Aim,
    pub phase: Phase,
    /// What the disruption was, in detail (signal targets, fault rate, downtime).
    pub detail: String,
    /// Per workspace, the target first.
    pub sides: Vec<WorkspaceOutcome>,
    /// Where the trial's logs were kept (failed trials and trials with apply errors).
    pub kept: Option<String>,
    /// Upgrade jobs per instance, in fleet order.
    pub jobs: Vec<u64>,
    pub took: Duration,
    /// Why the trial failed.
    pub failure: Option<String>,
}

impl Outcome {
    /// Workspaces that needed a re-apply, and how many of those succeeded the first time.
    pub fn first_reapplies(&self) -> (usize, usize) {
        let needed = self.sides.iter().filter(|s| s.first_reapply.is_some());
        let ok = needed.clone().filter(|s| s.first_reapply == Some(true));
        (needed.count(), ok.count())
    }

    pub fn line(&self, seed: u64) -> String {
        let jobs: Vec<String> = self.jobs.iter().map(u64::to_string).collect();
        let result = match &self.failure {
            None if self.sides.iter().any(|s| s.final_plan_refused) => {
                "ok (a first re-apply refused by Terraform's final-plan check)".to_string()
            }
            None => "ok".to_string(),
            Some(why) => format!("FAILED: {}", why.lines().next().unwrap_or("")),
        };
        let reapplies: Vec<String> = self.sides.iter().map(|s| s.reapplies.to_string()).collect();
        let errors: Vec<String> = self
            .sides
            .iter()
            .enumerate()
            .flat_map(|(w, s)| s.errors.iter().map(move |e| format!("ws{w}: {e}")))
            .collect();
        let errors = if errors.is_empty() {
            String::new()
        } else {
            format!(
                "; apply errors: {}; logs: {}",
                errors.join(" | "),
                self.kept.as_deref().unwrap_or("-")
            )
        };
        format!(
            "chaos: seed {seed:#x} trial {:>3}  {:<17} {:<13} phase {:<11} {} ws, 4/{:.0}s  re-applies {}  jobs/instance {}  {result}  ({:.1} s; {}{errors})",
            self.index,
            self.disruption.name(),
            self.aim.describe(),
            self.phase.name(),
            self.workspaces,
            self.window,
            reapplies.join("+"),
            jobs.join(" "),
            self.took.as_secs_f64(),
            self.detail,
        )
    }
}

/// The per-trial random source: the same for a (seed, trial) pair, whatever ran before.
pub fn trial_rng(seed: u64, index: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}
