//! Section 2, Terraform at scale: `terraform plan`, `terraform apply -auto-approve` and the
//! following no-change plan for N `hwrds_db_minor_upgrade`s (against the emulator, jobs
//! finishing at once) versus N `null_resource`s, with the provider processes' CPU time
//! and peak memory during the apply.

use std::time::Duration;

use crate::Budget;
use crate::procfs::ProviderUsage;
use crate::stats::{Pairs, duration, error_block, header, mebibytes};
use crate::terraform::{Emulator, Tools, Workspace, instance_ids, ours_workspace, peer_workspace};

/// The timings of one plan → apply → plan cycle from an empty state.
struct Cycle {
    plan: f64,
    apply: f64,
    noop_plan: f64,
    /// The plan after apply still proposed changes (exit code 2).
    changes_after_apply: bool,
    usage: ProviderUsage,
}

const TIMEOUT: Duration = Duration::from_secs(600);

/// One cycle in `workspace` (the emulator, for ours, is reset first).
fn cycle(
    workspace: &Workspace,
    emulator: Option<&Emulator>,
    tools: &Tools,
    binary: &std::path::Path,
) -> Result<Cycle, String> {
    if let Some(emulator) = emulator {
        emulator.reset()?;
    }
    workspace.forget_state();
    let plan = workspace
        .run(&["plan", "-input=false", "-no-color"], None, TIMEOUT)
        .ok("plan")?;
    let apply = workspace
        .run(
            &["apply", "-auto-approve", "-input=false", "-no-color"],
            Some((binary, tools.ticks_per_second)),
            TIMEOUT,
        )
        .ok("apply -auto-approve")?;
    let noop = workspace
        .run(
            &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
            None,
            TIMEOUT,
        )
        .ok_with("plan -detailed-exitcode", &[0, 2])?;
    Ok(Cycle {
        plan: plan.wall.as_secs_f64(),
        apply: apply.wall.as_secs_f64(),
        noop_plan: noop.wall.as_secs_f64(),
        changes_after_apply: noop.code == 2,
        usage: apply.usage.unwrap_or_default(),
    })
}

/// The measurements for one N.
#[derive(Default)]
struct Sizes {
    plan: Pairs,
    apply: Pairs,
    noop_plan: Pairs,
    cpu: Pairs,
    peak: Pairs,
    /// Ours against the size-matched peer (null_resources with as many triggers).
    sized_apply: Pairs,
    sized_noop_plan: Pairs,
    /// Which providers' plans after apply proposed changes.
    changes_after_apply: Vec<&'static str>,
}

fn measure(tools: &Tools, count: usize, reps: usize, budget: &Budget) -> Result<Sizes, String> {
    let ids = instance_ids(count);
    let emulator = Emulator::start(tools, &ids, 0.0)?;
    let ours = ours_workspace(tools, &ids, &emulator.url)?;
    let peer = peer_workspace(tools, count, false)?;
    let sized = peer_workspace(tools, count, true)?;
    let mut sizes = Sizes::default();
    for rep in 0..reps {
        if rep > 0 && budget.spent() {
            println!("  time budget spent: {rep} of {reps} repetitions");
            break;
        }
        let (o, p) = if rep % 2 == 0 {
            let o = cycle(&ours, Some(&emulator), tools, &tools.ours)?;
            (o, cycle(&peer, None, tools, &tools.peer)?)
        } else {
            let p = cycle(&peer, None, tools, &tools.peer)?;
            (cycle(&ours, Some(&emulator), tools, &tools.ours)?, p)
        };
        for (label, cycle) in [("hwrds", &o), ("null", &p)] {
            if cycle.changes_after_apply && !sizes.changes_after_apply.contains(&label) {
                sizes.changes_after_apply.push(label);
            }
        }
        let z = cycle(&sized, None, tools, &tools.peer)?;
        sizes.sized_apply.push(o.apply, z.apply);
        sizes.sized_noop_plan.push(o.noop_plan, z.noop_plan);
        sizes.plan.push(o.plan, p.plan);
        sizes.apply.push(o.apply, p.apply);
        sizes.noop_plan.push(o.noop_plan, p.noop_plan);
        sizes.cpu.push(o.usage.cpu_seconds, p.usage.cpu_seconds);
        sizes
            .peak
            .push(o.usage.peak_rss_bytes as f64, p.usage.peak_rss_bytes as f64);
        println!(
            "  N={count} rep {}: plan {:.2}s/{:.2}s apply {:.2}s/{:.2}s (hwrds/null)",
            rep + 1,
            o.plan,
            p.plan,
            o.apply,
            p.apply
        );
    }
    Ok(sizes)
}

/// Section 2 for each (N, repetitions); `available` is false when our resource is missing.
pub fn section(tools: &Tools, plan: &[(usize, usize)], available: bool, budget: &Budget) -> String {
    let mut text = String::from("## 2. Terraform plan and apply, N resources\n\n");
    if !available {
        text.push_str("skipped: resource not available (`terraform providers schema -json` does not list `hwrds_db_minor_upgrade`)\n");
        return text;
    }
    text.push_str(
        "N `hwrds_db_minor_upgrade` (`count = N`, `instance_id = var.ids[count.index]` over N \
         emulator instances: MySQL Single, ACTIVE, 8.0.28 → 8.0.32, upgrade jobs finishing at \
         once) versus N `null_resource` (`count = N`) — the same construct on both sides, as \
         Terraform's own cost of `for_each = toset(var.ids)` is far higher (about 6 s of \
         Terraform CPU at N = 500 measured here, against under 1 s with `count`) and would \
         swamp both providers' figures — \
         Terraform's default `-parallelism=10`, each cycle from an empty state: `terraform plan`, \
         `terraform apply -auto-approve`, then a `terraform plan` that refreshes every resource \
         (a note below says when it still proposes changes). Provider CPU is utime+stime summed over the provider \
         processes Terraform started during the apply (clock-tick resolution, 10 ms), peak \
         memory the largest VmHWM of any one of them (sampled from /proc every 10 ms; see \
         section 4). hwrds and null alternate which goes first. The last two rows of each N \
         compare with a size-matched peer: `null_resource`s whose `triggers` hold as many \
         values as a completed upgrade's state (15), since Terraform's own work per \
         resource grows with the size of its state object.\n\n",
    );
    text.push_str(&header(&[
        "N",
        "measurement",
        "hwrds (median)",
        "null 2.1.2 (median)",
        "ratio hwrds/null",
        "runs",
    ]));
    text.push('\n');
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    for &(count, reps) in plan {
        println!("section 2: N = {count}, {reps} repetitions");
        match measure(tools, count, reps, budget) {
            Ok(sizes) => {
                let runs = sizes.plan.ours.len().to_string();
                for (label, pairs, format) in [
                    ("`plan`", &sizes.plan, duration as fn(f64) -> String),
                    ("`apply -auto-approve`", &sizes.apply, duration),
                    (
                        "`plan` after apply (refreshes all)",
                        &sizes.noop_plan,
                        duration,
                    ),
                    ("provider CPU time during apply", &sizes.cpu, duration),
                    ("provider peak RSS during apply", &sizes.peak, mebibytes),
                    (
                        "`apply` vs size-matched null (15 triggers)",
                        &sizes.sized_apply,
                        duration,
                    ),
                    (
                        "`plan` after apply vs size-matched null",
                        &sizes.sized_noop_plan,
                        duration,
                    ),
                ] {
                    text.push_str(&pairs.row(
                        &format!("{count} | {label}"),
                        format,
                        std::slice::from_ref(&runs),
                    ));
                    text.push('\n');
                }
                for label in &sizes.changes_after_apply {
                    notes.push(format!(
                        "N = {count}: {label}'s plan after apply still proposed changes."
                    ));
                }
            }
            Err(e) => {
                println!("  failed: {e}");
                errors.push(error_block(&format!("N = {count}"), &e));
            }
        }
    }
    for note in notes {
        text.push_str(&format!("\nNote: {note}\n"));
    }
    for e in errors {
        text.push_str(&e);
    }
    text
}
