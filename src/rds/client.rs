//! The RDS client: one shared HTTP client, signing, endpoints and the project lookup,
//! the per-API quotas and the global rate limiter, retries, and the calls hwrds makes,
//! each named by its [`Api`]. A caller that must look at something between a request's
//! quota slot and its sending reserves the slot ([`RdsClient::reserve`]) and sends with
//! it (the submission: [`RdsClient::upgrade_reserved`]). Knows nothing about Terraform.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::call_log::{self, CallOutcome, CallRecord};
use super::context::{CallCtx, sleep_until};
use super::credentials::Credentials;
use super::defaults;
use super::endpoints;
use super::error::{RdsError, describe_body, from_response};
use super::limiter::{Lane, RateLimiter};
use super::models::*;
use super::quota::{Api, ApiBucket, Denied, Policy, Quotas};
use super::request::Request;
use super::reservation::{Progress, Reply, Reservation, SentBack};
use super::retry::{RetryPolicy, parse_retry_after};
use super::signer;

/// What the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub credentials: Credentials,
    /// RDS endpoint; default the region's ([`endpoints::rds_endpoint`]).
    pub endpoint: Option<String>,
    /// IAM endpoint; default the region's ([`endpoints::iam_endpoint`]).
    pub iam_endpoint: Option<String>,
    /// Skip TLS verification (test endpoints only).
    pub insecure: bool,
    pub retry: RetryPolicy,
    /// Shared rate limit, requests per second, and burst.
    pub requests_per_second: f64,
    pub burst: u32,
    /// The flow-control quota assumed for each API until a 429 names the real one.
    pub api_quota_per_minute: u32,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl ClientConfig {
    pub fn new(credentials: Credentials) -> Self {
        ClientConfig {
            region: None,
            project_id: None,
            credentials,
            endpoint: None,
            iam_endpoint: None,
            insecure: false,
            retry: RetryPolicy::default(),
            requests_per_second: defaults::REQUESTS_PER_SECOND,
            burst: defaults::burst(defaults::REQUESTS_PER_SECOND),
            api_quota_per_minute: defaults::API_QUOTA_PER_MINUTE,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Upgrade options of `POST .../db-upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeRequest {
    pub is_delayed: bool,
    pub second_switch: bool,
}

/// Filters for listing instances.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub id: Option<String>,
    pub name: Option<String>,
    pub instance_type: Option<String>,
    pub engine: Option<String>,
}

/// Filters for the task center.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub instance_id: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    /// Tasks created in this window (UTC; the API takes both ends or neither).
    pub created_between: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    /// The task of this job id only.
    pub id: Option<String>,
}

impl TaskFilter {
    /// The query parameters of the filter, in the order of [`Self::query_values`].
    const KEYS: [&'static str; 6] = [
        "instance_id",
        "status",
        "name",
        "start_time",
        "end_time",
        "id",
    ];

    fn query_values(&self) -> [Option<String>; 6] {
        let (start, end) = match self.created_between {
            Some((from, to)) => (Some(unix_millis(from)), Some(unix_millis(to))),
            None => (None, None),
        };
        [
            self.instance_id.clone(),
            self.status.clone(),
            self.name.clone(),
            start,
            end,
            self.id.clone(),
        ]
    }
}

/// A time as the task center's `start_time`/`end_time` take it: UNIX milliseconds.
fn unix_millis(at: time::OffsetDateTime) -> String {
    (at.unix_timestamp_nanos() / 1_000_000).to_string()
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    endpoint: String,
    /// The configured IAM endpoint; without one, the region's.
    iam_endpoint: Option<String>,
    project_id: OnceCell<String>,
    limiter: RateLimiter,
    quotas: Quotas,
}

/// A cheap-to-clone handle; every clone shares the HTTP pool, quotas, limiter and caches.
#[derive(Clone)]
pub struct RdsClient {
    inner: Arc<Inner>,
}

/// What one attempt produced.
enum Attempt {
    Done(u16, Vec<u8>),
    Retry(RdsError, Option<Duration>),
    Fail(RdsError),
}

impl RdsClient {
    pub fn new(config: ClientConfig) -> Result<Self, RdsError> {
        let endpoint = match (&config.endpoint, &config.region) {
            (Some(e), _) => e.trim_end_matches('/').to_string(),
            (None, Some(r)) => endpoints::rds_endpoint(r),
            (None, None) => return Err(RdsError::Config("no region and no endpoint".into())),
        };
        let iam_endpoint = config
            .iam_endpoint
            .as_deref()
            .map(|e| e.trim_end_matches('/').to_string());
        if config.insecure {
            tracing::warn!(
                "TLS certificate verification is OFF for the Huawei Cloud API (insecure = true)"
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("hwrds/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(config.insecure)
            .build()
            .map_err(|e| RdsError::Config(format!("HTTP client: {e}")))?;
        let project_id = OnceCell::new_with(config.project_id.clone());
        Ok(RdsClient {
            inner: Arc::new(Inner {
                http,
                limiter: RateLimiter::new(config.requests_per_second, config.burst),
                quotas: Quotas::new(Policy::per_minute(config.api_quota_per_minute.max(1))),
                endpoint,
                iam_endpoint,
                project_id,
                config,
            }),
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The policy `api` is paced by for these credentials, and whether a 429 taught it.
    pub fn api_policy(&self, api: Api) -> (Policy, bool) {
        self.bucket(api).policy()
    }

    /// The policy `api` is paced by in this process: the gateway's window and this
    /// process's learned share of its limit.
    pub fn api_pace(&self, api: Api) -> Policy {
        self.bucket(api).pace()
    }

    pub(super) fn bucket(&self, api: Api) -> Arc<ApiBucket> {
        self.inner.quotas.bucket(api)
    }

    /// The project id: configured, or looked up once through IAM (concurrent callers share it).
    pub async fn project_id(&self, ctx: &CallCtx) -> Result<String, RdsError> {
        self.inner
            .project_id
            .get_or_try_init(|| async {
                let region = self.inner.config.region.clone().ok_or_else(|| {
                    RdsError::Config(
                        "project_id is not set and there is no region to look it up".into(),
                    )
                })?;
                let iam = self
                    .inner
                    .iam_endpoint
                    .clone()
                    .unwrap_or_else(|| endpoints::iam_endpoint(&region));
                let url = format!("{iam}/v3/projects");
                let failed = |cause: RdsError| match cause {
                    RdsError::Cancelled | RdsError::Timeout(_) => cause,
                    cause => RdsError::ProjectLookup {
                        region: region.clone(),
                        url: format!("{url}?name={}", signer::percent_encode(&region)),
                        cause: Box::new(cause),
                    },
                };
                let query = [("name", region.as_str())];
                let request = Request::new(Api::IamProjects, url.clone()).query(&query);
                let list: ProjectList = self.call(ctx, request).await.map_err(failed)?;
                list.projects
                    .into_iter()
                    .find(|p| p.name == region)
                    .map(|p| p.id)
                    .ok_or_else(|| {
                        failed(RdsError::Config(format!(
                            "IAM knows no project named {region:?} for these credentials"
                        )))
                    })
            })
            .await
            .cloned()
    }

    /// A read of the project's RDS API; `path` is `api`'s route filled in after
    /// `/v3/{project_id}`.
    async fn rds_get<T: DeserializeOwned>(
        &self,
        ctx: &CallCtx,
        api: Api,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, RdsError> {
        let project = self.project_id(ctx).await?;
        let url = format!("{}/v3/{project}{path}", self.inner.endpoint);
        let request = Request::new(api, url).query(query).project(&project);
        self.call(ctx, request).await
    }

    /// Submits a minor version upgrade and returns the job id. Never retried once it may
    /// have reached the server: the error is then [`RdsError::Ambiguous`]. Cancellation
    /// and the deadline end the waits before it is sent (for quota, or after a 429);
    /// once sent, it is seen through to its answer.
    pub async fn upgrade(
        &self,
        ctx: &CallCtx,
        instance_id: &str,
        request: UpgradeRequest,
    ) -> Result<String, RdsError> {
        let mut reservation = self.reserve(Api::Upgrade, ctx).await?;
        loop {
            match self
                .upgrade_reserved(reservation, ctx, instance_id, request)
                .await?
            {
                Reply::Answered(job_id) => return Ok(job_id),
                Reply::SentBack(back) => reservation = self.reserve_again(back, ctx).await?,
            }
        }
    }

    /// [`Self::upgrade`] with a slot of the upgrade API reserved by [`Self::reserve`],
    /// for a caller that looks at the instance between reserving and sending: one
    /// attempt, whose [`Reply::SentBack`] (a 429, or a failure that may be retried) is
    /// reserved again ([`Self::reserve_again`]) before the next, as [`Self::upgrade`]
    /// does.
    pub async fn upgrade_reserved(
        &self,
        reservation: Reservation,
        ctx: &CallCtx,
        instance_id: &str,
        request: UpgradeRequest,
    ) -> Result<Reply<String>, RdsError> {
        let project = self.project_id(ctx).await?;
        let url = format!(
            "{}/v3/{project}/instances/{}/db-upgrade",
            self.inner.endpoint,
            signer::percent_encode(instance_id)
        );
        let body = serde_json::json!({"is_delayed": request.is_delayed, "second_switch": request.second_switch});
        let body = serde_json::to_vec(&body).map_err(|e| RdsError::Config(e.to_string()))?;
        let request = Request::new(Api::Upgrade, url).json(body).project(&project);
        let reply: Reply<UpgradeAccepted> = self.send_reserved(reservation, ctx, &request).await?;
        Ok(reply.map(|accepted| accepted.job_id))
    }

    /// A job by id; an unknown id is [`RdsError::JobNotFound`].
    pub async fn job(&self, ctx: &CallCtx, job_id: &str) -> Result<Job, RdsError> {
        match self
            .rds_get::<JobEnvelope>(ctx, Api::ShowJob, "/jobs", &[("id", job_id)])
            .await
        {
            Ok(envelope) => Ok(envelope.job),
            Err(e) if e.code() == Some("DBS.200543") => {
                Err(RdsError::JobNotFound(job_id.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Task-center entries, newest first, following pagination.
    pub async fn tasks(&self, ctx: &CallCtx, filter: &TaskFilter) -> Result<Vec<Task>, RdsError> {
        let values = filter.query_values();
        let filters = TaskFilter::KEYS
            .iter()
            .zip(&values)
            .map(|(k, v)| (*k, v))
            .collect::<Vec<_>>();
        self.paginate(
            ctx,
            Api::ListTasks,
            "/tasklist",
            &filters,
            |page: TaskList| (page.tasks, page.total_count),
        )
        .await
    }

    /// One page of task-center entries (newest first) from `offset`, at most `limit`
    /// (≤ 50), with the total the filter matches: for callers that stop early.
    pub async fn tasks_page(
        &self,
        ctx: &CallCtx,
        filter: &TaskFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Task>, u64), RdsError> {
        let values = filter.query_values();
        let (offset, limit) = (
            offset.to_string(),
            limit.clamp(1, Api::ListTasks.page_size()).to_string(),
        );
        let mut query: Vec<(&str, &str)> = vec![("offset", &offset), ("limit", &limit)];
        query.extend(
            TaskFilter::KEYS
                .iter()
                .zip(&values)
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))),
        );
        let page: TaskList = self
            .rds_get(ctx, Api::ListTasks, "/tasklist", &query)
            .await?;
        Ok((page.tasks, page.total_count.unwrap_or(0)))
    }

    /// Operations waiting for an instance's maintenance window (delayed upgrades).
    pub async fn scheduled_tasks(
        &self,
        ctx: &CallCtx,
        instance_id: Option<&str>,
    ) -> Result<Vec<ScheduledTask>, RdsError> {
        let filters = [("instance_id", &instance_id.map(str::to_string))];
        self.paginate(
            ctx,
            Api::ListScheduleTasks,
            "/schedule-tasks",
            &filters,
            |page: ScheduledTaskList| (page.schedule_tasks, page.total_count),
        )
        .await
    }

    /// Follows `offset`/`limit` pagination of a listing, pages of the API's size, until
    /// `total_count` items came.
    async fn paginate<P: DeserializeOwned, T>(
        &self,
        ctx: &CallCtx,
        api: Api,
        path: &str,
        filters: &[(&str, &Option<String>)],
        items: impl Fn(P) -> (Vec<T>, Option<u64>),
    ) -> Result<Vec<T>, RdsError> {
        let limit = api.page_size().to_string();
        let mut all = Vec::new();
        loop {
            let offset = all.len().to_string();
            let mut query: Vec<(&str, &str)> = vec![("offset", &offset), ("limit", &limit)];
            query.extend(
                filters
                    .iter()
                    .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))),
            );
            let (page, total) = items(self.rds_get(ctx, api, path, &query).await?);
            let got = page.len();
            all.extend(page);
            if got == 0 || all.len() >= total.unwrap_or(0) as usize {
                return Ok(all);
            }
        }
    }

    /// One instance by id (None when it does not exist).
    pub async fn instance(&self, ctx: &CallCtx, id: &str) -> Result<Option<Instance>, RdsError> {
        let list: InstanceList = self
            .rds_get(ctx, Api::ListInstances, "/instances", &[("id", id)])
            .await?;
        Ok(list.instances.into_iter().find(|i| i.id == id))
    }

    /// Every instance matching `filter`, following pagination (100 per page).
    pub async fn instances(
        &self,
        ctx: &CallCtx,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, RdsError> {
        let filters = [
            ("id", &filter.id),
            ("name", &filter.name),
            ("type", &filter.instance_type),
            ("datastore_type", &filter.engine),
        ];
        self.paginate(
            ctx,
            Api::ListInstances,
            "/instances",
            &filters,
            |page: InstanceList| (page.instances, page.total_count),
        )
        .await
    }

    /// Versions of an engine (`mysql`, `postgresql`, ...).
    pub async fn engine_versions(
        &self,
        ctx: &CallCtx,
        engine: &str,
    ) -> Result<Vec<DataStoreVersion>, RdsError> {
        let path = format!("/datastores/{}", signer::percent_encode(engine));
        let list: DataStoreList = self.rds_get(ctx, Api::Datastores, &path, &[]).await?;
        Ok(list.data_stores)
    }

    /// The project's disaster-recovery relations.
    pub async fn dr_relations(&self, ctx: &CallCtx) -> Result<Vec<DrRelation>, RdsError> {
        let list: DrRelationList = self
            .rds_get(
                ctx,
                Api::DrRelations,
                "/instances/disaster-recovery-relation",
                &[],
            )
            .await?;
        Ok(list.instance_dr_relations)
    }

    /// PostgreSQL minor versions of a major version (`version` like `16`).
    pub async fn minor_versions(
        &self,
        ctx: &CallCtx,
        engine: &str,
        version: &str,
    ) -> Result<Vec<SmallVersion>, RdsError> {
        let path = format!(
            "/datastores/{}/small-version",
            signer::percent_encode(engine)
        );
        let list: SmallVersionList = self
            .rds_get(ctx, Api::SmallVersions, &path, &[("version", version)])
            .await?;
        Ok(list.data_stores)
    }

    /// Sends one API request and decodes its JSON answer: waits for the API's quota
    /// and the global ceiling, signs and sends, and retries what may be retried. 429s
    /// (not processed) are waited out as the API's bucket says, for as long as the
    /// deadline allows, and do not count against `max_retries`, which is for transport
    /// errors and 5xx. A request that is not idempotent (a submission) is seen through
    /// once sent.
    async fn call<T: DeserializeOwned>(
        &self,
        ctx: &CallCtx,
        request: Request<'_>,
    ) -> Result<T, RdsError> {
        let mut reservation = self.admit(ctx, Progress::new(request.api)).await?;
        loop {
            match self.send_reserved(reservation, ctx, &request).await? {
                Reply::Answered(value) => return Ok(value),
                Reply::SentBack(back) => reservation = self.reserve_again(back, ctx).await?,
            }
        }
    }

    /// Waits for the next slot of `api`'s quota, in turn with the other requests of
    /// `api`, and holds it for the caller ([`Reservation`]) until the caller sends with
    /// it or drops it. For a project's API, the project id is looked up first, when it
    /// is not known yet, so that nothing is left to wait for between reserving and
    /// sending but the global ceiling on requests per second.
    pub async fn reserve(&self, api: Api, ctx: &CallCtx) -> Result<Reservation, RdsError> {
        if api != Api::IamProjects {
            self.project_id(ctx).await?;
        }
        self.admit(ctx, Progress::new(api)).await
    }

    /// Reserves a slot again for a request the gateway or a passing failure sent back
    /// ([`Reply::SentBack`]); the timeout or cancellation of this wait names the last
    /// 429.
    pub async fn reserve_again(
        &self,
        back: SentBack,
        ctx: &CallCtx,
    ) -> Result<Reservation, RdsError> {
        self.admit(ctx, back.progress).await
    }

    /// Waits for the next slot of the API's quota and holds it for the request. The
    /// wait ends at the deadline or on cancellation; when a 429 made this a retry, that
    /// is said (the request was not processed).
    async fn admit(&self, ctx: &CallCtx, progress: Progress) -> Result<Reservation, RdsError> {
        let api = progress.api;
        let bucket = self.bucket(api);
        let permit = match bucket.acquire(&ctx.cancel, ctx.deadline).await {
            Ok(permit) => permit,
            Err(Denied::Cancelled) => return Err(cancelled(api, progress.throttled.as_ref())),
            Err(Denied::Deadline(slot)) => {
                let (policy, learned) = bucket.policy();
                let wait = slot.saturating_duration_since(Instant::now());
                return Err(RdsError::Timeout(format!(
                    "{api}: the API's flow control ({policy}, {}) has no slot for this request before the deadline (next in {wait:?}){}",
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
    /// ceiling (submissions ahead of reads), takes the slot, sends, and says what came of
    /// it. A 429 sends the request back at once to wait for the API's quota; another
    /// failure that may be retried sends it back after its backoff, or, when the retries
    /// are spent or the backoff would pass the deadline, is the error.
    async fn send_reserved<T: DeserializeOwned>(
        &self,
        reservation: Reservation,
        ctx: &CallCtx,
        request: &Request<'_>,
    ) -> Result<Reply<T>, RdsError> {
        let Reservation {
            permit,
            mut progress,
        } = reservation;
        let policy = self.inner.config.retry;
        let (api, url, idempotent) = (request.api, request.url.as_str(), request.idempotent);
        if progress.api != api {
            return Err(RdsError::Config(format!(
                "a slot of {} cannot send a request of {api}",
                progress.api
            )));
        }
        let lane = if api.is_submission() {
            Lane::Submission
        } else {
            Lane::Read
        };
        let granted = tokio::select! {
            granted = self.inner.limiter.acquire(lane, &ctx.cancel) => granted,
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
        let sent = permit.sent();
        progress.tries += 1;
        let send = self.attempt(progress.tries, request);
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
                let refusal = sent.refused(named.map(|p| p.policy), retry_after);
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
    async fn attempt(&self, number: u32, request: &Request<'_>) -> Attempt {
        let idempotent = request.idempotent;
        let method = &request.method;
        let signed = match request.signed(&self.inner.http, &self.inner.config.credentials) {
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
                redact: &[&self.inner.config.credentials.access_key],
            })
        };
        let response = match self.inner.http.execute(signed).await {
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

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
