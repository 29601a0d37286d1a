//! The send pipeline of the client's requests: a reservation of the API's quota
//! ([`RdsClient::reserve`], [`RdsClient::reserve_again`]), the global ceiling's lanes
//! (submissions ahead of reads), signing and the HTTP send, 429s and retries, and the
//! call log of each attempt. The typed calls that use it are in `client`.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::api::Api;
use super::call_log::{self, CallOutcome, CallRecord};
use super::client::RdsClient;
use super::context::{CallCtx, sleep_until};
use super::credentials::Credentials;
use super::error::{RdsError, ThrottleScope, describe_body, from_response};
use super::limiter::Lane;
use super::quota::{Denied, RefusedBy};
use super::request::Request;
use super::reservation::{Reply, RequestProgress, Reservation, SentBack};
use super::retry::parse_retry_after;

impl RdsClient {
    /// Sends one API request and decodes its JSON answer: waits for the API's quota
    /// and the global ceiling, signs and sends, and retries what may be retried. 429s
    /// (not processed) are waited out as the API's bucket says, for as long as the
    /// deadline allows, and do not count against `max_retries`, which is for transport
    /// errors and 5xx. A request that is not idempotent (a submission) is seen through
    /// once sent.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        ctx: &CallCtx,
        request: Request<'_>,
    ) -> Result<T, RdsError> {
        let mut reservation = self.admit(ctx, RequestProgress::new(request.api)).await?;
        loop {
            match self.send_reserved(reservation, ctx, &request).await? {
                Reply::Answered(value) => return Ok(value),
                Reply::SentBack(back) => reservation = self.reserve_again(back, ctx).await?,
            }
        }
    }

    /// Waits for the next grant of `api`'s quota, in turn with the other requests of
    /// `api`, and holds it for the caller ([`Reservation`]) until the caller sends with
    /// it or drops it. For a project's API, the project id is looked up first, when it
    /// is not known yet, so that nothing is left to wait for between reserving and
    /// sending but the global ceiling on requests per second.
    pub async fn reserve(&self, api: Api, ctx: &CallCtx) -> Result<Reservation, RdsError> {
        if api != Api::IamProjects {
            self.project_id(ctx).await?;
        }
        self.admit(ctx, RequestProgress::new(api)).await
    }

    /// Reserves the API's quota again for a request the gateway or a passing failure sent back
    /// ([`Reply::SentBack`]); the timeout or cancellation of this wait names the last
    /// 429.
    pub async fn reserve_again(
        &self,
        back: SentBack,
        ctx: &CallCtx,
    ) -> Result<Reservation, RdsError> {
        self.admit(ctx, back.progress).await
    }

    /// Waits for the next grant of the API's quota and holds it for the request. The
    /// wait ends at the deadline or on cancellation; when a 429 made this a retry, that
    /// is said (the request was not processed).
    async fn admit(
        &self,
        ctx: &CallCtx,
        progress: RequestProgress,
    ) -> Result<Reservation, RdsError> {
        let api = progress.api;
        let bucket = self.bucket(api);
        let permit = match bucket.acquire(&ctx.cancel, ctx.deadline).await {
            Ok(permit) => permit,
            Err(Denied::Cancelled) => return Err(cancelled(api, progress.throttled.as_ref())),
            Err(Denied::Deadline(next)) => {
                let (policy, learned) = bucket.policy();
                let wait = next.saturating_duration_since(Instant::now());
                return Err(RdsError::Timeout(format!(
                    "{api}: the API's flow control ({policy}, {}) has no reservation for this request before the deadline (next in {wait:?}){}",
                    if learned {
                        "the gateway's policy"
                    } else {
                        "assumed"
                    },
                    last_error(progress.throttled.as_ref())
                )));
            }
        };
        Ok(Reservation { permit, progress })
    }

    /// Spends `reservation` on one attempt of `request`: waits for a token of the global
    /// ceiling (submissions ahead of reads), spends the reservation, sends, and says what came of
    /// it. A 429 sends the request back at once to wait for the API's quota; another
    /// failure that may be retried sends it back after its backoff, or, when the retries
    /// are spent or the backoff would pass the deadline, is the error.
    pub(super) async fn send_reserved<T: DeserializeOwned>(
        &self,
        reservation: Reservation,
        ctx: &CallCtx,
        request: &Request<'_>,
    ) -> Result<Reply<T>, RdsError> {
        let Reservation {
            permit,
            mut progress,
        } = reservation;
        let policy = self.config().retry;
        let (api, url, idempotent) = (request.api, request.url.as_str(), request.idempotent);
        if progress.api != api {
            return Err(RdsError::Config(format!(
                "a reservation of {} cannot send a request of {api}",
                progress.api
            )));
        }
        let lane = if api.is_submission() {
            Lane::Submission
        } else {
            Lane::Read
        };
        let granted = tokio::select! {
            granted = self.limiter().acquire(lane, &ctx.cancel) => granted,
            _ = sleep_until(ctx.deadline) => {
                return Err(RdsError::Timeout(format!(
                    "{api}: waiting for max_requests_per_second{}",
                    last_error(progress.throttled.as_ref())
                )));
            }
        };
        if !granted {
            return Err(cancelled(api, progress.throttled.as_ref()));
        }
        // Valid credentials come at once; only expired ones wait for their renewal.
        let current = self.credentials().current(ctx).await?;
        let sent = permit.sent();
        progress.tries += 1;
        let send = self.attempt(progress.tries, request, &current.credentials);
        let outcome = if idempotent {
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Err(RdsError::Cancelled),
                _ = sleep_until(ctx.deadline) => return Err(RdsError::Timeout(format!("{api}: {url}"))),
                outcome = send => outcome,
            }
        } else {
            send.await
        };
        let (error, retry_after) = match outcome {
            Attempt::Retry(e, retry_after) if e.is_throttled() => {
                let named = e.throttle_policy();
                let by = match named {
                    Some(p) if p.scope == ThrottleScope::Api => RefusedBy::AllUsers,
                    named => RefusedBy::Key(named.map(|p| p.policy)),
                };
                let refusal = sent.refused(by, retry_after);
                tracing::info!(
                    api = %api,
                    policy = %refusal.policy,
                    policy_source = if refusal.learned { "gateway" } else { "assumed" },
                    scope = ?named.map(|p| p.scope),
                    explained_by_our_use = refusal.explained,
                    share = format!("{:.1}", refusal.share),
                    retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
                    wait_ms = refusal.wait.as_millis() as u64,
                    error = %e,
                    "the API's flow control refused the request; waiting for its quota"
                );
                progress.throttled = Some(e);
                return Ok(Reply::SentBack(SentBack { progress }));
            }
            Attempt::Done(status, bytes) => {
                sent.accepted();
                match serde_json::from_slice(&bytes) {
                    Ok(value) => return Ok(Reply::Answered(value)),
                    // A read whose answer is garbled (a proxy cut it short, a gateway
                    // put its own page in) is asked again; a request that changes
                    // something has been processed, and its lost answer is ambiguous.
                    Err(e) if idempotent => (decode_error(status, &e, &bytes), None),
                    Err(e) => {
                        return Err(RdsError::Ambiguous(format!(
                            "the answer (HTTP {status}) could not be understood: {}",
                            decode_error(status, &e, &bytes)
                        )));
                    }
                }
            }
            Attempt::Fail(e) => {
                if went_through(&e) {
                    sent.accepted();
                }
                // A refused renewable credential: one renewal and one more try, never a
                // loop (more than five bad signatures in a row lock the key).
                if e.is_stale_credential()
                    && !progress.renewed
                    && let Some(renewed) = self
                        .credentials()
                        .renewed_after_refusal(ctx, current.generation)
                        .await
                {
                    renewed?;
                    progress.renewed = true;
                    return Ok(Reply::SentBack(SentBack { progress }));
                }
                return Err(e);
            }
            Attempt::Retry(e, retry_after) => {
                if went_through(&e) {
                    sent.accepted();
                }
                (e, retry_after)
            }
        };
        if progress.retries >= policy.max_retries {
            return Err(error);
        }
        let delay = policy.delay(progress.retries, retry_after);
        progress.retries += 1;
        if let Some(deadline) = ctx.deadline
            && Instant::now() + delay > deadline
        {
            return Err(error);
        }
        let attempt = progress.retries;
        tracing::debug!(%api, url, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying API request");
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(RdsError::Cancelled),
            _ = tokio::time::sleep(delay) => {}
        }
        Ok(Reply::SentBack(SentBack { progress }))
    }

    /// One attempt of `request` (`number` 1 for the first): its outcome is known here,
    /// and only here, and logged by [`call_log::record`].
    async fn attempt(
        &self,
        number: u32,
        request: &Request<'_>,
        credentials: &Credentials,
    ) -> Attempt {
        let idempotent = request.idempotent;
        let method = &request.method;
        let signed = match request.signed(self.http(), credentials) {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(e),
        };
        let logged_url = signed.url().to_string();
        let started = Instant::now();
        let record = |outcome: CallOutcome<'_>, retry_after: Option<Duration>| {
            call_log::record(&CallRecord {
                method: method.as_str(),
                url: &logged_url,
                attempt: number,
                latency: started.elapsed(),
                outcome,
                retry_after,
                redact: &[&credentials.access_key],
            })
        };
        let response = match self.http().execute(signed).await {
            Ok(r) => r,
            Err(e) => {
                let message = error_chain(&e);
                record(CallOutcome::NoAnswer { error: &message }, None);
                // A connect error never reached the server: safe to retry any request.
                return if e.is_connect() || idempotent {
                    Attempt::Retry(RdsError::Transport(message), None)
                } else {
                    Attempt::Fail(RdsError::Ambiguous(message))
                };
            }
        };
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let message = format!("reading the answer: {}", error_chain(&e));
                record(CallOutcome::NoAnswer { error: &message }, None);
                return if idempotent {
                    Attempt::Retry(RdsError::Transport(message), None)
                } else {
                    Attempt::Fail(RdsError::Ambiguous(message))
                };
            }
        };
        let error = (!status.is_success())
            .then(|| from_response(status.as_u16(), &bytes, request_id.clone()));
        record(
            CallOutcome::Answered {
                status: status.as_u16(),
                request_id: request_id.as_deref(),
                error_code: error.as_ref().and_then(RdsError::code),
                error_body: error.is_some().then_some(bytes.as_slice()),
            },
            retry_after,
        );
        let Some(error) = error else {
            return Attempt::Done(status.as_u16(), bytes);
        };
        // 429 and 503 mean "not processed"; other 5xx may have been processed.
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || (idempotent && status.is_server_error());
        if retryable {
            Attempt::Retry(error, retry_after)
        } else if !idempotent && status.is_server_error() {
            // A server error after the request arrived: it may have been carried out.
            Attempt::Fail(RdsError::Ambiguous(format!(
                "{error} (the request may have been carried out)"
            )))
        } else {
            Attempt::Fail(error)
        }
    }
}

/// What one attempt produced.
enum Attempt {
    Done(u16, Vec<u8>),
    Retry(RdsError, Option<Duration>),
    Fail(RdsError),
}

/// What a wait for the API's quota or the global ceiling reports when it ends early:
/// the 429 that made this a retry, if one did.
fn last_error(throttled: Option<&RdsError>) -> String {
    throttled
        .map(|e| format!("; last error: {e}"))
        .unwrap_or_default()
}

/// A wait for the API's quota or the global ceiling cancelled; after a 429, it is said
/// that the request was not processed.
fn cancelled(api: Api, throttled: Option<&RdsError>) -> RdsError {
    if let Some(e) = throttled {
        tracing::info!(%api, error = %e, "cancelled while waiting for the API's quota after a 429; the request was not processed");
    }
    RdsError::Cancelled
}

/// Whether the gateway let the request through to the API (an answer from the API, not
/// a refusal of the gateway's nor a lost connection).
fn went_through(error: &RdsError) -> bool {
    matches!(error, RdsError::Api { status, .. } if *status != 429)
        || matches!(error, RdsError::Decode { .. } | RdsError::JobNotFound(_))
}

/// A 2xx answer that is not the JSON expected: what was wrong, and what came.
fn decode_error(status: u16, error: &serde_json::Error, body: &[u8]) -> RdsError {
    let what = if body.is_empty() {
        "the body is empty".to_string()
    } else if error.is_eof() {
        format!("the JSON ends early ({error})")
    } else if error.is_syntax() {
        format!("the body is not JSON ({error})")
    } else {
        format!("the JSON does not have the expected shape ({error})")
    };
    let message = if body.is_empty() {
        what
    } else {
        format!("{what}; {}", describe_body(body))
    };
    RdsError::Decode { status, message }
}

/// An error with every cause after it (`a: b: c`), as requests to the cloud report them.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
