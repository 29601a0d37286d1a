//! This process's share of one API's quota, learned from the gateway's refusals.
//!
//! The quota is per user, not per process: every process using the same access key
//! (other workspaces' pipelines, scripts, the console) draws from the same window, and
//! none can see the others' use. A 429 that our own log explains (we alone filled the
//! window) teaches nothing new; one our log does not explain is the only sign that
//! others spend the quota now. The share answers it as additive-increase /
//! multiplicative-decrease does, on the window's time scale (a per-minute quota makes a
//! per-second controller such as AWS's adaptive mode recover within one window, and its
//! floor alone would overrun the quota with three processes):
//!
//! - **cut** (an unexplained 429): the first time, the share becomes what we held of
//!   the window when refused (while we believed the window ours, what we got of it is
//!   our part: the parts of processes starting together add up to the full window, so
//!   they find theirs in one step without leaving any unused); afterwards [`BETA`] × the
//!   share (a fixed ratio is what makes shares of unequal size converge); never below
//!   [`Share::floor`]; at most once per window, since the window still holds what was
//!   sent before the cut;
//! - **grow** (each full window of use without a cut): back towards the share held
//!   when cut, half the gap per window (at least [`Share::step`]), then beyond it by
//!   `step`, 2·`step`, 4·`step`… per window, or a quarter of the share when more (slow
//!   near the point where the gateway refused, faster once past it), up to the
//!   policy's limit.
//!
//! Pure bookkeeping on instants given by the caller; the pacing that follows the share
//! is `quota`'s.

use std::time::Duration;

use tokio::time::Instant;

/// What a cut keeps of the share held when refused.
pub const BETA: f64 = 0.8;

/// Past the share held when cut, a window of use grows the share by at least this part
/// of itself: a share left small by an unlucky start (others filled the window first)
/// takes the quota a finished process leaves within a few windows.
pub const GROWTH: f64 = 0.25;

/// The learned share of one API's quota, in requests per window.
#[derive(Debug, Clone)]
pub struct Share {
    limit: f64,
    current: f64,
    /// What we held of the window at the last cut (the point the gateway refused).
    held_at_cut: f64,
    cut_at: Option<Instant>,
    /// Start of the window of use being counted towards the next growth.
    counting_since: Instant,
    /// Windows grown past `held_at_cut` in a row (the step doubles with each).
    beyond: u32,
}

/// How a share changed, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Cut { from: f64, to: f64 },
    Grown { from: f64, to: f64 },
}

impl Share {
    /// The whole of a policy of `limit` requests per window, as far as we know alone.
    pub fn new(limit: u32, now: Instant) -> Self {
        let limit = f64::from(limit.max(1));
        Share {
            limit,
            current: limit,
            held_at_cut: limit,
            cut_at: None,
            counting_since: now,
            beyond: 0,
        }
    }

    /// Requests per window this process allows itself.
    pub fn current(&self) -> f64 {
        self.current
    }

    /// Whether a refusal has made the share smaller than the policy.
    pub fn is_reduced(&self) -> bool {
        self.current < self.limit
    }

    /// The least share: one twelfth of the policy (5 of 60), at least one request.
    pub fn floor(&self) -> f64 {
        (self.limit / 12.0).floor().max(1.0)
    }

    /// The growth unit: a sixtieth of the policy per window (one request of 60), a
    /// fraction of a request for smaller policies (the share is a rate, not a count).
    pub fn step(&self) -> f64 {
        self.limit / 60.0
    }

    /// The policy became `limit` (the gateway named it): a share of the old policy's
    /// size is the new one's; a share already cut stays, within the new limit.
    pub fn rescale(&mut self, limit: u32) {
        let limit = f64::from(limit.max(1));
        if self.current >= self.limit {
            self.current = limit;
        }
        self.limit = limit;
        self.current = self.current.min(limit);
        self.held_at_cut = self.held_at_cut.min(limit);
    }

    /// A 429 our log does not explain, at `now`, of a request sent at `sent_at`, while
    /// `held` of our requests were in the gateway's window.
    pub fn refused(
        &mut self,
        now: Instant,
        sent_at: Instant,
        held: usize,
        window: Duration,
    ) -> Option<Change> {
        if let Some(cut) = self.cut_at
            && (sent_at <= cut || now < cut + window)
        {
            return None;
        }
        let from = self.current;
        // The first refusal shows what we got of the window while believing it all ours;
        // after that, the share is what we believed ours.
        let first = self.cut_at.is_none();
        let to = if first {
            (held as f64).min(from)
        } else {
            BETA * from
        };
        self.held_at_cut = if first { to } else { from }.max(self.floor());
        self.current = to.max(self.floor()).min(from);
        self.cut_at = Some(now);
        self.counting_since = now;
        self.beyond = 0;
        Some(Change::Cut {
            from,
            to: self.current,
        })
    }

    /// Grows by every full window since the last change in which the API was used (a
    /// share nobody spends proves nothing): those up to one window after `last_use`,
    /// when our last request was sent.
    pub fn grow(
        &mut self,
        now: Instant,
        window: Duration,
        last_use: Option<Instant>,
    ) -> Option<Change> {
        if now < self.counting_since + window {
            return None;
        }
        let used = last_use.filter(|t| *t >= self.counting_since);
        let (Some(last), true) = (used, self.is_reduced()) else {
            self.counting_since = now;
            return None;
        };
        let until = now.min(last + window);
        let from = self.current;
        while self.counting_since + window <= until && self.current < self.limit {
            self.counting_since += window;
            let step = if self.current < self.held_at_cut {
                ((self.held_at_cut - self.current) / 2.0).max(self.step())
            } else {
                let step = (self.step() * f64::from(1u32 << self.beyond.min(10)))
                    .max(self.current * GROWTH);
                self.beyond += 1;
                step
            };
            self.current = (self.current + step).min(self.limit);
        }
        if self.current >= self.limit {
            self.counting_since = now;
        }
        (self.current > from).then_some(Change::Grown {
            from,
            to: self.current,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn an_unexplained_refusal_cuts_to_what_we_held_then_by_a_ratio_once_per_window() {
        let t0 = Instant::now();
        let mut share = Share::new(60, t0);
        assert!(!share.is_reduced());
        // Two others took two thirds of the window: we held 20 when refused.
        let at = t0 + Duration::from_secs(5);
        assert_eq!(
            share.refused(at, at, 20, MINUTE),
            Some(Change::Cut {
                from: 60.0,
                to: 20.0
            })
        );
        // Requests sent before the cut, or refused within the window after it, do not
        // cut again: the window still holds what was sent before.
        assert_eq!(
            share.refused(at + Duration::from_secs(1), at, 16, MINUTE),
            None
        );
        let later = at + Duration::from_secs(30);
        assert_eq!(share.refused(later, later, 16, MINUTE), None);
        // Later cuts take a fixed part of the share, whatever we held.
        let next = at + MINUTE;
        assert_eq!(
            share.refused(next, next, 2, MINUTE),
            Some(Change::Cut {
                from: 20.0,
                to: 16.0
            })
        );
        let mut last = next;
        for _ in 0..8 {
            last += MINUTE;
            share.refused(last, last, 0, MINUTE);
        }
        assert_eq!(share.current(), 5.0, "never below the floor");
        assert_eq!(share.floor(), 5.0);
    }

    #[test]
    fn windows_of_use_grow_it_back_then_beyond() {
        let t0 = Instant::now();
        let mut share = Share::new(60, t0);
        share.refused(t0, t0, 20, MINUTE);
        assert_eq!(share.current(), 20.0);
        // Not a full window yet; then an idle window proves nothing.
        assert_eq!(
            share.grow(t0 + Duration::from_secs(59), MINUTE, Some(t0)),
            None
        );
        assert_eq!(share.grow(t0 + MINUTE, MINUTE, None), None);
        assert_eq!(share.current(), 20.0);
        let mut at = t0 + MINUTE;
        let mut seen = Vec::new();
        for _ in 0..5 {
            at += MINUTE;
            share.grow(at, MINUTE, Some(at - Duration::from_secs(1)));
            seen.push(share.current());
        }
        // Past the share held when cut: a quarter of the share per window (more than
        // the doubling steps of one, two, four… requests), up to the policy.
        assert_eq!(seen, [25.0, 31.25, 39.0625, 48.828125, 60.0]);
        assert!(!share.is_reduced());
        // After a later cut, half the gap to the share held before it per window (at
        // least one request); several windows at once count up to one window after
        // the last request.
        let cut_twice = || {
            let mut share = Share::new(60, t0);
            share.refused(t0, t0, 40, MINUTE);
            share.refused(t0 + MINUTE, t0 + MINUTE, 3, MINUTE);
            assert_eq!(share.current(), 32.0);
            share
        };
        let mut share = cut_twice();
        let now = t0 + MINUTE * 4;
        assert_eq!(
            share.grow(now, MINUTE, Some(now)),
            Some(Change::Grown {
                from: 32.0,
                to: 39.0
            })
        );
        let mut idle = cut_twice();
        let last = t0 + Duration::from_secs(70);
        assert_eq!(
            idle.grow(t0 + MINUTE * 5, MINUTE, Some(last)),
            Some(Change::Grown {
                from: 32.0,
                to: 36.0
            }),
            "one window: the one the last request was sent in"
        );
        assert_eq!(idle.grow(t0 + MINUTE * 9, MINUTE, Some(last)), None);
    }

    #[test]
    fn a_learned_policy_rescales_an_uncut_share_only() {
        let t0 = Instant::now();
        let mut share = Share::new(6000, t0);
        share.rescale(60);
        assert_eq!((share.current(), share.is_reduced()), (60.0, false));
        share.refused(t0, t0, 30, MINUTE);
        assert_eq!(share.current(), 30.0);
        share.rescale(120);
        assert_eq!(
            (share.current(), share.step(), share.floor()),
            (30.0, 2.0, 10.0)
        );
        share.rescale(10);
        assert_eq!(share.current(), 10.0);
    }

    #[test]
    fn small_policies_keep_one_request_per_window_and_grow_by_fractions() {
        let t0 = Instant::now();
        let mut share = Share::new(6, t0);
        assert_eq!((share.floor(), share.step()), (1.0, 0.1));
        let window = Duration::from_secs(3);
        share.refused(t0, t0, 1, window);
        assert_eq!(share.current(), 1.0);
        let mut at = t0;
        let mut seen = Vec::new();
        for _ in 0..5 {
            at += window;
            share.grow(at, window, Some(at));
            seen.push((share.current() * 100.0).round() / 100.0);
        }
        assert_eq!(seen, [1.25, 1.56, 1.96, 2.76, 4.36]);
    }
}
