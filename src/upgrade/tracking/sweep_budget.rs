//! How much of the task center's quota the tracker's sweeps may spend ([`SweepBudget`]):
//! at most half of this process's share of it in any span of the quota's window (the
//! rest is left to submissions' checks and to other processes of the same user, as long
//! as the share is the whole policy: none has shown itself yet), or the whole share once
//! refusals have cut it (it is then this process's part, learned), spent
//! as jobs fall due rather than spread evenly, so a long-window policy (200 per 5 min)
//! no longer makes each sweep wait minutes for the next. Within the first sixth of that
//! budget in a window, sweeps may follow one another quickly (a fleet whose jobs end at
//! once is served by sweeps in quick succession); beyond it the tracker keeps its
//! cadence's regular gap, so that K processes of one access key, each unaware of the
//! others until refused, do not each spend half the account's quota at once. Pure: no
//! requests, no clock but the instants it is given.

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

    /// Forgets the sweeps that left the window before `now`.
    fn expire(&mut self, now: Instant, pace: Policy) {
        while self
            .sweeps
            .front()
            .is_some_and(|(at, _)| *at + pace.window <= now)
        {
            self.sweeps.pop_front();
        }
    }

    /// Whether the sweeps of the window ending at `now` spent less than a sixth of the
    /// budget (at least one request): the next may follow quickly.
    pub fn quick(&mut self, now: Instant, pace: Policy, share: Share) -> bool {
        self.expire(now, pace);
        let spent: usize = self.sweeps.iter().map(|(_, r)| r).sum();
        spent < (budget(pace, share) / 6).max(1)
    }

    /// The earliest instant from `now` at which one more sweep keeps the requests of
    /// any span of `pace.window` within half of `pace.limit` (at least one request).
    pub fn next_allowed(&mut self, now: Instant, pace: Policy, share: Share) -> Instant {
        self.expire(now, pace);
        let budget = budget(pace, share);
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

/// What this process's share of the task center's quota is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// The whole policy: no refusal has shown other users of the key yet.
    Whole,
    /// Cut by refusals to this process's part.
    Learned,
}

/// Half of `pace.limit` while the share is the whole policy, all of it once learned; at
/// least one request.
fn budget(pace: Policy, share: Share) -> usize {
    match share {
        Share::Whole => (pace.limit as usize / 2).max(1),
        Share::Learned => (pace.limit as usize).max(1),
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
            assert_eq!(budget.next_allowed(at, pace, Share::Whole), at, "sweep {i}");
            budget.spent(at, 1);
        }
        // 29 requests in the window, one more fits: 30 is half of 60.
        let now = t0 + Duration::from_secs(3);
        assert_eq!(budget.next_allowed(now, pace, Share::Whole), now);
        budget.spent(now, 1);
        // Full: the next waits for the oldest to leave the window.
        assert_eq!(
            budget.next_allowed(now, pace, Share::Whole),
            t0 + Duration::from_secs(60)
        );
    }

    #[test]
    fn sweeps_follow_quickly_within_a_sixth_of_the_budget() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        let pace = policy(60, 60);
        assert!(budget.quick(t0, pace, Share::Whole));
        budget.spent(t0, 4);
        assert!(
            budget.quick(t0, pace, Share::Whole),
            "4 of the 5 requests spent"
        );
        budget.spent(t0, 1);
        assert!(!budget.quick(t0, pace, Share::Whole));
        assert!(
            budget.quick(t0 + Duration::from_secs(60), pace, Share::Whole),
            "a window later"
        );
        // A quota told far too high (or a policy without refusals to learn from) is
        // quick all along.
        let told = policy(1_000_000, 60);
        budget.spent(t0, 1000);
        assert!(budget.quick(t0, told, Share::Whole));
    }

    #[test]
    fn a_long_window_waits_only_when_its_budget_is_spent() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        // A learned policy of 200 per 5 minutes: 100 requests of sweeps per 5 minutes.
        let pace = policy(200, 300);
        budget.spent(t0, 40);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(budget.next_allowed(later, pace, Share::Whole), later);
        budget.spent(later, 40);
        budget.spent(later, 20);
        // 100 spent: the next sweep waits until the first one's 40 leave the window.
        let now = t0 + Duration::from_secs(3);
        assert_eq!(
            budget.next_allowed(now, pace, Share::Whole),
            t0 + Duration::from_secs(300)
        );
    }

    #[test]
    fn a_learned_share_is_the_sweeps_whole() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        // Cut to 10 of 60: the share is this process's part, and sweeps may spend it.
        let pace = policy(10, 60);
        budget.spent(t0, 5);
        assert_eq!(
            budget.next_allowed(t0, pace, Share::Whole),
            t0 + Duration::from_secs(60),
            "half of the whole policy's share is spent"
        );
        assert_eq!(budget.next_allowed(t0, pace, Share::Learned), t0);
        budget.spent(t0, 5);
        assert_eq!(
            budget.next_allowed(t0, pace, Share::Learned),
            t0 + Duration::from_secs(60)
        );
    }

    #[test]
    fn a_share_cut_to_one_request_still_sweeps_once_per_window() {
        let t0 = Instant::now();
        let mut budget = SweepBudget::default();
        let pace = policy(1, 60);
        assert_eq!(budget.next_allowed(t0, pace, Share::Whole), t0);
        budget.spent(t0, 0);
        assert_eq!(
            budget.next_allowed(t0 + Duration::from_secs(1), pace, Share::Whole),
            t0 + Duration::from_secs(60)
        );
    }
}
