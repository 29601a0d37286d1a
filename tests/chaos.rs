//! The randomized crash campaign, under flow control. Each seeded trial upgrades a fleet
//! of 8–12 instances (MySQL single and primary/standby, PostgreSQL with and without a
//! queryable job API, so the task-center tracking is used; jobs of 3–8 s, or longer
//! when new jobs stay invisible for a second: see [`shortest_job`]) with real
//! Terraform against a real emulator that persists its state and meters every API at
//! [`QUOTA_LIMIT`] requests per 8 s or per 4 s per user, as a scaled-down standard
//! policy: submitting the fleet lasts a good part of the apply, as it does for a real
//! fleet (N/60 per minute). Every third trial splits the fleet between two or three
//! workspaces (separate Terraform working directories, disjoint instances) that use
//! the same credential and apply at the same time. One apply — the target's — is hit by
//! one disruption: the provider SIGKILLed, Terraform SIGKILLed (no state written for
//! the creates in flight), Ctrl-C, the emulator killed and restarted from its state
//! file on the same port, or a burst of injected faults. The moment is either a time
//! within the apply's expected length under the quota, or (every fourth trial) the
//! target's k-th upgrade POST reaching the emulator, so that at least a quarter of the
//! disruptions land while the fleet submits. Each workspace then applies again at once
//! when its apply has ended, as a user would, until it is done.
//!
//! A trial passes when every instance has exactly one upgrade job, every state says
//! what the emulator says (job ids, `Completed`, versions), every final plan is empty,
//! and there was no lockout: each workspace's first re-apply succeeded and finished
//! its fleet. One refusal is not a lockout, and is counted apart: with Terraform up to
//! 1.15, a first re-apply that Terraform's own final-plan check refused on
//! `version_before`, for upgrades the disrupted apply submitted moments before the plan
//! (nothing is sent; the next apply adopts them; see
//! [`refused_by_the_final_plan_check`]).
//!
//! `make test` runs the short campaign: [`SHORT_TRIALS`] trials with a fixed seed (a
//! provider killed at a submission, and a two- or three-workspace trial). `make chaos`
//! runs `HWRDS_CHAOS_TRIALS` (default 100) and writes RELIABILITY.md
//! (`HWRDS_CHAOS_WRITE=1`). `HWRDS_CHAOS_SEED` sets the seed (printed at the start);
//! `HWRDS_CHAOS_ONLY=<trial>` with the same seed reruns one trial.

pub mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fixtures::flat;
use common::processes::{self, Running};
use common::{Emulator, Workspace, hwrds_workspace, truth};
use serde_json::{Value, json};

/// Re-applies a workspace may take after the disrupted apply before the trial stops
/// (only the first may fail the no-lockout bar; the others say how it ended).
const MAX_REAPPLIES: u32 = 3;
/// Trials of the short campaign (`make test`).
const SHORT_TRIALS: usize = 2;
/// Seed of the short campaign.
const SHORT_SEED: u64 = 0x5eed_c4a0;
/// Instances per trial (over all its workspaces).
const FLEET_SIZES: std::ops::RangeInclusive<usize> = 8..=12;
/// Accepted requests per API per user per window.
const QUOTA_LIMIT: u32 = 4;
/// The emulator's flow-control windows: 8 s in seven trials of ten, else 4 s.
const QUOTA_WINDOWS: [f64; 2] = [8.0, 4.0];
/// Longest any one Terraform command of a trial may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// What hits the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Disruption {
    ProviderKill,
    TerraformKill,
    EmulatorRestart,
    FaultBurst,
    CtrlC,
}

impl Disruption {
    /// In turn: trial `i` gets `ALL[i % 5]`.
    const ALL: [Disruption; 5] = [
        Disruption::ProviderKill,
        Disruption::TerraformKill,
        Disruption::EmulatorRestart,
        Disruption::FaultBurst,
        Disruption::CtrlC,
    ];

    fn for_trial(index: usize) -> Self {
        Self::ALL[index % Self::ALL.len()]
    }

    fn name(self) -> &'static str {
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
enum Phase {
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
    const ALL: [Phase; 4] = [
        Phase::Planning,
        Phase::Submitting,
        Phase::Tracking,
        Phase::AfterApply,
    ];

    fn name(self) -> &'static str {
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
enum Aim {
    /// This many seconds after the applies start.
    At(f64),
    /// Once this many of the target's upgrade POSTs have reached the emulator (fewer
    /// than its instances: it is still submitting).
    Submissions(u64),
}

impl Aim {
    fn describe(self) -> String {
        match self {
            Aim::At(seconds) => format!("at {seconds:.2} s"),
            Aim::Submissions(k) => format!("at POST {k}"),
        }
    }
}

/// The campaign's parameters, from the environment.
struct Settings {
    seed: u64,
    trials: usize,
    only: Option<usize>,
    /// Trials run at a time (`HWRDS_CHAOS_JOBS`, default 1): each has its own emulator,
    /// workspaces and processes.
    jobs: usize,
    write: bool,
}

fn env_set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_seed(text: &str) -> u64 {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("HWRDS_CHAOS_SEED={text:?} is not a number"))
}

impl Settings {
    fn from_env() -> Settings {
        let trials = env_set("HWRDS_CHAOS_TRIALS").map(|t| {
            t.trim()
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("HWRDS_CHAOS_TRIALS={t:?} is not a count"))
        });
        let seed = match (env_set("HWRDS_CHAOS_SEED"), trials) {
            (Some(seed), _) => parse_seed(&seed),
            (None, None) => SHORT_SEED,
            // A campaign without a given seed draws one (printed, so it can be rerun).
            (None, Some(_)) => fastrand::u64(..) & 0xffff_ffff,
        };
        let only = env_set("HWRDS_CHAOS_ONLY").map(|t| {
            t.trim()
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("HWRDS_CHAOS_ONLY={t:?} is not a trial index"))
        });
        let jobs = env_set("HWRDS_CHAOS_JOBS").map_or(1, |t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|j| *j > 0)
                .unwrap_or_else(|| panic!("HWRDS_CHAOS_JOBS={t:?} is not a positive count"))
        });
        Settings {
            seed,
            trials: trials.unwrap_or(SHORT_TRIALS),
            only,
            jobs,
            write: env_set("HWRDS_CHAOS_WRITE").is_some_and(|v| v != "0"),
        }
    }

    fn indices(&self) -> Vec<usize> {
        match self.only {
            Some(i) => vec![i],
            None => (0..self.trials).collect(),
        }
    }
}

/// One instance of a trial's fleet.
#[derive(Clone)]
struct Member {
    id: String,
    /// `MySQL Single`, `PostgreSQL Ha (task center)`, …
    label: String,
    spec: Value,
}

/// The fleet of trial `index`, `size` instances in turn: MySQL single, MySQL
/// primary/standby (switching back), PostgreSQL primary/standby whose job API does not
/// answer, and a PostgreSQL instance of either type whose job API may answer; jobs of
/// `shortest` to `shortest` + 5 s.
fn fleet(rng: &mut fastrand::Rng, index: usize, size: usize, shortest: f64) -> Vec<Member> {
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

fn configuration(members: &[Member]) -> String {
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
fn shortest_job(size: usize, window: f64, visible_after: f64) -> f64 {
    if visible_after == 0.0 {
        return 3.0;
    }
    let spacing = Duration::from_secs_f64(window / f64::from(QUOTA_LIMIT));
    let trusted = hwrds::upgrade::submission::last_look::max_age(size, spacing);
    (trusted.as_secs_f64() + visible_after + 1.0).ceil()
}

/// Everything trial `index` draws from its random source, before anything runs.
struct Design {
    disruption: Disruption,
    /// The flow-control window, seconds.
    window: f64,
    /// The instances of each workspace (one, or two or three sharing the credential).
    workspaces: Vec<Vec<Member>>,
    /// The workspace whose apply is disrupted.
    target: usize,
    aim: Aim,
    /// Seconds a new job stays invisible to the APIs.
    visible_after: f64,
}

impl Design {
    fn draw(rng: &mut fastrand::Rng, index: usize) -> Design {
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

    fn members(&self) -> impl Iterator<Item = &Member> {
        self.workspaces.iter().flatten()
    }
}

/// How one workspace fared after the disruption.
#[derive(Default)]
struct WorkspaceOutcome {
    reapplies: u32,
    /// Whether its first re-apply succeeded and finished its fleet (None: none needed).
    first_reapply: Option<bool>,
    /// Its first re-apply failed only on Terraform's final-plan check of `version_before`
    /// for an upgrade its plan could not see yet (see [`refused_by_the_final_plan_check`]).
    final_plan_refused: bool,
    /// The first error of each apply that failed (the disrupted one included).
    errors: Vec<String>,
    /// The failed applies' output.
    transcript: Vec<String>,
    /// Why it failed.
    failure: Option<String>,
}

/// What one trial did and found.
struct Outcome {
    index: usize,
    disruption: Disruption,
    window: f64,
    workspaces: usize,
    aim: Aim,
    phase: Phase,
    /// What the disruption was, in detail (signal targets, fault rate, downtime).
    detail: String,
    /// Per workspace, the target first.
    sides: Vec<WorkspaceOutcome>,
    /// Where the trial's logs were kept (failed trials and trials with apply errors).
    kept: Option<String>,
    /// Upgrade jobs per instance, in fleet order.
    jobs: Vec<u64>,
    took: Duration,
    /// Why the trial failed.
    failure: Option<String>,
}

impl Outcome {
    /// Workspaces that needed a re-apply, and how many of those succeeded the first time.
    fn first_reapplies(&self) -> (usize, usize) {
        let needed = self.sides.iter().filter(|s| s.first_reapply.is_some());
        let ok = needed.clone().filter(|s| s.first_reapply == Some(true));
        (needed.count(), ok.count())
    }

    fn line(&self, seed: u64) -> String {
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
fn trial_rng(seed: u64, index: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Upgrade POSTs of `members` that reached the emulator.
fn posts(stats: &Value, members: &[Member]) -> u64 {
    members
        .iter()
        .map(|m| stats["upgrade_posts"][&m.id].as_u64().unwrap_or(0))
        .sum()
}

/// The apply's phase now, from its output and the emulator's counters.
fn phase_now(apply: &mut Running, emu: &Emulator, members: &[Member]) -> Phase {
    if apply.has_exited() {
        return Phase::AfterApply;
    }
    let stats = emu.stats();
    let started_jobs = members
        .iter()
        .filter(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0) > 0)
        .count();
    if !apply.stdout_so_far().contains("Creating...") && posts(&stats, members) == 0 {
        Phase::Planning
    } else if started_jobs < members.len() {
        Phase::Submitting
    } else {
        Phase::Tracking
    }
}

/// Waits for the moment `aim` names (or the apply's end).
fn wait_for(aim: Aim, started: Instant, apply: &mut Running, emu: &Emulator, members: &[Member]) {
    match aim {
        Aim::At(seconds) => {
            let moment = started + Duration::from_secs_f64(seconds);
            while Instant::now() < moment && !apply.has_exited() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Aim::Submissions(k) => {
            while posts(&emu.stats(), members) < k
                && !apply.has_exited()
                && started.elapsed() < COMMAND_TIMEOUT
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Hits the running apply with `disruption`; returns the phase it landed in and what
/// exactly was done.
fn disrupt(
    disruption: Disruption,
    rng: &mut fastrand::Rng,
    apply: &mut Running,
    emu: &mut Emulator,
    members: &[Member],
) -> (Phase, String) {
    match disruption {
        Disruption::ProviderKill => {
            // Between Terraform's steps no provider may run for a moment: wait for one.
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let phase = phase_now(apply, emu, members);
                if phase == Phase::AfterApply {
                    return (phase, "apply ended first".into());
                }
                let pids = processes::provider_children(apply.pid());
                if !pids.is_empty() {
                    for &pid in &pids {
                        processes::signal(pid, "KILL");
                    }
                    return (phase, format!("killed {} provider process(es)", pids.len()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (Phase::AfterApply, "no provider process to kill".into())
        }
        Disruption::TerraformKill => {
            let phase = phase_now(apply, emu, members);
            let providers = processes::provider_children(apply.pid());
            processes::signal(apply.pid(), "KILL");
            // The provider outlives a SIGKILLed Terraform; the runner tearing the job
            // down takes it too.
            for &pid in &providers {
                processes::signal(pid, "KILL");
            }
            (
                phase,
                format!("and its {} provider process(es)", providers.len()),
            )
        }
        Disruption::CtrlC => {
            let phase = phase_now(apply, emu, members);
            processes::signal(apply.pid(), "INT");
            (phase, "SIGINT".into())
        }
        Disruption::EmulatorRestart => {
            let phase = phase_now(apply, emu, members);
            let down = Duration::from_secs_f64(0.2 + 1.8 * rng.f64());
            emu.restart_on_same_port(down);
            (phase, format!("down {:.1} s", down.as_secs_f64()))
        }
        Disruption::FaultBurst => {
            let phase = phase_now(apply, emu, members);
            let probability = ((0.3 + 0.3 * rng.f64()) * 100.0).round() / 100.0;
            let seconds = 2.0 + 2.0 * rng.f64();
            emu.faults(json!({
                "probability": probability,
                "kinds": ["throttle", "server_error", "reset_after_processing", "latency"],
                "seed": rng.u64(..),
            }));
            let until = Instant::now() + Duration::from_secs_f64(seconds);
            while Instant::now() < until && !apply.has_exited() {
                std::thread::sleep(Duration::from_millis(50));
            }
            emu.faults(json!({"probability": 0}));
            (
                phase,
                format!("faults at {probability:.2} for {seconds:.1} s"),
            )
        }
    }
}

/// The resources of the fleet in the state: instance id → attributes.
fn state_resources(ws: &Workspace) -> BTreeMap<String, Value> {
    let Ok(text) = std::fs::read_to_string(ws.path().join("terraform.tfstate")) else {
        return BTreeMap::new();
    };
    let Ok(state) = serde_json::from_str::<Value>(&text) else {
        return BTreeMap::new();
    };
    state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "hwrds_db_minor_upgrade" && r["mode"] == "managed")
        .flat_map(|r| r["instances"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| {
            Some((
                i["index_key"].as_str()?.to_string(),
                i["attributes"].clone(),
            ))
        })
        .collect()
}

/// Every instance of the fleet is in the state with a `Completed` job.
fn fleet_done(ws: &Workspace, members: &[Member]) -> bool {
    let resources = state_resources(ws);
    members.iter().all(|m| {
        resources
            .get(&m.id)
            .is_some_and(|a| a["status"] == "Completed")
    })
}

/// After the apply `first` of `ws` has ended (disrupted or not), applies again at once,
/// as a user would, until the fleet is done; the first re-apply must succeed.
fn finish_workspace(
    ws: &Workspace,
    emu: &Emulator,
    members: &[Member],
    first: Running,
) -> WorkspaceOutcome {
    let mut out = WorkspaceOutcome::default();
    let mut last = first.wait(COMMAND_TIMEOUT);
    // The instances the disrupted apply had submitted an upgrade for.
    let submitted: Vec<&str> = members
        .iter()
        .filter(|m| emu.upgrade_jobs(&m.id) > 0)
        .map(|m| m.id.as_str())
        .collect();
    // Anything a killed Terraform left running goes, as a finished CI job's would.
    for pid in processes::providers_in(ws.path()) {
        processes::signal(pid, "KILL");
    }
    loop {
        // (A killed Terraform has no exit code, and says nothing.)
        if last.code > 0 {
            out.errors.push(first_error(&last));
            out.transcript.push(format!(
                "==== apply {} (exit {})\n{}",
                out.reapplies + 1,
                last.code,
                last.all()
            ));
        }
        let done = last.code == 0 && fleet_done(ws, members);
        if out.reapplies == 1 {
            out.first_reapply = Some(done);
            out.final_plan_refused = !done && refused_by_the_final_plan_check(&last, &submitted);
            if !done && !out.final_plan_refused {
                out.failure = Some(format!(
                    "lockout: the first re-apply failed (exit {}): {}",
                    last.code,
                    first_error(&last)
                ));
            }
        }
        if done {
            return out;
        }
        if out.reapplies == MAX_REAPPLIES {
            let why = format!(
                "not done after {MAX_REAPPLIES} re-applies; the last one (exit {}):\n{}",
                last.code,
                tail(&last.all(), 40)
            );
            out.failure = Some(match out.failure.take() {
                Some(lockout) => format!("{lockout}; {why}"),
                None => why,
            });
            return out;
        }
        out.reapplies += 1;
        last = ws.run_with_timeout(&["apply", "-auto-approve", "-input=false"], COMMAND_TIMEOUT);
    }
}

/// The checks at the end of a trial, for one workspace: one job per instance, the state
/// equals the emulator, the final plan is empty.
fn verify(ws: &Workspace, emu: &Emulator, members: &[Member]) -> Result<(), String> {
    let stats = emu.stats();
    let mut problems = Vec::new();
    for m in members {
        let jobs = stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0);
        if jobs != 1 {
            problems.push(format!(
                "{} ({}): {jobs} upgrade jobs (upgrade POSTs: {})",
                m.id, m.label, stats["upgrade_posts"][&m.id]
            ));
        }
    }
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let truth = truth::read(&emu.url, &ids)?;
    let resources = state_resources(ws);
    for (m, t) in members.iter().zip(&truth) {
        let Some(attrs) = resources.get(&m.id) else {
            problems.push(format!("{} ({}): not in the state", m.id, m.label));
            continue;
        };
        let upgrades: Vec<_> = t
            .tasks
            .iter()
            .filter(|task| task.name == "UpgradeMinorVersion")
            .collect();
        let latest = m.spec["latest_version"].as_str().unwrap_or("8.0.32");
        let expect = |what: &str, ok: bool, problems: &mut Vec<String>| {
            if !ok {
                problems.push(format!("{} ({}): {what}: state {attrs}", m.id, m.label));
            }
        };
        expect(
            "status is not Completed",
            attrs["status"] == "Completed",
            &mut problems,
        );
        match upgrades.as_slice() {
            [task] => {
                expect(
                    &format!("job id differs from the emulator's {}", task.id),
                    attrs["job_id"] == task.id.as_str(),
                    &mut problems,
                );
                expect(
                    &format!("the emulator's job is {}", task.status),
                    task.status == "Completed",
                    &mut problems,
                );
            }
            other => problems.push(format!(
                "{} ({}): the task center lists {} upgrades: {other:?}",
                m.id,
                m.label,
                other.len()
            )),
        }
        expect(
            &format!("the emulator says the instance runs {:?}", t.version),
            t.version == latest && attrs["version_after"] == t.version.as_str(),
            &mut problems,
        );
    }
    if problems.is_empty() {
        let plan = ws.run_with_timeout(
            &["plan", "-detailed-exitcode", "-input=false"],
            COMMAND_TIMEOUT,
        );
        if plan.code != 0 {
            problems.push(format!(
                "the final plan is not empty (exit {}):\n{}",
                plan.code,
                tail(&plan.all(), 30)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Whether every error of `run` is Terraform's (up to 1.15) refusal of a final plan whose
/// `version_before` differs from the plan's (now unknown, or another version), each for
/// an instance in `submitted`, whose upgrade the disrupted apply had submitted: it did
/// not show to the plan yet (new jobs show with a delay), and by the final plan it was
/// under way or done. No rule of the provider's serves that case and its opposite on
/// Terraform before 1.16 (`plan_carry` says why); nothing is sent, and the next apply
/// adopts the upgrade. It is counted apart, not as a lockout.
fn refused_by_the_final_plan_check(run: &common::Run, submitted: &[&str]) -> bool {
    let text = flat(&run.all());
    let mut errors = text.split("Error: ").skip(1).peekable();
    errors.peek().is_some()
        && errors.all(|e| {
            let instance = e
                .split("hwrds_db_minor_upgrade.fleet[\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next());
            e.starts_with("Provider produced inconsistent final plan")
                && e.contains("produced an invalid new value for .version_before: was ")
                && instance.is_some_and(|id| submitted.contains(&id))
        })
}

/// The first error Terraform printed (its summary), or how it ended.
fn first_error(run: &common::Run) -> String {
    run.all()
        .lines()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .map(str::to_string)
        .unwrap_or_else(|| format!("exit {} without an error message", run.code))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The provider's log lines (warnings and errors, plus the submission and adoption
/// decisions), last first cut to `lines`.
fn provider_log_excerpt(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let picked: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("terraform-provider-hwrds"))
        .filter(|l| {
            l.contains("[WARN]")
                || l.contains("[ERROR]")
                || l.contains("submit")
                || l.contains("adopt")
                || l.contains("busy")
                || l.contains("findings stand")
        })
        .collect();
    picked[picked.len().saturating_sub(lines)..].join("\n")
}

/// Where failed trials keep their provider logs.
fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos")
}

/// The panic's message.
fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Runs trial `index` of the campaign seeded with `seed`.
fn run_trial(seed: u64, index: usize) -> Outcome {
    let mut rng = trial_rng(seed, index);
    let design = Design::draw(&mut rng, index);
    let config = json!({
        "job_seconds": 3,
        "job_visible_after_seconds": design.visible_after,
        "instances": design.members().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "flow_control": {"enabled": true, "limit": QUOTA_LIMIT, "window_seconds": design.window},
    });
    let mut emu = Emulator::start(config, true);
    // The target first; every workspace signs with the emulator's one user.
    let mut order: Vec<usize> = (0..design.workspaces.len()).collect();
    order.swap(0, design.target);
    let sides: Vec<(Workspace, &[Member], PathBuf)> = order
        .iter()
        .map(|&w| {
            let members = design.workspaces[w].as_slice();
            let mut ws = hwrds_workspace(common::terraform(), &emu, &configuration(members));
            let log = ws.path().join("terraform.log");
            ws.set_env("TF_LOG_PROVIDER", "DEBUG");
            ws.set_env("TF_LOG_PATH", &log.display().to_string());
            (ws, members, log)
        })
        .collect();

    let started = Instant::now();
    let mut outcome = Outcome {
        index,
        disruption: design.disruption,
        window: design.window,
        workspaces: sides.len(),
        aim: design.aim,
        phase: Phase::AfterApply,
        detail: String::new(),
        sides: Vec::new(),
        kept: None,
        jobs: Vec::new(),
        took: Duration::ZERO,
        failure: None,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut applies: Vec<Running> = sides
            .iter()
            .map(|(ws, _, _)| ws.spawn(&["apply", "-auto-approve", "-input=false"]))
            .collect();
        let target = sides[0].1;
        wait_for(design.aim, started, &mut applies[0], &emu, target);
        let (phase, detail) = disrupt(
            design.disruption,
            &mut rng,
            &mut applies[0],
            &mut emu,
            target,
        );
        outcome.phase = phase;
        outcome.detail = detail;
        // Each workspace applies again as soon as its own apply has ended.
        let emu = &emu;
        let finished: Vec<std::thread::Result<WorkspaceOutcome>> = std::thread::scope(|scope| {
            let threads: Vec<_> = sides
                .iter()
                .zip(applies)
                .map(|((ws, members, _), apply)| {
                    scope.spawn(move || finish_workspace(ws, emu, members, apply))
                })
                .collect();
            threads.into_iter().map(|t| t.join()).collect()
        });
        let mut problems = Vec::new();
        for (w, side) in finished.into_iter().enumerate() {
            match side {
                Ok(side) => {
                    if let Some(why) = &side.failure {
                        problems.push(format!("workspace {w}: {why}"));
                    }
                    outcome.sides.push(side);
                }
                Err(panic) => {
                    problems.push(format!("workspace {w}: {}", panic_text(panic)));
                    outcome.sides.push(WorkspaceOutcome::default());
                }
            }
        }
        // The checks read the emulator as fast as they like: its quota is the fleet's.
        emu.admin("/__emulator/flow_control", json!({"enabled": false}));
        for (w, (ws, members, _)) in sides.iter().enumerate() {
            if let Err(why) = verify(ws, emu, members) {
                problems.push(format!("workspace {w}: {why}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }));
    let stats = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| emu.stats()))
        .unwrap_or(Value::Null);
    outcome.jobs = design
        .members()
        .map(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0))
        .collect();
    outcome.took = started.elapsed();
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(panic_text(panic)),
    };
    let any_errors = outcome.sides.iter().any(|s| !s.errors.is_empty());
    if failure.is_some() || any_errors {
        // Keep what explains it: the providers' logs and the failed applies' output.
        let stem = failure_dir().join(format!("seed-{seed:#x}-trial-{index}"));
        let _ = std::fs::create_dir_all(failure_dir());
        for (w, (_, _, log)) in sides.iter().enumerate() {
            let _ = std::fs::copy(log, stem.with_extension(format!("ws{w}.provider.log")));
            let transcript = outcome
                .sides
                .get(w)
                .map(|s| s.transcript.join("\n"))
                .unwrap_or_default();
            let _ = std::fs::write(
                stem.with_extension(format!("ws{w}.terraform.txt")),
                transcript,
            );
        }
        outcome.kept = Some(stem.display().to_string());
    }
    if let Some(why) = failure {
        let fleet: Vec<String> = order
            .iter()
            .enumerate()
            .flat_map(|(w, &d)| {
                design.workspaces[d]
                    .iter()
                    .map(move |m| format!("ws{w} {} = {}", m.id, m.label))
            })
            .collect();
        outcome.failure = Some(format!(
            "{why}\nfleet: {}\nkept: {}.ws<N>.{{provider.log,terraform.txt}}; target's provider log excerpt:\n{}",
            fleet.join(", "),
            outcome.kept.as_deref().unwrap_or(""),
            provider_log_excerpt(&sides[0].2, 40)
        ));
    }
    for (ws, _, _) in &sides {
        for pid in processes::providers_in(ws.path()) {
            processes::signal(pid, "KILL");
        }
    }
    outcome
}

/// The campaign's figures.
struct Summary {
    seed: u64,
    outcomes: Vec<Outcome>,
    took: Duration,
    jobs: usize,
}

/// A row's counts over some trials: trials, failed, workspaces re-applied, of those
/// whose first re-apply succeeded, and whose first re-apply Terraform's final-plan check
/// refused.
fn counts<'a>(trials: impl Iterator<Item = &'a Outcome>) -> [usize; 5] {
    trials.fold([0; 5], |[n, failed, needed, ok, refused], o| {
        let (o_needed, o_ok) = o.first_reapplies();
        [
            n + 1,
            failed + usize::from(o.failure.is_some()),
            needed + o_needed,
            ok + o_ok,
            refused + o.sides.iter().filter(|s| s.final_plan_refused).count(),
        ]
    })
}

impl Summary {
    fn failures(&self) -> Vec<&Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .collect()
    }

    /// Disruptions that landed while the target submitted, and all of them.
    fn submitting(&self) -> (usize, usize) {
        let landed = self
            .outcomes
            .iter()
            .filter(|o| o.phase == Phase::Submitting);
        (landed.count(), self.outcomes.len())
    }

    /// Workspaces re-applied, and of those whose first re-apply succeeded.
    fn first_reapplies(&self) -> (usize, usize) {
        let [_, _, needed, ok, _] = counts(self.outcomes.iter());
        (needed, ok)
    }

    /// First re-applies refused by Terraform's final-plan check.
    fn final_plan_refusals(&self) -> usize {
        counts(self.outcomes.iter())[4]
    }

    /// Markdown tables: disruptions by kind and phase; trials by phase, by workspaces
    /// sharing the credential and by quota with their first re-applies; jobs per
    /// instance; re-applies per workspace.
    fn tables(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| Disruption | {} | Total | Failed |",
            Phase::ALL.map(Phase::name).join(" | ")
        );
        let _ = writeln!(out, "|---|{}---:|---:|", "---:|".repeat(Phase::ALL.len()));
        for d in Disruption::ALL {
            let of_kind: Vec<&Outcome> =
                self.outcomes.iter().filter(|o| o.disruption == d).collect();
            if of_kind.is_empty() {
                continue;
            }
            let cells: Vec<String> = Phase::ALL
                .iter()
                .map(|p| of_kind.iter().filter(|o| o.phase == *p).count().to_string())
                .collect();
            let failed = of_kind.iter().filter(|o| o.failure.is_some()).count();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {failed} |",
                d.name(),
                cells.join(" | "),
                of_kind.len()
            );
        }
        let header = "| Trials | Failed | Workspaces re-applied | First re-apply succeeded | Refused by the final-plan check |";
        let rule = "|---:|---:|---:|---:|---:|";
        let row = |label: String, [n, failed, needed, ok, refused]: [usize; 5]| {
            format!("| {label} | {n} | {failed} | {needed} | {ok} | {refused} |\n")
        };
        let _ = writeln!(out, "\n| Phase {header}\n|---{rule}");
        for p in Phase::ALL {
            let trials = self.outcomes.iter().filter(|o| o.phase == p);
            if trials.clone().next().is_some() {
                out.push_str(&row(p.name().to_string(), counts(trials)));
            }
        }
        let _ = writeln!(
            out,
            "\n| Workspaces sharing the credential {header}\n|---:{rule}"
        );
        let mut sizes: Vec<usize> = self.outcomes.iter().map(|o| o.workspaces).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            let trials = self.outcomes.iter().filter(|o| o.workspaces == size);
            out.push_str(&row(size.to_string(), counts(trials)));
        }
        let _ = writeln!(out, "\n| Quota per API {header}\n|---{rule}");
        for window in QUOTA_WINDOWS {
            let trials = self.outcomes.iter().filter(|o| o.window == window);
            if trials.clone().next().is_some() {
                out.push_str(&row(
                    format!("{QUOTA_LIMIT} per {window:.0} s"),
                    counts(trials),
                ));
            }
        }
        let mut jobs: BTreeMap<u64, usize> = BTreeMap::new();
        for o in &self.outcomes {
            for &j in &o.jobs {
                *jobs.entry(j).or_default() += 1;
            }
        }
        let mut reapplies: BTreeMap<u32, usize> = BTreeMap::new();
        for side in self.outcomes.iter().flat_map(|o| &o.sides) {
            *reapplies.entry(side.reapplies).or_default() += 1;
        }
        let _ = writeln!(
            out,
            "\n| Upgrade jobs per instance | Instances |\n|---:|---:|"
        );
        for (j, n) in &jobs {
            let _ = writeln!(out, "| {j} | {n} |");
        }
        let _ = writeln!(
            out,
            "\n| Re-applies after the disrupted apply | Workspaces |\n|---:|---:|"
        );
        for (r, n) in &reapplies {
            let _ = writeln!(out, "| {r} | {n} |");
        }
        out
    }

    /// One line: the submitting share and the first re-applies.
    fn headline(&self) -> String {
        let (landed, all) = self.submitting();
        let (needed, ok) = self.first_reapplies();
        format!(
            "{landed} of {all} disruptions landed while submitting ({:.0} %); the first re-apply succeeded for {ok} of {needed} workspaces that needed one; Terraform's final-plan check refused {} (an upgrade submitted moments before their plan)",
            100.0 * landed as f64 / all.max(1) as f64,
            self.final_plan_refusals()
        )
    }

    fn print(&self) {
        let failures = self.failures();
        eprintln!(
            "\nchaos summary: seed {:#x}, {} trials, {} passed, {} failed, {:.1} min\n{}\n",
            self.seed,
            self.outcomes.len(),
            self.outcomes.len() - failures.len(),
            failures.len(),
            self.took.as_secs_f64() / 60.0,
            self.headline()
        );
        eprintln!("{}", self.tables());
        for o in &failures {
            eprintln!(
                "FAILED trial {} (rerun: HWRDS_CHAOS_SEED={:#x} HWRDS_CHAOS_ONLY={} cargo test --test chaos -- --nocapture campaign):\n{}\n",
                o.index,
                self.seed,
                o.index,
                o.failure.as_deref().unwrap_or("")
            );
        }
    }

    fn reliability_md(&self) -> String {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(common::repo_root())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let today = time::OffsetDateTime::now_utc().date();
        let failures = self.failures();
        let mut out = String::new();
        let _ = writeln!(out, "# Reliability\n");
        let _ = writeln!(
            out,
            "<!-- Written by `make chaos` (tests/chaos.rs). Do not edit; run it again. -->\n"
        );
        let (sizes, windows) = (FLEET_SIZES, QUOTA_WINDOWS);
        let _ = writeln!(
            out,
            "The randomized crash campaign, under flow control: each trial upgrades a fleet of \
             {}–{} instances (MySQL single and primary/standby, PostgreSQL tracked through its \
             job API or the task center; jobs of 3–8 s, or, in trials where new jobs stay \
             invisible for a second, longer than that second plus the age up to which the \
             last look before a submission trusts the instance listing, as real upgrades \
             are) with real Terraform against the \
             emulator, which meters every API at {QUOTA_LIMIT} requests per {:.0} s (seven \
             trials in ten) or per {:.0} s per user, so that submitting the fleet lasts a good \
             part of the apply. Every third trial splits the fleet between two or three \
             workspaces that share the credential and apply at the same time. One apply is hit \
             by one disruption: the provider SIGKILLed, Terraform SIGKILLed, Ctrl-C, the \
             emulator killed and restarted from its state file, or a 2–4 s burst of faults \
             (throttling, server errors, connections reset after processing, latency) at \
             30–60 %. Its moment is a time within the apply's expected length under the quota \
             or, every fourth trial, one of its upgrade POSTs before the last. Then each \
             workspace applies again at once, until it is done. A trial passes with exactly \
             one upgrade job per instance, states equal to the emulator (job ids, `Completed`, \
             versions), empty final plans, and no lockout: every workspace's first re-apply \
             succeeds and finishes its fleet — except that Terraform up to 1.15 may refuse it \
             in its own final-plan check, on `version_before`, for an upgrade the disrupted \
             apply submitted moments before the plan (nothing is sent, the next apply adopts \
             it; counted apart in the tables, see `src/provider/db_minor_upgrade/plan_carry.rs`).\n",
            sizes.start(),
            sizes.end(),
            windows[0],
            windows[1],
        );
        let _ = writeln!(
            out,
            "- Date: {today}\n- Commit: {commit}{}\n- Seed: `{:#x}`\n- Trials: {}, passed {}, failed {}\n- {}\n- Wall time: {:.1} min, {} trial(s) at a time\n",
            if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            self.seed,
            self.outcomes.len(),
            self.outcomes.len() - failures.len(),
            failures.len(),
            self.headline(),
            self.took.as_secs_f64() / 60.0,
            self.jobs
        );
        let _ = writeln!(
            out,
            "Disruptions by where they landed in the disrupted apply (`after apply`: it had \
             ended first), and how the workspaces' re-applies went:\n"
        );
        let _ = writeln!(out, "{}", self.tables());
        if !failures.is_empty() {
            let _ = writeln!(out, "Failed trials:\n");
            for o in &failures {
                let first = o
                    .failure
                    .as_deref()
                    .and_then(|f| f.lines().next())
                    .unwrap_or("");
                let _ = writeln!(
                    out,
                    "- trial {} ({}, {}, {} workspace(s)): {first}",
                    o.index,
                    o.disruption.name(),
                    o.phase.name(),
                    o.workspaces
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "Reproduce: `make chaos CHAOS_TRIALS={}` with `HWRDS_CHAOS_SEED={:#x}`; one trial alone: \
             `HWRDS_CHAOS_SEED={:#x} HWRDS_CHAOS_ONLY=<trial> cargo test --test chaos -- --nocapture campaign`.",
            self.outcomes.len(),
            self.seed,
            self.seed
        );
        out
    }
}

/// Whether `terraform version` runs at all (after a failed trial: is it the tool?).
fn terraform_runs() -> Result<(), String> {
    let out = std::process::Command::new(common::terraform())
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(tail(&String::from_utf8_lossy(&out.stderr), 3))
    }
}

#[test]
fn campaign() {
    let settings = Settings::from_env();
    let indices = settings.indices();
    eprintln!(
        "chaos: seed {:#x} (HWRDS_CHAOS_SEED), {} trial(s), quota {QUOTA_LIMIT} per {:?} s per API",
        settings.seed,
        indices.len(),
        QUOTA_WINDOWS
    );
    let started = Instant::now();
    let queue = std::sync::Mutex::new(indices.into_iter());
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..settings.jobs {
            scope.spawn(|| {
                loop {
                    let Some(index) = queue.lock().unwrap().next() else {
                        return;
                    };
                    let outcome = run_trial(settings.seed, index);
                    eprintln!("{}", outcome.line(settings.seed));
                    let failed = outcome.failure.is_some();
                    outcomes.lock().unwrap().push(outcome);
                    if failed && let Err(why) = terraform_runs() {
                        // A broken tool fails every trial that follows; that says nothing
                        // of hwrds.
                        panic!(
                            "chaos: stopped after trial {index}: Terraform itself does not run ({why})"
                        );
                    }
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| o.index);
    let summary = Summary {
        seed: settings.seed,
        outcomes,
        took: started.elapsed(),
        jobs: settings.jobs,
    };
    summary.print();
    if settings.write && settings.only.is_none() {
        let path = common::repo_root().join("RELIABILITY.md");
        std::fs::write(&path, summary.reliability_md()).expect("write RELIABILITY.md");
        eprintln!("chaos: wrote {}", path.display());
    }
    let failures = summary.failures();
    assert!(
        failures.is_empty(),
        "{} of {} chaos trials failed (seed {:#x}): trials {:?}",
        failures.len(),
        summary.outcomes.len(),
        summary.seed,
        failures.iter().map(|o| o.index).collect::<Vec<_>>()
    );
    if settings.only.is_none() {
        // The campaign's point: disruptions while the fleet submits, in every campaign.
        let (landed, all) = summary.submitting();
        assert!(
            landed * 4 >= all,
            "only {landed} of {all} disruptions landed while submitting (at least a quarter must)"
        );
        let multi = summary.outcomes.iter().any(|o| o.workspaces > 1);
        assert!(
            multi || all < 2,
            "no trial shared the credential between workspaces"
        );
    }
}
