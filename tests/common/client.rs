//! The crate's own RDS client pointed at an emulator: its default credentials and
//! region, its URL for both the RDS and the IAM endpoint, and the settings a test
//! changes (retries, pacing) named once.

use std::time::Duration;

use hwrds::rds::credentials::{Credentials, Secret, Source};
use hwrds::rds::retry::RetryPolicy;
use hwrds::rds::{Api, CallCtx, ClientConfig, RdsClient, RdsError, Reply, UpgradeRequest};
use hwrds::upgrade::job::JobSnapshot;
use hwrds::upgrade::submission::submit_once::Attempt;
use hwrds::upgrade::tracking::{Followed, JobTracker, PollCadence, WaitError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ACCESS_KEY, Emulator, SECRET_KEY};

/// A client of `emulator` as [`EmulatorClient::fast`] builds it.
pub fn client(emulator: &Emulator) -> RdsClient {
    EmulatorClient::fast(&emulator.url)
        .build()
        .expect("a client of the emulator")
}

/// A call with no deadline.
pub fn ctx() -> CallCtx {
    CallCtx::new(CancellationToken::new())
}

/// A call that must end within `seconds`.
pub fn ctx_within(seconds: u64) -> CallCtx {
    ctx().with_deadline(Instant::now() + Duration::from_secs(seconds))
}

/// An upgrade now, with the second switch.
pub const NOW: UpgradeRequest = UpgradeRequest {
    is_delayed: false,
    second_switch: true,
};

/// Polls every 100 to 400 ms (a fifth of the time waited so far); a job not found counts
/// as not visible yet for 1 s: for jobs of a few seconds.
pub const FAST_POLL: PollCadence = PollCadence {
    initial: Duration::from_millis(100),
    second: Duration::from_millis(100),
    proportion: 0.2,
    min: Duration::from_millis(100),
    max: Duration::from_millis(400),
    not_found_grace: Duration::from_secs(1),
};

/// A [`ClientConfig`] for the emulator at a URL, built up by the methods below.
pub struct EmulatorClient {
    config: ClientConfig,
}

impl EmulatorClient {
    /// The emulator's default credentials, region `ap-southeast-1`, `url` for RDS and IAM;
    /// otherwise the client's defaults.
    pub fn new(url: &str) -> Self {
        let mut config = ClientConfig::new(Credentials {
            access_key: ACCESS_KEY.into(),
            secret_key: Secret::new(SECRET_KEY),
            security_token: None,
        });
        config.region = Some("ap-southeast-1".into());
        config.endpoint = Some(url.to_string());
        config.iam_endpoint = Some(url.to_string());
        EmulatorClient { config }
    }

    /// For an emulator whose flow control is off: 10 retries backing off from 20 ms to
    /// 300 ms, paced at 1000 requests a second and by no per-API quota.
    pub fn fast(url: &str) -> Self {
        Self::new(url)
            .retries(10, Duration::from_millis(20), Duration::from_millis(300))
            .unmetered(1000.0)
    }

    /// At most `max_retries` retries, with the backoff as it was.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.config.retry.max_retries = max_retries;
        self
    }

    /// Signs as another user (`extra_credentials` of the emulator), with its own quotas.
    pub fn user(mut self, access_key: &str, secret_key: &str) -> Self {
        self.config.credentials = Source::Static(Credentials {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key),
            security_token: None,
        });
        self
    }

    /// Signs with another secret key (a wrong one, for refusals).
    pub fn secret(self, secret: &str) -> Self {
        let access_key = match &self.config.credentials {
            Source::Static(keys) => keys.access_key.clone(),
            _ => ACCESS_KEY.to_string(),
        };
        self.user(&access_key, secret)
    }

    /// Obtains credentials from `source` instead of the emulator's static keys.
    pub fn source(mut self, source: Source) -> Self {
        self.config.credentials = source;
        self
    }

    /// At most `max_retries` retries, backing off from `base` up to `cap`.
    pub fn retries(mut self, max_retries: u32, base: Duration, cap: Duration) -> Self {
        self.config.retry = RetryPolicy {
            max_retries,
            base,
            cap,
        };
        self
    }

    /// Paced by nothing but `requests_per_second` (burst 100): no per-API quota, for an
    /// emulator whose flow control is off (or one the client must learn from its 429s).
    pub fn unmetered(mut self, requests_per_second: f64) -> Self {
        self.config.requests_per_second = requests_per_second;
        self.config.burst = 100;
        self.config.api_quota_per_minute = 1_000_000;
        self
    }

    pub fn config(self) -> ClientConfig {
        self.config
    }

    /// The client; a configuration it refuses is the test's mistake, reported with it.
    pub fn build(self) -> Result<RdsClient, String> {
        RdsClient::new(self.config).map_err(|e| format!("client: {e}"))
    }
}

/// Submits the upgrade of `instance_id` with no look at the instance: reserves the upgrade
/// API's quota, sends, and reserves again whenever the request is sent back (a 429, or a
/// failure that may be retried); the job id.
pub async fn submit_upgrade(
    client: &RdsClient,
    ctx: &CallCtx,
    instance_id: &str,
    request: UpgradeRequest,
) -> Result<String, RdsError> {
    let mut reservation = client.reserve(Api::Upgrade, ctx).await?;
    loop {
        match client
            .upgrade_reserved(reservation, ctx, instance_id, request)
            .await?
        {
            Reply::Answered(job_id) => return Ok(job_id),
            Reply::SentBack(back) => reservation = client.reserve_again(back, ctx).await?,
        }
    }
}

/// Starts the upgrade of `instance_id` the way the console does: one signed API call
/// (second switch, not delayed) to the emulator at `url`; its job id.
pub fn console_upgrade(url: &str, instance_id: &str) -> Result<String, String> {
    console_upgrade_by(EmulatorClient::new(url), instance_id)
}

/// [`console_upgrade`] by the client `as_user` builds (another user, say).
pub fn console_upgrade_by(as_user: EmulatorClient, instance_id: &str) -> Result<String, String> {
    let client = as_user.build()?;
    let now = UpgradeRequest {
        is_delayed: false,
        second_switch: true,
    };
    tokio::runtime::Runtime::new()
        .map_err(|e| format!("runtime: {e}"))?
        .block_on(submit_upgrade(
            &client,
            &CallCtx::new(CancellationToken::new()),
            instance_id,
            now,
        ))
        .map_err(|e| format!("console upgrade of {instance_id}: {e}"))
}

/// One exactly-once submission of `request` for `instance_id`, with nothing known
/// beforehand (no checked version, no listing, no last look): set fields to add them.
pub fn attempt(instance_id: &str, request: UpgradeRequest) -> Attempt<'_> {
    Attempt {
        instance_id,
        version: None,
        request,
        running: None,
        last_look: None,
    }
}

/// Follows job `job_id` (of `instance_id`, "" when unknown) with `tracker` to its end.
pub async fn follow(
    tracker: &JobTracker,
    ctx: &CallCtx,
    job_id: &str,
    instance_id: &str,
    cadence: PollCadence,
    on_progress: impl FnMut(&JobSnapshot) + Send,
) -> Result<JobSnapshot, WaitError> {
    let followed = Followed {
        job_id,
        instance_id,
        since: None,
        cadence,
    };
    tracker.follow_job(ctx, followed, on_progress).await
}
