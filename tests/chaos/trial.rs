//! Running one chaos trial: the applies, the disruption at its moment, the re-applies,
//! and the check of every state against what the emulator says.

use super::*;

/// Upgrade POSTs of `members` that reached the emulator.
pub fn posts(stats: &Value, members: &[Member]) -> u64 {
    members
        .iter()
        .map(|m| stats["upgrade_posts"][&m.id].as_u64().unwrap_or(0))
        .sum()
}

/// The apply's phase now, from its output and the emulator's counters.
pub fn phase_now(apply: &mut Running, emu: &Emulator, members: &[Member]) -> Phase {
    if apply.has_exited() {
        return Phase::AfterApply;
    }
    let stats = emu.stats();
    let started_jobs = members
        .iter()
        .filter(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0) > 0)
        .count();
    if !apply.stdout_so_far().contains("Creating...") && posts(&stats, members) == 0 {
        Phase::Planning
    } else if started_jobs < members.len() {
        Phase::Submitting
    } else {
        Phase::Tracking
    }
}

/// Waits for the moment `aim` names (or the apply's end).
pub fn wait_for(
    aim: Aim,
    started: Instant,
    apply: &mut Running,
    emu: &Emulator,
    members: &[Member],
) {
    match aim {
        Aim::At(seconds) => {
            let moment = started + Duration::from_secs_f64(seconds);
            while Instant::now() < moment && !apply.has_exited() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Aim::Submissions(k) => {
            while posts(&emu.stats(), members) < k
                && !apply.has_exited()
                && started.elapsed() < COMMAND_TIMEOUT
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Hits the running apply with `disruption`; returns the phase it landed in and what
/// exactly was done.
pub fn disrupt(
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
pub fn state_resources(ws: &Workspace) -> BTreeMap<String, Value> {
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
pub fn fleet_done(ws: &Workspace, members: &[Member]) -> bool {
    let resources = state_resources(ws);
    members.iter().all(|m| {
        resources
            .get(&m.id)
            .is_some_and(|a| a["status"] == "Completed")
    })
}

/// After the apply `first` of `ws` has ended (disrupted or not), applies again at once,
/// as a user would, until the fleet is done; the first re-apply must succeed.
pub fn finish_workspace(
    ws: &Workspace,
    emu: &Emulator,
    members: &[Member],
    first: Running,
) -> WorkspaceOutcome {
    let mut out = WorkspaceOutcome::default();
    let mut last = first.wait(COMMAND_TIMEOUT);
    // The instances the disrupted apply had submitted an upgrade for.
    let submitted: Vec<&str> = members
        .iter()
        .filter(|m| emu.upgrade_jobs(&m.id) > 0)
        .map(|m| m.id.as_str())
        .collect();
    // Anything a killed Terraform left running goes, as a finished CI job's would.
    for pid in processes::providers_in(ws.path()) {
        processes::signal(pid, "KILL");
    }
    loop {
        // (A killed Terraform has no exit code, and says nothing.)
        if last.code > 0 {
            out.errors.push(first_error(&last));
            out.transcript.push(format!(
                "==== apply {} (exit {})\n{}",
                out.reapplies + 1,
                last.code,
                last.all()
            ));
        }
        let done = last.code == 0 && fleet_done(ws, members);
        if out.reapplies == 1 {
            out.first_reapply = Some(done);
            out.final_plan_refused = !done && refused_by_the_final_plan_check(&last, &submitted);
            if !done && !out.final_plan_refused {
                out.failure = Some(format!(
                    "lockout: the first re-apply failed (exit {}): {}",
                    last.code,
                    first_error(&last)
                ));
            }
        }
        if done {
            return out;
        }
        if out.reapplies == MAX_REAPPLIES {
            let why = format!(
                "not done after {MAX_REAPPLIES} re-applies; the last one (exit {}):\n{}",
                last.code,
                tail(&last.all(), 40)
            );
            out.failure = Some(match out.failure.take() {
                Some(lockout) => format!("{lockout}; {why}"),
                None => why,
            });
            return out;
        }
        out.reapplies += 1;
        last = ws.run_with_timeout(&["apply", "-auto-approve", "-input=false"], COMMAND_TIMEOUT);
    }
}

/// The checks at the end of a trial, for one workspace: one job per instance, the state
/// equals the emulator, the final plan is empty.
pub fn verify(ws: &Workspace, emu: &Emulator, members: &[Member]) -> Result<(), String> {
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

/// Whether every error of `run` is Terraform's (up to 1.15) refusal of a final plan whose
/// `version_before` differs from the plan's (now unknown, or another version), each for
/// an instance in `submitted`, whose upgrade the disrupted apply had submitted: it did
/// not show to the plan yet (new jobs show with a delay), and by the final plan it was
/// under way or done. No rule of the provider's serves that case and its opposite on
/// Terraform before 1.16 (`plan_carry` says why); nothing is sent, and the next apply
/// adopts the upgrade. It is counted apart, not as a lockout.
pub fn refused_by_the_final_plan_check(run: &common::Run, submitted: &[&str]) -> bool {
    let text = flat(&run.all());
    let mut errors = text.split("Error: ").skip(1).peekable();
    errors.peek().is_some()
        && errors.all(|e| {
            let instance = e
                .split("hwrds_db_minor_upgrade.fleet[\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next());
            e.starts_with("Provider produced inconsistent final plan")
                && e.contains("produced an invalid new value for .version_before: was ")
                && instance.is_some_and(|id| submitted.contains(&id))
        })
}

/// The first error Terraform printed (its summary), or how it ended.
pub fn first_error(run: &common::Run) -> String {
    run.all()
        .lines()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .map(str::to_string)
        .unwrap_or_else(|| format!("exit {} without an error message", run.code))
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The provider's log lines (warnings and errors, plus the submission and adoption
/// decisions), last first cut to `lines`.
pub fn provider_log_excerpt(log: &Path, lines: usize) -> String {
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
                || l.contains("findings stand")
        })
        .collect();
    picked[picked.len().saturating_sub(lines)..].join("\n")
}

/// Where failed trials keep their provider logs.
pub fn failure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos")
}

/// The panic's message.
pub fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Runs trial `index` of the campaign seeded with `seed`.
pub fn run_trial(seed: u64, index: usize) -> Outcome {
    let mut rng = trial_rng(seed, index);
    let design = Design::draw(&mut rng, index);
    let config = json!({
        "job_seconds": 3,
        "job_visible_after_seconds": design.visible_after,
        "instances": design.members().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "flow_control": {"enabled": true, "limit": QUOTA_LIMIT, "window_seconds": design.window},
    });
    let mut emu = Emulator::start(config, true);
    // The target first; every workspace signs with the emulator's one user.
    let mut order: Vec<usize> = (0..design.workspaces.len()).collect();
    order.swap(0, design.target);
    let sides: Vec<(Workspace, &[Member], PathBuf)> = order
        .iter()
        .map(|&w| {
            let members = design.workspaces[w].as_slice();
            let mut ws = hwrds_workspace(common::terraform(), &emu, &configuration(members));
            let log = ws.path().join("terraform.log");
            ws.set_env("TF_LOG_PROVIDER", "DEBUG");
            ws.set_env("TF_LOG_PATH", &log.display().to_string());
            (ws, members, log)
        })
        .collect();

    let started = Instant::now();
    let mut outcome = Outcome {
        index,
        disruption: design.disruption,
        window: design.window,
        workspaces: sides.len(),
        aim: design.aim,
        phase: Phase::AfterApply,
        detail: String::new(),
        sides: Vec::new(),
        kept: None,
        jobs: Vec::new(),
        took: Duration::ZERO,
        failure: None,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut applies: Vec<Running> = sides
            .iter()
            .map(|(ws, _, _)| ws.spawn(&["apply", "-auto-approve", "-input=false"]))
            .collect();
        let target = sides[0].1;
        wait_for(design.aim, started, &mut applies[0], &emu, target);
        let (phase, detail) = disrupt(
            design.disruption,
            &mut rng,
            &mut applies[0],
            &mut emu,
            target,
        );
        outcome.phase = phase;
        outcome.detail = detail;
        // Each workspace applies again as soon as its own apply has ended.
        let emu = &emu;
        let finished: Vec<std::thread::Result<WorkspaceOutcome>> = std::thread::scope(|scope| {
            let threads: Vec<_> = sides
                .iter()
                .zip(applies)
                .map(|((ws, members, _), apply)| {
                    scope.spawn(move || finish_workspace(ws, emu, members, apply))
                })
                .collect();
            threads.into_iter().map(|t| t.join()).collect()
        });
        let mut problems = Vec::new();
        for (w, side) in finished.into_iter().enumerate() {
            match side {
                Ok(side) => {
                    if let Some(why) = &side.failure {
                        problems.push(format!("workspace {w}: {why}"));
                    }
                    outcome.sides.push(side);
                }
                Err(panic) => {
                    problems.push(format!("workspace {w}: {}", panic_text(panic)));
                    outcome.sides.push(WorkspaceOutcome::default());
                }
            }
        }
        // The checks read the emulator as fast as they like: its quota is the fleet's.
        emu.admin("/__emulator/flow_control", json!({"enabled": false}));
        for (w, (ws, members, _)) in sides.iter().enumerate() {
            if let Err(why) = verify(ws, emu, members) {
                problems.push(format!("workspace {w}: {why}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }));
    let stats = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| emu.stats()))
        .unwrap_or(Value::Null);
    outcome.jobs = design
        .members()
        .map(|m| stats["upgrade_jobs"][&m.id].as_u64().unwrap_or(0))
        .collect();
    outcome.took = started.elapsed();
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(panic_text(panic)),
    };
    let any_errors = outcome.sides.iter().any(|s| !s.errors.is_empty());
    if failure.is_some() || any_errors {
        // Keep what explains it: the providers' logs and the failed applies' output.
        let stem = failure_dir().join(format!("seed-{seed:#x}-trial-{index}"));
        let _ = std::fs::create_dir_all(failure_dir());
        for (w, (_, _, log)) in sides.iter().enumerate() {
            let _ = std::fs::copy(log, stem.with_extension(format!("ws{w}.provider.log")));
            let transcript = outcome
                .sides
                .get(w)
                .map(|s| s.transcript.join("\n"))
                .unwrap_or_default();
            let _ = std::fs::write(
                stem.with_extension(format!("ws{w}.terraform.txt")),
                transcript,
            );
        }
        outcome.kept = Some(stem.display().to_string());
    }
    if let Some(why) = failure {
        let fleet: Vec<String> = order
            .iter()
            .enumerate()
            .flat_map(|(w, &d)| {
                design.workspaces[d]
                    .iter()
                    .map(move |m| format!("ws{w} {} = {}", m.id, m.label))
            })
            .collect();
        outcome.failure = Some(format!(
            "{why}\nfleet: {}\nkept: {}.ws<N>.{{provider.log,terraform.txt}}; target's provider log excerpt:\n{}",
            fleet.join(", "),
            outcome.kept.as_deref().unwrap_or(""),
            provider_log_excerpt(&sides[0].2, 40)
        ));
    }
    for (ws, _, _) in &sides {
        for pid in processes::providers_in(ws.path()) {
            processes::signal(pid, "KILL");
        }
    }
    outcome
}
