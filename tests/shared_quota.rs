//! Many workspaces, one account: three `terraform apply`s started together, each its
//! own provider process and its own part of the fleet, sharing one access key's quota
//! on an emulator enforcing a scaled policy. Every apply succeeds with one job per
//! instance, and the processes learn their shares instead of flooding the gateway: the
//! refused share of all requests stays under a bound.

pub mod common;

use std::time::Duration;

use common::{Emulator, Workspace};
use serde_json::json;

/// Workspaces sharing the access key.
const WORKSPACES: usize = 3;
/// Instances per workspace.
const PER_WORKSPACE: usize = 8;
/// The policy, scaled: 6 requests per 3 s per API (60 per minute, 20 times faster).
const LIMIT: u32 = 6;
const WINDOW_SECONDS: f64 = 3.0;

fn ids(workspace: usize) -> Vec<String> {
    (0..PER_WORKSPACE)
        .map(|i| format!("sq{workspace}{i:029}in01"))
        .collect()
}

/// MySQL single and HA, PostgreSQL tracked through the task center.
fn instance(id: &str, i: usize) -> serde_json::Value {
    match i % 3 {
        0 => json!({"id": id, "name": id, "type": "Single", "job_seconds": 3}),
        1 => json!({"id": id, "name": id, "type": "Ha", "job_seconds": 3}),
        _ => json!({"id": id, "name": id, "engine": "PostgreSQL", "version": "14",
                    "complete_version": "14.8", "latest_version": "14.12",
                    "job_queryable": false, "job_seconds": 3}),
    }
}

#[test]
fn three_workspaces_share_one_access_keys_quota_without_flooding_it() {
    let fleets: Vec<Vec<String>> = (0..WORKSPACES).map(ids).collect();
    let instances: Vec<serde_json::Value> = fleets
        .iter()
        .flat_map(|ids| ids.iter().enumerate().map(|(i, id)| instance(id, i)))
        .collect();
    let emu = Emulator::start(
        json!({"instances": instances,
               "flow_control": {"enabled": true, "limit": LIMIT, "window_seconds": WINDOW_SECONDS}}),
        false,
    );
    let workspaces: Vec<Workspace> = fleets
        .iter()
        .map(|ids| {
            let mut ws = common::workspace(&emu, &common::fixtures::fleet(ids, ""));
            // Each process is told the documented policy's limit; the gateway's 429s
            // name the scaled window, and the rest is learned.
            ws.set_env("HWRDS_API_QUOTA_PER_MINUTE", "60");
            ws
        })
        .collect();
    let parallelism = format!("-parallelism={PER_WORKSPACE}");
    let applies: Vec<_> = workspaces
        .iter()
        .map(|ws| ws.spawn(&["apply", "-auto-approve", "-no-color", &parallelism]))
        .collect();
    for (n, apply) in applies.into_iter().enumerate() {
        let run = apply.wait(Duration::from_secs(600));
        assert_eq!(run.code, 0, "workspace {n}: {}", run.all());
    }

    let stats = emu.stats();
    for id in fleets.iter().flatten() {
        assert_eq!(emu.upgrade_jobs(id), 1, "{id}: {stats}");
    }
    for (ws, ids) in workspaces.iter().zip(&fleets) {
        let state = ws.fleet_attributes("fleet");
        assert_eq!(state.len(), ids.len());
        for id in ids {
            assert_eq!(state[id]["status"], "Completed", "{id}: {}", state[id]);
        }
    }
    let (accepted, refused) = (
        common::stats_total(&stats, "requests"),
        common::stats_total(&stats, "throttled"),
    );
    let share = refused as f64 / (accepted + refused) as f64;
    eprintln!(
        "{WORKSPACES} workspaces x {PER_WORKSPACE}: {accepted} accepted, {refused} refused \
         ({:.1} %): {}",
        100.0 * share,
        stats["throttled"]
    );
    // The gateway was reached (the shares were learned from it), and not flooded: without
    // shares, each process asks again about once per slot it believes free and most
    // requests are refused.
    assert!(refused > 0, "the policy was never reached: {stats}");
    assert!(
        share <= 0.15,
        "{refused} of {} requests refused: {stats}",
        accepted + refused
    );
}
