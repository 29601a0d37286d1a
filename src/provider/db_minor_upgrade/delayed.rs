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
//! from an installed one, and an apply does not wait for a window that opens after its
//! timeout (the rule is [`crate::upgrade::flow`]'s; its warning here is the action's
//! too). Not here: submitting and following jobs, and reading a new job's scheduled
//! times ([`crate::upgrade::job`]).

use std::time::Duration;

use super::upgrade_state::UpgradeState;
use super::wait_outcome::Resume;
use crate::cty::{AttributePath, Type, Value};
use crate::schema::Attribute;
use crate::tfplugin::Diagnostic;
use crate::upgrade::flow;
use crate::upgrade::job::{JobSnapshot, JobStatus};

pub const MAINTENANCE_WINDOW: &str = "maintenance_window";
pub const SCHEDULED_START: &str = "scheduled_start";
pub const SCHEDULED_END: &str = "scheduled_end";

/// The resource's attributes about when the upgrade runs.
pub fn attributes() -> [Attribute; 3] {
    [
        Attribute::computed(
            MAINTENANCE_WINDOW,
            Type::String,
            "For `is_delayed = true`: the instance's maintenance window (UTC, e.g. `22:00-02:00`) when the upgrade was planned, known in the plan — the job runs in it. Null for an immediate upgrade.",
        )
        .stable(),
        Attribute::computed(
            SCHEDULED_START,
            Type::String,
            "When the job is scheduled to start (RFC 3339): the start of the planned window of the RDS scheduled task. Known after apply for `is_delayed = true` (null if the task did not show yet; the next refresh records it). Null for an immediate upgrade; a resource with `is_delayed = false` that adopted an already scheduled job (see \"Delayed upgrades\") records it from the next refresh.",
        )
        .stable(),
        Attribute::computed(
            SCHEDULED_END,
            Type::String,
            "When the scheduled task's planned window ends (RFC 3339); known and null as `scheduled_start` is (null too when the API gives no end).",
        )
        .stable(),
    ]
}

/// The plan of a new upgrade: the window when delayed, nulls when immediate; unknown
/// while `is_delayed` is.
pub fn plan_create(planned: &mut Value, maintenance_window: Option<&str>) {
    match planned.attr_bool("is_delayed") {
        Some(true) => {
            planned.set_attr(MAINTENANCE_WINDOW, Value::opt_string(maintenance_window));
            // The task's times exist only once the job was submitted.
            planned.set_attr(SCHEDULED_START, Value::Unknown);
            planned.set_attr(SCHEDULED_END, Value::Unknown);
        }
        Some(false) => {
            for name in [MAINTENANCE_WINDOW, SCHEDULED_START, SCHEDULED_END] {
                planned.set_attr(name, Value::Null);
            }
        }
        None => {}
    }
}

/// The create's values for what the plan (`planned`) left unknown: planned values stay.
pub fn record_at_create(
    planned: &Value,
    state: &mut UpgradeState,
    maintenance_window: Option<&str>,
    delayed: bool,
    snap: Option<&JobSnapshot>,
) {
    let unknown = |name: &str| planned.get_attr(name).is_some_and(Value::is_unknown);
    if unknown(MAINTENANCE_WINDOW) {
        state.maintenance_window = maintenance_window.filter(|_| delayed).map(str::to_string);
    }
    if unknown(SCHEDULED_START) {
        state.scheduled_start = snap.and_then(|s| s.scheduled_start.clone());
    }
    if unknown(SCHEDULED_END) {
        state.scheduled_end = snap.and_then(|s| s.scheduled_end.clone());
    }
}

/// A refresh's view of the job: the scheduled times when the snapshot came from the
/// scheduled tasks (earlier ones stay once the job runs).
pub fn record_at_refresh(state: &mut UpgradeState, snap: &JobSnapshot) {
    if snap.scheduled_start.is_some() || snap.scheduled_end.is_some() {
        state.scheduled_start = snap.scheduled_start.clone();
        state.scheduled_end = snap.scheduled_end.clone();
    }
}

/// An in-place update returns what its plan showed for the scheduled times.
pub fn keep_planned(planned: &Value, state: &mut UpgradeState) {
    let known = |name: &str| planned.get_attr(name).filter(|v| !v.is_unknown()).is_some();
    let text = |name: &str| planned.attr_string(name);
    if known(MAINTENANCE_WINDOW) {
        state.maintenance_window = text(MAINTENANCE_WINDOW);
    }
    if known(SCHEDULED_START) {
        state.scheduled_start = text(SCHEDULED_START);
    }
    if known(SCHEDULED_END) {
        state.scheduled_end = text(SCHEDULED_END);
    }
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

const CANCEL_IN_CONSOLE: &str = "To upgrade now, cancel the scheduled task in the Huawei Cloud console first (RDS > Task Center > Scheduled Tasks), then apply: with no upgrade waiting, the new resource submits one.";

/// The plan of a replacement of a resource whose job is still scheduled, on the same
/// instance: applying will not run it now, and why.
pub fn replacing_scheduled(prior: &Value, planned: &Value) -> Option<Diagnostic> {
    if prior.attr_string("status").map(|s| JobStatus::parse(&s)) != Some(JobStatus::Scheduled) {
        return None;
    }
    let instance = prior.attr_string("instance_id")?;
    if planned.attr_string("instance_id").as_deref() != Some(instance.as_str()) {
        return None; // another instance: the destroy's warning says what stays scheduled
    }
    let changed = |name: &str| prior.get_attr(name) != planned.get_attr(name);
    if !["is_delayed", "second_switch", "triggers"]
        .iter()
        .any(|n| changed(n))
    {
        return None;
    }
    let job = prior.attr_string("job_id").unwrap_or_default();
    let when = when(
        prior.attr_string(SCHEDULED_START).as_deref(),
        prior.attr_string(SCHEDULED_END).as_deref(),
        prior.attr_string(MAINTENANCE_WINDOW).as_deref(),
    );
    let now_wanted = planned.attr_bool("is_delayed") == Some(false);
    let (path, summary, not_now) = if now_wanted {
        (
            "is_delayed",
            "is_delayed = false will not run the scheduled upgrade now",
            "Applying this plan will NOT upgrade the instance now. ",
        )
    } else {
        ("instance_id", "The scheduled upgrade stays scheduled", "")
    };
    Some(Diagnostic::warning_at(
        AttributePath::attribute(path),
        summary,
        format!(
            "Upgrade job {job} of instance {instance} is scheduled to run {when}, and the RDS API can neither cancel nor reschedule a scheduled task. \
             {not_now}The replacement forgets the job, and the new resource finds it still scheduled and adopts it instead of submitting another upgrade (the instance refuses a second one): \
             the upgrade runs {when}, and the apply waits for it only if that comes before the create timeout. {CANCEL_IN_CONSOLE}"
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
        AttributePath::attribute("is_delayed"),
        "Adopted a scheduled upgrade: it does not run now",
        format!(
            "Instance {instance} already has upgrade job {} scheduled to run {when}; the instance refuses a second upgrade and the RDS API cannot run a scheduled one early, \
             so this resource tracks that job although is_delayed = false. To upgrade now, cancel the scheduled task in the Huawei Cloud console (RDS > Task Center > Scheduled Tasks):              the next refresh then shows the job Failed (canceled) and the next plan proposes a new upgrade, submitted at once.",
            snap.id
        ),
    )
}

/// Whether waiting for a scheduled job is pointless: its window opens after `limit`
/// from now ([`flow::opens_after`]). The warning says the apply returns at once and what
/// the next one does.
pub fn beyond_the_wait(
    instance: &str,
    job_id: &str,
    start: Option<&str>,
    limit: Duration,
) -> Option<Diagnostic> {
    let deadline = time::OffsetDateTime::now_utc() + limit;
    let start = start.filter(|_| flow::opens_after(start, deadline))?;
    Some(not_waiting(Resume::Apply, instance, job_id, start, limit))
}

/// The warning of a resource's apply (`Resume::Apply`) or an invocation of the action
/// (`Resume::Invoke`) that does not wait for job `job_id`, scheduled to start at `start`
/// (RFC 3339), after its timeout `limit` ([`flow::Next::TooLate`]).
pub fn not_waiting(
    resume: Resume,
    instance: &str,
    job_id: &str,
    start: &str,
    limit: Duration,
) -> Diagnostic {
    let (who, next) = match resume {
        Resume::Apply => (
            "this apply",
            "The job is recorded in the state (status Scheduled); an apply after the window has opened follows it to the end, and refreshing records its outcome.",
        ),
        Resume::Invoke => (
            "this invocation",
            "The action keeps no state: invoking it again after the window has opened follows the job to the end.",
        ),
    };
    Diagnostic::warning(
        "Upgrade scheduled after this apply's timeout: not waiting",
        format!(
            "Upgrade job {job_id} of instance {instance} is scheduled to start at {start}, after the timeout of {who} ({}s); waiting could only end at the timeout. \
             {next} Nothing is submitted again.",
            limit.as_secs()
        ),
    )
}

/// The destroy's warning: what forgetting the upgrade leaves behind, by the job's status.
pub fn forgotten(prior: &UpgradeState) -> Diagnostic {
    let job = prior.job_id();
    let instance = &prior.instance_id;
    let removed = "The resource was only removed from the state.";
    let detail = match &prior.status {
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
        Some(JobStatus::Completed) | None | Some(_) => format!(
            "A minor version upgrade cannot be undone: instance {instance} keeps the version job {job} installed. {removed}"
        ),
    };
    Diagnostic::warning("Upgrade forgotten, not undone", detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Block;

    fn object(attrs: &[(&str, Value)]) -> Value {
        let block = attributes()
            .into_iter()
            .fold(Block::new(""), |b, a| b.attribute(a))
            .attribute(Attribute::computed("status", Type::String, ""))
            .attribute(Attribute::computed("job_id", Type::String, ""))
            .attribute(Attribute::computed("instance_id", Type::String, ""))
            .attribute(Attribute::computed("is_delayed", Type::Bool, ""))
            .attribute(Attribute::computed("second_switch", Type::Bool, ""))
            .attribute(Attribute::computed("triggers", Type::map(Type::String), ""));
        let mut value = Value::null_object(&block.value_type());
        for (name, v) in attrs {
            value.set_attr(name, v.clone());
        }
        value
    }

    #[test]
    fn an_immediate_plan_has_nulls_and_a_delayed_one_the_window() {
        let mut now = object(&[("is_delayed", Value::Bool(false))]);
        now.set_attr(SCHEDULED_START, Value::Unknown);
        plan_create(&mut now, Some("22:00-02:00"));
        assert!(now.get_attr(MAINTENANCE_WINDOW).unwrap().is_null());
        assert!(now.get_attr(SCHEDULED_START).unwrap().is_null());

        let mut later = object(&[("is_delayed", Value::Bool(true))]);
        plan_create(&mut later, Some("22:00-02:00"));
        assert_eq!(
            later.attr_string(MAINTENANCE_WINDOW).as_deref(),
            Some("22:00-02:00")
        );
        assert!(later.get_attr(SCHEDULED_START).unwrap().is_unknown());
        let snap = JobSnapshot {
            scheduled_start: Some("2026-01-01T22:00:00Z".into()),
            ..Default::default()
        };
        let mut state = UpgradeState::from_value(&later);
        record_at_create(&later, &mut state, Some("other"), true, Some(&snap));
        let later = state.to_value();
        assert_eq!(
            later.attr_string(MAINTENANCE_WINDOW).as_deref(),
            Some("22:00-02:00"),
            "the planned window stays"
        );
        assert_eq!(
            later.attr_string(SCHEDULED_START).as_deref(),
            Some("2026-01-01T22:00:00Z")
        );
        assert!(later.get_attr(SCHEDULED_END).unwrap().is_null());
    }

    #[test]
    fn switching_to_now_warns_at_is_delayed() {
        let prior = object(&[
            ("status", Value::string("Scheduled")),
            ("job_id", Value::string("j1")),
            ("instance_id", Value::string("i1")),
            ("is_delayed", Value::Bool(true)),
            (SCHEDULED_START, Value::string("2026-01-01T22:00:00Z")),
            (SCHEDULED_END, Value::string("2026-01-02T02:00:00Z")),
        ]);
        let mut planned = prior.clone();
        planned.set_attr("is_delayed", Value::Bool(false));
        let d = replacing_scheduled(&prior, &planned).expect("a warning");
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
            replacing_scheduled(&prior, &prior).is_none(),
            "no change, no warning"
        );
        let mut done = prior.clone();
        done.set_attr("status", Value::string("Completed"));
        assert!(replacing_scheduled(&done, &planned).is_none());
    }

    #[test]
    fn the_destroy_tells_scheduled_from_installed() {
        let mut prior = object(&[
            ("status", Value::string("Scheduled")),
            ("job_id", Value::string("j1")),
            ("instance_id", Value::string("i1")),
            (MAINTENANCE_WINDOW, Value::string("22:00-02:00")),
        ]);
        let d = forgotten(&UpgradeState::from_value(&prior));
        assert!(d.summary.contains("will still run"), "{}", d.summary);
        assert!(d.detail.contains("Nothing was installed yet"));
        assert!(d.detail.contains("22:00-02:00"));
        prior.set_attr("status", Value::string("Completed"));
        let d = forgotten(&UpgradeState::from_value(&prior));
        assert_eq!(d.summary, "Upgrade forgotten, not undone");
        assert!(d.detail.contains("keeps the version job j1 installed"));
    }

    #[test]
    fn waiting_is_skipped_only_for_a_window_after_the_timeout() {
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
        let later = crate::rds::models::rfc3339(later);
        let hour = Duration::from_secs(3600);
        assert!(beyond_the_wait("i", "j", Some(&later), hour).is_some());
        assert!(beyond_the_wait("i", "j", Some(&later), 4 * hour).is_none());
        assert!(beyond_the_wait("i", "j", None, hour).is_none());
    }

    #[test]
    fn not_waiting_says_what_follows_the_job_next() {
        let start = "2026-01-01T22:00:00Z";
        let limit = Duration::from_secs(3600);
        let apply = not_waiting(Resume::Apply, "i1", "j1", start, limit);
        let invoke = not_waiting(Resume::Invoke, "i1", "j1", start, limit);
        for d in [&apply, &invoke] {
            assert_eq!(
                d.summary,
                "Upgrade scheduled after this apply's timeout: not waiting"
            );
            assert!(
                d.detail.contains(
                    "Upgrade job j1 of instance i1 is scheduled to start at 2026-01-01T22:00:00Z"
                ),
                "{}",
                d.detail
            );
            assert!(d.detail.ends_with("Nothing is submitted again."));
        }
        assert!(
            apply
                .detail
                .contains("after the timeout of this apply (3600s)")
        );
        assert!(
            apply
                .detail
                .contains("recorded in the state (status Scheduled)")
        );
        assert!(
            invoke
                .detail
                .contains("after the timeout of this invocation (3600s)")
        );
        assert!(
            invoke
                .detail
                .contains("invoking it again after the window has opened")
        );
    }
}
