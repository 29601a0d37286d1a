//! Section 5, fleets under the API's flow control: one `terraform apply
//! -parallelism=N` of N upgrades against the emulator enforcing Huawei's documented
//! standard policy (60 requests per user per API per window) with time scaled ten-fold
//! (a 6 s window), jobs ten windows long. The provider starts from a quota assumed far
//! above the real one and learns the real policy from the gateway's 429 bodies. Wall
//! time against the floor the quota sets ([`burst_floor`]), requests per instance per
//! API, refusals, the lag from a job's end to the provider noticing it, and the
//! provider's CPU time and peak memory.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Budget;
use crate::stats::{duration, error_block, header, mebibytes, median, number};
use crate::terraform::{Emulator, Tools, instance_ids, ours_workspace};

/// The documented limit per user per API and window.
pub const LIMIT: f64 = 60.0;
/// The window, scaled from 60 s.
pub const WINDOW_SECONDS: f64 = 6.0;
/// Job time: ten windows.
pub const JOB_SECONDS: f64 = 60.0;
/// The quota each provider is told (`HWRDS_API_QUOTA_PER_MINUTE`): ten times what the
/// scaled gateway allows, so the 429 bodies teach it the rest.
pub const TOLD_QUOTA_PER_MINUTE: &str = "6000";

/// The floor a quota of `limit` requests per `window` seconds sets on `n` submissions
/// whose jobs take `job` seconds: whatever its algorithm (fixed window, sliding log,
/// token bucket), the gateway admits a burst of its whole limit, so the last of `n`
/// submissions can leave ⌊(n−1)/limit⌋ windows after the first; then its job runs.
pub fn burst_floor(n: usize, limit: f64, window: f64, job: f64) -> f64 {
    ((n.max(1) as f64 - 1.0) / limit).floor() * window + job
}

/// The emulator's `flow_control` at the documented policy, time scaled ten-fold.
pub fn scaled_policy() -> serde_json::Value {
    serde_json::json!({"enabled": true, "limit": LIMIT as u32, "window_seconds": WINDOW_SECONDS})
}

struct FlowRun {
    n: usize,
    wall: f64,
    floor: f64,
    requests: BTreeMap<String, f64>,
    throttled_by_api: BTreeMap<String, f64>,
    throttled: f64,
    /// Accepted and refused requests, all APIs, once each API's first window had passed.
    later_requests: f64,
    later_throttled: f64,
    upgrade_jobs: f64,
    one_job_each: bool,
    worst_lag: f64,
    median_lag: f64,
    cpu: f64,
    peak: f64,
}

/// A JSON object of numbers (`stats.requests`, `stats.throttled`, …) as a map.
pub fn values(value: &serde_json::Value) -> BTreeMap<String, f64> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default()
}

/// The sum over APIs of `after_first_window.<api>.<field>` in the emulator's stats.
pub fn later(stats: &serde_json::Value, field: &str) -> f64 {
    stats["after_first_window"]
        .as_object()
        .map(|m| m.values().filter_map(|c| c[field].as_f64()).sum())
        .unwrap_or(0.0)
}

fn flow_apply(tools: &Tools, n: usize) -> Result<FlowRun, String> {
    let ids = instance_ids(n);
    let emulator = Emulator::start_with(tools, &ids, JOB_SECONDS, scaled_policy())?;
    let mut workspace = ours_workspace(tools, &ids, &emulator.url)?;
    workspace.set_env("HWRDS_API_QUOTA_PER_MINUTE", TOLD_QUOTA_PER_MINUTE);
    let parallelism = format!("-parallelism={n}");
    let run = workspace
        .run(
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                &parallelism,
            ],
            Some((&tools.ours, tools.ticks_per_second)),
            Duration::from_secs(1800),
        )
        .ok("apply under flow control")?;
    let stats = emulator.stats()?;
    let lags: Vec<f64> = values(&stats["completion_lag_seconds"])
        .into_values()
        .collect();
    let jobs = values(&stats["upgrade_jobs"]);
    let usage = run.usage.unwrap_or_default();
    Ok(FlowRun {
        n,
        wall: run.wall.as_secs_f64(),
        floor: burst_floor(n, LIMIT, WINDOW_SECONDS, JOB_SECONDS),
        requests: values(&stats["requests"]),
        throttled_by_api: values(&stats["throttled"]),
        throttled: values(&stats["throttled"]).values().sum::<f64>() + 0.0,
        later_requests: later(&stats, "requests"),
        later_throttled: later(&stats, "throttled"),
        upgrade_jobs: jobs.values().sum::<f64>() + 0.0,
        one_job_each: jobs.len() == n && jobs.values().all(|j| *j == 1.0),
        worst_lag: lags.iter().cloned().fold(f64::NAN, f64::max),
        median_lag: median(&lags).unwrap_or(f64::NAN),
        cpu: usage.cpu_seconds,
        peak: usage.peak_rss_bytes as f64,
    })
}

/// Section 5 for each fleet size in `sizes`.
pub fn section(tools: &Tools, sizes: &[usize], available: bool, budget: &Budget) -> String {
    let mut text = String::from("## 5. Fleets under flow control\n\n");
    if !available {
        text.push_str("skipped: resource not available\n\n");
        return text;
    }
    text.push_str(&format!(
        "One `terraform apply -parallelism=N` of N `hwrds_db_minor_upgrade`s from an empty \
         state against the emulator enforcing the documented standard policy, {LIMIT} requests \
         per user per API per window, with time scaled ten-fold: a {WINDOW_SECONDS} s window \
         (sliding), jobs of {JOB_SECONDS} s (ten windows). The provider is told a quota ten times \
         too high (`api_quota_per_minute = 6000`) and learns the real policy from the 429 \
         bodies (`limit:60,time:6 second`). The floor: whatever its algorithm, the gateway \
         admits a burst of its whole limit, so the last of N submissions can leave \
         ⌊(N−1)/{LIMIT}⌋ windows after the first; then its job runs.\n\n"
    ));
    let mut runs = Vec::new();
    for &n in sizes {
        if budget.spent() {
            println!("section 5: time budget spent before N = {n}");
            break;
        }
        println!("section 5: fleet of {n} under flow control");
        match flow_apply(tools, n) {
            Ok(run) => {
                println!(
                    "  N = {n}: {:.1}s (floor {:.1}s), {} throttled",
                    run.wall, run.floor, run.throttled
                );
                runs.push(run);
            }
            Err(e) => {
                println!("  failed: {e}");
                text.push_str(&error_block(&format!("N = {n}"), &e));
            }
        }
    }
    if runs.is_empty() {
        return text;
    }
    let names: Vec<String> = runs.iter().map(|r| format!("N = {}", r.n)).collect();
    let mut columns = vec!["measurement"];
    columns.extend(names.iter().map(String::as_str));
    text.push_str(&header(&columns));
    text.push('\n');
    let row = |label: &str, f: &dyn Fn(&FlowRun) -> String| {
        let cells: Vec<String> = runs.iter().map(f).collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    let per_instance = |r: &FlowRun, total: f64| total / r.n as f64;
    let all = |r: &FlowRun| r.requests.values().sum::<f64>();
    let posts = |r: &FlowRun| {
        r.requests
            .iter()
            .filter(|(k, _)| k.starts_with("POST") && k.ends_with("db-upgrade"))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    text.push_str(&row("apply wall time", &|r| duration(r.wall)));
    text.push_str(&row(
        "floor (submissions at the quota, then the job)",
        &|r| duration(r.floor),
    ));
    text.push_str(&row("wall / floor (target ≤ 1.05)", &|r| {
        number(r.wall / r.floor)
    }));
    text.push_str(&row("accepted requests per instance (all APIs)", &|r| {
        number(per_instance(r, all(r)))
    }));
    text.push_str(&row(
        "tracking requests per instance beyond the submission (target ≤ 0.5)",
        &|r| {
            let tracking: f64 = r
                .requests
                .iter()
                .filter(|(k, _)| {
                    k.contains("/tasklist") || k.contains("/jobs") || k.contains("schedule-tasks")
                })
                .map(|(_, v)| v)
                .sum();
            number(per_instance(r, tracking))
        },
    ));
    text.push_str(&row("429 refusals / all requests, whole run", &|r| {
        format!(
            "{:.2} % ({:.0})",
            100.0 * r.throttled / (all(r) + r.throttled).max(1.0),
            r.throttled
        )
    }));
    text.push_str(&row(
        "429 refusals / all requests after each API's first window (target: none)",
        &|r| {
            format!(
                "{:.2} % ({:.0} of {:.0})",
                100.0 * r.later_throttled / (r.later_requests + r.later_throttled).max(1.0),
                r.later_throttled,
                r.later_requests + r.later_throttled
            )
        },
    ));
    text.push_str(&row("upgrade POSTs accepted per instance", &|r| {
        number(per_instance(r, posts(r)))
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
    text.push_str(&row("provider CPU time", &|r| duration(r.cpu)));
    text.push_str(&row("provider peak RSS (VmHWM)", &|r| mebibytes(r.peak)));
    text.push_str("\nAccepted requests per instance, and refused (429) requests, by API:\n\n");
    text.push_str(&header(&columns));
    text.push('\n');
    let routes: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.requests.keys()).collect();
    for route in routes {
        text.push_str(&row(&format!("`{route}`"), &|r| {
            format!(
                "{} / {:.0}",
                number(per_instance(
                    r,
                    r.requests.get(route).copied().unwrap_or(0.0),
                )),
                r.throttled_by_api.get(route).copied().unwrap_or(0.0)
            )
        }));
    }
    text.push_str(
        "\nRefusals in an API's first window are where the provider learns the policy \
         (it starts from a quota ten times too high); the emulator counts requests and \
         refusals after that window separately (`stats.after_first_window`).\n",
    );
    text
}
