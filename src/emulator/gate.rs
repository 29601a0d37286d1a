//! Gates (`POST /__emulator/gate`): a signed API route's requests held at a chosen point
//! until the test that closed the gate opens it, so a test can act (kill a process, send
//! Ctrl-C) while a request is known to be on one side of its processing:
//! - `before`: the request passed the signature check and flow control (it is counted in
//!   `stats.requests`) but is not processed yet; a client that goes away meanwhile takes
//!   it with it (the connection closes, the request is dropped unprocessed).
//! - `after`: the request was processed (an upgrade's job exists) and its answer waits.
//!
//! `stats.held` counts the requests waiting at each route's gate now. Gates are not kept
//! in the state file; `POST /__emulator/reset` opens every gate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Deserialize;
use tokio::sync::watch;

/// Where a gate holds its route's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hold {
    /// Before processing.
    Before,
    /// After processing, before the answer.
    After,
    /// Not at all: the gate is open and what it held goes on.
    None,
}

/// The body of `POST /__emulator/gate`: `{"route": "<METHOD> <route template>", "hold": "before" | "after" | "none"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    pub route: String,
    pub hold: Hold,
}

/// Every route's gate, and who waits at them.
pub struct Gates {
    closed: watch::Sender<HashMap<String, Hold>>,
    held: Mutex<BTreeMap<String, u64>>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            closed: watch::Sender::new(HashMap::new()),
            held: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Counts one request in `held` while it waits; uncounts it when it goes on or is dropped.
struct Waiting<'a> {
    gates: &'a Gates,
    route: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut held = self.gates.held();
        if let Some(n) = held.get_mut(self.route) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(self.route);
            }
        }
    }
}

impl Gates {
    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes or opens `config.route`'s gate.
    pub fn set(&self, config: GateConfig) {
        self.closed.send_modify(|closed| match config.hold {
            Hold::None => {
                closed.remove(&config.route);
            }
            hold => {
                closed.insert(config.route, hold);
            }
        });
    }

    /// Opens every gate.
    pub fn open_all(&self) {
        self.closed.send_modify(HashMap::clear);
    }

    /// Returns once `route`'s gate does not hold requests at `at`: at once when it is
    /// open or holds elsewhere.
    pub async fn pass(&self, route: &str, at: Hold) {
        let mut closed = self.closed.subscribe();
        if closed.borrow_and_update().get(route) != Some(&at) {
            return;
        }
        *self.held().entry(route.to_string()).or_default() += 1;
        let _waiting = Waiting { gates: self, route };
        // The sender lives as long as `self`: the wait ends only when the gate opens.
        let _ = closed
            .wait_for(|closed| closed.get(route) != Some(&at))
            .await;
    }

    /// How many requests wait at each route's gate.
    pub fn held_now(&self) -> BTreeMap<String, u64> {
        self.held().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ROUTE: &str = "POST /v3/{project_id}/instances/{instance_id}/db-upgrade";

    fn gate(hold: Hold) -> GateConfig {
        GateConfig {
            route: ROUTE.into(),
            hold,
        }
    }

    // Paused time: an hour's sleep passes as soon as every task waits, and a wait that
    // never ends fails at its timeout instead of hanging.
    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_holds_until_opened_and_counts_who_waits() {
        let gates = std::sync::Arc::new(Gates::default());
        gates.set(gate(Hold::Before));
        gates.pass(ROUTE, Hold::After).await;
        gates.pass("GET /v3/{project_id}/jobs", Hold::Before).await;
        let waiter = tokio::spawn({
            let gates = gates.clone();
            async move { gates.pass(ROUTE, Hold::Before).await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            !waiter.is_finished(),
            "held at the closed gate, an hour later too"
        );
        assert_eq!(gates.held_now().get(ROUTE), Some(&1));
        gates.set(gate(Hold::None));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released when the gate opens")
            .expect("no panic");
        assert!(gates.held_now().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_is_no_longer_counted() {
        let gates = Gates::default();
        gates.set(gate(Hold::After));
        let waiting =
            tokio::time::timeout(Duration::from_secs(3600), gates.pass(ROUTE, Hold::After));
        assert!(waiting.await.is_err(), "still held after an hour");
        assert!(gates.held_now().is_empty(), "{:?}", gates.held_now());
        gates.open_all();
        gates.pass(ROUTE, Hold::After).await;
    }
}
