//! When a credential is renewed, and how long a failed renewal waits before it tries
//! again. The margin grows with the lifetime — a third of it, at most ten minutes — so
//! that hour-long credentials renew ten minutes ahead and the emulator's seconds-long
//! ones exercise the same code.

use std::time::{Duration, SystemTime};

/// The most time left when a credential is renewed.
const MOST_MARGIN: Duration = Duration::from_secs(600);

/// When a credential obtained at `obtained` that expires at `expires` should be
/// renewed: when a third of the lifetime it had when obtained is left, or ten minutes,
/// whichever is less.
pub fn renew_at(obtained: SystemTime, expires: SystemTime) -> SystemTime {
    let lifetime = expires.duration_since(obtained).unwrap_or_default();
    expires - (lifetime / 3).min(MOST_MARGIN)
}

/// The wait before try `retry` (0 for the first retry) of a failed renewal: 0.5 s
/// doubling, at most 30 s.
pub fn backoff(retry: u32) -> Duration {
    let wait = Duration::from_millis(500).saturating_mul(1u32 << retry.min(10));
    wait.min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_third_of_the_lifetime_is_left_at_renewal_but_never_more_than_ten_minutes() {
        assert_eq!(renew_at(at(0), at(15)), at(10));
        assert_eq!(renew_at(at(0), at(900)), at(600));
        assert_eq!(renew_at(at(0), at(3600)), at(3000));
        assert_eq!(renew_at(at(0), at(43_200)), at(42_600));
        // Obtained with little left (metadata keys near their rotation): a third of that.
        assert_eq!(renew_at(at(50), at(59)), at(56));
        // Already expired when obtained: renew at once.
        assert_eq!(renew_at(at(60), at(59)), at(59));
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let waits: Vec<u64> = (0..8).map(|r| backoff(r).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    }
}
