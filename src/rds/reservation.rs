//! A request's turn to be sent, held by its caller: its API's quota reserved for it
//! ([`Reservation`]), what came of sending with it ([`Reply`]), and a request sent back to
//! reserve again ([`SentBack`]). A caller that must look at something
//! right before a request leaves (the domain's last look before an upgrade) reserves,
//! looks, then sends with the reservation, or drops it unspent; the client's own reads
//! reserve and send without a look.
//!
//! Not here: how reservations are paced (`quota`), the ceiling on requests per second
//! (`limiter`, waited for when a reservation is spent), and sending and the retry decisions
//! (`send`).

use super::api::Api;
use super::error::RdsError;
use super::quota::Permit;

/// One API's quota, reserved for one request ([`RdsClient::reserve`]): the API's turn is
/// held, and no other request of the API for these credentials is granted one, until the
/// reservation is spent sending the request (for a submission,
/// [`RdsClient::upgrade_reserved`]) or dropped. Dropped unspent, it gives the turn back:
/// nothing counts against the quota, and the next request in turn computes its own.
///
/// [`RdsClient::reserve`]: super::RdsClient::reserve
/// [`RdsClient::upgrade_reserved`]: super::RdsClient::upgrade_reserved
#[must_use = "a reservation holds the API's turn until it is spent or dropped"]
pub struct Reservation {
    pub(super) permit: Permit,
    pub(super) progress: RequestProgress,
}

impl Reservation {
    /// The API whose quota it reserves.
    pub fn api(&self) -> Api {
        self.progress.api
    }
}

/// A request not processed that may be sent again: the gateway refused it with a 429
/// (the API's bucket now holds its next grant back), or it failed in a way that may be
/// retried (its backoff was waited out already). It waits for a reservation again with
/// [`RdsClient::reserve_again`], which carries the retries spent and the last 429 on.
///
/// [`RdsClient::reserve_again`]: super::RdsClient::reserve_again
#[must_use = "a request sent back is sent again with a new reservation, or given up"]
pub struct SentBack {
    pub(super) progress: RequestProgress,
}

impl SentBack {
    /// The API it is a request of.
    pub fn api(&self) -> Api {
        self.progress.api
    }
}

/// What came of sending a request with a reservation; an answer that is an error is the
/// call's `Err`.
#[must_use]
pub enum Reply<T> {
    /// The API's answer.
    Answered(T),
    /// Not processed: reserve again ([`SentBack`]).
    SentBack(SentBack),
}

impl<T> Reply<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        match self {
            Reply::Answered(value) => Reply::Answered(f(value)),
            Reply::SentBack(back) => Reply::SentBack(back),
        }
    }
}

/// What one request carries from one attempt to the next.
#[derive(Debug)]
pub(super) struct RequestProgress {
    pub api: Api,
    /// Attempts made (1 for the first), as the call log numbers them.
    pub tries: u32,
    /// Retries spent of `max_retries` (429s spend none).
    pub retries: u32,
    /// The 429 that sent the request back last, reported if a later wait ends in a
    /// timeout or cancellation.
    pub throttled: Option<RdsError>,
    /// The credential was renewed once after the gateway refused it.
    pub renewed: bool,
}

impl RequestProgress {
    pub fn new(api: Api) -> Self {
        RequestProgress {
            api,
            tries: 0,
            retries: 0,
            throttled: None,
            renewed: false,
        }
    }
}
