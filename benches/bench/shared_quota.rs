//! Section 6, many workspaces on one account: K `terraform apply`s at once, each its own
//! workspace of N/K instances and so its own provider process, all signing with the same
//! access key against one emulator at the documented policy with time scaled as in
//! section 5. The quota is per user, not per process, so the K providers share one POST
//! quota (and one of every other API) without seeing each other's use. Wall time of the
//! whole run against the floor the shared quota sets, requests and refusals per API,
//! one job per instance, and how far apart the workspaces finish. Section 8 runs the
//! same in real one-minute windows with each provider told nothing ([`Metering::REAL`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::flow::{
    JOB_SECONDS, LIMIT, TOLD_QUOTA_PER_MINUTE, WINDOW_SECONDS, burst_floor, later, values,
};
use crate::stats::{duration, error_block, header, median, number};
use crate::terraform::{Emulator, Tools, instance_ids, ours_workspace};

/// How the emulator meters the account, how long jobs take, and what each provider is
/// told of the quota.
pub struct Metering {
    pub limit: f64,
    /// The window, in seconds.
    pub window: f64,
    /// Job time, in seconds.
    pub job: f64,
    /// `HWRDS_API_QUOTA_PER_MINUTE` for each provider; `None`: told nothing, so it paces
    /// by its default, the documented policy.
    pub told: Option<&'static str>,
}

impl Metering {
    /// Section 5's: time scaled ten-fold, each provider told ten times too much.
    pub const SCALED: Metering = Metering {
        limit: LIMIT,
        window: WINDOW_SECONDS,
        job: JOB_SECONDS,
        told: Some(TOLD_QUOTA_PER_MINUTE),
    };

    /// The documented policy in real one-minute windows, jobs of half a window, each
    /// provider told nothing.
    pub const REAL: Metering = Metering {
        limit: 60.0,
        window: 60.0,
        job: 30.0,
        told: None,
    };

    fn flow_control(&self) -> serde_json::Value {
        serde_json::json!({"enabled": true, "limit": self.limit as u32, "window_seconds": self.window})
    }
}

/// One workspace's apply, timed from the start of the whole run.
struct WorkspaceRun {
    started: f64,
    finished: f64,
    /// The tail of Terraform's output when the apply failed.
    failure: Option<String>,
}

struct SharedRun {
    k: usize,
    n: usize,
    wall: f64,
    floor: f64,
    workspaces: Vec<WorkspaceRun>,
    requests: BTreeMap<String, f64>,
    throttled: BTreeMap<String, f64>,
    /// Per API: accepted and refused requests once that API's first window had passed.
    later_by_api: BTreeMap<String, (f64, f64)>,
    later_requests: f64,
    later_throttled: f64,
    upgrade_jobs: f64,
    one_job_each: bool,
    worst_lag: f64,
    median_lag: f64,
}

impl SharedRun {
    fn accepted(&self) -> f64 {
        self.requests.values().sum()
    }

    fn refused(&self) -> f64 {
        // `+ 0.0`: an empty sum is -0.0, which prints as "-0".
        self.throttled.values().sum::<f64>() + 0.0
    }

    fn failed(&self) -> usize {
        self.workspaces
            .iter()
            .filter(|w| w.failure.is_some())
            .count()
    }

    fn finishes(&self) -> Vec<f64> {
        let mut finishes: Vec<f64> = self.workspaces.iter().map(|w| w.finished).collect();
        finishes.sort_by(f64::total_cmp);
        finishes
    }
}

/// Runs the K applies of `k` workspaces over `n` instances at once and reads the
/// emulator's counters once all have ended.
fn shared_apply(
    tools: &Tools,
    n: usize,
    k: usize,
    metering: &Metering,
) -> Result<SharedRun, String> {
    let ids = instance_ids(n);
    let emulator = Emulator::start_with(tools, &ids, metering.job, metering.flow_control())?;
    let per_workspace = n / k;
    let workspaces = ids
        .chunks(per_workspace)
        .map(|chunk| {
            let mut workspace = ours_workspace(tools, chunk, &emulator.url)?;
            match metering.told {
                Some(told) => workspace.set_env("HWRDS_API_QUOTA_PER_MINUTE", told),
                None => {
                    workspace.unset_env("HWRDS_API_QUOTA_PER_MINUTE");
                    workspace.unset_env("HWRDS_MAX_REQUESTS_PER_SECOND");
                }
            }
            Ok(workspace)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let parallelism = format!("-parallelism={per_workspace}");
    let args = [
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        &parallelism,
    ];
    let start = Instant::now();
    let runs: Vec<WorkspaceRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = workspaces
            .iter()
            .map(|workspace| {
                scope.spawn(move || {
                    let started = start.elapsed();
                    let run = workspace.run(&args, None, Duration::from_secs(1800));
                    let finished = started + run.wall;
                    WorkspaceRun {
                        started: started.as_secs_f64(),
                        finished: finished.as_secs_f64(),
                        failure: run.ok("apply under a shared quota").err(),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| WorkspaceRun {
                    started: 0.0,
                    finished: start.elapsed().as_secs_f64(),
                    failure: Some("the thread running this apply panicked".into()),
                })
            })
            .collect()
    });
    let first_start = runs.iter().map(|r| r.started).fold(f64::INFINITY, f64::min);
    let last_finish = runs.iter().map(|r| r.finished).fold(0.0, f64::max);
    let stats = emulator.stats()?;
    let lags: Vec<f64> = values(&stats["completion_lag_seconds"])
        .into_values()
        .collect();
    let jobs = values(&stats["upgrade_jobs"]);
    let later_by_api = stats["after_first_window"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(api, c)| {
                    let count = |field: &str| c[field].as_f64().unwrap_or(0.0);
                    (api.clone(), (count("requests"), count("throttled")))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SharedRun {
        k,
        n,
        wall: last_finish - first_start,
        floor: burst_floor(n, metering.limit, metering.window, metering.job),
        workspaces: runs,
        requests: values(&stats["requests"]),
        throttled: values(&stats["throttled"]),
        later_by_api,
        later_requests: later(&stats, "requests"),
        later_throttled: later(&stats, "throttled"),
        upgrade_jobs: jobs.values().sum::<f64>() + 0.0,
        one_job_each: jobs.len() == n && jobs.values().all(|j| *j == 1.0),
        worst_lag: lags.iter().cloned().fold(f64::NAN, f64::max),
        median_lag: median(&lags).unwrap_or(f64::NAN),
    })
}

/// How long after the first workspace the last one finished.
fn spread(run: &SharedRun) -> f64 {
    let finishes = run.finishes();
    match (finishes.first(), finishes.last()) {
        (Some(first), Some(last)) => last - first,
        _ => f64::NAN,
    }
}

/// The upgrade POSTs among per-API counts.
fn upgrade_posts(counts: &BTreeMap<String, f64>) -> f64 {
    counts
        .iter()
        .filter(|(api, _)| api.starts_with("POST") && api.ends_with("db-upgrade"))
        .map(|(_, v)| v)
        .sum::<f64>()
        + 0.0
}

/// `refused` of `refused + accepted` as a percentage, with the counts.
fn share(refused: f64, accepted: f64) -> String {
    format!(
        "{:.2} % ({:.0} of {:.0})",
        100.0 * refused / (refused + accepted).max(1.0),
        refused,
        refused + accepted
    )
}

/// What section 6 runs: a fleet of `n` instances split over each number of workspaces
/// in `splits`, then each split of `repeated` `repeats` more times.
pub struct Split {
    pub n: usize,
    pub splits: &'static [usize],
    pub repeated: &'static [usize],
    pub repeats: usize,
}

/// One run of `k` workspaces, its progress printed; a run that could not be made is an
/// error block in `text`.
fn run_split(
    tools: &Tools,
    n: usize,
    k: usize,
    metering: &Metering,
    text: &mut String,
) -> Option<SharedRun> {
    println!("{n} instances in {k} workspaces, one account");
    match shared_apply(tools, n, k, metering) {
        Ok(run) => {
            println!(
                "  K = {k}: {:.1}s (floor {:.1}s), {} of {k} applies failed, {:.0} accepted, {:.0} throttled",
                run.wall,
                run.floor,
                run.failed(),
                run.accepted(),
                run.refused()
            );
            Some(run)
        }
        Err(e) => {
            println!("  failed: {e}");
            text.push_str(&error_block(&format!("K = {k}"), &e));
            None
        }
    }
}

/// Section 6 (see [`Split`]). Each run takes a few minutes with no repetitions to leave
/// out, so the time budget does not shorten it.
pub fn section(tools: &Tools, split: &Split, available: bool) -> String {
    let Split {
        n,
        splits,
        repeated,
        repeats,
    } = *split;
    let mut text = String::from("## 6. Many workspaces, one account\n\n");
    if !available {
        text.push_str("skipped: resource not available\n\n");
        return text;
    }
    text.push_str(&format!(
        "K `terraform apply -auto-approve -parallelism=N/K` started at once (every create of a \
         workspace in flight together, as in section 5), each in its own workspace holding N/K \
         of the N = {n} instances (disjoint), so K provider processes \
         sign with the same access key: the flow-control quota is per user, not per process, \
         and no process sees the others' use. The emulator enforces the same policy as in \
         section 5, {LIMIT} requests per user per API per window, with time scaled ten-fold: a \
         {WINDOW_SECONDS} s window (sliding), jobs of {JOB_SECONDS} s (ten windows; real \
         upgrades take about 20 minutes against a one-minute window, so here submission weighs \
         twice as much against the job as it would for real). Each provider is told the same \
         quota as in section 5, ten times too high (`api_quota_per_minute = \
         {TOLD_QUOTA_PER_MINUTE}`), and learns the policy from the 429 bodies; the default \
         (60 per minute) would be a tenth of the scaled policy, and nothing would correct it \
         since it draws no 429 (section 8 runs the default in real windows). The floor is the \
         account's, whatever K: the gateway admits a burst of its whole limit, so the shared \
         POST quota lets the last of N submissions leave ⌊(N−1)/{LIMIT}⌋ windows after the \
         first; then its job runs. Wall time runs from the first apply's start to the last \
         one's end; requests and refusals are the emulator's counts for the one user, all \
         processes together.\n\n"
    ));
    let started = Instant::now();
    let metering = Metering::SCALED;
    let runs: Vec<SharedRun> = splits
        .iter()
        .filter_map(|&k| run_split(tools, n, k, &metering, &mut text))
        .collect();
    let again: Vec<(usize, Vec<SharedRun>)> = repeated
        .iter()
        .map(|&k| {
            let more = (0..repeats)
                .filter_map(|_| run_split(tools, n, k, &metering, &mut text))
                .collect();
            (k, more)
        })
        .collect();
    println!("section 6: {:.0} s", started.elapsed().as_secs_f64());
    text.push_str(&table(&runs));
    for (k, more) in &again {
        text.push_str(&run_to_run(&runs, more, *k));
        text.push_str(&failures(more));
    }
    text.push_str(
        "\nThe refusals are the whole account's: every process starts from a quota ten times \
         too high and meets its first 429 in an API's first window, but after that window a \
         refusal means the processes together asked for more than the account's quota. The \
         spread shows how evenly they shared it: processes that each took a fair share finish \
         together.\n",
    );
    text
}

/// Section 8: `runs` of (N, K) in real one-minute windows at the documented policy, jobs
/// of half a window, each provider told nothing of the quota.
pub fn real_windows(tools: &Tools, runs: &[(usize, usize)], available: bool) -> String {
    let mut text = String::from("## 8. Real one-minute windows, providers told nothing\n\n");
    if !available {
        text.push_str("skipped: resource not available\n\n");
        return text;
    }
    let metering = Metering::REAL;
    text.push_str(&format!(
        "As section 6, in real time: the emulator enforces the documented policy, {} requests \
         per user per API per {} s window (sliding), jobs take {} s, and each provider is told \
         nothing of the quota (no `api_quota_per_minute`, no `max_requests_per_second`): it \
         paces by its default, the documented policy, and draws no 429 to learn from unless \
         other processes spend the quota. Scaled time cannot show this case, since the \
         default does not scale. K = 1 is one apply alone. The floor: ⌊(N−1)/{}⌋ windows, \
         then the job.\n\n",
        metering.limit, metering.window, metering.job, metering.limit
    ));
    let started = Instant::now();
    let done: Vec<SharedRun> = runs
        .iter()
        .filter_map(|&(n, k)| run_split(tools, n, k, &metering, &mut text))
        .collect();
    println!("section 8: {:.0} s", started.elapsed().as_secs_f64());
    text.push_str(&table(&done));
    text
}

/// The tables of `runs`: one column each.
fn table(runs: &[SharedRun]) -> String {
    let mut text = String::new();
    if runs.is_empty() {
        return text;
    }
    let names: Vec<String> = runs
        .iter()
        .map(|r| format!("K = {}, N = {}", r.k, r.n))
        .collect();
    let mut columns = vec!["measurement"];
    columns.extend(names.iter().map(String::as_str));
    let table_header = header(&columns);
    text.push_str(&table_header);
    text.push('\n');
    let row = |label: &str, f: &dyn Fn(&SharedRun) -> String| {
        let cells: Vec<String> = runs.iter().map(f).collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    text.push_str(&row("workspaces × instances (parallelism)", &|r| {
        format!("{} × {}", r.k, r.n / r.k)
    }));
    text.push_str(&row("every apply succeeded", &|r| {
        if r.failed() == 0 {
            "yes".into()
        } else {
            format!("NO ({} of {} failed)", r.failed(), r.k)
        }
    }));
    text.push_str(&row("wall time, first start → last finish", &|r| {
        duration(r.wall)
    }));
    text.push_str(&row(
        "floor (submissions at the account's POST quota, then the job)",
        &|r| duration(r.floor),
    ));
    text.push_str(&row("wall / floor (target ≤ 1.15)", &|r| {
        number(r.wall / r.floor)
    }));
    text.push_str(&row(
        "workspaces finished (first / median / last, from the start)",
        &|r| {
            let finishes = r.finishes();
            format!(
                "{} / {} / {}",
                duration(finishes.first().copied().unwrap_or(f64::NAN)),
                duration(median(&finishes).unwrap_or(f64::NAN)),
                duration(finishes.last().copied().unwrap_or(f64::NAN))
            )
        },
    ));
    text.push_str(&row("spread, first → last workspace to finish", &|r| {
        let finishes = r.finishes();
        match (finishes.first(), finishes.last()) {
            (Some(first), Some(last)) => duration(last - first),
            _ => "–".into(),
        }
    }));
    text.push_str(&row("spread / wall (target ≤ 10 %)", &|r| {
        format!("{:.1} %", 100.0 * spread(r) / r.wall)
    }));
    text.push_str(&row("accepted requests per instance (all APIs)", &|r| {
        number(r.accepted() / r.n as f64)
    }));
    text.push_str(&row(
        "429 refusals / all requests, whole run (target ≤ 5 %)",
        &|r| share(r.refused(), r.accepted()),
    ));
    text.push_str(&row(
        "429 refusals / all requests after each API's first window",
        &|r| share(r.later_throttled, r.later_requests),
    ));
    text.push_str(&row("upgrade POSTs accepted per instance", &|r| {
        number(upgrade_posts(&r.requests) / r.n as f64)
    }));
    text.push_str(&row("upgrade POSTs refused (429) per instance", &|r| {
        number(upgrade_posts(&r.throttled) / r.n as f64)
    }));
    text.push_str(&row("exactly one upgrade job per instance", &|r| {
        format!(
            "{} ({:.0} jobs)",
            if r.one_job_each { "yes" } else { "NO" },
            r.upgrade_jobs
        )
    }));
    text.push_str(&row("worst lag, job end → provider noticed", &|r| {
        duration(r.worst_lag)
    }));
    text.push_str(&row("median lag, job end → provider noticed", &|r| {
        duration(r.median_lag)
    }));
    let routes: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.requests.keys().chain(r.throttled.keys()))
        .collect();
    text.push_str("\nAccepted / refused (429) requests by API, whole run:\n\n");
    text.push_str(&table_header);
    text.push('\n');
    for route in &routes {
        text.push_str(&row(&format!("`{route}`"), &|r| {
            format!(
                "{:.0} / {:.0}",
                r.requests.get(*route).copied().unwrap_or(0.0),
                r.throttled.get(*route).copied().unwrap_or(0.0)
            )
        }));
    }
    text.push_str("\nAccepted / refused (429) requests by API, after that API's first window:\n\n");
    text.push_str(&table_header);
    text.push('\n');
    for route in &routes {
        text.push_str(&row(&format!("`{route}`"), &|r| {
            let (accepted, refused) = r.later_by_api.get(*route).copied().unwrap_or_default();
            format!("{accepted:.0} / {refused:.0}")
        }));
    }
    text.push_str(&failures(runs));
    text
}

/// The failed applies of `runs`, one error block each.
fn failures(runs: &[SharedRun]) -> String {
    let mut text = String::new();
    for run in runs {
        for (i, workspace) in run.workspaces.iter().enumerate() {
            if let Some(failure) = &workspace.failure {
                text.push_str(&error_block(
                    &format!("K = {}, workspace {}", run.k, i + 1),
                    failure,
                ));
            }
        }
    }
    text
}

/// One row of the run-by-run table: a figure of a run, and how it is written.
struct Figure {
    label: &'static str,
    of: fn(&SharedRun) -> f64,
    show: fn(f64) -> String,
}

/// A split's run in the table above and its repeats side by side, with the
/// median and range of each figure: how far one run of it can be trusted.
fn run_to_run(runs: &[SharedRun], again: &[SharedRun], k: usize) -> String {
    let in_table = runs.iter().find(|r| r.k == k);
    let all: Vec<&SharedRun> = in_table.into_iter().chain(again).collect();
    if all.len() < 2 {
        return String::new();
    }
    let first = if in_table.is_some() {
        "run 1 is the column above, then"
    } else {
        "the column above failed;"
    };
    let times = match again.len() {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    };
    let mut text = format!("\nK = {k}, run by run ({first} the same run again, {times}):\n\n");
    let names: Vec<String> = (1..=all.len()).map(|i| format!("run {i}")).collect();
    let mut columns = vec!["measurement"];
    columns.extend(names.iter().map(String::as_str));
    columns.push("median (min – max)");
    text.push_str(&header(&columns));
    text.push('\n');
    let percent = |v: f64| format!("{v:.2}");
    let count = |v: f64| format!("{v:.0}");
    let figures = [
        Figure {
            label: "wall / floor",
            of: |r| r.wall / r.floor,
            show: number,
        },
        Figure {
            label: "429 refusals / all requests, whole run (%)",
            of: |r| 100.0 * r.refused() / (r.refused() + r.accepted()).max(1.0),
            show: percent,
        },
        Figure {
            label: "429 refusals / all requests after each API's first window (%)",
            of: |r| 100.0 * r.later_throttled / (r.later_throttled + r.later_requests).max(1.0),
            show: percent,
        },
        Figure {
            label: "spread, first → last workspace to finish / wall (%)",
            of: |r| 100.0 * spread(r) / r.wall,
            show: percent,
        },
        Figure {
            label: "upgrade POSTs refused (429) per instance",
            of: |r| upgrade_posts(&r.throttled) / r.n as f64,
            show: number,
        },
        Figure {
            label: "failed applies",
            of: |r| r.failed() as f64,
            show: count,
        },
        Figure {
            label: "upgrade jobs (one per instance: N)",
            of: |r| r.upgrade_jobs,
            show: count,
        },
    ];
    for Figure { label, of, show } in figures {
        let values: Vec<f64> = all.iter().map(|r| of(r)).collect();
        let cells: Vec<String> = values.iter().map(|v| show(*v)).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mid = median(&values).unwrap_or(f64::NAN);
        text.push_str(&format!(
            "| {label} | {} | {} ({} – {}) |\n",
            cells.join(" | "),
            show(mid),
            show(min),
            show(max)
        ));
    }
    text
}
