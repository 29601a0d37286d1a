//! The campaign's summary: the lines printed at its end and RELIABILITY.md.

use super::*;

/// The campaign's figures.
pub struct Summary {
    pub seed: u64,
    pub outcomes: Vec<Outcome>,
    pub took: Duration,
    pub jobs: usize,
}

/// A row's counts over some trials: trials, failed, workspaces re-applied, of those
/// whose first re-apply succeeded, and whose first re-apply Terraform's final-plan check
/// refused.
pub fn counts<'a>(trials: impl Iterator<Item = &'a Outcome>) -> [usize; 5] {
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
    pub fn failures(&self) -> Vec<&Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .collect()
    }

    /// Disruptions that landed while the target submitted, and all of them.
    pub fn submitting(&self) -> (usize, usize) {
        let landed = self
            .outcomes
            .iter()
            .filter(|o| o.phase == Phase::Submitting);
        (landed.count(), self.outcomes.len())
    }

    /// Workspaces re-applied, and of those whose first re-apply succeeded.
    pub fn first_reapplies(&self) -> (usize, usize) {
        let [_, _, needed, ok, _] = counts(self.outcomes.iter());
        (needed, ok)
    }

    /// First re-applies refused by Terraform's final-plan check.
    pub fn final_plan_refusals(&self) -> usize {
        counts(self.outcomes.iter())[4]
    }

    /// Markdown tables: disruptions by kind and phase; trials by phase, by workspaces
    /// sharing the credential and by quota with their first re-applies; jobs per
    /// instance; re-applies per workspace.
    pub fn tables(&self) -> String {
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
    pub fn headline(&self) -> String {
        let (landed, all) = self.submitting();
        let (needed, ok) = self.first_reapplies();
        format!(
            "{landed} of {all} disruptions landed while submitting ({:.0} %); the first re-apply succeeded for {ok} of {needed} workspaces that needed one; Terraform's final-plan check refused {} (an upgrade submitted moments before their plan)",
            100.0 * landed as f64 / all.max(1) as f64,
            self.final_plan_refusals()
        )
    }

    pub fn print(&self) {
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

    pub fn reliability_md(&self) -> String {
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
