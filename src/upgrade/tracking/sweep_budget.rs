//! How much of the task center's quota the tracker's sweeps may spend ([`SweepBudget`]):
//! at most half of this process's share of it in any span of the quota's window (the
//! rest is left to submissions' checks and to other processes of the same user), spent
//! as soon as jobs are due rather than spread evenly — a fleet whose jobs end at once is
//! served by sweeps in quick succession, a long-window policy (200 per 5 min) no longer
//! makes each sweep wait minutes for the next. Pure: no requests, no clock but the
//! instants it is given.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::rds::Policy;

/// The sweeps of the last window and the requests each made.
#[derive(Debug, Default)]
pub struct SweepBudget {
    sweeps: VecDeque<(Instant, usize)>,
}

impl SweepBudget {
    /// A sweep started at `at` made `requests` requests (a failed one counts one).
    pub fn spent(&mut self, at: Instant, requests: usize) {
        self.sweeps.push_back((at, requests.max(1)));
    }

    /// The earliest instant from `now` at which one more sweep keeps the requests of
    /// any span of `pace.window` within half of `pace.limit` (at least one request).
    pub fn next_allowed(&mut self, now: Instant, pace: Policy) -> Instant {
        while self
            .sweeps
            .front()
            .is_some_and(|(at, _)| *at + pace.window <= now)
        {
            self.sweeps.pop_front();
        }
        let budget = (pace.limit as usize / 2).max(1);
        let mut spent: usize = self.sweeps.iter().map(|(_, r)| r).sum();
        let mut at = now;
        for (started, requests) in &self.sweeps {
            if spent < budget {
                break;
            }
            spent -= requests;
            at = *started + pace.window;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(limit: u32, secs: u64) -> Policy {
        Policy {
            limit,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn sweeps_go_at_once_while_half_the_share_has_room() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        let pace = policy(60, 60);
        for i in 0..29 {
            let at = t0 + Duration::from_millis(100 * i);
            assert_eq!(budget.next_allowed(at, pace), at, "sweep {i}");
            budget.spent(at, 1);
        }
        // 29 requests in the window, one more fits: 30 is half of 60.
        let now = t0 + Duration::from_secs(3);
        assert_eq!(budget.next_allowed(now, pace), now);
        budget.spent(now, 1);
        // Full: the next waits for the oldest to leave the window.
        assert_eq!(
            budget.next_allowed(now, pace),
            t0 + Duration::from_secs(60)
        );
    }

    #[test]
    fn a_long_window_waits_only_when_its_budget_is_spent() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        // A learned policy of 200 per 5 minutes: 100 requests of sweeps per 5 minutes.
        let pace = policy(200, 300);
        budget.spent(t0, 40);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(budget.next_allowed(later, pace), later);
        budget.spent(later, 40);
        budget.spent(later, 20);
        // 100 spent: the next sweep waits until the first one's 40 leave the window.
        let now = t0 + Duration::from_secs(3);
        assert_eq!(
            budget.next_allowed(now, pace),
            t0 + Duration::from_secs(300)
        );
    }

    #[test]
    fn a_share_cut_to_one_request_still_sweeps_once_per_window() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        let pace = policy(1, 60);
        assert_eq!(budget.next_allowed(t0, pace), t0);
        budget.spent(t0, 0);
        assert_eq!(
            budget.next_allowed(t0 + Duration::from_secs(1), pace),
            t0 + Duration::from_secs(60)
        );
    }
}
