//! The API gateway's flow control, as the emulator models it: a quota per user (the
//! access key of the signed request) per API (method + route template, the key of
//! `stats.requests`), plus a quota per API over all users. This module owns the policy
//! (the `flow_control` config object), the windows of accepted requests, and the
//! gateway's wording of a refusal; it knows nothing of HTTP.
//!
//! The gateway's algorithm is undocumented, so each candidate is modelled:
//! - `sliding` (default): no span of `window_seconds` ever holds more than `limit`
//!   accepted requests;
//! - `fixed`: windows aligned to multiples of `window_seconds` since the Unix epoch, each
//!   accepting `limit`;
//! - `token_bucket`: `limit` tokens, refilled at `limit / window_seconds` per second,
//!   starting full.
//!
//! Only accepted requests take a slot: a refused request spends nothing, in either quota.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Which counting rule the windows follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    Sliding,
    Fixed,
    TokenBucket,
}

/// The `flow_control` object (config file and `POST /__emulator/flow_control`); every
/// key optional, the defaults being Huawei's documented standard policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowControlConfig {
    pub enabled: bool,
    /// Accepted requests per user per API per window.
    pub limit: u32,
    /// The window, in seconds (fractions allowed, so tests can scale time).
    pub window_seconds: f64,
    /// Accepted requests per API per window over all users.
    pub total: u32,
    /// Overrides per API, keyed `"<METHOD> <route template>"`.
    pub routes: BTreeMap<String, RouteLimit>,
    pub algorithm: Algorithm,
    /// Add `Retry-After` (whole seconds until a slot frees) to refusals; the real
    /// gateway's header is undocumented, so it is off by default.
    pub retry_after: bool,
}

impl Default for FlowControlConfig {
    fn default() -> Self {
        FlowControlConfig {
            enabled: true,
            limit: 60,
            window_seconds: 60.0,
            total: 8000,
            routes: BTreeMap::new(),
            algorithm: Algorithm::Sliding,
            retry_after: false,
        }
    }
}

/// One API's override; a missing key keeps the policy-wide value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteLimit {
    pub limit: Option<u32>,
    pub window_seconds: Option<f64>,
    pub total: Option<u32>,
}

impl FlowControlConfig {
    /// Checks limits, windows and that every override names one of `apis`.
    pub fn validate(&self, apis: &[String]) -> Result<(), String> {
        let check = |what: &str, limit: u32, total: u32, window: f64| {
            if limit == 0 || total == 0 {
                return Err(format!("{what}: limit and total must be at least 1"));
            }
            if !(window.is_finite() && window > 0.0) {
                return Err(format!(
                    "{what}: window_seconds must be a positive number, not {window}"
                ));
            }
            Ok(())
        };
        check("flow_control", self.limit, self.total, self.window_seconds)?;
        for (api, _) in self.routes.iter() {
            if !apis.contains(api) {
                return Err(format!(
                    "flow_control.routes: {api:?} is not an API of the emulator (one of {})",
                    apis.join(", ")
                ));
            }
            let quota = self.quota(api);
            check(
                &format!("flow_control.routes[{api:?}]"),
                quota.limit,
                quota.total,
                quota.window_seconds,
            )?;
        }
        Ok(())
    }

    /// The quota that applies to `api`.
    fn quota(&self, api: &str) -> Quota {
        let route = self.routes.get(api).cloned().unwrap_or_default();
        Quota {
            limit: route.limit.unwrap_or(self.limit),
            total: route.total.unwrap_or(self.total),
            window_seconds: route.window_seconds.unwrap_or(self.window_seconds),
        }
    }
}

struct Quota {
    limit: u32,
    total: u32,
    window_seconds: f64,
}

/// Which of the gateway's policies refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// One user's quota for the API.
    User,
    /// The API's quota over all users.
    Api,
}

/// A request refused by flow control: what the gateway says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttled {
    pub policy: Policy,
    pub limit: u32,
    pub window_seconds: f64,
    /// Whole seconds until the window has room, when the policy asks for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Throttled {
    /// The gateway's `error_msg`, e.g. `… policy user over ratelimit,limit:60,time:1 minute`.
    pub fn message(&self) -> String {
        let policy = match self.policy {
            Policy::User => "user",
            Policy::Api => "api",
        };
        format!(
            "The throttling threshold has been reached: policy {policy} over ratelimit,limit:{},time:{}",
            self.limit,
            spell_window(self.window_seconds)
        )
    }
}

/// The window as the gateway spells it: `1 minute`, `5 minute`, `6 second`, `2.5 second`.
pub fn spell_window(seconds: f64) -> String {
    if seconds.fract() == 0.0 && seconds >= 1.0 && seconds < u64::MAX as f64 {
        let whole = seconds as u64;
        if whole.is_multiple_of(60) {
            format!("{} minute", whole / 60)
        } else {
            format!("{whole} second")
        }
    } else {
        format!("{seconds} second")
    }
}

/// Slack for float rounding in the token bucket's refill.
const EPSILON: f64 = 1e-9;

/// The accepted requests of one quota, in the form its algorithm needs.
#[derive(Debug, Clone)]
enum Window {
    /// Times of the accepted requests still inside the window, oldest first.
    Sliding(VecDeque<f64>),
    Fixed {
        index: i64,
        count: u32,
    },
    TokenBucket {
        tokens: f64,
        at: f64,
    },
}

impl Window {
    fn new(algorithm: Algorithm, limit: u32, at: f64) -> Window {
        match algorithm {
            Algorithm::Sliding => Window::Sliding(VecDeque::new()),
            Algorithm::Fixed => Window::Fixed { index: 0, count: 0 },
            Algorithm::TokenBucket => Window::TokenBucket {
                tokens: f64::from(limit),
                at,
            },
        }
    }

    /// Seconds until one more request would be accepted (0: it would be now).
    fn wait(&mut self, limit: u32, window: f64, at: f64) -> f64 {
        match self {
            Window::Sliding(accepted) => {
                while accepted.front().is_some_and(|&t| t <= at - window) {
                    accepted.pop_front();
                }
                match accepted.front() {
                    Some(&oldest) if accepted.len() >= limit as usize => oldest + window - at,
                    _ => 0.0,
                }
            }
            Window::Fixed { index, count } => {
                let current = (at / window).floor() as i64;
                if *index != current {
                    *index = current;
                    *count = 0;
                }
                if *count < limit {
                    0.0
                } else {
                    (current + 1) as f64 * window - at
                }
            }
            Window::TokenBucket { tokens, at: last } => {
                let rate = f64::from(limit) / window;
                *tokens = (*tokens + (at - *last).max(0.0) * rate).min(f64::from(limit));
                *last = at;
                if *tokens >= 1.0 - EPSILON {
                    0.0
                } else {
                    (1.0 - *tokens) / rate
                }
            }
        }
    }

    /// Takes a slot (after `wait` said 0 at the same `at`).
    fn record(&mut self, at: f64) {
        match self {
            Window::Sliding(accepted) => accepted.push_back(at),
            Window::Fixed { count, .. } => *count += 1,
            Window::TokenBucket { tokens, .. } => *tokens = (*tokens - 1.0).max(0.0),
        }
    }
}

/// The policy in force and every quota's window.
#[derive(Debug, Clone)]
pub struct FlowControl {
    config: FlowControlConfig,
    per_user: HashMap<(String, String), Window>,
    per_api: HashMap<String, Window>,
}

impl FlowControl {
    /// `config` in force, every window empty.
    pub fn new(config: FlowControlConfig) -> FlowControl {
        FlowControl {
            config,
            per_user: HashMap::new(),
            per_api: HashMap::new(),
        }
    }

    /// The refusal of a request of `api` by flow control at random (the `throttle` and
    /// `throttle_user` faults), naming the policy `by` in force: the API's quota over
    /// all users (others flood the API), or this user's (another user of the access key
    /// crowded the request out). None when flow control is off (the fault then names a
    /// policy of its own).
    pub fn crowded_out(&self, api: &str, by: Policy) -> Option<Throttled> {
        if !self.config.enabled {
            return None;
        }
        let quota = self.config.quota(api);
        Some(Throttled {
            policy: by,
            limit: match by {
                Policy::User => quota.limit,
                Policy::Api => quota.total,
            },
            window_seconds: quota.window_seconds,
            retry_after: Some(1),
        })
    }

    /// The window of `api`'s quota, in seconds.
    pub fn window_seconds(&self, api: &str) -> f64 {
        self.config.quota(api).window_seconds
    }

    /// Accepts a request of `user` to `api` at `at` (taking a slot in both quotas), or
    /// says which quota refuses it (taking nothing).
    pub fn admit(&mut self, api: &str, user: &str, at: f64) -> Result<(), Throttled> {
        if !self.config.enabled {
            return Ok(());
        }
        let quota = self.config.quota(api);
        let algorithm = self.config.algorithm;
        let window = quota.window_seconds;
        let user_window = self
            .per_user
            .entry((api.to_string(), user.to_string()))
            .or_insert_with(|| Window::new(algorithm, quota.limit, at));
        let user_wait = user_window.wait(quota.limit, window, at);
        let api_window = self
            .per_api
            .entry(api.to_string())
            .or_insert_with(|| Window::new(algorithm, quota.total, at));
        let api_wait = api_window.wait(quota.total, window, at);
        let refusal = |policy, limit, wait: f64| Throttled {
            policy,
            limit,
            window_seconds: window,
            retry_after: self.config.retry_after.then(|| wait.ceil().max(1.0) as u64),
        };
        if user_wait > 0.0 {
            return Err(refusal(Policy::User, quota.limit, user_wait));
        }
        if api_wait > 0.0 {
            return Err(refusal(Policy::Api, quota.total, api_wait));
        }
        api_window.record(at);
        user_window.record(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(value: serde_json::Value) -> FlowControl {
        FlowControl::new(serde_json::from_value(value).expect("a valid policy"))
    }

    /// How many of `times` (seconds, in order) are accepted for one user.
    fn accepted(flow: &mut FlowControl, times: &[f64]) -> Vec<bool> {
        times
            .iter()
            .map(|&t| flow.admit("GET /a", "ak", t).is_ok())
            .collect()
    }

    #[test]
    fn the_window_is_spelled_as_the_gateway_does() {
        assert_eq!(spell_window(60.0), "1 minute");
        assert_eq!(spell_window(300.0), "5 minute");
        assert_eq!(spell_window(1.0), "1 second");
        assert_eq!(spell_window(6.0), "6 second");
        assert_eq!(spell_window(90.0), "90 second");
        assert_eq!(spell_window(2.5), "2.5 second");
        let refusal = Throttled {
            policy: Policy::User,
            limit: 60,
            window_seconds: 60.0,
            retry_after: None,
        };
        assert_eq!(
            refusal.message(),
            "The throttling threshold has been reached: policy user over ratelimit,limit:60,time:1 minute"
        );
    }

    #[test]
    fn sliding_never_holds_more_than_the_limit_in_any_span() {
        let mut flow = policy(serde_json::json!({"limit": 3, "window_seconds": 10}));
        // 3 at 0..2, refused at 5 and 9.9, one slot frees at exactly 10 (the first leaves).
        assert_eq!(
            accepted(
                &mut flow,
                &[0.0, 1.0, 2.0, 5.0, 9.9, 10.0, 10.5, 11.0, 11.5]
            ),
            [true, true, true, false, false, true, false, true, false]
        );
    }

    #[test]
    fn fixed_windows_reset_at_multiples_of_the_window() {
        let mut flow =
            policy(serde_json::json!({"limit": 2, "window_seconds": 10, "algorithm": "fixed"}));
        // A burst at the end of one window and another at the start of the next: 4 in 2 s.
        assert_eq!(
            accepted(&mut flow, &[1008.0, 1009.0, 1009.5, 1010.0, 1010.5, 1011.0]),
            [true, true, false, true, true, false]
        );
    }

    #[test]
    fn the_token_bucket_starts_full_and_refills_at_limit_per_window() {
        let mut flow = policy(
            serde_json::json!({"limit": 4, "window_seconds": 2, "algorithm": "token_bucket"}),
        );
        // 4 at once, then one token every 0.5 s.
        assert_eq!(
            accepted(&mut flow, &[0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 0.6, 1.0]),
            [true, true, true, true, false, false, true, false, true]
        );
    }

    #[test]
    fn users_have_their_own_quota_and_share_the_total() {
        let mut flow = policy(serde_json::json!({"limit": 2, "window_seconds": 10, "total": 3}));
        assert!(flow.admit("GET /a", "one", 0.0).is_ok());
        assert!(flow.admit("GET /a", "one", 0.0).is_ok());
        let refused = flow.admit("GET /a", "one", 0.0).unwrap_err();
        assert_eq!(refused.policy, Policy::User);
        assert!(flow.admit("GET /a", "two", 0.0).is_ok());
        let refused = flow.admit("GET /a", "two", 0.0).unwrap_err();
        assert_eq!((refused.policy, refused.limit), (Policy::Api, 3));
        assert!(flow.admit("GET /b", "two", 0.0).is_ok(), "another API");
    }

    #[test]
    fn retry_after_is_the_whole_seconds_until_a_slot_frees() {
        let mut flow =
            policy(serde_json::json!({"limit": 1, "window_seconds": 10, "retry_after": true}));
        assert!(flow.admit("GET /a", "ak", 0.0).is_ok());
        let refused = flow.admit("GET /a", "ak", 2.5).unwrap_err();
        assert_eq!(refused.retry_after, Some(8));
    }

    #[test]
    fn disabled_admits_everything_and_validation_names_the_mistake() {
        let mut flow = policy(serde_json::json!({"enabled": false, "limit": 1}));
        assert!(accepted(&mut flow, &[0.0; 100]).iter().all(|&ok| ok));
        let apis = vec!["GET /a".to_string()];
        let bad: FlowControlConfig =
            serde_json::from_value(serde_json::json!({"routes": {"GET /b": {"limit": 1}}}))
                .unwrap();
        assert!(bad.validate(&apis).unwrap_err().contains("GET /b"));
        let bad: FlowControlConfig =
            serde_json::from_value(serde_json::json!({"window_seconds": 0})).unwrap();
        assert!(bad.validate(&apis).is_err());
        assert!(
            serde_json::from_value::<FlowControlConfig>(serde_json::json!({"limt": 1})).is_err(),
            "a misspelt key is an error, not the default"
        );
    }
}
