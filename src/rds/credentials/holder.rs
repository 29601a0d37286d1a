//! The one credential holder of a client: every request signs with the credential that
//! is current when it is sent. A renewable credential is renewed before it expires
//! ([`renewal::renew_at`]) in the background while requests keep signing with it; only
//! once it has expired (or the gateway refused it) do requests wait, and then for one
//! renewal however many wait. A failed renewal is tried again with backoff within the
//! caller's deadline; its error names the source and what IAM answered.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Credentials;
use super::exchange::{ExchangeError, Exchanger, Issued};
use super::renewal;
use super::source::Source;
use crate::rds::context::CallCtx;
use crate::rds::error::RdsError;

/// The credential requests sign with now.
#[derive(Debug)]
pub struct Current {
    pub credentials: Credentials,
    /// When it expires; none for static keys.
    pub expires: Option<SystemTime>,
    /// When it is renewed (in the background while it is still valid).
    renew_at: Option<SystemTime>,
    /// Counts credentials obtained: 1 for the first.
    pub generation: u64,
}

impl Current {
    fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    fn due(&self, now: SystemTime) -> bool {
        self.renew_at.is_some_and(|r| now >= r)
    }
}

/// How many tries a renewal without a deadline makes.
const TRIES_WITHOUT_DEADLINE: u32 = 5;

/// Holds a client's credential and renews it.
pub struct CredentialHolder {
    source: Source,
    exchanger: Exchanger,
    current: RwLock<Option<Arc<Current>>>,
    /// Held by the one renewal under way.
    renewing: Mutex<()>,
    /// A background renewal has been started and not finished.
    background: AtomicBool,
    generation: AtomicU64,
}

impl CredentialHolder {
    pub fn new(source: Source, exchanger: Exchanger) -> Arc<Self> {
        let holder = Arc::new(CredentialHolder {
            current: RwLock::new(None),
            renewing: Mutex::new(()),
            background: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            exchanger,
            source,
        });
        if let Some(keys) = holder.source.static_keys() {
            holder.store(Issued {
                credentials: keys.clone(),
                expires: None,
            });
        }
        holder
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Whether the credential is renewed (and a refusal of it is worth a renewal).
    pub fn renews(&self) -> bool {
        self.source.renews()
    }

    /// Credentials obtained so far (1 for static keys).
    pub fn obtained(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn peek(&self) -> Option<Arc<Current>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store(&self, issued: Issued) -> Arc<Current> {
        let now = SystemTime::now();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let current = Arc::new(Current {
            renew_at: issued.expires.map(|e| renewal::renew_at(now, e)),
            expires: issued.expires,
            credentials: issued.credentials,
            generation,
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(current.clone());
        current
    }

    /// The credential to sign with now. A valid one is returned at once (starting its
    /// renewal in the background when it is due); without one, the caller waits for the
    /// one renewal under way, or makes it.
    pub async fn current(self: &Arc<Self>, ctx: &CallCtx) -> Result<Arc<Current>, RdsError> {
        let now = SystemTime::now();
        match self.peek() {
            Some(current) if !current.expired(now) => {
                if current.due(now) {
                    self.renew_in_background(current.generation);
                }
                Ok(current)
            }
            seen => self.renew(ctx, seen.map(|c| c.generation)).await,
        }
    }

    /// After the gateway refused `used` (401 `APIGW.0301`/`0307`): a renewed
    /// credential, made now unless another request renewed since `used` was current.
    /// `None` for static keys, which cannot be renewed.
    pub async fn renewed_after_refusal(
        self: &Arc<Self>,
        ctx: &CallCtx,
        used: u64,
    ) -> Option<Result<Arc<Current>, RdsError>> {
        if !self.renews() {
            return None;
        }
        tracing::info!(source = %self.source, "the gateway refused the credential; renewing it once");
        Some(self.renew(ctx, Some(used)).await)
    }

    fn renew_in_background(self: &Arc<Self>, generation: u64) {
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let holder = self.clone();
        let deadline = self
            .peek()
            .and_then(|c| c.expires)
            .and_then(|e| e.duration_since(SystemTime::now()).ok())
            .map(|left| Instant::now() + left);
        tokio::spawn(async move {
            let mut ctx = CallCtx::new(CancellationToken::new());
            ctx.deadline = deadline;
            if let Err(e) = holder.renew(&ctx, Some(generation)).await {
                tracing::warn!(error = %e, "renewing the credential ahead of its expiry failed; requests go on with the current one while it lasts");
            }
            holder.background.store(false, Ordering::Release);
        });
    }

    /// One renewal at a time: waits for the one under way; renews unless a credential
    /// newer than `seen` (the one the caller found wanting) is valid by then.
    async fn renew(&self, ctx: &CallCtx, seen: Option<u64>) -> Result<Arc<Current>, RdsError> {
        let _turn = tokio::select! {
            turn = self.renewing.lock() => turn,
            _ = ctx.cancel.cancelled() => return Err(RdsError::Cancelled),
            _ = crate::rds::context::sleep_until(ctx.deadline) => {
                return Err(RdsError::Timeout(format!("waiting for credentials from {}", self.source)));
            }
        };
        if let Some(current) = self.peek()
            && Some(current.generation) != seen
            && !current.expired(SystemTime::now())
        {
            return Ok(current);
        }
        let mut retry = 0;
        loop {
            match self.exchanger.obtain(&self.source).await {
                Ok(issued) => {
                    let current = self.store(issued);
                    tracing::debug!(
                        source = %self.source,
                        generation = current.generation,
                        expires = ?current.expires.map(time::OffsetDateTime::from),
                        "credentials obtained"
                    );
                    return Ok(current);
                }
                Err(e) => {
                    let wait = renewal::backoff(retry);
                    retry += 1;
                    let in_time = match ctx.deadline {
                        Some(deadline) => Instant::now() + wait < deadline,
                        None => retry < TRIES_WITHOUT_DEADLINE,
                    };
                    // Off ECS nothing answers at the metadata address: say so at once
                    // rather than wait (a server that gave keys before is tried again).
                    let not_on_ecs = self.obtained() == 0 && e.is_no_metadata_server();
                    if !e.is_passing() || !in_time || not_on_ecs {
                        return Err(self.failed(&e, retry));
                    }
                    tracing::info!(source = %self.source, error = %e, wait_ms = wait.as_millis() as u64, "obtaining credentials failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = ctx.cancel.cancelled() => return Err(RdsError::Cancelled),
                    }
                }
            }
        }
    }

    fn failed(&self, error: &ExchangeError, tries: u32) -> RdsError {
        RdsError::Credentials {
            source: self.source.to_string(),
            tried: match &self.source {
                Source::Metadata { tried, .. } => tried.clone(),
                _ => Vec::new(),
            },
            message: format!(
                "{error}{}",
                if tries > 1 {
                    format!(" (after {tries} tries)")
                } else {
                    String::new()
                }
            ),
        }
    }
}
