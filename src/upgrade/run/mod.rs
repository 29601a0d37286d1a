//! One upgrade run: the whole sequence, for every caller (the resource's create and its
//! resumed wait, the action's invocation). In order: nothing to install? (an instance
//! already on its target, with no recent upgrade to adopt, ends the run here: no slot,
//! no request to upgrade) → a slot of the fleet gate → the checks, then adopt or submit
//! once ([`crate::upgrade::submission`]) → the job as it begins (a new delayed job's
//! window read from the scheduled tasks) → the [`course`] after it → the slot's
//! lifecycle → the tracked wait → the version after. It returns one [`Ran`]; the
//! resource turns it into state and diagnostics, the action into progress and
//! diagnostics.

pub mod course;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::course::{Asked, Next};
use super::catalog::Catalog;
use super::facts::InstanceFacts;
use super::fleet_gate::{FleetGate, Slot};
use super::job::lookup::new_job_times;
use super::job::{JobSnapshot, JobStatus};
use super::submission::adopt_or_submit::{Ahead, Begun, NotSubmitted, adopt_or_submit, on_target};
use super::submission::{Obtained, Origin, Upgrade};
use super::tracking::{Followed, JobTracker, PollCadence, WaitError};
use crate::rds::{CallCtx, RdsClient, RdsError};

/// What a run needs of the provider process: the catalog of instances, the fleet gate,
/// the client and the job tracker, and whether newer targets than the plan's are
/// installed (`accept_newer_target`).
#[derive(Clone)]
pub struct Upgrades {
    pub catalog: Arc<Catalog>,
    pub gate: FleetGate,
    pub client: RdsClient,
    pub tracker: JobTracker,
    pub accept_newer_target: bool,
}

/// How a caller waits: its cancellation, its time limit (counted from the run's start),
/// and how often it looks at the job.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub cancel: CancellationToken,
    pub limit: Duration,
    pub cadence: PollCadence,
}

/// What a run tells its caller while it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// The job was adopted or submitted.
    Began {
        facts: &'a InstanceFacts,
        obtained: &'a Obtained,
    },
    /// The job's status or progress changed while waited for.
    Progress(&'a JobSnapshot),
}

/// Whose job a run follows, and until when.
#[derive(Clone, Copy)]
struct Caller<'a> {
    instance_id: &'a str,
    /// The instance's name, for the log (empty when unknown).
    instance_name: &'a str,
    waiting: &'a Waiting,
    deadline: Instant,
}

/// How a run ended, once it had its job.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The job ended (Completed or Failed).
    Finished,
    /// Not waited for (`wait_for_completion = false`): a follower holds its slot, when
    /// it has one, until it ends.
    NotWaited,
    /// It waits for a maintenance window that opens at `start` (RFC 3339), after the
    /// caller's limit: not waited for.
    TooLate { start: String },
    /// The wait stopped before the job ended; the job goes on.
    Stopped(Stopped),
}

/// Why a wait stopped before the job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stopped {
    Timeout,
    Cancelled,
    Api(RdsError),
}

/// A job followed as far as the caller's wait allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// The job as last seen; a completed one carries the instance's version after it
    /// when that could be read.
    pub job: JobSnapshot,
    pub ending: Ending,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// It adopted or submitted a job, and followed it as far as asked.
    Job(Box<JobRun>),
    /// Nothing to install: the instance (its facts as read) already runs the version the
    /// upgrade would install, and no upgrade of it in the last day shows. Nothing was
    /// submitted and no slot of the fleet gate was held.
    UpToDate(Box<InstanceFacts>),
}

impl Ran {
    /// The instance as the run last read it.
    pub fn facts(&self) -> &InstanceFacts {
        match self {
            Ran::Job(run) => &run.facts,
            Ran::UpToDate(facts) => facts,
        }
    }
}

/// A run that got its job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    /// The instance as the checks last read it.
    pub facts: InstanceFacts,
    pub origin: Origin,
    /// The version a new submission installs when it is newer than the reviewed target.
    pub newer_target: Option<String>,
    /// The job as it began: a delayed one with its scheduled window when it showed.
    pub began: JobSnapshot,
    pub tracked: Tracked,
}

impl Upgrades {
    /// Runs `upgrade` from the fleet gate to the version after (see the module
    /// documentation). `Err` says why nothing was adopted or submitted.
    pub async fn run(
        &self,
        upgrade: &Upgrade<'_>,
        waiting: &Waiting,
        on_event: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<Ran, NotSubmitted> {
        let deadline = Instant::now() + waiting.limit;
        let call = CallCtx::new(waiting.cancel.clone()).with_deadline(deadline);
        let instance_id = upgrade.instance_id;
        let recent = match on_target(&self.catalog, &self.client, &call, upgrade).await {
            Ahead::NothingToInstall(facts) => {
                tracing::info!(
                    instance_id,
                    instance_name = %facts.name,
                    version = facts.complete_version.as_deref().unwrap_or(""),
                    "already on its latest minor version: nothing submitted"
                );
                return Ok(Ran::UpToDate(Box::new(facts)));
            }
            Ahead::RecentUpgrade(job) => Some(job),
            Ahead::Undecided => None,
        };
        let slot = self
            .gate
            .acquire(&call, instance_id)
            .await
            .map_err(NotSubmitted::Gate)?;
        let begun = adopt_or_submit(
            &self.catalog,
            &self.gate,
            &self.client,
            &call,
            upgrade,
            self.accept_newer_target,
            recent,
        )
        .await?;
        let (facts, obtained) = match begun {
            Begun::Job { facts, obtained } => (facts, *obtained),
            // It reached its target while this run waited for the slot: given back.
            Begun::OnTarget { facts } => {
                drop(slot);
                tracing::info!(
                    instance_id,
                    instance_name = %facts.name,
                    "already on its latest minor version: nothing submitted"
                );
                return Ok(Ran::UpToDate(Box::new(facts)));
            }
        };
        on_event(Event::Began {
            facts: &facts,
            obtained: &obtained,
        });
        let Obtained {
            origin,
            job,
            newer_target,
        } = obtained;
        let began = match origin {
            Origin::Submitted if upgrade.request.is_delayed => {
                let times = new_job_times(&self.client, &call, instance_id, &job.id).await;
                JobSnapshot {
                    scheduled_start: times.as_ref().and_then(|t| t.scheduled_start.clone()),
                    scheduled_end: times.and_then(|t| t.scheduled_end),
                    ..job
                }
            }
            _ => job,
        };
        let asked = Asked {
            is_delayed: upgrade.request.is_delayed,
            wait_for_completion: upgrade.wait_for_completion,
        };
        let course = course::after_submission(
            asked,
            &began.status,
            began.scheduled_start.as_deref(),
            time_at(deadline),
        );
        let slot = course.holds_slot.then_some(slot);
        let caller = Caller {
            instance_id,
            instance_name: &facts.name,
            waiting,
            deadline,
        };
        let tracked = self
            .follow(caller, began.clone(), course.next, slot, on_event)
            .await;
        Ok(Ran::Job(Box::new(JobRun {
            facts,
            origin,
            newer_target,
            began,
            tracked,
        })))
    }

    /// Resumes following `job` of `instance_id` (named `instance_name`, empty when
    /// unknown), recorded earlier and under way, as `asked`: the same course as after a
    /// submission; a running job occupies a slot of the fleet gate at once.
    pub async fn resume(
        &self,
        instance_id: &str,
        instance_name: &str,
        job: JobSnapshot,
        asked: Asked,
        waiting: &Waiting,
        on_event: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Tracked {
        let deadline = Instant::now() + waiting.limit;
        let course = course::after_submission(
            asked,
            &job.status,
            job.scheduled_start.as_deref(),
            time_at(deadline),
        );
        let slot = (course.next == Next::Wait && job.status == JobStatus::Running)
            .then(|| self.gate.occupy(instance_id));
        if course.next == Next::Wait {
            tracing::info!(
                instance_id,
                instance_name,
                job_id = %job.id,
                "resuming the wait for the upgrade job"
            );
        }
        let caller = Caller {
            instance_id,
            instance_name,
            waiting,
            deadline,
        };
        self.follow(caller, job, course.next, slot, on_event).await
    }

    /// The course's `next` step for `job`, with the slot's lifecycle: given back when the
    /// job ends (a failure charged to the budget), held by a follower while the job runs
    /// unwatched, let go on cancellation.
    async fn follow(
        &self,
        caller: Caller<'_>,
        job: JobSnapshot,
        next: Next,
        slot: Option<Slot>,
        on_event: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Tracked {
        let Caller {
            instance_id,
            instance_name,
            waiting,
            deadline,
        } = caller;
        match next {
            Next::Finished => {}
            Next::TooLate { start } => {
                return Tracked {
                    job,
                    ending: Ending::TooLate { start },
                };
            }
            Next::Background => {
                if let Some(slot) = slot {
                    self.hold_until_done(slot, instance_id, &job.id, waiting);
                }
                return Tracked {
                    job,
                    ending: Ending::NotWaited,
                };
            }
            Next::Wait => {
                let call = CallCtx::new(waiting.cancel.clone()).with_deadline(deadline);
                // A job created moments ago: its listings' window starts a day before.
                let followed = Followed {
                    job_id: &job.id,
                    instance_id,
                    since: Some(time::OffsetDateTime::now_utc() - time::Duration::days(1)),
                    cadence: waiting.cadence,
                };
                let waited = self
                    .tracker
                    .follow_job(&call, followed, |snap| {
                        tracing::info!(instance_id, instance_name, job_id = %snap.id, status = %snap.status, progress = snap.progress.as_deref().unwrap_or(""), "upgrade in progress");
                        on_event(Event::Progress(snap));
                    })
                    .await;
                let (last, why) = match waited {
                    Ok(done) => return self.finished(caller, done, slot).await,
                    Err(WaitError::Timeout(last)) => (last, Stopped::Timeout),
                    Err(WaitError::Cancelled(last)) => (last, Stopped::Cancelled),
                    Err(WaitError::Api(e)) => (None, Stopped::Api(e)),
                };
                // The job goes on: a follower keeps its slot, unless Terraform was
                // interrupted (the slot goes with the apply).
                if let (Some(slot), false) = (slot, why == Stopped::Cancelled) {
                    self.hold_until_done(slot, instance_id, &job.id, waiting);
                }
                return Tracked {
                    job: last.unwrap_or(job),
                    ending: Ending::Stopped(why),
                };
            }
        };
        self.finished(caller, job, slot).await
    }

    /// A job that ended: its slot given back (a failure charged to the budget), and a
    /// completed one's version after.
    async fn finished(
        &self,
        caller: Caller<'_>,
        mut job: JobSnapshot,
        slot: Option<Slot>,
    ) -> Tracked {
        let Caller {
            instance_id,
            instance_name,
            waiting,
            ..
        } = caller;
        if let Some(slot) = slot {
            slot.finished(instance_id, &job);
        }
        if job.status == JobStatus::Completed {
            job.version_after =
                version_after(&self.client, &waiting.cancel, instance_id, &job).await;
            tracing::info!(instance_id, instance_name, job_id = %job.id, version_after = job.version_after.as_deref().unwrap_or(""), "upgrade completed");
        }
        Tracked {
            job,
            ending: Ending::Finished,
        }
    }

    /// The job goes on while nobody waits for it: a follower on the process's tracker
    /// holds its slot until the job ends (charging a failure), or the process stops. A
    /// gate without limits needs no follower.
    fn hold_until_done(&self, slot: Slot, instance_id: &str, job_id: &str, waiting: &Waiting) {
        if !slot.limited() {
            return;
        }
        let tracker = self.tracker.clone();
        let (cancel, cadence) = (waiting.cancel.clone(), waiting.cadence);
        let (job_id, instance_id) = (job_id.to_string(), instance_id.to_string());
        tokio::spawn(async move {
            let followed = Followed {
                job_id: &job_id,
                instance_id: &instance_id,
                since: Some(time::OffsetDateTime::now_utc() - time::Duration::days(1)),
                cadence,
            };
            match tracker
                .follow_job(&CallCtx::new(cancel), followed, |_| {})
                .await
            {
                Ok(done) => slot.finished(&instance_id, &done),
                Err(why) => {
                    tracing::debug!(instance_id, job_id, ?why, "stopped following the upgrade");
                }
            }
        });
    }
}

/// The instance's version after a completed `job`: the one the tracker's listing read
/// after the job ended, else the instance read afresh ([`installed_version`]).
pub async fn version_after(
    client: &RdsClient,
    cancel: &CancellationToken,
    instance_id: &str,
    job: &JobSnapshot,
) -> Option<String> {
    match &job.version_after {
        Some(version) => Some(version.clone()),
        None => installed_version(client, cancel, instance_id).await,
    }
}

/// The version the instance runs, read afresh (not from the cache) within a minute of its
/// own (a wait before may have used the caller's time up): up to three rounds of the
/// client's retries, as the upgrade itself is done.
pub async fn installed_version(
    client: &RdsClient,
    cancel: &CancellationToken,
    id: &str,
) -> Option<String> {
    let call = CallCtx::new(cancel.clone()).with_deadline(Instant::now() + AFTER_READ_LIMIT);
    for round in 1..=3 {
        match client.instance(&call, id).await {
            Ok(found) => return found.and_then(|i| i.datastore.complete_version),
            Err(e)
                if round < 3
                    && !e.is_auth()
                    && !matches!(e, RdsError::Cancelled | RdsError::Timeout(_)) =>
            {
                tracing::debug!(instance_id = id, error = %e, "reading the version after the upgrade failed; again");
            }
            Err(e) => {
                tracing::warn!(instance_id = id, error = %e, "cannot read the version after the upgrade; the next refresh asks again");
                return None;
            }
        }
    }
    None
}

/// How long the read of the version after an upgrade may take.
const AFTER_READ_LIMIT: Duration = Duration::from_secs(60);

/// The wall-clock time of `deadline`.
fn time_at(deadline: Instant) -> time::OffsetDateTime {
    let left = deadline.saturating_duration_since(Instant::now());
    time::OffsetDateTime::now_utc() + left
}
