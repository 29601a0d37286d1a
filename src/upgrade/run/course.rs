//! The course an upgrade run takes once it has its job: whether the job holds a slot of
//! the fleet gate, and whether the run waits for it, leaves it to a follower, or returns
//! at once. Pure: the decision table, tested beside it.
//!
//! The rules:
//! - A job that runs in the maintenance window holds no slot: one delayed by request
//!   (`is_delayed = true`), and one adopted while `Scheduled` whatever `is_delayed` says
//!   (the RDS API cannot run a scheduled task early, so it does not run now either).
//! - A job already finished is not waited for.
//! - A scheduled job is not waited for when its window opens after the caller's deadline:
//!   the wait could only end at the deadline. The caller returns at once, with the job
//!   still `Scheduled`, and says so ([`Next::TooLate`]). A window whose start is not known
//!   is waited for.
//! - Otherwise the caller waits when asked (`wait_for_completion`), else a follower holds
//!   the job's slot, if it has one, until the job ends.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::upgrade::job::JobStatus;

/// What the configuration asks of the upgrade once it is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// `is_delayed`: the upgrade was requested for the maintenance window.
    pub is_delayed: bool,
    /// `wait_for_completion`, with its default applied.
    pub wait_for_completion: bool,
}

/// What the caller does next with the started job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The job has ended already: nothing to wait for.
    Finished,
    /// The job waits for a maintenance window that opens (at `start`, RFC 3339) after the
    /// deadline: return at once with the job `Scheduled`, and say so.
    TooLate { start: String },
    /// Wait for the job to end, within the deadline.
    Wait,
    /// Return now; a follower holds the job's slot, when it has one, until the job ends.
    Background,
}

/// The decisions that follow a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    /// Whether the job keeps its slot of the fleet gate (else it is given back now).
    pub holds_slot: bool,
    pub next: Next,
}

/// Whether a started job with `status` holds a slot of the fleet gate: not when it runs
/// in the maintenance window (delayed by request, or scheduled already).
pub fn holds_slot(is_delayed: bool, status: &JobStatus) -> bool {
    !is_delayed && *status != JobStatus::Scheduled
}

/// Whether a window starting at `start` (RFC 3339) opens after `deadline`; an unknown or
/// unreadable start does not.
pub fn opens_after(start: Option<&str>, deadline: OffsetDateTime) -> bool {
    start
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .is_some_and(|start| start > deadline)
}

/// What follows the submission of a job with `status`, asked for as `asked`: its slot and
/// what to do next. `scheduled_start` is when a scheduled job's window opens, when known;
/// `deadline` is when the caller's wait would end.
pub fn after_submission(
    asked: Asked,
    status: &JobStatus,
    scheduled_start: Option<&str>,
    deadline: OffsetDateTime,
) -> Course {
    let next = if status.is_finished() {
        Next::Finished
    } else if asked.wait_for_completion
        && *status == JobStatus::Scheduled
        && opens_after(scheduled_start, deadline)
    {
        Next::TooLate {
            start: scheduled_start.unwrap_or_default().to_string(),
        }
    } else if asked.wait_for_completion {
        Next::Wait
    } else {
        Next::Background
    };
    Course {
        holds_slot: holds_slot(asked.is_delayed, status),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DEADLINE: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);
    const BEFORE: &str = "2026-01-01T11:30:00Z";
    const AFTER: &str = "2026-01-01T14:00:00Z";

    #[test]
    fn who_holds_a_slot_and_what_comes_next() {
        use JobStatus::{Completed, Failed, Running, Scheduled};
        let too_late = || Next::TooLate {
            start: AFTER.to_string(),
        };
        // (is_delayed, status, wait, window start, holds a slot, next)
        let table = vec![
            // An immediate request.
            (false, Running, true, None, true, Next::Wait),
            (false, Running, false, None, true, Next::Background),
            (false, Running, true, Some(AFTER), true, Next::Wait),
            // ... that adopted a scheduled job: no slot, no wait past the deadline.
            (false, Scheduled, true, Some(BEFORE), false, Next::Wait),
            (false, Scheduled, true, Some(AFTER), false, too_late()),
            (false, Scheduled, true, None, false, Next::Wait),
            (
                false,
                Scheduled,
                false,
                Some(BEFORE),
                false,
                Next::Background,
            ),
            (
                false,
                Scheduled,
                false,
                Some(AFTER),
                false,
                Next::Background,
            ),
            // A delayed request: never a slot.
            (true, Scheduled, true, Some(BEFORE), false, Next::Wait),
            (true, Scheduled, true, Some(AFTER), false, too_late()),
            (true, Scheduled, false, Some(AFTER), false, Next::Background),
            (
                true,
                Scheduled,
                false,
                Some(BEFORE),
                false,
                Next::Background,
            ),
            (true, Running, true, None, false, Next::Wait),
            (true, Running, false, None, false, Next::Background),
            // Finished already: nothing to wait for.
            (false, Completed, true, None, true, Next::Finished),
            (false, Failed, false, None, true, Next::Finished),
            (true, Completed, true, Some(AFTER), false, Next::Finished),
        ];
        for (is_delayed, status, wait, start, slot, next) in table {
            let asked = Asked {
                is_delayed,
                wait_for_completion: wait,
            };
            let course = after_submission(asked, &status, start, DEADLINE);
            let case = format!("delayed {is_delayed}, {status}, wait {wait}, start {start:?}");
            assert_eq!(course.holds_slot, slot, "slot: {case}");
            assert_eq!(course.next, next, "next: {case}");
        }
    }

    #[test]
    fn only_a_known_start_after_the_deadline_is_too_late() {
        assert!(opens_after(Some(AFTER), DEADLINE));
        assert!(!opens_after(Some(BEFORE), DEADLINE));
        assert!(!opens_after(Some("2026-01-01T12:00:00Z"), DEADLINE));
        assert!(!opens_after(None, DEADLINE));
        assert!(!opens_after(Some("tonight"), DEADLINE));
    }
}
