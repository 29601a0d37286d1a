//! When a delayed upgrade runs, for `hwrds_db_minor_upgrade`: the instance's maintenance
//! window in the plan, the scheduled start and end of the job in the state, and plain
//! words about a scheduled job, which the RDS API can neither cancel nor bring forward.
//!
//! The attributes never change between plan and apply:
//! - `maintenance_window`: for `is_delayed = true`, the instance's window as the plan
//!   reads it (known in the plan, like `version_before`); null for an immediate upgrade;
//!   kept for the life of the resource.
//! - `scheduled_start` / `scheduled_end`: the tracked job's planned window, from
//!   `GET /schedule-tasks` (known after apply for a delayed upgrade; null in the plan of
//!   an immediate one). In-place updates keep them; refreshes follow a job still
//!   waiting, whatever `is_delayed` says.
//!
//! A scheduled job stays scheduled: replacing the resource (e.g. `is_delayed` true to
//! false) forgets it, and the new resource finds it and adopts it (the instance refuses a
//! second upgrade). The plan says so at `is_delayed`, the destroy tells a scheduled job
//! from an installed one; an apply does not wait for a window that opens after its
//! timeout (the rule is [`crate::upgrade::run::course`]'s). Not here: submitting and
//! following jobs, and reading a new job's scheduled times ([`crate::upgrade::run`]).

use super::model::{Field, UpgradeState, attr};
use crate::cty::AttributePath;
use crate::tfplugin::Diagnostic;
use crate::upgrade::job::{JobSnapshot, JobStatus};

/// The plan of a new upgrade: the window when delayed, nulls when immediate; unknown
/// while `is_delayed` is.
pub fn plan_create(planned: &mut UpgradeState, maintenance_window: Option<&str>) {
    match planned.is_delayed {
        Field::Known(true) => {
            planned.maintenance_window = maintenance_window.map(str::to_string).into();
            // The task's times exist only once the job was submitted.
            planned.scheduled_start = Field::Unknown;
            planned.scheduled_end = Field::Unknown;
        }
        Field::Known(false) => {
            planned.maintenance_window = Field::Null;
            planned.scheduled_start = Field::Null;
            planned.scheduled_end = Field::Null;
        }
        Field::Null | Field::Unknown => {}
    }
}

/// The create's values for what its plan left unknown in `state`: planned values stay.
pub fn record_at_create(
    state: &mut UpgradeState,
    maintenance_window: Option<&str>,
    delayed: bool,
    snap: Option<&JobSnapshot>,
) {
    let window = maintenance_window.filter(|_| delayed).map(str::to_string);
    state.maintenance_window.fill(window);
    state
        .scheduled_start
        .fill(snap.and_then(|s| s.scheduled_start.clone()));
    state
        .scheduled_end
        .fill(snap.and_then(|s| s.scheduled_end.clone()));
}

/// A refresh's view of the job: the scheduled times when the snapshot came from the
/// scheduled tasks (earlier ones stay once the job runs).
pub fn record_at_refresh(state: &mut UpgradeState, snap: &JobSnapshot) {
    if snap.scheduled_start.is_some() || snap.scheduled_end.is_some() {
        state.scheduled_start = snap.scheduled_start.clone().into();
        state.scheduled_end = snap.scheduled_end.clone().into();
    }
}

/// An in-place update returns what its plan showed for the scheduled times.
pub fn keep_planned(planned: &UpgradeState, state: &mut UpgradeState) {
    let keep = |planned: &Field<String>, field: &mut Field<String>| {
        if !planned.is_unknown() {
            *field = planned.clone();
        }
    };
    keep(&planned.maintenance_window, &mut state.maintenance_window);
    keep(&planned.scheduled_start, &mut state.scheduled_start);
    keep(&planned.scheduled_end, &mut state.scheduled_end);
}

/// "from 2026-01-01T22:00:00Z to 2026-01-02T02:00:00Z", or the window as configured.
fn when(start: Option<&str>, end: Option<&str>, maintenance_window: Option<&str>) -> String {
    match (start, end, maintenance_window) {
        (Some(start), Some(end), _) => format!("from {start} to {end}"),
        (Some(start), None, _) => format!("at {start}"),
        (None, _, Some(window)) => format!("in the maintenance window {window} (UTC)"),
        (None, _, None) => "in the instance's maintenance window".to_string(),
    }
}

const CANCEL_IN_CONSOLE: &str = "To upgrade now, cancel the scheduled task in the Huawei Cloud console first (RDS > Task Center > Scheduled Tasks): the next refresh shows the job Failed (canceled), and the next plan proposes a new upgrade, submitted at once.";

/// The plan of a change to a resource whose job is still scheduled: applying will not
/// run it now, and why. The arguments or `triggers` changed; the scheduled task stays,
/// and an upgrade planned again adopts it (the instance refuses a second one).
pub fn changing_scheduled(prior: &UpgradeState, planned: &UpgradeState) -> Option<Diagnostic> {
    if !prior.status.is(&JobStatus::Scheduled) {
        return None;
    }
    let instance = prior.instance_id.known()?;
    if planned.instance_id.known() != Some(instance) {
        return None; // another instance: the destroy's warning says what stays scheduled
    }
    let changed = prior.is_delayed != planned.is_delayed
        || prior.second_switch != planned.second_switch
        || prior.triggers() != planned.triggers();
    if !changed {
        return None;
    }
    let job = prior.job_id();
    let when = when(
        prior.scheduled_start.as_deref(),
        prior.scheduled_end.as_deref(),
        prior.maintenance_window.as_deref(),
    );
    let now_wanted = planned.is_delayed.is(&false);
    let (path, summary, not_now) = if now_wanted {
        (
            attr::IS_DELAYED,
            "is_delayed = false will not run the scheduled upgrade now",
            "Applying this plan will NOT upgrade the instance now. ",
        )
    } else {
        (
            attr::INSTANCE_ID,
            "The scheduled upgrade stays scheduled",
            "",
        )
    };
    Some(Diagnostic::warning_at(
        AttributePath::attribute(path),
        summary,
        format!(
            "Upgrade job {job} of instance {instance} is scheduled to run {when}, and the RDS API can neither cancel nor reschedule a scheduled task. \
             {not_now}The resource keeps that job (an upgrade planned again adopts it instead of submitting another: the instance refuses a second one): \
             the upgrade runs {when}, with the options it was submitted with. {CANCEL_IN_CONSOLE}"
        ),
    ))
}

/// The create met a scheduled job while the configuration asks for an upgrade now.
pub fn adopted_while_immediate(instance: &str, snap: &JobSnapshot) -> Diagnostic {
    let when = when(
        snap.scheduled_start.as_deref(),
        snap.scheduled_end.as_deref(),
        None,
    );
    Diagnostic::warning_at(
        AttributePath::attribute(attr::IS_DELAYED),
        "Adopted a scheduled upgrade: it does not run now",
        format!(
            "Instance {instance} already has upgrade job {} scheduled to run {when}; the instance refuses a second upgrade and the RDS API cannot run a scheduled one early, \
             so this resource tracks that job although is_delayed = false. To upgrade now, cancel the scheduled task in the Huawei Cloud console (RDS > Task Center > Scheduled Tasks):              the next refresh then shows the job Failed (canceled) and the next plan proposes a new upgrade, submitted at once.",
            snap.id
        ),
    )
}

/// The create's warning when it returns with its delayed job still scheduled: nothing is
/// installed yet, and when it will be (the task's planned window, else the maintenance
/// window).
pub fn scheduled_not_installed(state: &UpgradeState) -> Diagnostic {
    let when = when(
        state.scheduled_start.as_deref(),
        state.scheduled_end.as_deref(),
        state.maintenance_window.as_deref(),
    );
    let keeps = state
        .version_before
        .as_deref()
        .map(|v| format!(" and the instance runs {v} until then"))
        .unwrap_or_default();
    Diagnostic::warning(
        "Upgrade scheduled, not installed yet",
        format!(
            "Upgrade job {} of instance {} is scheduled to run {when}: nothing is installed yet{keeps}. \
             The state records the job as Scheduled; a refresh after the window records its outcome. \
             The RDS API cannot cancel a scheduled task: {CANCEL_IN_CONSOLE_ONLY}",
            state.job_id(),
            state.instance_id()
        ),
    )
}

const CANCEL_IN_CONSOLE_ONLY: &str =
    "cancel it in the Huawei Cloud console (RDS > Task Center > Scheduled Tasks).";

/// The destroy's warning: what forgetting the upgrade leaves behind, by the job's status.
pub fn forgotten(prior: &UpgradeState) -> Diagnostic {
    let job = prior.job_id();
    let instance = prior.instance_id();
    let removed = "The resource was only removed from the state.";
    let detail = match prior.status.known() {
        Some(JobStatus::Scheduled) => {
            let when = when(
                prior.scheduled_start.as_deref(),
                prior.scheduled_end.as_deref(),
                prior.maintenance_window.as_deref(),
            );
            return Diagnostic::warning(
                "Upgrade forgotten; the scheduled upgrade will still run",
                format!(
                    "Nothing was installed yet: upgrade job {job} of instance {instance} is scheduled and will still run {when} — the RDS API cannot cancel a scheduled task. \
                     {removed} To stop it, cancel the task in the Huawei Cloud console (RDS > Task Center > Scheduled Tasks)."
                ),
            );
        }
        Some(JobStatus::Running) => format!(
            "A minor version upgrade cannot be stopped or undone: upgrade job {job} of instance {instance} is running and goes on. {removed}"
        ),
        Some(JobStatus::Failed) => format!(
            "Upgrade job {job} of instance {instance} failed; nothing was installed (a failed upgrade rolls back). {removed}"
        ),
        Some(JobStatus::UpToDate) => format!(
            "Instance {instance} already ran its latest minor version: nothing was submitted, nothing was installed. {removed}"
        ),
        Some(JobStatus::Completed) | None | Some(_) => format!(
            "A minor version upgrade cannot be undone: instance {instance} keeps the version job {job} installed. {removed}"
        ),
    };
    Diagnostic::warning("Upgrade forgotten, not undone", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduled(instance: &str, job: &str) -> UpgradeState {
        let mut state = UpgradeState::new(instance);
        state.set_job(job);
        state.status = Field::Known(JobStatus::Scheduled);
        state
    }

    #[test]
    fn an_immediate_plan_has_nulls_and_a_delayed_one_the_window() {
        let mut now = UpgradeState::new("i1");
        now.scheduled_start = Field::Unknown;
        plan_create(&mut now, Some("22:00-02:00"));
        assert_eq!(now.maintenance_window, Field::Null);
        assert_eq!(now.scheduled_start, Field::Null);

        let mut later = UpgradeState::new("i1");
        later.is_delayed = Field::Known(true);
        plan_create(&mut later, Some("22:00-02:00"));
        assert_eq!(later.maintenance_window.as_deref(), Some("22:00-02:00"));
        assert!(later.scheduled_start.is_unknown());
        let snap = JobSnapshot {
            scheduled_start: Some("2026-01-01T22:00:00Z".into()),
            ..Default::default()
        };
        record_at_create(&mut later, Some("other"), true, Some(&snap));
        let later = later.to_value();
        assert_eq!(
            later.attr_string(attr::MAINTENANCE_WINDOW).as_deref(),
            Some("22:00-02:00"),
            "the planned window stays"
        );
        assert_eq!(
            later.attr_string(attr::SCHEDULED_START).as_deref(),
            Some("2026-01-01T22:00:00Z")
        );
        assert!(later.get_attr(attr::SCHEDULED_END).unwrap().is_null());
    }

    #[test]
    fn switching_to_now_warns_at_is_delayed() {
        let mut prior = scheduled("i1", "j1");
        prior.is_delayed = Field::Known(true);
        prior.scheduled_start = "2026-01-01T22:00:00Z".into();
        prior.scheduled_end = "2026-01-02T02:00:00Z".into();
        let mut planned = prior.clone();
        planned.is_delayed = Field::Known(false);
        let d = changing_scheduled(&prior, &planned).expect("a warning");
        assert_eq!(d.path, Some(AttributePath::attribute("is_delayed")));
        assert!(
            d.detail.contains("will NOT upgrade the instance now"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("j1"));
        assert!(
            d.detail
                .contains("from 2026-01-01T22:00:00Z to 2026-01-02T02:00:00Z")
        );
        assert!(d.detail.contains("cancel the scheduled task"));
        assert!(
            changing_scheduled(&prior, &prior).is_none(),
            "no change, no warning"
        );
        let mut done = prior.clone();
        done.status = Field::Known(JobStatus::Completed);
        assert!(changing_scheduled(&done, &planned).is_none());
    }

    #[test]
    fn a_scheduled_create_says_nothing_is_installed_yet_and_when_it_runs() {
        let mut state = scheduled("i1", "j1");
        state.maintenance_window = "22:00-02:00".into();
        state.version_before = "8.0.28".into();
        let d = scheduled_not_installed(&state);
        assert_eq!(d.summary, "Upgrade scheduled, not installed yet");
        assert!(
            d.detail.contains(
                "job j1 of instance i1 is scheduled to run in the maintenance window 22:00-02:00 (UTC): nothing is installed yet and the instance runs 8.0.28 until then"
            ),
            "{}",
            d.detail
        );
        state.scheduled_start = "2026-01-01T22:00:00Z".into();
        state.scheduled_end = "2026-01-02T02:00:00Z".into();
        let d = scheduled_not_installed(&state);
        assert!(
            d.detail
                .contains("from 2026-01-01T22:00:00Z to 2026-01-02T02:00:00Z"),
            "{}",
            d.detail
        );
    }

    #[test]
    fn the_destroy_tells_scheduled_from_installed() {
        let mut prior = scheduled("i1", "j1");
        prior.maintenance_window = "22:00-02:00".into();
        let d = forgotten(&prior);
        assert!(d.summary.contains("will still run"), "{}", d.summary);
        assert!(d.detail.contains("Nothing was installed yet"));
        assert!(d.detail.contains("22:00-02:00"));
        prior.status = Field::Known(JobStatus::Completed);
        let d = forgotten(&prior);
        assert_eq!(d.summary, "Upgrade forgotten, not undone");
        assert!(d.detail.contains("keeps the version job j1 installed"));
    }
}
