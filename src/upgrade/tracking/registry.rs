//! What the tracker knows of each job it follows: what it tells the job's waiters
//! (`JobState`, [`Finished`]), the job's cadence and the window of its next look, and
//! where the API's clock put its creation (the registry the sweep planner reads).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::cadence::{Pace, PollCadence};
use crate::rds::RdsError;
use crate::rds::models::{Job, parse_time};

/// A job that finished, with the instance's version read right after it completed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub job: Job,
    /// The instance's complete version after a completed job, when the listing had it.
    pub version_after: Option<String>,
}

/// What the tracker has seen of one job so far.
#[derive(Debug, Clone)]
pub(super) enum JobState {
    /// Not seen yet, or still running or scheduled (with the latest view).
    Pending(Option<Job>),
    /// Finished (Completed or Failed), or tracking gave up with an error.
    Done(Result<Finished, RdsError>),
}

/// How far the API's clock may be from ours when a job's creation time is bounded.
pub(super) const CLOCK_MARGIN: time::Duration = time::Duration::minutes(10);

/// How far either side of its creation time (whole seconds in the listings) a job is
/// looked for; and before its estimated creation time, before a listing showed it
/// (a submission that took longer is found by the fallbacks).
pub(super) const CREATED_SLACK: time::Duration = time::Duration::seconds(1);
pub(super) const ESTIMATE_SLACK: time::Duration = time::Duration::seconds(3);

/// One followed job.
pub(super) struct Followed {
    pub(super) tx: watch::Sender<JobState>,
    pub(super) instance_id: String,
    /// The job was created no earlier than this (bounds the listings' window).
    pub(super) since: time::OffsetDateTime,
    pub(super) registered: Instant,
    /// When it was registered, by our wall clock.
    pub(super) registered_at: time::OffsetDateTime,
    pub(super) cadence: PollCadence,
    pub(super) looks: u32,
    pub(super) pace: Pace,
    /// The window of its next look: a sweep from `open` on serves it; one comes by `due`.
    pub(super) open: Instant,
    pub(super) due: Instant,
    /// The last view, to tell a delayed job from a running one and where it was created.
    pub(super) last: Option<Job>,
    /// No listing of its estimated stretch showed it, nor `GET /jobs`: look for it in the
    /// whole window.
    pub(super) unplaced: bool,
}

impl Followed {
    /// Its creation time by the API's clock, when a view showed it.
    pub(super) fn created(&self) -> Option<time::OffsetDateTime> {
        parse_time(self.last.as_ref()?.created.as_deref()?)
    }

    /// Plans the window of the next look after one at `now`.
    pub(super) fn plan(&mut self, now: Instant) {
        let waited = self.registered.elapsed();
        let regular = self.cadence.interval(self.looks, waited);
        let slack = self.cadence.min / 2;
        let predicted = (self.looks >= 2)
            .then(|| self.pace.earliest_end())
            .flatten()
            .map(|end| (end + Duration::from_millis(50)).max(now + Duration::from_millis(100)));
        let (open, due) = match predicted {
            None => (now + regular.saturating_sub(slack), now + regular),
            Some(end) => {
                let check_in = self.cadence.check_in(waited);
                if end <= now + check_in {
                    (end.checked_sub(slack).unwrap_or(end).max(now), end)
                } else {
                    (now + check_in / 2, now + check_in)
                }
            }
        };
        (self.open, self.due) = (open, due);
    }
}

/// Every job the tracker follows, and what it learned of the API's clock and listings.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) jobs: HashMap<String, Followed>,
    /// Whether the loop runs (it stops when no job is followed).
    pub(super) running: bool,
    /// The most any job's creation time (the API's clock) came before our registration
    /// of it, in seconds (negative when before). A job is registered once its submission
    /// answered, so this is how far the API's clock is from ours, less the quickest
    /// submission: where to look for a job no listing showed yet.
    pub(super) clock: Option<f64>,
    /// Creation times of followed jobs that finished: a listing by any status shows them
    /// too, so they count in what a cluster costs.
    pub(super) finished: Vec<time::OffsetDateTime>,
}

impl Registry {
    /// Where the API's clock put `job`'s creation, as far as we know.
    pub(super) fn stretch(
        &self,
        job: &Followed,
    ) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
        if let Some(created) = job.created() {
            return Some((created - CREATED_SLACK, created + CREATED_SLACK));
        }
        let offset = time::Duration::seconds_f64(self.clock?);
        (!job.unplaced).then(|| {
            let at = job.registered_at + offset;
            ((at - ESTIMATE_SLACK).max(job.since), at + CREATED_SLACK)
        })
    }

    /// Learns the API's clock from a job's first view.
    pub(super) fn learn_clock(&mut self, id: &str) {
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        let Some(created) = job.created() else {
            return;
        };
        let offset = (created - job.registered_at).as_seconds_f64();
        self.clock = Some(self.clock.map_or(offset, |known| known.max(offset)));
    }
}
