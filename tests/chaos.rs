//! The randomized crash campaign. Each seeded trial upgrades a fleet of five instances
//! (MySQL single and primary/standby, PostgreSQL with and without a queryable job API,
//! so the task-center tracking is used) with real Terraform against a real emulator that
//! persists its state, and hits the apply at a random moment with one disruption: the
//! provider SIGKILLed, Terraform SIGKILLed (no state written for the creates in flight),
//! Ctrl-C, the emulator killed and restarted from its state file on the same port, or a
//! burst of injected faults. Then it applies again, as a user would, until the fleet is
//! done. Every trial must end with exactly one upgrade job per instance, a state that
//! says what the emulator says (job ids, `Completed`, versions), an empty plan, and at
//! most [`MAX_REAPPLIES`] re-applies.
//!
//! `make test` runs the short campaign: [`SHORT_TRIALS`] trials, one per disruption in
//! turn, with a fixed seed. `make chaos` runs `HWRDS_CHAOS_TRIALS` (default 100) and
//! writes RELIABILITY.md (`HWRDS_CHAOS_WRITE=1`). `HWRDS_CHAOS_SEED` sets the seed (printed
//! at the start); `HWRDS_CHAOS_ONLY=<trial>` with the same seed reruns one trial.

pub mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::processes::{self, Running};
use common::{Emulator, Workspace, hwrds_workspace, truth};
use serde_json::{Value, json};

/// Re-applies a trial may need after the disrupted apply; one more is a failure.
const MAX_REAPPLIES: u32 = 3;
/// Trials of the short campaign (`make test`).
const SHORT_TRIALS: usize = 4;
/// Seed of the short campaign.
const SHORT_SEED: u64 = 0x5eed_c4a0;
/// Instances per trial.
const FLEET_SIZE: usize = 5;
/// The disruption lands uniformly within this long after the apply starts.
const WINDOW_SECONDS: f64 = 6.0;
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

/// Where the apply was when the disruption hit.
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

/// The campaign's parameters, from the environment.
struct Settings {
    seed: u64,
    trials: usize,
    only: Option<usize>,
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
        Settings {
            seed,
            trials: trials.unwrap_or(SHORT_TRIALS),
            only,
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
struct Member {
    id: String,
    /// `MySQL Single`, `PostgreSQL Ha (task center)`, …
    label: String,
    spec: Value,
}

/// The fleet of trial `index`: MySQL single, MySQL primary/standby (switching back),
/// MySQL either, PostgreSQL primary/standby whose job API does not answer, and a
/// PostgreSQL instance of either type; jobs of 2–4 s.
fn fleet(rng: &mut fastrand::Rng, index: usize) -> Vec<Member> {
    let kinds: [(&str, &str, bool); FLEET_SIZE] = [
        ("MySQL", "Single", true),
        ("MySQL", "Ha", true),
        ("MySQL", if rng.bool() { "Ha" } else { "Single" }, true),
        ("PostgreSQL", "Ha", false),
        (
            "PostgreSQL",
            if rng.bool() { "Ha" } else { "Single" },
            rng.bool(),
        ),
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(k, &(engine, instance_type, queryable))| {
            let id = format!("chaos{k}t{index:05}{}in01", "0".repeat(22));
            let seconds = 2.0 + 2.0 * rng.f64();
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
                let second = if k == 1 { "b" } else { "a" };
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

/// What one trial did and found.
struct Outcome {
    index: usize,
    disruption: Disruption,
    /// Seconds after the apply started that the disruption was aimed at.
    at: f64,
    phase: Phase,
    /// What the disruption was, in detail (signal targets, fault rate, downtime).
    detail: String,
    reapplies: u32,
    /// The first error of each apply that failed (the disrupted one included).
    errors: Vec<String>,
    /// Where the trial's logs were kept (failed trials and trials with apply errors).
    kept: Option<String>,
    /// Upgrade jobs per instance, in fleet order.
    jobs: Vec<u64>,
    took: Duration,
    /// Why the trial failed.
    failure: Option<String>,
}

impl Outcome {
    fn line(&self, seed: u64) -> String {
        let jobs: Vec<String> = self.jobs.iter().map(u64::to_string).collect();
        let result = match &self.failure {
            None => "ok".to_string(),
            Some(why) => format!("FAILED: {}", why.lines().next().unwrap_or("")),
        };
        let errors = if self.errors.is_empty() {
            String::new()
        } else {
            format!(
                "; apply errors: {}; logs: {}",
                self.errors.join(" | "),
                self.kept.as_deref().unwrap_or("-")
            )
        };
        format!(
            "chaos: seed {seed:#x} trial {:>3}  {:<17} at {:>4.2} s  phase {:<11} re-applies {}  jobs/instance {}  {result}  ({:.1} s; {}{errors})",
            self.index,
            self.disruption.name(),
            self.at,
            self.phase.name(),
            self.reapplies,
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

/// The apply's phase now, from its output and the emulator's counters.
fn phase_now(apply: &mut Running, emu: &Emulator, members: &[Member]) -> Phase {
    if apply.has_exited() {
        return Phase::AfterApply;
    }
    let stats = emu.stats();
    let count = |key: &str| -> u64 {
        members
            .iter()
            .map(|m| stats[key][&m.id].as_u64().unwrap_or(0))
            .sum()
    };
    let started_jobs = members
        .iter()
        .filter(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0) > 0)
        .count();
    if !apply.stdout_so_far().contains("Creating...") && count("upgrade_posts") == 0 {
        Phase::Planning
    } else if started_jobs < members.len() {
        Phase::Submitting
    } else {
        Phase::Tracking
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

/// The checks at the end of a trial: one job per instance, the state equals the
/// emulator, the final plan is empty.
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
        })
        .collect();
    picked[picked.len().saturating_sub(lines)..].join("\n")
}

/// Where failed trials keep their provider logs.
fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos")
}

/// Runs trial `index` of the campaign seeded with `seed`.
fn run_trial(seed: u64, index: usize) -> Outcome {
    let mut rng = trial_rng(seed, index);
    let disruption = Disruption::for_trial(index);
    let at = ((rng.f64() * WINDOW_SECONDS) * 100.0).round() / 100.0;
    let members = fleet(&mut rng, index);
    let config = json!({
        "job_seconds": 3,
        "job_visible_after_seconds": if rng.bool() { 0.0 } else { 1.0 },
        "instances": members.iter().map(|m| m.spec.clone()).collect::<Vec<_>>(),
    });
    let mut emu = Emulator::start(config, true);
    let mut ws = hwrds_workspace(common::terraform(), &emu, &configuration(&members));
    let log = ws.path().join("terraform.log");
    ws.set_env("TF_LOG_PROVIDER", "DEBUG");
    ws.set_env("TF_LOG_PATH", &log.display().to_string());

    let started = Instant::now();
    let mut outcome = Outcome {
        index,
        disruption,
        at,
        phase: Phase::AfterApply,
        detail: String::new(),
        reapplies: 0,
        errors: Vec::new(),
        kept: None,
        jobs: Vec::new(),
        took: Duration::ZERO,
        failure: None,
    };
    let mut transcript = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut apply = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
        let moment = started + Duration::from_secs_f64(at);
        while Instant::now() < moment && !apply.has_exited() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (phase, detail) = disrupt(disruption, &mut rng, &mut apply, &mut emu, &members);
        outcome.phase = phase;
        outcome.detail = detail;
        let mut last = apply.wait(COMMAND_TIMEOUT);
        // Anything a killed Terraform left running goes, as a finished CI job's would.
        for pid in processes::providers_in(ws.path()) {
            processes::signal(pid, "KILL");
        }
        loop {
            // (A killed Terraform has no exit code, and says nothing.)
            if last.code > 0 {
                outcome.errors.push(first_error(&last));
                transcript.push(format!(
                    "==== apply {} (exit {})\n{}",
                    outcome.reapplies + 1,
                    last.code,
                    last.all()
                ));
            }
            if last.code == 0 && fleet_done(&ws, &members) {
                break;
            }
            if outcome.reapplies == MAX_REAPPLIES {
                return Err(format!(
                    "the fleet is not done after {MAX_REAPPLIES} re-applies; the last one (exit {}):\n{}",
                    last.code,
                    tail(&last.all(), 40)
                ));
            }
            outcome.reapplies += 1;
            last =
                ws.run_with_timeout(&["apply", "-auto-approve", "-input=false"], COMMAND_TIMEOUT);
        }
        verify(&ws, &emu, &members)
    }));
    let stats = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| emu.stats()))
        .unwrap_or(Value::Null);
    outcome.jobs = members
        .iter()
        .map(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0))
        .collect();
    outcome.took = started.elapsed();
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()),
        ),
    };
    if failure.is_some() || !outcome.errors.is_empty() {
        // Keep what explains it: the provider's log and the failed applies' output.
        let stem = failure_dir().join(format!("seed-{seed:#x}-trial-{index}"));
        let _ = std::fs::create_dir_all(failure_dir());
        let _ = std::fs::copy(&log, stem.with_extension("provider.log"));
        let _ = std::fs::write(stem.with_extension("terraform.txt"), transcript.join("\n"));
        outcome.kept = Some(stem.display().to_string());
    }
    if let Some(why) = failure {
        let fleet: Vec<String> = members
            .iter()
            .map(|m| format!("{} = {}", m.id, m.label))
            .collect();
        outcome.failure = Some(format!(
            "{why}\nfleet: {}\nkept: {}.{{provider.log,terraform.txt}}; provider log excerpt:\n{}",
            fleet.join(", "),
            outcome.kept.as_deref().unwrap_or(""),
            provider_log_excerpt(&log, 40)
        ));
    }
    for pid in processes::providers_in(ws.path()) {
        processes::signal(pid, "KILL");
    }
    outcome
}

/// The campaign's figures.
struct Summary {
    seed: u64,
    outcomes: Vec<Outcome>,
    took: Duration,
}

impl Summary {
    fn failures(&self) -> Vec<&Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .collect()
    }

    /// Markdown tables: kills by kind and phase, jobs per instance, re-applies.
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
        let mut jobs: BTreeMap<u64, usize> = BTreeMap::new();
        for o in &self.outcomes {
            for &j in &o.jobs {
                *jobs.entry(j).or_default() += 1;
            }
        }
        let mut reapplies: BTreeMap<u32, usize> = BTreeMap::new();
        for o in &self.outcomes {
            *reapplies.entry(o.reapplies).or_default() += 1;
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
            "\n| Re-applies after the disrupted apply | Trials |\n|---:|---:|"
        );
        for (r, n) in &reapplies {
            let _ = writeln!(out, "| {r} | {n} |");
        }
        out
    }

    fn print(&self) {
        let failures = self.failures();
        eprintln!(
            "\nchaos summary: seed {:#x}, {} trials, {} passed, {} failed, {:.1} min",
            self.seed,
            self.outcomes.len(),
            self.outcomes.len() - failures.len(),
            failures.len(),
            self.took.as_secs_f64() / 60.0
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
        let _ = writeln!(
            out,
            "The randomized crash campaign: each trial upgrades a fleet of {FLEET_SIZE} instances \
             (MySQL single and primary/standby, PostgreSQL tracked through its job API or the \
             task center; jobs of 2–4 s) with real Terraform against the emulator, and hits \
             the apply at a random moment (0–{WINDOW_SECONDS:.0} s after it starts) with one \
             disruption: the provider SIGKILLed, Terraform SIGKILLed, Ctrl-C, the emulator \
             killed and restarted from its state file, or a 2–4 s burst of faults (throttling, \
             server errors, connections reset after processing, latency) at 30–60 %. Then it \
             applies again until the fleet is done. A trial passes with exactly one upgrade job \
             per instance, a state equal to the emulator (job ids, `Completed`, versions), an \
             empty final plan, and at most {MAX_REAPPLIES} re-applies.\n"
        );
        let _ = writeln!(
            out,
            "- Date: {today}\n- Commit: {commit}{}\n- Seed: `{:#x}`\n- Trials: {}, passed {}, failed {}\n- Wall time: {:.1} min\n",
            if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            self.seed,
            self.outcomes.len(),
            self.outcomes.len() - failures.len(),
            failures.len(),
            self.took.as_secs_f64() / 60.0
        );
        let _ = writeln!(
            out,
            "Disruptions by where they landed (`after apply`: the apply had ended first):\n"
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
                    "- trial {} ({}, {}): {first}",
                    o.index,
                    o.disruption.name(),
                    o.phase.name()
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
        "chaos: seed {:#x} (HWRDS_CHAOS_SEED), {} trial(s), at most {MAX_REAPPLIES} re-applies each",
        settings.seed,
        indices.len()
    );
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for index in indices {
        let outcome = run_trial(settings.seed, index);
        eprintln!("{}", outcome.line(settings.seed));
        let failed = outcome.failure.is_some();
        outcomes.push(outcome);
        if failed && let Err(why) = terraform_runs() {
            // A broken tool fails every trial that follows; that says nothing of hwrds.
            panic!("chaos: stopped after trial {index}: Terraform itself does not run ({why})");
        }
    }
    let summary = Summary {
        seed: settings.seed,
        outcomes,
        took: started.elapsed(),
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
}
