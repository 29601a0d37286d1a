//! Submitting a minor upgrade exactly once.
//!
//! Exactly once: before submitting, an upgrade already running (or scheduled) on the
//! instance is adopted. A busy answer (`DBS.200019`) leads to finding out what keeps the
//! instance busy: an upgrade of it — running, scheduled, or finished since — is adopted,
//! never followed by a second submission, and so is a version that changed meanwhile
//! (its job is waited for); only a busy instance with no upgrade in sight is submitted
//! again later, after these facts were read again. A submission whose answer was lost
//! ([`RdsError::Ambiguous`]) is never simply repeated — the task center is searched for
//! the job it may have started, and only when the instance shows no sign of one is the
//! request sent again (a second request for a running upgrade is refused as busy). Right
//! before the request is sent — after however long the API's flow control made it wait
//! for its slot — the instance must still run the version the checks saw, and be ACTIVE
//! ([`super::last_look`]); one upgraded meanwhile has its upgrade adopted instead, one
//! shown busy is handled as a busy answer is, and one whose upgrade would now install
//! another version than the plan showed is not submitted ([`SubmitError::TargetMoved`])
//! unless newer targets are accepted. A
//! request once sent is seen through even when Terraform is interrupted: its answer
//! carries the job id that the state must record.

use std::time::Duration;

use super::job::{
    JobSnapshot, JobStatus, UNSEEN_JOB_PATIENCE, find_active, patiently, pause, running_in,
    upgrade_tasks,
};
use super::last_look::VersionUnchanged;
use super::target::Drift;
use crate::rds::models::{Task, parse_time};
use crate::rds::{BeforeSend, CallCtx, RdsClient, RdsError, UpgradeRequest};

/// How a submission ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// This call started the upgrade.
    New(String),
    /// An upgrade of the instance was already under way; this is its job.
    Adopted(JobSnapshot),
}

impl Submitted {
    pub fn job_id(&self) -> &str {
        match self {
            Submitted::New(id) => id,
            Submitted::Adopted(job) => &job.id,
        }
    }
}

/// How long an upgrade that may have been started is looked for before the request is
/// sent again.
const AMBIGUOUS_SEARCH: Duration = Duration::from_secs(12);

/// Submits the upgrade once (see the module documentation), retrying "busy" until the
/// context's deadline. `version` is the instance's complete version as the checks saw it;
/// `running`, a listing of the project's running upgrades made moments ago, spares the
/// first look for one to adopt (later looks ask afresh). `look`, when given, checks the
/// instance's version once the submission's quota slot is granted, right before it is
/// sent ([`VersionUnchanged`]): a version changed while it waited means another upgrade
/// ran, which is adopted instead.
pub async fn submit_once(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    version: Option<&str>,
    request: UpgradeRequest,
    running: Option<&[Task]>,
    look: Option<&VersionUnchanged<'_>>,
) -> Result<Submitted, SubmitError> {
    let mut busy_attempts = 0u32;
    let mut busy_since = None;
    let mut check_scheduled = request.is_delayed;
    let mut listing = running.filter(|_| !request.is_delayed);
    loop {
        let found = match (listing.take(), busy_since) {
            (Some(tasks), _) => BusyWith::from(running_in(tasks, instance_id)),
            (None, Some(since)) => {
                busy_with_upgrade(client, ctx, instance_id, since, version).await?
            }
            (None, None) => {
                BusyWith::from(find_active(client, ctx, instance_id, check_scheduled).await?)
            }
        };
        match found {
            BusyWith::Upgrade(active) => {
                tracing::info!(instance_id, job_id = %active.id, status = %active.status, "adopting the upgrade already under way");
                return Ok(Submitted::Adopted(active));
            }
            BusyWith::UnseenUpgrade(now) => {
                tracing::info!(instance_id, version_before = version.unwrap_or(""), version_now = %now, "the instance changed version while busy; waiting for its upgrade job to show instead of submitting another");
                let since = busy_since.unwrap_or_else(time::OffsetDateTime::now_utc);
                return adopt_unseen(client, ctx, instance_id, version, now, since).await;
            }
            BusyWith::Other => {}
        }
        if ctx.cancel.is_cancelled() {
            return Err(RdsError::Cancelled.into());
        }
        // Ctrl-C ends the wait for the submission's quota; once sent, the client sees
        // the request through: its answer carries the job id the state must record.
        let checked = look.map(|l| l as &dyn BeforeSend);
        match client
            .upgrade_checked(ctx, instance_id, request, checked)
            .await
        {
            Ok(job_id) => {
                tracing::info!(
                    instance_id,
                    job_id,
                    is_delayed = request.is_delayed,
                    "upgrade submitted"
                );
                return Ok(Submitted::New(job_id));
            }
            // Busy: the API's answer, or the last look's listing (an operation it shows
            // may end before the request arrives, and no busy answer would stop it then).
            Err(e) if e.is_busy() || shown_busy(&e, look) => {
                // What keeps it busy is found out at once, and read again before any retry.
                let since = *busy_since
                    .get_or_insert_with(|| time::OffsetDateTime::now_utc() - BUSY_CLOCK_MARGIN);
                match busy_with_upgrade(client, ctx, instance_id, since, version).await? {
                    BusyWith::Upgrade(job) => {
                        tracing::info!(instance_id, job_id = %job.id, status = %job.status, "the instance is busy with an upgrade; adopting it");
                        return Ok(Submitted::Adopted(job));
                    }
                    BusyWith::UnseenUpgrade(_) => continue, // handled at the top

                    BusyWith::Other => {}
                }
                let wait = Duration::from_secs(5 * 2u64.pow(busy_attempts.min(3)))
                    .min(Duration::from_secs(30));
                busy_attempts += 1;
                tracing::info!(instance_id, error = %e, retry_in = ?wait, "instance busy with no upgrade in sight; submitting again later");
                pause(ctx, wait, &e).await?;
            }
            Err(RdsError::NotSent(_))
                if let Some(Drift::Moved { reviewed, now }) = look.and_then(|l| l.drift()) =>
            {
                tracing::info!(
                    instance_id,
                    reviewed,
                    now,
                    "a newer minor version than the plan showed; nothing submitted"
                );
                return Err(SubmitError::TargetMoved { reviewed, now });
            }
            Err(RdsError::NotSent(reason)) if let Some(now) = look.and_then(|l| l.changed()) => {
                tracing::info!(instance_id, version_before = version.unwrap_or(""), version_now = %now, %reason, "the instance changed version while the submission waited for its quota; looking for that upgrade instead of submitting another");
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
                return adopt_unseen(client, ctx, instance_id, version, now, since).await;
            }
            Err(e @ RdsError::Ambiguous(_)) => {
                tracing::warn!(instance_id, error = %e, "no answer to the upgrade request; looking for the job it may have started");
                let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
                let found =
                    search_for_upgrade(client, ctx, instance_id, since, AMBIGUOUS_SEARCH).await?;
                if let Some(found) = found {
                    return Ok(Submitted::Adopted(found));
                }
                check_scheduled = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The instance runs `now` instead of `version` with no job in sight: the upgrade that
/// changed it (created since `since`) is waited for and adopted; submitting would upgrade
/// the instance a second time.
async fn adopt_unseen(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    version: Option<&str>,
    now: String,
    since: time::OffsetDateTime,
) -> Result<Submitted, SubmitError> {
    match search_for_upgrade(client, ctx, instance_id, since, UNSEEN_JOB_PATIENCE).await? {
        Some(job) => Ok(Submitted::Adopted(job)),
        None => Err(SubmitError::UpgradedElsewhere {
            before: version.unwrap_or_default().to_string(),
            now,
        }),
    }
}

/// Why an upgrade was not submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitError {
    Api(RdsError),
    /// The instance's version changed since it was checked and no job of the upgrade that
    /// changed it shows: submitting would upgrade it a second time.
    UpgradedElsewhere {
        before: String,
        now: String,
    },
    /// Right before sending, the upgrade would install `now` instead of the `reviewed`
    /// target the plan showed (a minor version was released since): nothing was sent.
    TargetMoved {
        reviewed: String,
        now: String,
    },
}

impl From<RdsError> for SubmitError {
    fn from(e: RdsError) -> Self {
        SubmitError::Api(e)
    }
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Api(e) => e.fmt(f),
            SubmitError::UpgradedElsewhere { before, now } => write!(
                f,
                "the instance now runs {now} (it ran {before} when checked), upgraded by an operation whose job the task center does not show"
            ),
            SubmitError::TargetMoved { reviewed, now } => write!(
                f,
                "the upgrade would install {now}, not {reviewed} as the plan showed"
            ),
        }
    }
}

/// Whether `error` is the last look's refusal of an instance its listing shows busy.
fn shown_busy(error: &RdsError, look: Option<&VersionUnchanged<'_>>) -> bool {
    matches!(error, RdsError::NotSent(_)) && look.is_some_and(|l| l.busy().is_some())
}

/// How far the API's clock may be behind ours when "finished just before the instance
/// was found busy" is judged by the task center's times.
const BUSY_CLOCK_MARGIN: time::Duration = time::Duration::minutes(2);

/// What keeps a busy instance busy, as far as the APIs tell.
enum BusyWith {
    /// An upgrade of the instance, running, scheduled, or finished since it was found busy.
    Upgrade(JobSnapshot),
    /// No upgrade in sight, yet the instance's version changed (to this one): an upgrade
    /// ran whose job does not show yet.
    UnseenUpgrade(String),
    /// No sign of an upgrade: another operation.
    Other,
}

impl From<Option<JobSnapshot>> for BusyWith {
    fn from(active: Option<JobSnapshot>) -> Self {
        active.map_or(BusyWith::Other, BusyWith::Upgrade)
    }
}

/// Reads the facts again after a busy answer: an upgrade of the instance in sight (see
/// [`look_once`]; the one that kept it busy may have finished meanwhile), else the
/// instance's version against `version_before`.
async fn busy_with_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    busy_since: time::OffsetDateTime,
    version_before: Option<&str>,
) -> Result<BusyWith, RdsError> {
    if let Some(job) = look_once(client, ctx, instance_id, busy_since).await? {
        return Ok(BusyWith::Upgrade(job));
    }
    let now = client
        .instance(ctx, instance_id)
        .await?
        .and_then(|i| i.datastore.complete_version);
    match (version_before, now) {
        (Some(before), Some(now)) if before != now => Ok(BusyWith::UnseenUpgrade(now)),
        _ => Ok(BusyWith::Other),
    }
}

/// One look for an upgrade of the instance: running or scheduled, or created or ended
/// since `since`.
async fn look_once(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: time::OffsetDateTime,
) -> Result<Option<JobSnapshot>, RdsError> {
    if let Some(active) = find_active(client, ctx, instance_id, true).await? {
        return Ok(Some(active));
    }
    Ok(upgrade_tasks(client, ctx, instance_id)
        .await?
        .into_iter()
        .filter(|t| {
            let last = t.end_time.as_deref().or(t.create_time.as_deref());
            t.status == JobStatus::Running.as_str()
                || last.and_then(parse_time).is_some_and(|at| at >= since)
        })
        .max_by_key(|t| t.create_time.as_deref().and_then(parse_time))
        .map(|t| JobSnapshot::from_task(&t)))
}

/// Looks for an upgrade of the instance (see `look_once`) every few seconds for up to
/// `patience`: new jobs show in the listings with a delay.
pub async fn search_for_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    since: time::OffsetDateTime,
    patience: Duration,
) -> Result<Option<JobSnapshot>, RdsError> {
    let look = || look_once(client, ctx, instance_id, since);
    patiently(ctx, instance_id, patience, Duration::from_secs(3), look).await
}
