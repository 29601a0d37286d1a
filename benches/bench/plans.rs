//! Section 7, plans under the documented quota: `terraform plan` of N
//! `hwrds_db_minor_upgrade`s from an empty state against the emulator enforcing the
//! documented policy in real one-minute windows, the provider told nothing of the quota,
//! versus `terraform plan` of N `null_resource`s in the same run. A plan's reads
//! (instance listing pages, version lists, DR relations) should go as fast as the
//! quota's room allows, so the plan as fast as the null provider's.

use std::time::Duration;

use crate::flow::values;
use crate::stats::{Pairs, duration, error_block, header, number};
use crate::terraform::{Emulator, Tools, instance_ids, ours_workspace, peer_workspace};

const TIMEOUT: Duration = Duration::from_secs(600);

/// The plans of one N.
struct Plans {
    n: usize,
    wall: Pairs,
    /// Accepted requests per plan, by API, all of ours together.
    requests: Vec<(String, f64)>,
    refused: f64,
}

fn measure(tools: &Tools, n: usize, reps: usize) -> Result<Plans, String> {
    let ids = instance_ids(n);
    let policy = serde_json::json!({"enabled": true, "limit": 60, "window_seconds": 60});
    let emulator = Emulator::start_with(tools, &ids, 30.0, policy)?;
    let mut ours = ours_workspace(tools, &ids, &emulator.url)?;
    ours.unset_env("HWRDS_API_QUOTA_PER_MINUTE");
    ours.unset_env("HWRDS_MAX_REQUESTS_PER_SECOND");
    let peer = peer_workspace(tools, n, false)?;
    let args = ["plan", "-input=false", "-no-color"];
    let mut wall = Pairs::default();
    for rep in 0..reps {
        let plan = |workspace: &crate::terraform::Workspace, what: &str| {
            workspace
                .run(&args, None, TIMEOUT)
                .ok(what)
                .map(|run| run.wall.as_secs_f64())
        };
        let (o, p) = if rep % 2 == 0 {
            let o = plan(&ours, "plan (hwrds)")?;
            (o, plan(&peer, "plan (null)")?)
        } else {
            let p = plan(&peer, "plan (null)")?;
            (plan(&ours, "plan (hwrds)")?, p)
        };
        println!("  N={n} rep {}: plan {o:.2}s/{p:.2}s (hwrds/null)", rep + 1);
        wall.push(o, p);
    }
    let stats = emulator.stats()?;
    let runs = wall.ours.len().max(1) as f64;
    Ok(Plans {
        n,
        wall,
        requests: values(&stats["requests"])
            .into_iter()
            .map(|(api, count)| (api, count / runs))
            .collect(),
        refused: values(&stats["throttled"]).values().sum::<f64>() + 0.0,
    })
}

/// Section 7 for each N of `sizes`, `reps` plans of each provider.
pub fn section(tools: &Tools, sizes: &[usize], reps: usize, available: bool) -> String {
    let mut text = String::from("## 7. Plans under the documented quota\n\n");
    if !available {
        text.push_str("skipped: resource not available\n\n");
        return text;
    }
    text.push_str(
        "`terraform plan` of N `hwrds_db_minor_upgrade`s (`count = N`, from an empty state) \
         against the emulator enforcing the documented policy, 60 requests per user per API \
         per 60 s window (sliding), the provider told nothing of the quota (it paces by its \
         default, the documented policy), versus `terraform plan` of N `null_resource`s in the \
         same run; they alternate which goes first. Target: ratio ≤ 1.0.\n\n",
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
    let mut done = Vec::new();
    for &n in sizes {
        println!("section 7: plans of {n}");
        match measure(tools, n, reps) {
            Ok(plans) => {
                let runs = plans.wall.ours.len().to_string();
                text.push_str(&plans.wall.row(
                    &format!("{n} | `plan`"),
                    duration,
                    std::slice::from_ref(&runs),
                ));
                text.push('\n');
                done.push(plans);
            }
            Err(e) => {
                println!("  failed: {e}");
                text.push_str(&error_block(&format!("N = {n}"), &e));
            }
        }
    }
    if done.is_empty() {
        return text;
    }
    text.push_str("\nAccepted requests per plan of ours, by API, and refusals in all:\n\n");
    let names: Vec<String> = done.iter().map(|p| format!("N = {}", p.n)).collect();
    let mut columns = vec!["API"];
    columns.extend(names.iter().map(String::as_str));
    text.push_str(&header(&columns));
    text.push('\n');
    let apis: std::collections::BTreeSet<&String> = done
        .iter()
        .flat_map(|p| p.requests.iter().map(|(api, _)| api))
        .collect();
    for api in apis {
        let cells: Vec<String> = done
            .iter()
            .map(|p| {
                let count = p.requests.iter().find(|(a, _)| a == api).map(|(_, c)| *c);
                number(count.unwrap_or(0.0))
            })
            .collect();
        text.push_str(&format!("| `{api}` | {} |\n", cells.join(" | ")));
    }
    let refused: Vec<String> = done.iter().map(|p| format!("{:.0}", p.refused)).collect();
    text.push_str(&format!("| 429 refusals | {} |\n", refused.join(" | ")));
    text
}
