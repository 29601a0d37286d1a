//! A wait for an upgrade job that stopped before the job finished, as the resource and
//! the action tell it: why it stopped, that the job goes on, and what to run to follow it
//! again (nothing is submitted again either way).

use std::time::Duration;

use crate::rds::RdsError;
use crate::tfplugin::Diagnostic;
use crate::upgrade::run::{Ending, Stopped};

/// Who follows the job again after an interrupted wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The resource: the job is in the state and the next apply resumes tracking it.
    Apply,
    /// The action: it keeps no state, and invoking it again follows the job.
    Invoke,
}

impl Resume {
    /// The argument that sets the wait's limit.
    fn timeout_argument(self) -> &'static str {
        match self {
            Resume::Apply => "timeouts",
            Resume::Invoke => "timeout",
        }
    }
}

/// The warning of a wait that stopped (`why`) while job `job_id` of `who` (e.g.
/// `instance i-1`) goes on.
fn still_running(resume: Resume, job_id: &str, who: &str, why: &str) -> Diagnostic {
    let (summary, recorded, next) = match resume {
        Resume::Apply => (
            "Upgrade still running; tracking will resume",
            " and is recorded in the state",
            "Run terraform apply again to keep tracking it",
        ),
        Resume::Invoke => (
            "Upgrade still running",
            "",
            "Invoke the action again to follow it",
        ),
    };
    Diagnostic::warning(
        summary,
        format!(
            "{why} The upgrade job {job_id} of {who} goes on in Huawei Cloud{recorded}. \
             {next}: nothing is submitted again."
        ),
    )
}

/// The warning of a run that ended (`ending`) before its job `job_id` of `instance`
/// (described as `who`) did, within the limit `limit`: a wait that stopped, or a window
/// after the limit. None when the job ended or was not waited for.
pub fn of_ending(
    resume: Resume,
    ending: &Ending,
    limit: Duration,
    job_id: &str,
    (instance, who): (&str, &str),
) -> Option<Diagnostic> {
    match ending {
        Ending::Finished | Ending::NotWaited => None,
        Ending::TooLate { start } => Some(not_waiting(resume, instance, job_id, start, limit)),
        Ending::Stopped(Stopped::Api(e)) if e.is_expired_credential() => {
            Some(credentials_expired(resume, e, job_id, who))
        }
        Ending::Stopped(stopped) => Some(interrupted(resume, stopped, limit, job_id, who)),
    }
}

/// The error of a wait that stopped because the credentials expired (static temporary
/// keys, which nothing renews): the run did not succeed, though the job goes on and,
/// for the resource, is recorded in the state to be adopted by the next apply.
fn credentials_expired(resume: Resume, error: &RdsError, job_id: &str, who: &str) -> Diagnostic {
    let (recorded, next) = match resume {
        Resume::Apply => (
            " and is recorded in the state",
            "Renew the credentials (HW_ACCESS_KEY, HW_SECRET_KEY and HW_SECURITY_TOKEN, or use a source that renews: assume_role or ECS metadata) and run terraform apply again: it adopts the recorded job and follows it to the end",
        ),
        Resume::Invoke => (
            "",
            "Renew the credentials and invoke the action again: it adopts the running job and follows it to the end",
        ),
    };
    Diagnostic::error(
        "Credentials expired while following the upgrade",
        format!(
            "The credentials expired before the upgrade job {job_id} of {who} finished ({error}). \
             The job goes on in Huawei Cloud{recorded}. {next}; nothing is submitted again."
        ),
    )
}

/// [`still_running`] for a wait that stopped (`stopped`) with the limit `limit`.
fn interrupted(
    resume: Resume,
    stopped: &Stopped,
    limit: Duration,
    job_id: &str,
    who: &str,
) -> Diagnostic {
    let why = match stopped {
        Stopped::Cancelled => "Terraform was interrupted while waiting.".to_string(),
        Stopped::Timeout => format!(
            "The wait reached its timeout ({}s; see {}).",
            limit.as_secs(),
            resume.timeout_argument()
        ),
        Stopped::Api(e) => format!("Following the job failed: {e}."),
    };
    still_running(resume, job_id, who, &why)
}

/// The warning of a resource's apply (`Resume::Apply`) or an invocation of the action
/// (`Resume::Invoke`) that does not wait for job `job_id`, scheduled to start at `start`
/// (RFC 3339), after its timeout `limit` ([`Ending::TooLate`]).
fn not_waiting(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_says_how_to_follow_the_job_again() {
        let limit = Duration::from_secs(90);
        let apply = interrupted(
            Resume::Apply,
            &Stopped::Timeout,
            limit,
            "j1",
            "instance i-1",
        );
        assert!(apply.summary.starts_with("Upgrade still running"));
        assert!(
            apply
                .detail
                .contains("reached its timeout (90s; see timeouts)")
        );
        assert!(apply.detail.contains("Run terraform apply again"));
        let invoke = interrupted(Resume::Invoke, &Stopped::Cancelled, limit, "j1", "x");
        assert_eq!(invoke.summary, "Upgrade still running");
        assert!(invoke.detail.starts_with("Terraform was interrupted"));
        assert!(
            invoke
                .detail
                .contains("Invoke the action again to follow it")
        );
    }

    #[test]
    fn expired_credentials_end_the_wait_in_an_error_that_says_how_to_resume() {
        let expired = RdsError::Api {
            status: 401,
            code: "APIGW.0301".into(),
            message: "Incorrect IAM authentication information: token expires, expires_at: 2026-01-01T00:00:00.000000Z".into(),
            request_id: None,
        };
        let ending = Ending::Stopped(Stopped::Api(expired));
        let limit = Duration::from_secs(90);
        let d = of_ending(Resume::Apply, &ending, limit, "j1", ("i1", "instance i1")).unwrap();
        assert_eq!(d.severity, crate::tfplugin::Severity::Error);
        assert_eq!(d.summary, "Credentials expired while following the upgrade");
        assert!(d.detail.contains("recorded in the state"), "{}", d.detail);
        assert!(d.detail.contains("adopts the recorded job"), "{}", d.detail);
        // Another refusal while following stays a warning: the wait merely stopped.
        let other = Ending::Stopped(Stopped::Api(RdsError::Transport("reset".into())));
        let d = of_ending(Resume::Apply, &other, limit, "j1", ("i1", "instance i1")).unwrap();
        assert_eq!(d.severity, crate::tfplugin::Severity::Warning);
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
