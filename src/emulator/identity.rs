//! What the emulator's IAM has handed out and what its gateway remembers about keys:
//! temporary credentials (with their security tokens and expiry), IAM subject tokens,
//! the metadata server's rotating agency keys and session tokens, and the run of bad
//! signatures that locks an access key. Times are Unix seconds. Not kept in the state
//! file: a restarted emulator has issued nothing.

use std::collections::HashMap;

use super::config::Config;

/// One temporary credential as issued.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: String,
    pub expires_at: f64,
}

/// How a temporary access key stands at a given time.
pub enum Lookup<'a> {
    Valid(&'a Temporary),
    Expired(f64),
    Unknown,
}

/// Bad signatures in a row for one key, and until when it is locked.
#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    in_a_row: u32,
    locked_until: f64,
}

/// More than this many bad signatures in a row lock the key.
const BAD_SIGNATURES_ALLOWED: u32 = 5;

/// Everything the emulator's IAM, metadata server and gateway keep about identities.
#[derive(Default)]
pub struct Identity {
    temporaries: HashMap<String, Temporary>,
    /// IAM subject tokens (from an id token) and when each expires.
    subject_tokens: HashMap<String, f64>,
    /// The metadata server's current keys and when they were issued.
    metadata_keys: Option<(Temporary, f64)>,
    metadata_sessions: HashMap<String, f64>,
    failures: HashMap<String, Failures>,
}

/// `len` random letters and digits.
fn random_text(len: usize) -> String {
    (0..len).map(|_| fastrand::alphanumeric()).collect()
}

impl Identity {
    /// Issues a temporary credential that lives `seconds` from `now`.
    pub fn issue(&mut self, now: f64, seconds: f64) -> Temporary {
        let credential = Temporary {
            access_key: format!("TMP{}", random_text(17).to_ascii_uppercase()),
            secret_key: random_text(40),
            security_token: format!("gQpzdGs{}", random_text(120)),
            expires_at: now + seconds,
        };
        self.temporaries
            .insert(credential.access_key.clone(), credential.clone());
        credential
    }

    pub fn lookup(&self, access_key: &str, now: f64) -> Lookup<'_> {
        match self.temporaries.get(access_key) {
            Some(t) if t.expires_at > now => Lookup::Valid(t),
            Some(t) => Lookup::Expired(t.expires_at),
            None => Lookup::Unknown,
        }
    }

    /// Issues an IAM subject token that lives `seconds`.
    pub fn issue_subject_token(&mut self, now: f64, seconds: f64) -> (String, f64) {
        let token = format!("MIIS{}", random_text(160));
        let expires_at = now + seconds;
        self.subject_tokens.insert(token.clone(), expires_at);
        (token, expires_at)
    }

    /// Whether `token` is a subject token that has not expired.
    pub fn subject_token_valid(&self, token: &str, now: f64) -> bool {
        self.subject_tokens.get(token).is_some_and(|&e| e > now)
    }

    /// The metadata server's keys at `now`: new ones once the current keys are within
    /// their last sixth of `lifetime` (10 minutes of an hour, as the docs say), while
    /// the old ones stay valid until they expire.
    pub fn metadata_keys(&mut self, now: f64, lifetime: f64) -> Temporary {
        let overlap = lifetime / 6.0;
        match &self.metadata_keys {
            Some((keys, _)) if now < keys.expires_at - overlap => keys.clone(),
            _ => {
                let keys = self.issue(now, lifetime);
                self.metadata_keys = Some((keys.clone(), now));
                keys
            }
        }
    }

    /// A metadata session token valid `ttl` seconds.
    pub fn open_metadata_session(&mut self, now: f64, ttl: f64) -> String {
        let token = random_text(48);
        self.metadata_sessions.insert(token.clone(), now + ttl);
        token
    }

    pub fn metadata_session_valid(&self, token: &str, now: f64) -> bool {
        self.metadata_sessions.get(token).is_some_and(|&e| e > now)
    }

    /// Whether `access_key` is locked at `now`.
    pub fn locked(&self, access_key: &str, now: f64) -> bool {
        self.failures
            .get(access_key)
            .is_some_and(|f| f.locked_until > now)
    }

    /// Counts a bad signature of `access_key`; more than five in a row lock it.
    pub fn bad_signature(&mut self, config: &Config, access_key: &str, now: f64) {
        let failures = self.failures.entry(access_key.to_string()).or_default();
        failures.in_a_row += 1;
        if failures.in_a_row > BAD_SIGNATURES_ALLOWED {
            failures.locked_until = now + config.signature_lock_seconds;
            failures.in_a_row = 0;
        }
    }

    /// Every temporary credential and subject token issued, for tests that look for
    /// them where they must not be (logs, state).
    pub fn issued(&self) -> serde_json::Value {
        let temporaries: Vec<serde_json::Value> = self
            .temporaries
            .values()
            .map(|t| {
                serde_json::json!({"access": t.access_key, "secret": t.secret_key,
                                   "securitytoken": t.security_token, "expires_at": iam_time(t.expires_at)})
            })
            .collect();
        let subject_tokens: Vec<&String> = self.subject_tokens.keys().collect();
        serde_json::json!({"temporary": temporaries, "subject_tokens": subject_tokens})
    }

    pub fn good_signature(&mut self, access_key: &str) {
        if let Some(failures) = self.failures.get_mut(access_key) {
            failures.in_a_row = 0;
        }
    }
}

/// `2020-01-08T03:50:07.574000Z`: IAM's `expires_at`, with microseconds.
pub fn iam_time(at: f64) -> String {
    let whole = at.floor();
    let micros = ((at - whole) * 1_000_000.0).round().min(999_999.0) as u32;
    format!("{}.{micros:06}Z", super::state::utc_seconds(whole as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_times_have_microseconds_and_z() {
        assert_eq!(iam_time(1_578_455_407.574), "2020-01-08T03:50:07.574000Z");
    }

    #[test]
    fn metadata_keys_rotate_before_they_expire_and_overlap() {
        let mut identity = Identity::default();
        let first = identity.metadata_keys(0.0, 60.0);
        assert_eq!(
            identity.metadata_keys(49.0, 60.0).access_key,
            first.access_key
        );
        let second = identity.metadata_keys(51.0, 60.0);
        assert_ne!(second.access_key, first.access_key);
        assert!(matches!(
            identity.lookup(&first.access_key, 55.0),
            Lookup::Valid(_)
        ));
        assert!(matches!(
            identity.lookup(&first.access_key, 61.0),
            Lookup::Expired(_)
        ));
    }

    #[test]
    fn six_bad_signatures_in_a_row_lock_the_key() {
        let config = Config {
            signature_lock_seconds: 10.0,
            ..Config::default()
        };
        let mut identity = Identity::default();
        for _ in 0..5 {
            identity.bad_signature(&config, "AK", 0.0);
        }
        identity.good_signature("AK");
        for _ in 0..5 {
            identity.bad_signature(&config, "AK", 0.0);
        }
        assert!(!identity.locked("AK", 0.0));
        identity.bad_signature(&config, "AK", 0.0);
        assert!(identity.locked("AK", 9.0));
        assert!(!identity.locked("AK", 10.5));
    }
}
