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
//! - **grow** (each full window in which the share limited us: a request waited because
//!   our log held the whole share; a share nobody fills proves nothing, and growing it
//!   anyway is how K processes grew back past the account's limit together): half the
//!   way back per window towards the point of the last cut (what we held at the first;
//!   after that, 0.9 × the share that was refused, as CUBIC's fast convergence), then
//!   beyond it by half a [`Share::step`], one `step`, two, four… per window
//!   (slow near the point where the gateway refused, faster once past it, as CUBIC), up
//!   to the policy's limit. Past the cut point the steps are the same for every share,
//!   small or large, while cuts take a ratio: shares of unequal size converge, as
//!   additive-increase / multiplicative-decrease's do.
//!
//! Pure bookkeeping on instants given by the caller; the pacing that follows the share
//! is `quota`'s.

use std::time::Duration;

use tokio::time::Instant;

/// What a cut keeps of the share held when refused.
pub const BETA: f64 = 0.8;

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
    /// Whether the share held a request back since `counting_since`.
    limited: bool,
    /// Whether the last cut counted the requests then in flight as held (the first
    /// cut): those refused after it come off the share.
    counted_in_flight: bool,
}

/// How a share changed, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Cut {
        from: f64,
        to: f64,
    },
    Grown {
        from: f64,
        to: f64,
    },
    /// A request accepted after the refused one showed the window had room: the cut
    /// is undone.
    Restored {
        from: f64,
        to: f64,
    },
    /// A request beyond the share was accepted: one more.
    FoundRoom {
        from: f64,
        to: f64,
    },
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
            limited: false,
            counted_in_flight: false,
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

    /// The least share: a thirtieth of the policy (2 of 60), at least one request, so
    /// that 16 processes at the floor still fit in the standard policy.
    pub fn floor(&self) -> f64 {
        (self.limit / 30.0).floor().max(1.0)
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
            // A request in flight when the first cut counted it as held, refused after
            // all: the share is one less than counted.
            if self.counted_in_flight && sent_at <= cut {
                let from = self.current;
                self.current = (from - 1.0).max(self.floor());
                self.held_at_cut = (self.held_at_cut - 1.0).max(self.floor());
                return (self.current < from).then_some(Change::Cut {
                    from,
                    to: self.current,
                });
            }
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
        // Later cuts aim the recovery below the share that was refused, so processes
        // that grew past the account's limit together do not all return to it (CUBIC's
        // fast convergence).
        self.held_at_cut = if first { to } else { from * (1.0 + BETA) / 2.0 }.max(self.floor());
        self.current = to.max(self.floor()).min(from);
        self.cut_at = Some(now);
        self.counted_in_flight = first;
        self.counting_since = now;
        self.beyond = 0;
        self.limited = false;
        Some(Change::Cut {
            from,
            to: self.current,
        })
    }

    /// A request sent beyond the share was accepted: the window had room for one more.
    pub fn found_room(&mut self) -> Option<Change> {
        let from = self.current;
        self.current = (self.current + 1.0).min(self.limit);
        (self.current > from).then_some(Change::FoundRoom {
            from,
            to: self.current,
        })
    }

    /// The share held a request back at `now` (our log held all of it).
    pub fn limits(&mut self, now: Instant) {
        if now >= self.counting_since {
            self.limited = true;
        }
    }

    /// Grows by one step once a full window has passed since the last change, if the
    /// share limited us in it ([`Share::limits`]); a window in which it did not starts
    /// the count again.
    pub fn grow(&mut self, now: Instant, window: Duration) -> Option<Change> {
        if now < self.counting_since + window {
            return None;
        }
        let limited = std::mem::take(&mut self.limited);
        self.counting_since = now;
        if !limited || !self.is_reduced() {
            return None;
        }
        let from = self.current;
        let step = if self.current < self.held_at_cut {
            ((self.held_at_cut - self.current) / 2.0).max(self.step() / 4.0)
        } else {
            let step = self.step() / 2.0 * f64::from(1u32 << self.beyond.min(12));
            self.beyond += 1;
            step
        };
        self.current = (self.current + step).min(self.limit);
        Some(Change::Grown {
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
        // A request sent before the cut, counted among the 20 held then and refused
        // after all, comes off the share; refused within the window after the cut, one
        // sent after it does not cut again: the window still holds what was sent before.
        assert_eq!(
            share.refused(at + Duration::from_secs(1), at, 16, MINUTE),
            Some(Change::Cut {
                from: 20.0,
                to: 19.0
            })
        );
        let later = at + Duration::from_secs(30);
        assert_eq!(share.refused(later, later, 16, MINUTE), None);
        // Later cuts take a fixed part of the share, whatever we held.
        let next = at + MINUTE;
        let cut = share.refused(next, next, 2, MINUTE);
        assert!(
            matches!(cut, Some(Change::Cut { from: 19.0, .. })),
            "{cut:?}"
        );
        assert!((share.current() - 0.8 * 19.0).abs() < 1e-9);
        // Requests in flight at a later cut were not counted: they cut nothing more.
        assert_eq!(
            share.refused(next + Duration::from_secs(1), next, 2, MINUTE),
            None
        );
        let mut last = next;
        for _ in 0..20 {
            last += MINUTE;
            share.refused(last, last, 0, MINUTE);
        }
        assert_eq!(share.current(), 2.0, "never below the floor");
        assert_eq!(share.floor(), 2.0);
    }

    /// A window in which the share held a request back, ending at `at`.
    fn limited_window(share: &mut Share, at: Instant) -> Option<Change> {
        share.limits(at - Duration::from_secs(1));
        share.grow(at, MINUTE)
    }

    #[test]
    fn only_windows_in_which_it_limited_grow_it() {
        let t0 = Instant::now();
        let mut share = Share::new(60, t0);
        share.refused(t0, t0, 20, MINUTE);
        share.limits(t0 + Duration::from_secs(10));
        // Not a full window yet.
        assert_eq!(share.grow(t0 + Duration::from_secs(59), MINUTE), None);
        assert_eq!(
            share.grow(t0 + MINUTE, MINUTE),
            Some(Change::Grown {
                from: 20.0,
                to: 20.5
            })
        );
        // A window of use in which the share never held a request back proves nothing:
        // processes that grew then would grow past the account's limit together.
        assert_eq!(share.grow(t0 + MINUTE * 2, MINUTE), None);
        assert_eq!(share.grow(t0 + MINUTE * 5, MINUTE), None);
        assert_eq!(share.current(), 20.5);
        // Several windows at once count as one.
        share.limits(t0 + MINUTE * 5);
        assert_eq!(
            share.grow(t0 + MINUTE * 9, MINUTE),
            Some(Change::Grown {
                from: 20.5,
                to: 21.5
            })
        );
    }

    #[test]
    fn it_grows_back_fast_then_slowly_past_the_cut_then_faster() {
        let t0 = Instant::now();
        let mut share = Share::new(60, t0);
        share.refused(t0, t0, 40, MINUTE);
        share.refused(t0 + MINUTE, t0 + MINUTE, 3, MINUTE);
        assert_eq!(share.current(), 32.0);
        let mut at = t0 + MINUTE;
        let mut seen = Vec::new();
        for _ in 0..9 {
            at += MINUTE;
            limited_window(&mut share, at);
            seen.push(share.current());
        }
        // Half the way back per window (at least a quarter of a request) to 0.9 × the 40
        // refused, then a half, one, two, four… past it, up to the policy.
        assert_eq!(
            seen,
            [34.0, 35.0, 35.5, 35.75, 36.0, 36.5, 37.5, 39.5, 43.5]
        );
        for _ in 0..2 {
            at += MINUTE;
            limited_window(&mut share, at);
        }
        assert_eq!(share.current(), 60.0);
        assert!(!share.is_reduced());
    }

    #[test]
    fn shares_of_unequal_size_converge() {
        // Two processes on one quota of 60: one took 50 of the first window, the other
        // started late and was cut to the floor. Both are limited every window; when
        // their shares together pass the limit, both are refused and cut.
        let t0 = Instant::now();
        let (mut big, mut late) = (Share::new(60, t0), Share::new(60, t0));
        big.refused(t0, t0, 50, MINUTE);
        late.refused(t0, t0, 0, MINUTE);
        assert_eq!((big.current(), late.current()), (50.0, 2.0));
        let mut at = t0;
        for _ in 0..40 {
            at += MINUTE;
            if big.current() + late.current() > 60.0 {
                big.refused(at, at, 0, MINUTE);
                late.refused(at, at, 0, MINUTE);
            } else {
                limited_window(&mut big, at);
                limited_window(&mut late, at);
            }
        }
        // Slowly: each cycle of cuts and growth narrows the gap (1 against 50 at first).
        let ratio = late.current() / big.current();
        assert!(
            ratio > 0.4,
            "after 40 windows: {} and {}",
            big.current(),
            late.current()
        );
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
            (30.0, 2.0, 4.0)
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
            share.limits(at - Duration::from_secs(1));
            share.grow(at, window);
            seen.push((share.current() * 100.0).round() / 100.0);
        }
        assert_eq!(seen, [1.05, 1.15, 1.35, 1.75, 2.55]);
    }
}
