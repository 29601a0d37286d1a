//! Pacing under Huawei Cloud's API flow control: the operations the client calls
//! ([`Api`]), the quota of one of them ([`Policy`]), and one sliding-log bucket per
//! (operation, access key), shared by every call of the provider process ([`Quotas`]).
//!
//! Not here: the process-wide ceiling on requests per second (`limiter`), the parsing
//! of 429 bodies (`error`), and retries (`client`, `retry`).
//!
//! The gateway's algorithm is not documented (fixed window, sliding window or token
//! bucket), so a bucket paces by the strictest reading: no span of the window's length
//! ever holds more than `limit` requests sent. With the send times of the last requests
//! in a log, the next request may go at `max(now, t[len - limit] + window + margin)`,
//! which is also right against a fixed window or a token bucket of the same policy.
//!
//! Other processes may spend the same quota (it is per user, not per process), so a
//! 429 is taken as evidence that the window is full right now, whatever our log says:
//! the refused request is dropped from the log (the gateway did not accept it) and
//! the bucket grants nothing before `now + max(Retry-After, window / limit)`: the mean
//! time for one slot to free in a full window. It does not back off further on more
//! 429s in a row: a refused request spends no quota, and while another client takes
//! every slot that frees, asking once per freed slot is what wins us a share.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One operation of the API: a method and a path template, as the gateway meters them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    IamProjects,
    ListInstances,
    Upgrade,
    ShowJob,
    ListTasks,
    TaskDetail,
    ListScheduleTasks,
    Datastores,
    SmallVersions,
}

impl Api {
    pub const ALL: [Api; 9] = [
        Api::IamProjects,
        Api::ListInstances,
        Api::Upgrade,
        Api::ShowJob,
        Api::ListTasks,
        Api::TaskDetail,
        Api::ListScheduleTasks,
        Api::Datastores,
        Api::SmallVersions,
    ];

    /// `METHOD /path/{template}`, spelled as the emulator's per-route statistics are.
    pub fn route(self) -> &'static str {
        match self {
            Api::IamProjects => "GET /v3/projects",
            Api::ListInstances => "GET /v3/{project_id}/instances",
            Api::Upgrade => "POST /v3/{project_id}/instances/{instance_id}/db-upgrade",
            Api::ShowJob => "GET /v3/{project_id}/jobs",
            Api::ListTasks => "GET /v3/{project_id}/tasklist",
            Api::TaskDetail => "GET /v3/{project_id}/instances/{instance_id}/tasklist/detail",
            Api::ListScheduleTasks => "GET /v3/{project_id}/schedule-tasks",
            Api::Datastores => "GET /v3/{project_id}/datastores/{database_name}",
            Api::SmallVersions => "GET /v3/{project_id}/datastores/{database_name}/small-version",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Api::Upgrade => Method::POST,
            _ => Method::GET,
        }
    }

    /// Submissions change something, are never resent blindly, and go first.
    pub fn is_submission(self) -> bool {
        matches!(self, Api::Upgrade)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.route())
    }
}

/// A flow-control policy: at most `limit` requests in any span of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub limit: u32,
    pub window: Duration,
}

impl Policy {
    /// Huawei's documented standard policy for each RDS API and user.
    pub const STANDARD: Policy = Policy::per_minute(60);

    pub const fn per_minute(limit: u32) -> Policy {
        Policy {
            limit,
            window: Duration::from_secs(60),
        }
    }

    /// How long after a slot frees the bucket still waits: 2 % of the window, at
    /// least 50 ms, for clock and network jitter between us and the gateway.
    pub fn margin(&self) -> Duration {
        (self.window / 50).max(Duration::from_millis(50))
    }

    /// The mean time between two slots freeing in a full window.
    pub fn spacing(&self) -> Duration {
        self.window / self.limit.max(1)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.window.subsec_nanos() == 0 {
            write!(f, "{} per {} s", self.limit, self.window.as_secs())
        } else {
            write!(f, "{} per {:?}", self.limit, self.window)
        }
    }
}

/// Why a bucket did not grant a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Cancelled,
    /// The next slot (at this instant) is after the caller's deadline.
    Deadline(Instant),
}

/// What the bucket knows of one API's quota and recent use.
#[derive(Debug)]
struct Window {
    policy: Policy,
    /// Whether `policy` came from the gateway rather than the configuration.
    learned: bool,
    /// Send times of requests not known to be refused, oldest first, with their id.
    sent: VecDeque<(u64, Instant)>,
    next_id: u64,
    /// No grant before this (set by 429s).
    blocked_until: Option<Instant>,
}

impl Window {
    /// When the next request may be sent, given everything known at `now`.
    fn next_slot(&mut self, now: Instant) -> Instant {
        let span = self.policy.window + self.policy.margin();
        while self.sent.front().is_some_and(|(_, t)| *t + span <= now) {
            self.sent.pop_front();
        }
        let limit = self.policy.limit.max(1) as usize;
        let mut slot = now;
        if self.sent.len() >= limit {
            slot = slot.max(self.sent[self.sent.len() - limit].1 + span);
        }
        if let Some(blocked) = self.blocked_until {
            slot = slot.max(blocked);
        }
        slot
    }
}

/// The pacing of one API for one access key.
#[derive(Debug)]
pub struct ApiBucket {
    api: Api,
    window: Mutex<Window>,
    /// Whose turn it is: one caller at a time computes and waits for the next slot,
    /// the others queue behind it in arrival order.
    turn: tokio::sync::Mutex<()>,
    /// Wakes the caller whose turn it is when the window changes (a 429 came).
    changed: Notify,
}

/// The right to send one request now; the slot is taken when it is [`sent`](Self::sent).
pub struct Permit<'a> {
    bucket: &'a ApiBucket,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

impl Permit<'_> {
    /// Records the request as sent now and lets the next caller compute its slot.
    pub fn sent(self) -> Sent {
        let mut w = self.bucket.lock();
        let id = w.next_id;
        w.next_id += 1;
        w.sent.push_back((id, Instant::now()));
        Sent(id)
    }
}

/// One sent request, to report its refusal with.
#[derive(Debug, Clone, Copy)]
pub struct Sent(u64);

/// What the bucket concluded from a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub policy: Policy,
    pub learned: bool,
    /// How long until the next slot the bucket will grant.
    pub wait: Duration,
}

impl ApiBucket {
    pub fn new(api: Api, policy: Policy) -> Self {
        ApiBucket {
            api,
            window: Mutex::new(Window {
                policy,
                learned: false,
                sent: VecDeque::new(),
                next_id: 0,
                blocked_until: None,
            }),
            turn: tokio::sync::Mutex::new(()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn api(&self) -> Api {
        self.api
    }

    /// The policy the bucket paces by, and whether the gateway taught it.
    pub fn policy(&self) -> (Policy, bool) {
        let w = self.lock();
        (w.policy, w.learned)
    }

    /// Waits for this API's next slot, in turn with the other callers. Ends at once on
    /// cancellation, or when the slot would come after `deadline`.
    pub async fn acquire(
        &self,
        cancel: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<Permit<'_>, Denied> {
        let turn = tokio::select! {
            _ = cancel.cancelled() => return Err(Denied::Cancelled),
            _ = super::context::sleep_until(deadline) => return Err(Denied::Deadline(Instant::now())),
            turn = self.turn.lock() => turn,
        };
        loop {
            let now = Instant::now();
            let slot = self.lock().next_slot(now);
            if slot <= now {
                return Ok(Permit {
                    bucket: self,
                    _turn: turn,
                });
            }
            if deadline.is_some_and(|d| slot > d) {
                return Err(Denied::Deadline(slot));
            }
            if cancel.is_cancelled() {
                return Err(Denied::Cancelled);
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(Denied::Cancelled),
                _ = tokio::time::sleep_until(slot) => {}
                _ = self.changed.notified() => {}
            }
        }
    }

    /// The gateway refused `sent` with a 429: learn its policy when it told us, and hold
    /// the next grant back (see the module doc).
    pub fn refused(
        &self,
        sent: Sent,
        policy: Option<Policy>,
        retry_after: Option<Duration>,
    ) -> Refusal {
        let now = Instant::now();
        let mut w = self.lock();
        if let Some(i) = w.sent.iter().rposition(|(id, _)| *id == sent.0) {
            w.sent.remove(i);
        }
        if let Some(policy) = policy.filter(|p| p.limit > 0 && !p.window.is_zero()) {
            w.policy = policy;
            w.learned = true;
        }
        let penalty = w.policy.spacing().max(retry_after.unwrap_or_default());
        let blocked = now + penalty;
        w.blocked_until = Some(w.blocked_until.map_or(blocked, |b| b.max(blocked)));
        let refusal = Refusal {
            policy: w.policy,
            learned: w.learned,
            wait: w.next_slot(now) - now,
        };
        drop(w);
        self.changed.notify_one();
        refusal
    }
}

/// Every API bucket of a provider process, created on first use.
#[derive(Debug)]
pub struct Quotas {
    assumed: Policy,
    buckets: Mutex<HashMap<(Api, String), Arc<ApiBucket>>>,
}

impl Quotas {
    /// `assumed`: the policy of an API until its gateway says otherwise.
    pub fn new(assumed: Policy) -> Self {
        Quotas {
            assumed,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket of `api` for `access_key`.
    pub fn bucket(&self, api: Api, access_key: &str) -> Arc<ApiBucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry((api, access_key.to_string()))
            .or_insert_with(|| Arc::new(ApiBucket::new(api, self.assumed)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> CancellationToken {
        CancellationToken::new()
    }

    async fn send(bucket: &ApiBucket) -> Sent {
        bucket.acquire(&never(), None).await.unwrap().sent()
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_holds_more_than_the_limit() {
        let policy = Policy {
            limit: 5,
            window: Duration::from_secs(2),
        };
        assert_eq!(policy.margin(), Duration::from_millis(50));
        let bucket = ApiBucket::new(Api::ShowJob, policy);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            send(&bucket).await;
            times.push(Instant::now() - t0);
        }
        let ms = |t: &Duration| t.as_millis() as u64;
        let got: Vec<u64> = times.iter().map(ms).collect();
        assert_eq!(
            got,
            [0, 0, 0, 0, 0, 2050, 2050, 2050, 2050, 2050, 4100, 4100],
            "five at once, then the sixth at exactly t0 + 2 s + margin"
        );
        for (i, t) in times.iter().enumerate() {
            let in_window = times[..i]
                .iter()
                .filter(|s| *t - **s < policy.window)
                .count();
            assert!(in_window < 5, "{i}: {in_window} others within 2 s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn spread_out_requests_free_their_slots_one_by_one() {
        let bucket = ApiBucket::new(
            Api::ShowJob,
            Policy {
                limit: 2,
                window: Duration::from_secs(10),
            },
        );
        let t0 = Instant::now();
        send(&bucket).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        send(&bucket).await;
        send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(10_200));
        send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(13_200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_learned_policy_replaces_the_assumed_one() {
        let bucket = ApiBucket::new(Api::ShowJob, Policy::per_minute(600));
        let t0 = Instant::now();
        for _ in 0..3 {
            send(&bucket).await;
        }
        let refused = send(&bucket).await;
        // The gateway: 3 per 2 s, and this one was over. It no longer counts.
        let learned = Policy {
            limit: 3,
            window: Duration::from_secs(2),
        };
        let refusal = bucket.refused(refused, Some(learned), None);
        assert_eq!(refusal.policy, learned);
        assert!(refusal.learned);
        assert_eq!(bucket.policy(), (learned, true));
        // The three accepted ones fill the learned window until t0 + 2 s + 50 ms.
        assert_eq!(refusal.wait, Duration::from_millis(2050));
        send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(2050));
        // A looser policy is learned too: the gateway knows best.
        let refused = send(&bucket).await;
        let looser = Policy::per_minute(6000);
        let refusal = bucket.refused(refused, Some(looser), None);
        assert_eq!(
            refusal.wait,
            Duration::from_millis(10),
            "one slot's spacing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_without_a_policy_holds_the_next_grant_back() {
        let policy = Policy {
            limit: 10,
            window: Duration::from_secs(10),
        };
        let bucket = ApiBucket::new(Api::ListTasks, policy);
        let t0 = Instant::now();
        // Another client spent the quota: our first request is refused at once.
        let first = send(&bucket).await;
        let refusal = bucket.refused(first, None, None);
        assert_eq!((refusal.policy, refusal.learned), (policy, false));
        assert_eq!(refusal.wait, Duration::from_secs(1), "window / limit");
        let second = send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
        assert_eq!(
            bucket.refused(second, None, None).wait,
            Duration::from_secs(1),
            "once per freed slot, not slower"
        );
        let third = send(&bucket).await;
        assert_eq!(
            bucket
                .refused(third, None, Some(Duration::from_secs(7)))
                .wait,
            Duration::from_secs(7),
            "Retry-After when it asks for more"
        );
        send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(9));
        // Refused requests took no slot: nine more fit before the first window ends.
        for _ in 0..9 {
            send(&bucket).await;
        }
        assert_eq!(Instant::now() - t0, Duration::from_secs(9));
        send(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(9000 + 10_200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_wakes_the_waiting_caller_and_cancel_ends_its_wait() {
        let bucket = Arc::new(ApiBucket::new(
            Api::ShowJob,
            Policy {
                limit: 1,
                window: Duration::from_secs(60),
            },
        ));
        let t0 = Instant::now();
        let refused = send(&bucket).await;
        let waiting = {
            let bucket = bucket.clone();
            tokio::spawn(async move {
                bucket.acquire(&never(), None).await.map(|p| {
                    p.sent();
                    Instant::now()
                })
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Learning 10 per second frees the slot the refused request held.
        bucket.refused(
            refused,
            Some(Policy {
                limit: 10,
                window: Duration::from_secs(1),
            }),
            None,
        );
        let granted = waiting.await.unwrap().unwrap();
        assert_eq!(granted - t0, Duration::from_millis(1100));

        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let held = bucket.acquire(&never(), None).await.unwrap();
        let started = Instant::now();
        let other = bucket.acquire(&cancel, None).await;
        assert!(matches!(other, Err(Denied::Cancelled)));
        assert_eq!(Instant::now() - started, Duration::from_millis(300));
        held.sent();
        let deadline = Instant::now() + Duration::from_millis(20);
        for _ in 0..8 {
            send(&bucket).await;
        }
        let late = bucket.acquire(&never(), Some(deadline)).await;
        assert!(matches!(late, Err(Denied::Deadline(_))), "told at once");
    }

    #[test]
    fn policies_read_well() {
        assert_eq!(Policy::STANDARD.to_string(), "60 per 60 s");
        let scaled = Policy {
            limit: 10,
            window: Duration::from_millis(2500),
        };
        assert_eq!(scaled.to_string(), "10 per 2.5s");
        assert_eq!(Policy::STANDARD.margin(), Duration::from_millis(1200));
    }

    #[test]
    fn routes_are_the_emulators_templates() {
        assert_eq!(Api::ShowJob.route(), "GET /v3/{project_id}/jobs");
        assert!(Api::Upgrade.route().starts_with("POST "));
        assert!(Api::ALL.iter().filter(|a| a.is_submission()).count() == 1);
        for api in Api::ALL {
            assert!(api.route().starts_with(api.method().as_str()));
        }
        let quotas = Quotas::new(Policy::STANDARD);
        let a = quotas.bucket(Api::ShowJob, "AK1");
        assert!(Arc::ptr_eq(&a, &quotas.bucket(Api::ShowJob, "AK1")));
        assert!(!Arc::ptr_eq(&a, &quotas.bucket(Api::ShowJob, "AK2")));
        assert!(!Arc::ptr_eq(&a, &quotas.bucket(Api::ListTasks, "AK1")));
    }
}
