//! Sections 3 and 4, the fleet upgrade: one `terraform apply -parallelism=200` of 200
//! `hwrds_db_minor_upgrade`s whose emulated jobs take 5 s each — wall time against the
//! job time, API requests and upgrade jobs per instance (from the emulator's stats), and
//! the provider processes' CPU time and peak memory during that apply.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Budget;
use crate::stats::{duration, error_block, header, mebibytes, median, number};
use crate::terraform::{Emulator, Tools, instance_ids, ours_workspace};

/// Instances in the fleet.
pub const FLEET: usize = 200;
/// Seconds each emulated upgrade job takes.
pub const JOB_SECONDS: f64 = 5.0;

/// One fleet apply, measured.
struct FleetRun {
    wall: f64,
    requests: BTreeMap<String, f64>,
    upgrade_posts: f64,
    upgrade_jobs: f64,
    upgraded_instances: usize,
    /// Worst and median seconds from a job's end to the first answer reporting it.
    worst_lag: f64,
    median_lag: f64,
    cpu: f64,
    peak: f64,
    processes: usize,
}

fn sum_values(value: &serde_json::Value) -> f64 {
    value
        .as_object()
        // + 0.0: an empty float sum is -0.0.
        .map(|m| {
            m.values()
                .filter_map(serde_json::Value::as_f64)
                .sum::<f64>()
                + 0.0
        })
        .unwrap_or(0.0)
}

fn fleet_apply(tools: &Tools) -> Result<FleetRun, String> {
    let ids = instance_ids(FLEET);
    let emulator = Emulator::start(tools, &ids, JOB_SECONDS)?;
    let workspace = ours_workspace(tools, &ids, &emulator.url)?;
    let run = workspace
        .run(
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=200",
            ],
            Some((&tools.ours, tools.ticks_per_second)),
            Duration::from_secs(600),
        )
        .ok("apply -auto-approve -parallelism=200")?;
    let stats = emulator.stats()?;
    let requests = stats["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(route, n)| (route.clone(), n.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    let usage = run.usage.unwrap_or_default();
    let lags: Vec<f64> = stats["completion_lag_seconds"]
        .as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    Ok(FleetRun {
        worst_lag: lags.iter().cloned().fold(f64::NAN, f64::max),
        median_lag: median(&lags).unwrap_or(f64::NAN),
        wall: run.wall.as_secs_f64(),
        requests,
        upgrade_posts: sum_values(&stats["upgrade_posts"]),
        upgrade_jobs: sum_values(&stats["upgrade_jobs"]),
        upgraded_instances: stats["upgrade_jobs"]
            .as_object()
            .map(|m| m.values().filter(|n| n.as_u64() > Some(0)).count())
            .unwrap_or(0),
        cpu: usage.cpu_seconds,
        peak: usage.peak_rss_bytes as f64,
        processes: usage.processes,
    })
}

/// Sections 3 and 4 over `reps` fleet applies (a fresh emulator each).
pub fn sections(tools: &Tools, reps: usize, available: bool, budget: &Budget) -> String {
    let mut text = String::from("## 3. Fleet upgrade\n\n");
    let section4 = "## 4. Provider CPU and memory during the fleet apply\n\n";
    if !available {
        let skipped = "skipped: resource not available (`terraform providers schema -json` does not list `hwrds_db_minor_upgrade`)\n\n";
        return format!("{text}{skipped}{section4}{skipped}");
    }
    let mut runs = Vec::new();
    let mut errors = String::new();
    for rep in 0..reps {
        if rep > 0 && budget.spent() {
            println!("section 3: time budget spent after {rep} of {reps} fleet applies");
            break;
        }
        println!("section 3: fleet apply {}/{reps}", rep + 1);
        match fleet_apply(tools) {
            Ok(run) => {
                println!(
                    "  apply {:.2}s, provider CPU {:.2}s, peak {:.1} MiB",
                    run.wall,
                    run.cpu,
                    run.peak / 1048576.0
                );
                runs.push(run);
            }
            Err(e) => {
                println!("  failed: {e}");
                errors.push_str(&error_block(&format!("fleet apply {}", rep + 1), &e));
            }
        }
    }
    const N: f64 = FLEET as f64;
    let med = |f: fn(&FleetRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let cell = |v: Option<f64>, format: fn(f64) -> String| v.map(format).unwrap_or("–".into());
    text.push_str(&format!(
        "{FLEET} `hwrds_db_minor_upgrade`s, one `terraform apply -auto-approve -parallelism=200` \
         from an empty state (its plan included) against a fresh emulator whose upgrade jobs take \
         {JOB_SECONDS} s each. Medians over {} run(s); per-instance figures count every API \
         request the emulator answered during the run.\n\n",
        runs.len()
    ));
    text.push_str(&header(&["measurement", "hwrds (median)"]));
    text.push('\n');
    let rows: Vec<(&str, String)> = vec![
        ("apply wall time", cell(med(|r| r.wall), duration)),
        ("job time", duration(JOB_SECONDS)),
        (
            "apply wall time / job time",
            cell(med(|r| r.wall / JOB_SECONDS), number),
        ),
        (
            "worst lag, job end → provider noticed (target ≤ 10 % of job time + 1 s)",
            cell(med(|r| r.worst_lag), duration),
        ),
        (
            "median lag, job end → provider noticed",
            cell(med(|r| r.median_lag), duration),
        ),
        (
            "API requests per instance (all routes)",
            cell(med(|r| r.requests.values().sum::<f64>() / N), number),
        ),
        (
            "upgrade POSTs per instance",
            cell(med(|r| r.upgrade_posts / N), number),
        ),
        (
            "upgrade jobs per instance",
            cell(med(|r| r.upgrade_jobs / N), number),
        ),
        (
            "instances upgraded",
            cell(med(|r| r.upgraded_instances as f64), |v| {
                format!("{v:.0} of {FLEET}")
            }),
        ),
    ];
    for (label, value) in rows {
        text.push_str(&format!("| {label} | {value} |\n"));
    }
    if let Some(last) = runs.last() {
        text.push_str("\nRequests per instance by route (last run):\n\n");
        text.push_str(&header(&["route", "requests per instance"]));
        text.push('\n');
        for (route, count) in &last.requests {
            text.push_str(&format!("| `{route}` | {:.2} |\n", count / N));
        }
    }
    text.push_str(&errors);

    text.push('\n');
    text.push_str(section4);
    text.push_str(
        "The provider processes Terraform started during the fleet apply, found by polling \
         /proc every 10 ms for Terraform's children running the provider binary. CPU time is \
         utime+stime summed over them (Terraform's cutime+cstime for those it has reaped, plus \
         the running ones; clock-tick resolution, 10 ms); peak memory is the largest VmHWM of \
         any one of them.\n\n",
    );
    text.push_str(&header(&["measurement", "hwrds (median)"]));
    text.push('\n');
    let rows: Vec<(&str, String)> = vec![
        ("provider CPU time", cell(med(|r| r.cpu), duration)),
        (
            "provider CPU time per instance",
            cell(med(|r| r.cpu / N), duration),
        ),
        (
            "provider peak RSS (VmHWM)",
            cell(med(|r| r.peak), mebibytes),
        ),
        (
            "provider processes seen",
            cell(med(|r| r.processes as f64), |v| format!("{v:.0}")),
        ),
    ];
    for (label, value) in rows {
        text.push_str(&format!("| {label} | {value} |\n"));
    }
    text
}
