//! Pacing under Huawei Cloud's API flow control: the quota of one operation of the API
//! ([`Policy`]), and one sliding-log bucket per operation ([`Api`]), shared by every
//! call of the client ([`Quotas`]): a client signs with one access key, so its buckets
//! need none (a client with another key has its own).
//!
//! Not here: the operations themselves (`api`), the process-wide ceiling on requests per
//! second (`limiter`), the parsing of 429 bodies (`error`), this process's learned share
//! of a quota (`share`), and sending and retries (`send`, `retry`).
//!
//! The gateway's algorithm is not documented (fixed window, sliding window or token
//! bucket), so a bucket paces by the strictest reading: no span of the window's length
//! ever holds more than our share of `limit` requests sent. With the send times of the
//! last requests in a log, the next request may go at `max(now, t[len - share] + window +
//! margin)`, which is also right against a fixed window or a token bucket of the same
//! policy. Whatever its algorithm, the gateway admits a burst of its whole limit, so
//! while the window has room the bucket sends half our share at once and the rest of
//! it evenly (`window / share` apart): a process alone sends each window's worth within
//! half a window of its opening (the floor of a fleet counts whole windows), and one
//! that starts while another fills the window still finds room in it. A burst goes
//! after a slow start, as TCP's: at most `ramp` requests unanswered, one more for each
//! one accepted (1, 2, 4 … per round trip, up to [`MAX_UNANSWERED`]), back to one after
//! a refusal. A quota configured too high, or processes starting together, then meet
//! the gateway's limit in one small last round instead of with whole fleets.
//!
//! Other processes may spend the same quota (it is per user, not per process). A 429
//! our log explains (it holds `limit` requests of the window) only says the window is
//! full; one it does not explain cuts this process's share (`share`), unless a request
//! of the same burst sent after it is accepted (the window had room: the cut is undone)
//! or it names the API's quota over all users (other tenants: nothing to learn or cut).
//! While a reduced share holds requests back and nothing was refused for a window, the
//! bucket searches for the room others left: one request at a time beyond the share,
//! each accepted adding one to it; one refused is explained by its going beyond the
//! share. Otherwise a refused request is dropped from the log (the gateway did not accept
//! it), the bucket grants nothing for a while (`Retry-After` when it asks for more; else
//! the policy's spacing, `window / limit`, doubling with each 429 in a row up to our
//! share's spacing, `window / share`, or a quarter of the window when that is more), and
//! until a request sent after the refusal is accepted, one request at a time probes the
//! gateway: the others queue behind it instead of each asking.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, OwnedMutexGuard};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::api::Api;
use super::share::{Change, Share};

/// The most requests of one API a bucket lets go unanswered at once, however far slow
/// start ramped: what one round can cost when the window turns out full (a quota told
/// too high, another process of the access key that filled it first). Round trips take
/// milliseconds, so 8 at a time still send a share of 60 within a fraction of its window.
pub const MAX_UNANSWERED: usize = 8;

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

    /// How long after a request leaves the window the bucket still waits: 2 % of the window, at
    /// least 50 ms, for clock and network jitter between us and the gateway.
    pub fn margin(&self) -> Duration {
        (self.window / 50).max(Duration::from_millis(50))
    }

    /// The mean time between two requests leaving a full window.
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

/// Why a bucket granted no [`Permit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Cancelled,
    /// The next grant (at this instant) is after the caller's deadline.
    Deadline(Instant),
}

/// What the bucket knows of one API's quota and recent use.
#[derive(Debug)]
struct Window {
    policy: Policy,
    /// Whether `policy` came from the gateway rather than the configuration.
    learned: bool,
    /// This process's part of the policy, learned from refusals.
    share: Share,
    /// Send times of requests not known to be refused, oldest first, with their id.
    sent: VecDeque<(u64, Instant)>,
    next_id: u64,
    /// Where the even schedule stands: the earliest a request is due at our share's
    /// spacing (a burst may run ahead of it by [`Window::burst_allowance`]).
    even: Option<Instant>,
    /// Slow start: at most this many requests unanswered at once; one more for each
    /// request accepted, one again after a refusal.
    ramp: usize,
    /// Requests sent and not yet answered (nor abandoned).
    in_flight: usize,
    /// No grant before this (set by 429s).
    blocked_until: Option<Instant>,
    /// Since when the gateway refuses us: until a request sent after it is accepted,
    /// one request at a time probes.
    refused_since: Option<Instant>,
    /// The probe in flight, while refused.
    probe: Option<u64>,
    /// 429s since a request was last accepted: the hold after each doubles, from the
    /// policy's spacing up to our share's.
    refusals_in_a_row: u32,
    /// The last cut, while a request in flight when it came may still contradict it.
    contestable: Option<Contestable>,
    /// Looking for room beyond a reduced share (see [`Next::RoomProbe`]).
    room: RoomSearch,
}

/// The search for room beyond a reduced share: others of the key may have finished, and
/// a share only grows a step per window. While the share holds requests back, one
/// request at a time goes beyond it; each one accepted adds one to the share at once
/// (the window had room), and the next goes after its answer; one refused (the window is
/// full: the share is right) costs nothing of the share, and the next search waits a
/// quarter of the window (a sliding window frees room as the requests of the last one
/// leave it), twice as long after each refused one in a row (up to
/// [`RoomSearch::MAX_WAIT`] quarters, eight windows), so processes at their parts spend
/// few refusals on it.
#[derive(Debug, Default)]
struct RoomSearch {
    /// The request beyond the share in flight.
    probe: Option<u64>,
    /// No search before this (set by cuts and refused probes).
    not_before: Option<Instant>,
    /// Quarters of the window to wait after the next refused probe.
    wait_quarters: u32,
}

impl RoomSearch {
    const MAX_WAIT: u32 = 32;

    /// The share was cut at `now`: no search within the window after.
    fn after_cut(&mut self, now: Instant, window: Duration) {
        self.not_before = Some(now + window);
    }
}

/// A cut of the share and what it took: a request of ours sent after the refused one
/// and before the refusal came that the gateway accepts shows the window had room then.
/// The refusal was not the quota's (a gateway's transient refusal, whatever it names),
/// and the share goes back to what it was. When others really fill the window, no room
/// appears in the milliseconds between two requests of one burst.
#[derive(Debug)]
struct Contestable {
    /// When the earliest request refused by the cut was sent.
    refused_sent: Instant,
    /// When the last refusal of the cut came.
    refused_at: Instant,
    /// The share before the cut.
    before: Share,
}

/// When the bucket may grant next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    At(Instant),
    /// After the probe in flight is answered.
    AfterProbe,
    /// After a request in flight is answered (slow start).
    AfterAnswer,
    /// Now, beyond our share, as the search for room ([`RoomSearch`]).
    RoomProbe,
}

impl Window {
    fn new(policy: Policy, now: Instant) -> Self {
        Window {
            policy,
            learned: false,
            share: Share::new(policy.limit, now),
            sent: VecDeque::new(),
            next_id: 0,
            even: None,
            ramp: 1,
            in_flight: 0,
            blocked_until: None,
            refused_since: None,
            probe: None,
            refusals_in_a_row: 0,
            contestable: None,
            room: RoomSearch {
                wait_quarters: 1,
                ..RoomSearch::default()
            },
        }
    }

    /// The policy this process paces by: the gateway's window, our share of its limit.
    fn pace(&self) -> Policy {
        Policy {
            limit: (self.share.current().floor() as u32).max(1),
            window: self.policy.window,
        }
    }

    /// The even spacing of our share: `window / share`.
    fn spacing(&self) -> Duration {
        self.policy.window.div_f64(self.share.current().max(1.0))
    }

    /// How far ahead of the even spacing a burst may run: half our share at once (the
    /// rest of it evenly over the window), so a process alone sends what the window
    /// admits without waiting, and one that starts while another fills the window finds
    /// room in it: both are refused and learn their parts, instead of the first taking
    /// every window.
    fn burst_allowance(&self) -> Duration {
        let burst = (self.share.current() / 2.0).ceil().max(1.0);
        self.spacing().mul_f64(burst - 1.0)
    }

    /// Records a request sent at `at`: in the log, as unanswered, and one spacing
    /// further on the even schedule.
    fn record(&mut self, at: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.sent.push_back((id, at));
        self.in_flight += 1;
        self.even = Some(self.even.map_or(at, |e| e.max(at)) + self.spacing());
        id
    }

    /// A request was answered or abandoned: it is no longer in flight; accepted, it
    /// lets one more go at once (slow start), up to our share.
    fn answered(&mut self, accepted: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if accepted {
            self.ramp = (self.ramp + 1)
                .min(self.pace().limit as usize)
                .min(MAX_UNANSWERED);
        }
    }

    /// Request `id` was answered or abandoned: if it was the probe, the next may go.
    fn end_probe(&mut self, id: u64) -> bool {
        let was = self.probe == Some(id);
        if was {
            self.probe = None;
        }
        was
    }

    /// How many of our requests the gateway's window holds at `now`.
    fn held(&self, now: Instant) -> usize {
        self.sent
            .iter()
            .filter(|(_, t)| *t + self.policy.window > now)
            .count()
    }

    /// Learns the key's policy when a 429 named it.
    fn learn(&mut self, by: RefusedBy) {
        let RefusedBy::Key(Some(policy)) = by else {
            return;
        };
        if policy.limit == 0 || policy.window.is_zero() {
            return;
        }
        if policy != self.policy {
            self.share.rescale(policy.limit);
            // The even schedule was the old policy's.
            self.even = None;
        }
        self.policy = policy;
        self.learned = true;
    }

    /// Whether a request held back by our share may go now as a search for room: the
    /// share is reduced, nothing refused us lately, no search is in flight.
    fn may_search_room(&self, now: Instant) -> bool {
        self.share.is_reduced()
            && self.room.probe.is_none()
            && self.refused_since.is_none()
            && self.blocked_until.is_none_or(|b| b <= now)
            && self.room.not_before.is_none_or(|t| t <= now)
    }

    /// The search for room `id` was answered: accepted, the share has one more and the
    /// search goes on; refused, it waits.
    fn end_room_search(&mut self, api: Api, id: u64, accepted: bool, now: Instant) -> bool {
        if self.room.probe != Some(id) {
            return false;
        }
        self.room.probe = None;
        if accepted {
            self.room.wait_quarters = 1;
            if let Some(change) = self.share.found_room() {
                log_change(api, self.policy, change);
            }
        } else {
            self.room.not_before = Some(now + self.policy.window / 4 * self.room.wait_quarters);
            self.room.wait_quarters = (self.room.wait_quarters * 2).min(RoomSearch::MAX_WAIT);
        }
        true
    }

    /// A request sent at `sent_at` was accepted: a cut it contradicts is undone.
    fn contest(&mut self, api: Api, sent_at: Instant) {
        let Some(cut) = self
            .contestable
            .take_if(|c| sent_at > c.refused_sent && sent_at <= c.refused_at)
        else {
            return;
        };
        let from = self.share.current();
        self.share = cut.before;
        log_change(
            api,
            self.policy,
            Change::Restored {
                from,
                to: self.share.current(),
            },
        );
    }

    /// Notes a cut made by the refusal at `now` of a request sent at `sent_at`, from the
    /// share `before`, so that a request in flight then may contradict it.
    fn contestable_cut(&mut self, sent_at: Instant, now: Instant, before: Share) {
        match &mut self.contestable {
            // Refusals of one burst: one cut to contest, from the share before the first.
            Some(c) if sent_at < c.refused_at => {
                c.refused_sent = c.refused_sent.min(sent_at);
                c.refused_at = now;
            }
            _ => {
                self.contestable = Some(Contestable {
                    refused_sent: sent_at,
                    refused_at: now,
                    before,
                })
            }
        }
    }

    /// Grows the share after a window in which it limited us.
    fn grow(&mut self, api: Api, now: Instant) {
        if let Some(change) = self.share.grow(now, self.policy.window) {
            log_change(api, self.policy, change);
        }
    }

    /// When the next request may be sent, given everything known at `now`: the sliding
    /// log at our share and the even schedule beyond half of it (noted to the share when
    /// they hold the request back); the slow start's requests unanswered; the hold of
    /// the last 429; and one probe at a time while refused.
    fn next_grant(&mut self, now: Instant) -> Next {
        if self.refused_since.is_some() && self.probe.is_some() {
            return Next::AfterProbe;
        }
        if self.in_flight >= self.ramp.max(1) {
            return Next::AfterAnswer;
        }
        let span = self.policy.window + self.policy.margin();
        while self.sent.front().is_some_and(|(_, t)| *t + span <= now) {
            self.sent.pop_front();
        }
        let pace = self.pace();
        let limit = pace.limit as usize;
        let mut at = now;
        if self.sent.len() >= limit {
            at = at.max(self.sent[self.sent.len() - limit].1 + span);
        }
        if let Some(even) = self.even {
            at = at.max(even.checked_sub(self.burst_allowance()).unwrap_or(even));
        }
        if at > now {
            self.share.limits(now);
        }
        if let Some(blocked) = self.blocked_until {
            at = at.max(blocked);
        }
        if at > now && self.may_search_room(now) {
            return Next::RoomProbe;
        }
        Next::At(at)
    }
}

fn log_change(api: Api, policy: Policy, change: Change) {
    let (what, from, to) = match change {
        Change::Cut { from, to } => ("cut", from, to),
        Change::Grown { from, to } => ("grown", from, to),
        Change::Restored { from, to } => ("restored", from, to),
        Change::FoundRoom { from, to } => ("grown (the window had room)", from, to),
    };
    tracing::info!(
        %api,
        %policy,
        share_from = format!("{from:.1}"),
        share = format!("{to:.1}"),
        "this process's share of the API's quota {what}: {to:.1} of {} requests per {:?} \
         (other users of the access key spend the rest)",
        policy.limit,
        policy.window
    );
}

/// The pacing of one API for the client's access key.
#[derive(Debug)]
pub struct ApiBucket {
    api: Api,
    window: Mutex<Window>,
    /// Whose turn it is: one caller at a time computes and waits for the next grant,
    /// the others queue behind it in arrival order.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the caller whose turn it is when the window changes (a 429 came, a probe
    /// was answered).
    changed: Notify,
}

/// The right to send one request now; the window counts it when it is [`sent`](Self::sent).
/// It holds the bucket's turn: dropped unsent, it leaves the window untouched, and the
/// next caller computes its own grant.
pub struct Permit {
    bucket: Arc<ApiBucket>,
    _turn: OwnedMutexGuard<()>,
    /// Whether the request goes beyond our share, searching for room.
    room_probe: bool,
}

impl Permit {
    /// Records the request as sent now and lets the next caller compute its grant.
    pub fn sent(self) -> Sent {
        let mut w = self.bucket.lock();
        let at = Instant::now();
        let id = w.record(at);
        if w.refused_since.is_some() {
            w.probe = Some(id);
        }
        if self.room_probe {
            w.room.probe = Some(id);
        }
        drop(w);
        Sent {
            bucket: self.bucket,
            id,
            at,
            settled: false,
        }
    }
}

/// One request in flight: report how the gateway answered it ([`Sent::accepted`],
/// [`Sent::refused`]); dropped unanswered (cancelled, no answer), it frees the probe.
pub struct Sent {
    bucket: Arc<ApiBucket>,
    id: u64,
    at: Instant,
    settled: bool,
}

impl Sent {
    /// The gateway let the request through (whatever the API answered).
    pub fn accepted(mut self) {
        self.settled = true;
        let mut w = self.bucket.lock();
        w.end_probe(self.id);
        w.answered(true);
        w.contest(self.bucket.api, self.at);
        w.end_room_search(self.bucket.api, self.id, true, Instant::now());
        if w.refused_since.is_some_and(|since| self.at >= since) {
            w.refused_since = None;
            w.refusals_in_a_row = 0;
        }
        drop(w);
        self.bucket.changed.notify_one();
    }

    /// The gateway refused the request with a 429: learn the key's policy when it told
    /// us, cut our share when our log does not explain the refusal, and hold the next
    /// grant back (see the module doc).
    pub fn refused(mut self, by: RefusedBy, retry_after: Option<Duration>) -> QuotaRefusal {
        self.settled = true;
        self.bucket.refused(self.id, self.at, by, retry_after)
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut w = self.bucket.lock();
        w.end_probe(self.id);
        w.answered(false);
        if w.room.probe == Some(self.id) {
            w.room.probe = None;
        }
        drop(w);
        self.bucket.changed.notify_one();
    }
}

/// Whose quota a 429 says was spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// The access key's (`policy user`, or a policy the gateway did not say whose), with
    /// the policy when the gateway named it: our use and that of the key's other users.
    Key(Option<Policy>),
    /// The API's quota over every user (`policy api`): other tenants' use, which no
    /// share of ours changes and whose policy is not the key's. The bucket holds back
    /// and probes, and neither learns nor cuts.
    AllUsers,
}

/// What the bucket concluded from a 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaRefusal {
    pub policy: Policy,
    pub learned: bool,
    /// Whether our own log explains the refusal (we alone filled the window).
    pub explained: bool,
    /// This process's share of the policy afterwards, in requests per window.
    pub share: f64,
    /// How long until the bucket's next grant.
    pub wait: Duration,
}

impl ApiBucket {
    pub fn new(api: Api, policy: Policy) -> Self {
        ApiBucket {
            api,
            window: Mutex::new(Window::new(policy, Instant::now())),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn api(&self) -> Api {
        self.api
    }

    /// The policy the gateway applies (as far as known), and whether the gateway taught it.
    pub fn policy(&self) -> (Policy, bool) {
        let w = self.lock();
        (w.policy, w.learned)
    }

    /// The policy this process paces itself by: the gateway's window and this process's
    /// share of its limit (the whole limit until refusals say others spend it).
    pub fn pace(&self) -> Policy {
        let mut w = self.lock();
        w.grow(self.api, Instant::now());
        w.pace()
    }

    /// A caller outside the bucket held a request back for our share (see
    /// [`Share::limits`]).
    pub fn held_back(&self) {
        self.lock().share.limits(Instant::now());
    }

    /// Waits for this API's next grant, in turn with the other callers. Ends at once on
    /// cancellation, or when the grant would come after `deadline`.
    pub async fn acquire(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<Permit, Denied> {
        let turn = tokio::select! {
            _ = cancel.cancelled() => return Err(Denied::Cancelled),
            _ = super::context::sleep_until(deadline) => return Err(Denied::Deadline(Instant::now())),
            turn = self.turn.clone().lock_owned() => turn,
        };
        loop {
            let now = Instant::now();
            let next = {
                let mut w = self.lock();
                w.grow(self.api, now);
                w.next_grant(now)
            };
            let wake = match next {
                Next::At(at) if at <= now => {
                    return Ok(Permit {
                        bucket: self.clone(),
                        _turn: turn,
                        room_probe: false,
                    });
                }
                Next::RoomProbe => {
                    return Ok(Permit {
                        bucket: self.clone(),
                        _turn: turn,
                        room_probe: true,
                    });
                }
                Next::At(at) => {
                    if deadline.is_some_and(|d| at > d) {
                        return Err(Denied::Deadline(at));
                    }
                    Some(at)
                }
                Next::AfterProbe | Next::AfterAnswer => None,
            };
            if cancel.is_cancelled() {
                return Err(Denied::Cancelled);
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(Denied::Cancelled),
                _ = super::context::sleep_until(wake.or(deadline)) => {
                    if wake.is_none() {
                        return Err(Denied::Deadline(Instant::now()));
                    }
                }
                _ = self.changed.notified() => {}
            }
        }
    }

    /// The 429 of request `id` sent at `sent_at`.
    fn refused(
        &self,
        id: u64,
        sent_at: Instant,
        by: RefusedBy,
        retry_after: Option<Duration>,
    ) -> QuotaRefusal {
        let now = Instant::now();
        let mut w = self.lock();
        if let Some(i) = w.sent.iter().rposition(|(sent, _)| *sent == id) {
            w.sent.remove(i);
        }
        w.end_probe(id);
        w.answered(false);
        let searched = w.end_room_search(self.api, id, false, now);
        w.learn(by);
        let (explained, wait) = if searched {
            // Beyond our share, into a full window: the share is right, nothing to cut
            // nor to hold back (the next request is within the share).
            let wait = match w.next_grant(now) {
                Next::At(at) => at.saturating_duration_since(now),
                _ => Duration::ZERO,
            };
            (true, wait)
        } else {
            // Slow start again: the gateway's window has no room for a round.
            w.ramp = 1;
            let held = w.held(now);
            let explained = held >= w.policy.limit as usize;
            let policy = w.policy;
            if !explained && by != RefusedBy::AllUsers {
                let before = w.share.clone();
                if let Some(change) = w.share.refused(now, sent_at, held, policy.window) {
                    log_change(self.api, policy, change);
                    w.contestable_cut(sent_at, now, before);
                    w.room.after_cut(now, policy.window);
                }
            }
            w.refused_since.get_or_insert(now);
            w.refusals_in_a_row = w.refusals_in_a_row.saturating_add(1);
            let backoff = w.policy.spacing() * 2u32.pow((w.refusals_in_a_row - 1).min(16));
            // Up to a quarter of the window: bursts free the window in chunks, not one
            // request at a time, so probing at our share's spacing would mostly be refused.
            let penalty = backoff
                .min(w.pace().spacing().max(w.policy.window / 4))
                .max(retry_after.unwrap_or_default());
            let blocked = now + penalty;
            w.blocked_until = Some(w.blocked_until.map_or(blocked, |b| b.max(blocked)));
            let wait = match w.next_grant(now) {
                Next::At(at) => at - now,
                Next::AfterProbe | Next::AfterAnswer | Next::RoomProbe => penalty,
            };
            (explained, wait)
        };
        let refusal = QuotaRefusal {
            policy: w.policy,
            learned: w.learned,
            explained,
            share: w.share.current(),
            wait,
        };
        drop(w);
        self.changed.notify_one();
        refusal
    }
}

/// Every API bucket of a client, created on first use.
#[derive(Debug)]
pub struct Quotas {
    assumed: Policy,
    buckets: Mutex<HashMap<Api, Arc<ApiBucket>>>,
}

impl Quotas {
    /// `assumed`: the policy of an API until its gateway says otherwise.
    pub fn new(assumed: Policy) -> Self {
        Quotas {
            assumed,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket of `api`.
    pub fn bucket(&self, api: Api) -> Arc<ApiBucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(api)
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

    async fn send(bucket: &Arc<ApiBucket>) -> Sent {
        bucket.acquire(&never(), None).await.unwrap().sent()
    }

    /// Sends and has the request accepted.
    async fn pass(bucket: &Arc<ApiBucket>) {
        send(bucket).await.accepted();
    }

    fn ms_since(t0: Instant) -> u64 {
        (Instant::now() - t0).as_millis() as u64
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_holds_more_than_the_limit() {
        let policy = Policy {
            limit: 5,
            window: Duration::from_secs(2),
        };
        assert_eq!(policy.margin(), Duration::from_millis(50));
        let bucket = Arc::new(ApiBucket::new(Api::ShowJob, policy));
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            pass(&bucket).await;
            times.push(Instant::now() - t0);
        }
        let ms = |t: &Duration| t.as_millis() as u64;
        let got: Vec<u64> = times.iter().map(ms).collect();
        assert_eq!(
            got,
            [0, 0, 0, 400, 800, 2050, 2050, 2050, 2450, 2850, 4100, 4100],
            "half the limit at once (rounded up), the rest window / limit apart; the \
             sixth no sooner than the first leaves the window (t0 + 2 s + margin)"
        );
        for (i, t) in times.iter().enumerate() {
            let in_window = times[..i]
                .iter()
                .filter(|s| *t - **s < policy.window)
                .count();
            assert!(in_window < 5, "{i}: {in_window} others within 2 s");
        }
    }

    /// A gateway of `limit` requests per minute (a sliding window) shared by every
    /// bucket that sends through it, answering each request 10 ms after it was sent.
    struct Gateway {
        limit: usize,
        accepted: Mutex<VecDeque<Instant>>,
        refused: Mutex<usize>,
        t0: Instant,
    }

    impl Gateway {
        fn new(limit: usize) -> Arc<Self> {
            Arc::new(Gateway {
                limit,
                accepted: Mutex::new(VecDeque::new()),
                refused: Mutex::new(0),
                t0: Instant::now(),
            })
        }

        fn refused(&self) -> usize {
            *self.refused.lock().unwrap()
        }

        /// Whether the window has room for one more request at `now` (it takes it).
        fn admits(&self, now: Instant) -> bool {
            let mut log = self.accepted.lock().unwrap();
            while log
                .front()
                .is_some_and(|t| *t + Policy::STANDARD.window <= now)
            {
                log.pop_front();
            }
            let fits = log.len() < self.limit;
            if fits {
                log.push_back(now);
            }
            fits
        }

        /// `count` concurrent callers of `bucket`, each sending one request until it is
        /// accepted; they return when it was, from the gateway's start.
        fn callers(
            self: &Arc<Self>,
            bucket: &Arc<ApiBucket>,
            count: usize,
        ) -> Vec<tokio::task::JoinHandle<Duration>> {
            (0..count)
                .map(|_| {
                    let (bucket, gateway) = (bucket.clone(), self.clone());
                    tokio::spawn(async move {
                        loop {
                            let sent = send(&bucket).await;
                            let fits = gateway.admits(Instant::now());
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            if fits {
                                sent.accepted();
                                return Instant::now() - gateway.t0;
                            }
                            *gateway.refused.lock().unwrap() += 1;
                            let named = Policy::per_minute(gateway.limit as u32);
                            sent.refused(RefusedBy::Key(Some(named)), None);
                        }
                    })
                })
                .collect()
        }
    }

    /// Sends `count` requests at once through `bucket` to a gateway of `limit` per
    /// minute: when each was accepted (sorted), and how many were refused on the way.
    async fn through_gateway(
        bucket: &Arc<ApiBucket>,
        limit: usize,
        count: usize,
    ) -> (Vec<Duration>, usize) {
        let gateway = Gateway::new(limit);
        let mut times = Vec::new();
        for caller in gateway.callers(bucket, count) {
            times.push(caller.await.unwrap());
        }
        times.sort();
        (times, gateway.refused())
    }

    #[tokio::test(start_paused = true)]
    async fn processes_starting_together_meet_the_limit_in_one_small_round() {
        // Two processes of one access key, each told 6000 per minute, each with 40
        // requests at once against the gateway's 60 per minute.
        let gateway = Gateway::new(60);
        let (a, b) = (
            Arc::new(ApiBucket::new(Api::Upgrade, Policy::per_minute(6000))),
            Arc::new(ApiBucket::new(Api::Upgrade, Policy::per_minute(6000))),
        );
        let callers = [gateway.callers(&a, 40), gateway.callers(&b, 40)];
        let mut last = Duration::ZERO;
        for caller in callers.into_iter().flatten() {
            last = last.max(caller.await.unwrap());
        }
        let refused = gateway.refused();
        assert!(
            refused <= 2 * MAX_UNANSWERED,
            "at most one round of each: {refused}"
        );
        assert!(
            last < Duration::from_secs(125),
            "the 80 within two windows: {last:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_doubles_each_round_trip_up_to_the_share() {
        let bucket = Arc::new(ApiBucket::new(Api::Upgrade, Policy::STANDARD));
        let (times, refused) = through_gateway(&bucket, 60, 60).await;
        assert_eq!(refused, 0);
        let mut rounds: Vec<(u128, usize)> = Vec::new();
        for t in &times {
            match rounds.last_mut() {
                Some((at, n)) if *at == t.as_millis() => *n += 1,
                _ => rounds.push((t.as_millis(), 1)),
            }
        }
        assert_eq!(
            rounds[..6],
            [(10, 1), (20, 2), (30, 4), (40, 8), (50, 8), (60, 7)],
            "1, 2, 4, 8 answered each round trip, then 8 at a time, up to half the share"
        );
        // The other half evenly over the window, a second apart.
        let rest: Vec<u128> = times[30..].iter().map(|t| t.as_millis()).collect();
        let evenly: Vec<u128> = (1..=30).map(|s| s * 1000 + 10).collect();
        assert_eq!(rest, evenly);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_told_too_high_costs_one_small_round_of_refusals() {
        let bucket = Arc::new(ApiBucket::new(Api::Upgrade, Policy::per_minute(6000)));
        let (times, refused) = through_gateway(&bucket, 60, 100).await;
        // Half of the 6000 told may go at once: rounds of 1, 2, 4, then 8 at a time, fill
        // 55 of the 60; of the next round of 8, the last 3 are refused, which teaches the
        // policy; nothing after.
        assert_eq!(refused, 3);
        assert_eq!(bucket.policy(), (Policy::STANDARD, true));
        assert_eq!(times.iter().filter(|t| t.as_secs() < 60).count(), 60);
        // The other 40 in the next window: 30 at once, the rest a second apart.
        let next: Vec<u64> = times[60..].iter().map(|t| t.as_secs()).collect();
        assert!(next[..30].iter().all(|&t| t == 61), "{next:?}");
        assert_eq!(next[30..], [62, 63, 64, 65, 66, 67, 68, 69, 70, 71]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_learned_policy_replaces_the_assumed_one() {
        let bucket = Arc::new(ApiBucket::new(Api::ShowJob, Policy::per_minute(600)));
        let t0 = Instant::now();
        for _ in 0..3 {
            pass(&bucket).await;
        }
        let refused = send(&bucket).await;
        // The gateway: 3 per 2 s, and this one was over. It no longer counts, and the
        // three accepted ones explain it: our share stays the whole policy.
        let learned = Policy {
            limit: 3,
            window: Duration::from_secs(2),
        };
        let refusal = refused.refused(RefusedBy::Key(Some(learned)), None);
        assert_eq!(refusal.policy, learned);
        assert!(refusal.learned && refusal.explained);
        assert_eq!(refusal.share, 3.0);
        assert_eq!(bucket.policy(), (learned, true));
        assert_eq!(bucket.pace(), learned);
        // The three accepted ones (sent at once) fill the learned window until t0 + 2 s +
        // 50 ms.
        assert_eq!(refusal.wait, Duration::from_millis(2050));
        pass(&bucket).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(2050));
        // A looser policy is learned too: the gateway knows best.
        let refused = send(&bucket).await;
        let looser = Policy::per_minute(6000);
        let refusal = refused.refused(RefusedBy::Key(Some(looser)), None);
        assert!(!refusal.explained);
        assert_eq!(
            refusal.share, 200.0,
            "cut to the 1 held, not below a thirtieth"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_the_log_does_not_explain_cuts_the_share_to_what_we_held() {
        let bucket = Arc::new(ApiBucket::new(Api::Upgrade, Policy::STANDARD));
        let t0 = Instant::now();
        for _ in 0..20 {
            pass(&bucket).await;
        }
        assert_eq!(ms_since(t0), 0, "at once while the window has room");
        // Two other workspaces took the rest of the window: the 21st is refused.
        let refusal = send(&bucket)
            .await
            .refused(RefusedBy::Key(Some(Policy::STANDARD)), None);
        assert!(refusal.learned && !refusal.explained);
        assert_eq!(refusal.share, 20.0, "the 20 we held");
        assert_eq!(bucket.pace().limit, 20);
        // Our 20 leave the window at 60 s + margin.
        assert_eq!(refusal.wait, Duration::from_millis(61_200));
        // A window after the cut, with nothing refused since, the share searches for room
        // beyond itself: half of it (rounded up, 11) goes at once, and each request the
        // share holds back then goes as a search, one at a time, each accepted adding one
        // to the share. This gateway accepts them all: the 20 go when our 20 leave the
        // window (the share also grew half a request for the window it limited us).
        let mut got = Vec::new();
        for _ in 0..20 {
            pass(&bucket).await;
            got.push(ms_since(t0));
        }
        assert_eq!(got, [61_200; 20]);
        let share = bucket.pace().limit;
        assert_eq!(share, 29, "20.5 and one for each of the 9 searches");
        // A search refused (the window is full after all) is explained by our going
        // beyond the share: it cuts nothing, and the next search waits a quarter window.
        let search = bucket.acquire(&never(), None).await.unwrap();
        assert!(search.room_probe, "beyond the share");
        let refusal = search
            .sent()
            .refused(RefusedBy::Key(Some(Policy::STANDARD)), None);
        assert!(refusal.explained);
        assert_eq!(bucket.pace().limit, share);
        let next = bucket.acquire(&never(), None).await.unwrap();
        assert!(!next.room_probe);
        assert!(
            ms_since(t0) > 61_200 + 2_000,
            "within the share, on its even schedule: {}",
            ms_since(t0)
        );
        next.sent().accepted();
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_that_a_later_request_of_the_burst_contradicts_is_undone() {
        let bucket = Arc::new(ApiBucket::new(Api::Upgrade, Policy::STANDARD));
        for _ in 0..4 {
            pass(&bucket).await;
        }
        // Three requests of one burst: the first refused, the next two sent after it
        // and still in flight when the refusal comes.
        let refused = send(&bucket).await;
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = send(&bucket).await;
        let last = send(&bucket).await;
        let refusal = refused.refused(RefusedBy::Key(Some(Policy::STANDARD)), None);
        assert!(!refusal.explained);
        assert_eq!(refusal.share, 6.0, "cut to the 6 held then");
        // The gateway let the later one through: the window had room after all.
        later.accepted();
        assert_eq!(bucket.pace().limit, 60, "the cut is undone");
        last.accepted();
        // When every request sent after the refused one is refused too, the cut stands.
        let refused = send(&bucket).await;
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = send(&bucket).await;
        let refusal = refused.refused(RefusedBy::Key(Some(Policy::STANDARD)), None);
        assert_eq!(refusal.share, 7.0, "the 6 accepted and the one in flight");
        later.refused(RefusedBy::Key(Some(Policy::STANDARD)), None);
        let probe = bucket.acquire(&never(), None).await.unwrap().sent();
        probe.accepted();
        assert_eq!(
            bucket.pace().limit,
            6,
            "the refused one in flight came off it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_by_the_apis_quota_over_all_users_holds_back_and_cuts_nothing() {
        let bucket = Arc::new(ApiBucket::new(Api::ListInstances, Policy::STANDARD));
        let t0 = Instant::now();
        pass(&bucket).await;
        let refusal = send(&bucket)
            .await
            .refused(RefusedBy::AllUsers, Some(Duration::from_secs(2)));
        assert!(!refusal.learned && !refusal.explained);
        assert_eq!(
            refusal.policy,
            Policy::STANDARD,
            "8000 per minute is not ours"
        );
        assert_eq!(
            refusal.share, 60.0,
            "other tenants' use: no share changes it"
        );
        assert_eq!(refusal.wait, Duration::from_secs(2), "the Retry-After");
        pass(&bucket).await;
        assert_eq!(ms_since(t0), 2_000);
        assert_eq!(bucket.policy(), (Policy::STANDARD, false));
    }

    #[tokio::test(start_paused = true)]
    async fn while_refused_one_request_probes_at_a_time() {
        let bucket = Arc::new(ApiBucket::new(
            Api::ListTasks,
            Policy {
                limit: 10,
                window: Duration::from_secs(10),
            },
        ));
        let t0 = Instant::now();
        // Another client spent the quota: our first request is refused at once.
        let refusal = send(&bucket).await.refused(RefusedBy::Key(None), None);
        assert!(!refusal.learned && !refusal.explained);
        assert_eq!(
            refusal.share, 1.0,
            "nothing held: the floor, one request (a thirtieth of 10 is less)"
        );
        assert_eq!(
            refusal.wait,
            Duration::from_secs(1),
            "the policy's spacing first"
        );
        // The probe goes after the hold; a second caller waits for its answer however
        // long it takes, not for a grant of its own.
        let probe = send(&bucket).await;
        assert_eq!(ms_since(t0), 1_000);
        let second = {
            let bucket = bucket.clone();
            tokio::spawn(async move {
                bucket.acquire(&never(), None).await.map(|p| {
                    p.sent().accepted();
                    Instant::now()
                })
            })
        };
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!second.is_finished(), "queued behind the probe");
        // Refused again: still one at a time, the next probe twice as far (up to our
        // share's spacing, 10 s).
        let refusal = probe.refused(RefusedBy::Key(None), None);
        assert_eq!(refusal.wait, Duration::from_secs(2));
        let at = second.await.unwrap().unwrap();
        assert_eq!(at - t0, Duration::from_secs(103));
        // That probe was accepted: the bucket is no longer refused, grants follow the
        // share again (one per window now, until windows of use grow it).
        let t1 = Instant::now();
        pass(&bucket).await;
        assert_eq!(Instant::now() - t1, Duration::from_millis(10_200));
        // A probe dropped unanswered (cancelled) lets the next one go.
        let dropped = send(&bucket)
            .await
            .refused(RefusedBy::Key(None), Some(Duration::from_secs(1)));
        assert!(dropped.wait >= Duration::from_secs(1));
        let lost = send(&bucket).await;
        drop(lost);
        let t2 = Instant::now();
        pass(&bucket).await;
        assert!(Instant::now() - t2 <= Duration::from_millis(10_200));
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
                    p.sent().accepted();
                    Instant::now()
                })
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Learning 10 per second frees the refused request's place in the log; as our log
        // holds nothing, others spend the quota: our share is cut to one per second, and
        // the first hold is one spacing of the policy (0.1 s).
        let refusal = refused.refused(
            RefusedBy::Key(Some(Policy {
                limit: 10,
                window: Duration::from_secs(1),
            })),
            None,
        );
        assert!(!refusal.explained);
        let granted = waiting.await.unwrap().unwrap();
        assert_eq!(
            granted - t0,
            Duration::from_millis(1100),
            "one spacing of the policy"
        );

        let held = bucket.acquire(&never(), None).await.unwrap();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let other = bucket.acquire(&cancel, None).await;
        assert!(matches!(other, Err(Denied::Cancelled)));
        assert_eq!(Instant::now() - started, Duration::from_millis(300));
        held.sent().accepted();
        let deadline = Instant::now() + Duration::from_millis(20);
        pass(&bucket).await;
        // The share (one per second) is used: one request goes beyond it, searching for
        // room, and the next must wait for the window.
        let search = send(&bucket).await;
        let late = bucket.acquire(&never(), Some(deadline)).await;
        drop(search);
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
    fn one_bucket_per_api() {
        let quotas = Quotas::new(Policy::STANDARD);
        let a = quotas.bucket(Api::ShowJob);
        assert!(Arc::ptr_eq(&a, &quotas.bucket(Api::ShowJob)));
        assert!(!Arc::ptr_eq(&a, &quotas.bucket(Api::ListTasks)));
    }
}
