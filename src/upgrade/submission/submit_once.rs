//! Submitting a minor upgrade exactly once (the story: [`super`]). Before submitting, an
//! upgrade already running (or scheduled) on the instance is adopted. A busy answer
//! (`DBS.200019`) leads to finding out what keeps the instance busy: an upgrade of it —
//! running, scheduled, or finished since — is adopted, and so is a version that changed
//! meanwhile (its job is waited for); only a busy instance with no upgrade in sight is
//! submitted again later. A submission whose answer was lost ([`RdsError::Ambiguous`])
//! is never simply repeated: the task center is searched for the job it may have
//! started, and only when none shows is the request sent again (a second request for a
//! running upgrade is refused as busy). A request once sent is seen through even when
//! Terraform is interrupted: its answer carries the job id that the state must record.

use std::time::Duration;

use super::last_look::{LastLook, Stop, Verdict};
use super::{Obtained, Origin};
use crate::rds::models::Task;
use crate::rds::{Api, CallCtx, RdsClient, RdsError, Reply, UpgradeRequest};
use crate::upgrade::job::lookup::{
    Since, active_or_latest, find_active, running_in, search_for_upgrade,
};
use crate::upgrade::job::patience::{UNSEEN_JOB_PATIENCE, pause};
use crate::upgrade::job::{JobSnapshot, JobStatus};
use crate::upgrade::target::Drift;

/// How long an upgrade that may have been started is looked for before the request is
/// sent again.
const AMBIGUOUS_SEARCH: Duration = Duration::from_secs(12);

/// One submission's inputs.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub instance_id: &'a str,
    /// The instance's complete version as the checks saw it.
    pub version: Option<&'a str>,
    pub request: UpgradeRequest,
    /// A listing of the project's running upgrades made moments ago: spares the first
    /// search for one to adopt (later searches ask afresh).
    pub running: Option<&'a [Task]>,
    /// Taken once the submission's quota is reserved, right before it is sent
    /// ([`LastLook::verdict`]).
    pub last_look: Option<&'a LastLook<'a>>,
}

/// Submits the upgrade once (see the module documentation), retrying "busy" until the
/// context's deadline, and tells the newer target a new submission installs.
pub async fn submit_once(
    client: &RdsClient,
    ctx: &CallCtx,
    attempt: &Attempt<'_>,
) -> Result<Obtained, SubmitError> {
    let Attempt {
        instance_id,
        version,
        request,
        running,
        last_look,
    } = *attempt;
    let mut busy_attempts = 0u32;
    let mut busy_since = None;
    let mut check_scheduled = request.is_delayed;
    let mut listing = running.filter(|_| !request.is_delayed);
    // How the target compared at the latest last look that could read it.
    let mut target = None;
    let adopted = Obtained::adopted;
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
                return Ok(adopted(active));
            }
            BusyWith::UnseenUpgrade(now) => {
                tracing::info!(instance_id, version_before = version.unwrap_or(""), version_now = %now, "the instance changed version while busy; waiting for its upgrade job to show instead of submitting another");
                let since = busy_since.unwrap_or_else(time::OffsetDateTime::now_utc);
                return adopt_unseen(client, ctx, instance_id, version, now, since)
                    .await
                    .map(adopted);
            }
            BusyWith::Other => {}
        }
        if ctx.cancel.is_cancelled() {
            return Err(RdsError::Cancelled.into());
        }
        // Ctrl-C ends the wait for the submission's quota; once sent, the client sees
        // the request through: its answer carries the job id the state must record.
        let sent =
            send_after_last_look(client, ctx, instance_id, request, last_look, &mut target).await;
        let busy = match sent {
            Ok(Sending::Sent(job_id)) => {
                tracing::info!(
                    instance_id,
                    job_id,
                    is_delayed = request.is_delayed,
                    "upgrade submitted"
                );
                let newer_target = match target {
                    Some(Drift::Moved { now, .. }) => Some(now),
                    _ => None,
                };
                // Known at once: a delayed job waits for its window, any other runs.
                let status = if request.is_delayed {
                    JobStatus::Scheduled
                } else {
                    JobStatus::Running
                };
                let job = JobSnapshot {
                    id: job_id,
                    status,
                    ..Default::default()
                };
                return Ok(Obtained {
                    origin: Origin::Submitted,
                    job,
                    newer_target,
                });
            }
            // Busy: the API's answer, or the last look's listing (an operation it shows
            // may end before the request arrives, and no busy answer would stop it then).
            Err(e) if e.is_busy() => e.to_string(),
            Ok(Sending::Stopped(stop @ Stop::Busy { .. })) => {
                format!("not sent: {}", stop.reason(instance_id))
            }
            Ok(Sending::Stopped(Stop::TargetMoved { reviewed, now })) => {
                return Err(target_moved(instance_id, reviewed, now));
            }
            // A target an earlier last look saw moved (newer targets accepted) is what a
            // later last look's changed version is reported as.
            Ok(Sending::Stopped(Stop::UpgradedMeanwhile { .. }))
                if let Some(Drift::Moved { reviewed, now }) = target.clone() =>
            {
                return Err(target_moved(instance_id, reviewed, now));
            }
            Ok(Sending::Stopped(ref stop @ Stop::UpgradedMeanwhile { ref now, .. })) => {
                let reason = stop.reason(instance_id);
                tracing::info!(instance_id, version_before = version.unwrap_or(""), version_now = %now, %reason, "the instance changed version while the submission waited for its quota; looking for that upgrade instead of submitting another");
                let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
                return adopt_unseen(client, ctx, instance_id, version, now.clone(), since)
                    .await
                    .map(adopted);
            }
            Err(e @ RdsError::Ambiguous(_)) => {
                tracing::warn!(instance_id, error = %e, "no answer to the upgrade request; looking for the job it may have started");
                let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
                let found =
                    search_for_upgrade(client, ctx, instance_id, since, AMBIGUOUS_SEARCH).await?;
                if let Some(found) = found {
                    return Ok(adopted(found));
                }
                check_scheduled = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // What keeps it busy is found out at once, and read again before any retry.
        let since =
            *busy_since.get_or_insert_with(|| time::OffsetDateTime::now_utc() - BUSY_CLOCK_MARGIN);
        match busy_with_upgrade(client, ctx, instance_id, since, version).await? {
            BusyWith::Upgrade(job) => {
                tracing::info!(instance_id, job_id = %job.id, status = %job.status, "the instance is busy with an upgrade; adopting it");
                return Ok(adopted(job));
            }
            BusyWith::UnseenUpgrade(_) => continue, // handled at the top

            BusyWith::Other => {}
        }
        let wait =
            Duration::from_secs(5 * 2u64.pow(busy_attempts.min(3))).min(Duration::from_secs(30));
        busy_attempts += 1;
        tracing::info!(instance_id, error = %busy, retry_in = ?wait, "instance busy with no upgrade in sight; submitting again later");
        pause(ctx, wait, &busy).await?;
    }
}

/// The upgrade would install `now`, not the `reviewed` target: nothing was sent.
fn target_moved(instance_id: &str, reviewed: String, now: String) -> SubmitError {
    tracing::info!(
        instance_id,
        reviewed,
        now,
        "a newer minor version than the plan showed; nothing submitted"
    );
    SubmitError::TargetMoved { reviewed, now }
}

/// How one submission went: sent (the job id), or stopped by the last look.
enum Sending {
    Sent(String),
    Stopped(Stop),
}

/// Reserves the submission's quota, takes the last look, and sends the upgrade with the
/// reservation, or gives it back unspent when the last look stops it; again from the
/// reservation each time the request is sent back to wait for its quota (a 429, or a
/// failure that may be retried), since the wait may outdate what the last look saw.
/// `target` takes how the target compared at each last look that could read it.
async fn send_after_last_look(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    request: UpgradeRequest,
    last_look: Option<&LastLook<'_>>,
    target: &mut Option<Drift>,
) -> Result<Sending, RdsError> {
    let mut reservation = client.reserve(Api::Upgrade, ctx).await?;
    loop {
        if let Some(last_look) = last_look {
            match last_look.verdict().await? {
                Verdict::Send { target: None } => {}
                Verdict::Send { target: seen } => *target = seen,
                Verdict::Stop(stop) => return Ok(Sending::Stopped(stop)),
            }
        }
        match client
            .upgrade_reserved(reservation, ctx, instance_id, request)
            .await?
        {
            Reply::Answered(job_id) => return Ok(Sending::Sent(job_id)),
            Reply::SentBack(back) => reservation = client.reserve_again(back, ctx).await?,
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
) -> Result<JobSnapshot, SubmitError> {
    match search_for_upgrade(client, ctx, instance_id, since, UNSEEN_JOB_PATIENCE).await? {
        Some(job) => Ok(job),
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
/// [`active_or_latest`]; the one that kept it busy may have finished meanwhile), else the
/// instance's version against `version_before`.
async fn busy_with_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    busy_since: time::OffsetDateTime,
    version_before: Option<&str>,
) -> Result<BusyWith, RdsError> {
    let since = Since::Touched(busy_since);
    if let Some(job) = active_or_latest(client, ctx, instance_id, since).await? {
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
