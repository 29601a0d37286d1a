//! The randomized crash campaign, under flow control. Each seeded trial upgrades a fleet
//! of 8–12 instances (MySQL single and primary/standby, PostgreSQL with and without a
//! queryable job API, so the task-center tracking is used; jobs of 3–8 s, or longer
//! when new jobs stay invisible for a second: see [`design::shortest_job`]) with real
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
//! [`trial::refused_by_the_final_plan_check`]).
//!
//! `make test` runs the short campaign: [`SHORT_TRIALS`] trials with a fixed seed (a
//! provider killed at a submission, and a two- or three-workspace trial). `make chaos`
//! runs `HWRDS_CHAOS_TRIALS` (default 100) and writes RELIABILITY.md
//! (`HWRDS_CHAOS_WRITE=1`). `HWRDS_CHAOS_SEED` sets the seed (printed at the start);
//! `HWRDS_CHAOS_ONLY=<trial>` with the same seed reruns one trial.

pub mod common;

// The campaign's parts (modules of this crate, not test crates of their own).
#[path = "chaos/design.rs"]
mod design;
#[path = "chaos/report.rs"]
mod report;
#[path = "chaos/trial.rs"]
mod trial;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fixtures::flat;
use common::processes::{self, Running};
use common::{Emulator, Workspace, hwrds_workspace, truth};
use design::*;
use report::*;
use serde_json::{Value, json};
use trial::*;

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
