//! What one sweep lists: the clusters of creation times of the jobs it serves, or every
//! running job of the window when that costs fewer pages (`plan_sweep`). Pure: it
//! reads the registry and makes no request.

use std::collections::HashSet;

use tokio::time::Instant;

use super::registry::{CREATED_SLACK, Registry};
use crate::rds::Api;

/// What one sweep lists.
#[derive(Debug, PartialEq)]
pub(super) enum Sweep {
    /// Every running job of the window, then the stretches of those that left it.
    Everything,
    /// These clusters of creation times, by any status.
    Clusters(Vec<(time::OffsetDateTime, time::OffsetDateTime)>),
}

/// Requests a task-center listing of `n` tasks takes.
pub(super) fn pages(n: usize) -> usize {
    Api::ListTasks.pages(n)
}

/// What a sweep at `now` lists, and the ids of the jobs it serves (those whose look
/// window is open).
pub(super) fn plan_sweep(registry: &Registry, now: Instant) -> (Sweep, HashSet<String>) {
    let served: HashSet<String> = registry
        .jobs
        .iter()
        .filter(|(_, f)| f.open <= now)
        .map(|(id, _)| id.clone())
        .collect();
    let stretches: Option<Vec<_>> = served
        .iter()
        .map(|id| registry.stretch(&registry.jobs[id]))
        .collect();
    let Some(mut stretches) = stretches else {
        return (Sweep::Everything, served);
    };
    // Creation times (known or estimated) of every followed job, finished or not, to
    // cost a cluster; every running job costs the pages of the jobs still followed.
    let mut placed: Vec<time::OffsetDateTime> = registry
        .jobs
        .values()
        .filter_map(|f| registry.stretch(f).map(|(from, to)| from + (to - from) / 2))
        .chain(registry.finished.iter().copied())
        .collect();
    placed.sort();
    let count = |(from, to): (time::OffsetDateTime, time::OffsetDateTime)| {
        placed.partition_point(|t| *t <= to) - placed.partition_point(|t| *t < from)
    };
    stretches.sort();
    let mut clusters: Vec<(time::OffsetDateTime, time::OffsetDateTime)> = Vec::new();
    for stretch in stretches {
        match clusters.last_mut() {
            Some(last)
                if stretch.0 <= last.1
                    || pages(count((last.0, stretch.1)))
                        <= pages(count(*last)) + pages(count(stretch)) =>
            {
                last.1 = last.1.max(stretch.1);
            }
            _ => clusters.push(stretch),
        }
    }
    let targeted: usize = clusters.iter().map(|c| pages(count(*c))).sum();
    if targeted > pages(registry.jobs.len()) {
        (Sweep::Everything, served)
    } else {
        (Sweep::Clusters(clusters), served)
    }
}

/// The creation times of `ids` as the API's own listings showed them (whole seconds,
/// so a second either side), when every one of them was seen; else None.
pub(super) fn created_stretch(
    registry: &Registry,
    ids: &[String],
) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let mut created = ids.iter().map(|id| registry.jobs.get(id)?.created());
    let first = created.next()??;
    let (from, to) = created.try_fold((first, first), |(from, to), at| {
        let at = at?;
        Some((from.min(at), to.max(at)))
    })?;
    Some((from - CREATED_SLACK, to + CREATED_SLACK))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::format_description::well_known::Rfc3339;
    use tokio::sync::watch;

    use super::super::cadence::{Pace, PollCadence};
    use super::super::registry::{CLOCK_MARGIN, Followed, JobState};
    use super::*;
    use crate::rds::models::Job;

    const T0: i64 = 1_800_000_000;

    fn at(seconds: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(T0 + seconds).unwrap()
    }

    /// A followed job registered at `registered` seconds, seen created at `created`
    /// seconds (None: never seen), whose look window opens at `open`.
    fn followed(registered: i64, created: Option<i64>, open: Instant) -> Followed {
        let (tx, _) = watch::channel(JobState::Pending(None));
        Followed {
            tx,
            instance_id: String::new(),
            since: at(registered) - CLOCK_MARGIN,
            registered: Instant::now(),
            registered_at: at(registered),
            cadence: PollCadence::default(),
            looks: 2,
            pace: Pace::default(),
            open,
            due: open,
            last: created.map(|c| Job {
                status: "Running".into(),
                created: Some(at(c).format(&Rfc3339).unwrap()),
                ..Default::default()
            }),
            unplaced: false,
        }
    }

    /// 200 jobs, created a second apart, registered half a second after; the ones in
    /// `due` have an open window.
    fn fleet(due: impl Fn(i64) -> bool) -> (Registry, Instant) {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut registry = Registry::default();
        for i in 0..200 {
            let open = if due(i) { now } else { later };
            registry
                .jobs
                .insert(format!("job-{i:03}"), followed(i, Some(i), open));
        }
        (registry, now)
    }

    #[test]
    fn jobs_due_together_are_listed_by_their_creation_times() {
        let (registry, now) = fleet(|i| i < 10 || (150..160).contains(&i));
        let (sweep, served) = plan_sweep(&registry, now);
        assert_eq!(served.len(), 20);
        // 140 jobs between the two groups: one listing across would take 4 pages, two
        // listings take 2.
        assert_eq!(
            sweep,
            Sweep::Clusters(vec![(at(-1), at(10)), (at(149), at(160))])
        );
    }

    #[test]
    fn clusters_merge_when_one_listing_costs_no_more() {
        let (registry, now) = fleet(|i| i < 10 || (30..40).contains(&i));
        let (sweep, _) = plan_sweep(&registry, now);
        assert_eq!(sweep, Sweep::Clusters(vec![(at(-1), at(40))]));
    }

    #[test]
    fn jobs_due_all_over_the_window_are_listed_as_one() {
        let (mut registry, now) = fleet(|i| i % 20 == 0);
        let (sweep, served) = plan_sweep(&registry, now);
        // Ten scattered jobs would take ten listings; one across them takes four pages.
        assert_eq!(served.len(), 10);
        assert_eq!(sweep, Sweep::Clusters(vec![(at(-1), at(181))]));
        // When 300 jobs created among them have finished, one listing by any status
        // across them takes ten pages; the 200 running take four.
        registry.finished = (0..300).map(|i| at(i * 180 / 300)).collect();
        let (sweep, served) = plan_sweep(&registry, now);
        assert_eq!((sweep, served.len()), (Sweep::Everything, 10));
    }

    #[test]
    fn a_job_never_seen_is_looked_for_where_the_apis_clock_puts_its_registration() {
        let now = Instant::now();
        let mut registry = Registry::default();
        registry.jobs.insert("new".into(), followed(100, None, now));
        // Nothing tells the API's clock yet: the whole window.
        assert_eq!(plan_sweep(&registry, now).0, Sweep::Everything);
        // A job created 2.5 s before our registration (the API's clock behind), and
        // one adopted long after its creation, which tells nothing new.
        let mut seen = followed(50, None, now + Duration::from_secs(60));
        seen.last = followed(50, Some(48), now).last;
        seen.registered_at = at(50) + time::Duration::milliseconds(500);
        registry.jobs.insert("seen".into(), seen);
        registry.learn_clock("seen");
        let mut adopted = followed(60, None, now + Duration::from_secs(60));
        adopted.last = followed(60, Some(-600), now).last;
        registry.jobs.insert("adopted".into(), adopted);
        registry.learn_clock("adopted");
        assert_eq!(registry.clock, Some(-2.5));
        let expected = (
            at(100) - time::Duration::milliseconds(5500),
            at(100) - time::Duration::milliseconds(1500),
        );
        assert_eq!(
            plan_sweep(&registry, now).0,
            Sweep::Clusters(vec![expected])
        );
        // Missed there and by `GET /jobs`: the whole window again.
        registry.jobs.get_mut("new").unwrap().unplaced = true;
        assert_eq!(plan_sweep(&registry, now).0, Sweep::Everything);
    }
}
