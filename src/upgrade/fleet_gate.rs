//! Fleet safety for one provider process: the cap on upgrade jobs running at once
//! (`max_concurrent_upgrades`) and the failure budget (`failure_budget`).
//!
//! Every upgrade run takes a [`Slot`] before it adopts or submits an upgrade, and gives
//! it back once the job has finished; a resumed wait occupies one without waiting. A
//! failed job is charged to the budget before its slot is handed on, so a run that waited
//! for that slot sees the budget spent and submits nothing. When a slot is given back,
//! and who holds it while nobody waits for its job, is the run's ([`super::run`]).
//!
//! The slots are a book of the running instances and a wake-up on every change, not a
//! `tokio::sync::Semaphore`: a resumed wait occupies a slot at once even when the cap is
//! already reached (a semaphore has no permit to give it, and cannot go below zero), the
//! waiters re-check the failure budget whenever a slot comes back, and the wait's log
//! names the instances running.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::job::{JobSnapshot, JobStatus};
use crate::rds::CallCtx;

/// The configured limits; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent_upgrades: Option<u32>,
    pub failure_budget: Option<u32>,
}

/// An upgrade of this process that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub instance: String,
    pub job_id: String,
    pub reason: String,
}

/// Why a create got no slot. Nothing was submitted for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// The failure budget is spent: these upgrades failed.
    BudgetSpent { budget: u32, failures: Vec<Failure> },
    /// Terraform was interrupted while the create waited for a slot.
    Cancelled { cap: u32 },
    /// The create's timeout passed while it waited for a slot.
    Timeout { cap: u32 },
}

impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateError::BudgetSpent { budget, failures } => {
                write!(
                    f,
                    "{} upgrade{} of this run failed, which spends failure_budget = {budget}: ",
                    failures.len(),
                    if failures.len() == 1 { "" } else { "s" }
                )?;
                let listed: Vec<String> = failures
                    .iter()
                    .map(|x| format!("instance {} (job {}): {}", x.instance, x.job_id, x.reason))
                    .collect();
                write!(f, "{}", listed.join("; "))
            }
            GateError::Cancelled { cap } => write!(
                f,
                "Terraform was interrupted while this upgrade waited for one of the max_concurrent_upgrades = {cap} slots"
            ),
            GateError::Timeout { cap } => write!(
                f,
                "the create timeout passed while this upgrade waited for one of the max_concurrent_upgrades = {cap} slots"
            ),
        }
    }
}

#[derive(Default)]
struct Book {
    next: u64,
    /// Slots held, by number: the instance each is for.
    running: BTreeMap<u64, String>,
    failures: Vec<Failure>,
}

#[derive(Default)]
struct Inner {
    limits: OnceLock<Limits>,
    book: Mutex<Book>,
    changed: Notify,
}

impl Inner {
    fn limits(&self) -> Limits {
        self.limits.get().copied().unwrap_or_default()
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic elsewhere while holding the lock leaves a usable book.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spent(&self, book: &Book) -> Option<GateError> {
        let budget = self.limits().failure_budget?;
        (book.failures.len() >= budget as usize).then(|| GateError::BudgetSpent {
            budget,
            failures: book.failures.clone(),
        })
    }

    fn take(self: &Arc<Self>, book: &mut Book, instance: &str) -> Slot {
        book.next += 1;
        book.running.insert(book.next, instance.to_string());
        Slot {
            gate: self.clone(),
            number: Some(book.next),
        }
    }
}

/// The process's cap and budget, shared by every create and invocation.
#[derive(Default, Clone)]
pub struct FleetGate {
    inner: Arc<Inner>,
}

impl FleetGate {
    /// Sets the limits (once, at configure).
    pub fn set_limits(&self, limits: Limits) {
        let _ = self.inner.limits.set(limits);
    }

    /// Waits for a slot for an upgrade of `instance`: until fewer than the cap run and
    /// while the budget lasts. The wait is logged, ends at `ctx`'s deadline, and ends on
    /// cancellation.
    pub async fn acquire(&self, ctx: &CallCtx, instance: &str) -> Result<Slot, GateError> {
        let mut logged = false;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let cap = {
                let mut book = self.inner.book();
                if let Some(spent) = self.inner.spent(&book) {
                    return Err(spent);
                }
                let limits = self.inner.limits();
                match limits.max_concurrent_upgrades {
                    Some(cap) if book.running.len() >= cap as usize => {
                        if !logged {
                            let running: Vec<&str> =
                                book.running.values().map(String::as_str).collect();
                            tracing::info!(
                                instance_id = instance,
                                max_concurrent_upgrades = cap,
                                running = %running.join(", "),
                                "waiting for an upgrade slot: {} of {cap} upgrades running",
                                running.len()
                            );
                            logged = true;
                        }
                        cap
                    }
                    _ => {
                        if logged {
                            tracing::info!(instance_id = instance, "an upgrade slot is free");
                        }
                        return Ok(self.inner.take(&mut book, instance));
                    }
                }
            };
            let deadline = ctx.deadline;
            tokio::select! {
                _ = &mut changed => {}
                _ = ctx.cancel.cancelled() => return Err(GateError::Cancelled { cap }),
                _ = sleep_until(deadline) => return Err(GateError::Timeout { cap }),
            }
        }
    }

    /// A slot for a job already running that this process follows again (a resumed
    /// wait): it counts against the cap at once, without waiting.
    pub fn occupy(&self, instance: &str) -> Slot {
        let mut book = self.inner.book();
        self.inner.take(&mut book, instance)
    }

    /// The budget, when it is spent (checked again right before submitting).
    pub fn spent(&self) -> Option<GateError> {
        self.inner.spent(&self.inner.book())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One upgrade's place among the running ones; given back when dropped.
pub struct Slot {
    gate: Arc<Inner>,
    number: Option<u64>,
}

impl Slot {
    /// The job ended: a failure is charged to the budget, then the slot is given back.
    pub fn finished(mut self, instance: &str, snap: &JobSnapshot) {
        if snap.status == JobStatus::Failed {
            let mut book = self.gate.book();
            book.failures.push(Failure {
                instance: instance.to_string(),
                job_id: snap.id.clone(),
                reason: snap
                    .fail_reason
                    .as_deref()
                    .unwrap_or("no reason given")
                    .trim_end_matches('.')
                    .to_string(),
            });
            tracing::info!(
                instance_id = instance,
                job_id = %snap.id,
                failures = book.failures.len(),
                "an upgrade failed; charged to the failure budget"
            );
        }
        self.give_back();
    }

    /// Whether the gate has limits, so that the slot must be held while its job runs.
    pub fn limited(&self) -> bool {
        self.gate.limits() != Limits::default()
    }

    fn give_back(&mut self) {
        if let Some(number) = self.number.take() {
            self.gate.book().running.remove(&number);
            self.gate.changed.notify_waiters();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.give_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    fn gate(cap: Option<u32>, budget: Option<u32>) -> FleetGate {
        let gate = FleetGate::default();
        gate.set_limits(Limits {
            max_concurrent_upgrades: cap,
            failure_budget: budget,
        });
        gate
    }

    fn ctx() -> CallCtx {
        CallCtx::new(CancellationToken::new())
    }

    fn failed(id: &str) -> JobSnapshot {
        JobSnapshot {
            id: id.into(),
            status: JobStatus::Failed,
            fail_reason: Some("disk full".into()),
            ..Default::default()
        }
    }

    // The tests run on paused time: a sleep or a deadline passes as soon as every task
    // waits, so an hour costs nothing and a wait that never ends fails at its bound.

    /// A bound for what must happen without waiting: paused time reaches it only when
    /// everything is stuck.
    const STUCK: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_full_gate_hands_the_next_slot_to_a_waiter() {
        let gate = gate(Some(1), None);
        let first = gate.acquire(&ctx(), "a").await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire(&ctx(), "b").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            !waiter.is_finished(),
            "b waits while a runs, an hour later too"
        );
        drop(first);
        tokio::time::timeout(STUCK, waiter)
            .await
            .expect("b gets the slot")
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_spends_the_budget_stops_the_waiters() {
        let gate = gate(Some(1), Some(1));
        let first = gate.acquire(&ctx(), "a").await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire(&ctx(), "b").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "b waits while a runs");
        first.finished("a", &failed("j1"));
        let err = tokio::time::timeout(STUCK, waiter)
            .await
            .expect("the failure wakes b")
            .unwrap()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, GateError::BudgetSpent { budget: 1, .. }),
            "{err:?}"
        );
        assert!(text.contains("instance a (job j1): disk full"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_on_cancel_and_at_the_deadline() {
        let gate = gate(Some(1), None);
        let _held = gate.acquire(&ctx(), "a").await.unwrap();
        let cancelled = ctx();
        cancelled.cancel.cancel();
        let started = Instant::now();
        assert_eq!(
            gate.acquire(&cancelled, "b").await.err(),
            Some(GateError::Cancelled { cap: 1 })
        );
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a cancelled wait ends at once"
        );
        let deadline = started + Duration::from_secs(3600);
        assert_eq!(
            gate.acquire(&ctx().with_deadline(deadline), "b")
                .await
                .err(),
            Some(GateError::Timeout { cap: 1 })
        );
        assert_eq!(Instant::now(), deadline, "the wait ends at the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn occupied_slots_count_against_the_cap() {
        let gate = gate(Some(1), None);
        let resumed = gate.occupy("a");
        let soon = ctx().with_deadline(Instant::now() + Duration::from_secs(1));
        assert_eq!(
            gate.acquire(&soon, "b").await.err(),
            Some(GateError::Timeout { cap: 1 })
        );
        drop(resumed);
        let slot = tokio::time::timeout(STUCK, gate.acquire(&ctx(), "b"))
            .await
            .expect("the freed slot is taken without waiting");
        assert!(slot.is_ok(), "{:?}", slot.err());
    }

    #[tokio::test(start_paused = true)]
    async fn without_limits_nothing_waits() {
        let gate = gate(None, None);
        let slots: Vec<Slot> = tokio::time::timeout(STUCK, futures_slots(&gate, 50))
            .await
            .expect("50 slots without waiting");
        assert_eq!(slots.len(), 50);
        for s in slots {
            s.finished("x", &failed("j"));
        }
        assert!(gate.spent().is_none(), "no budget, no stop");
    }

    async fn futures_slots(gate: &FleetGate, n: usize) -> Vec<Slot> {
        let mut out = Vec::new();
        for i in 0..n {
            out.push(gate.acquire(&ctx(), &format!("i{i}")).await.unwrap());
        }
        out
    }
}
