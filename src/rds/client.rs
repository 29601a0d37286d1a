//! The RDS client: its configuration, its construction (one shared HTTP client, the
//! endpoints, the per-API quotas and the global rate limiter), the project lookup, and
//! the calls hwrds makes, each named by its [`Api`]. A caller that must look at
//! something between a request's quota reservation and its sending reserves
//! ([`RdsClient::reserve`]) and sends with the reservation (the submission:
//! [`RdsClient::upgrade_reserved`]). How a request is sent is `send`'s. Knows nothing
//! about Terraform.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::api::Api;
use super::context::CallCtx;
use super::credentials::exchange::Exchanger;
use super::credentials::{CredentialHolder, Source};
use super::defaults;
use super::endpoints;
use super::error::RdsError;
use super::limiter::RateLimiter;
use super::models::*;
use super::quota::{ApiBucket, Policy, Quotas};
use super::request::Request;
use super::reservation::{Reply, Reservation};
use super::retry::RetryPolicy;
use super::signer;

/// What the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub region: Option<String>,
    pub project_id: Option<String>,
    /// Where the credentials come from; the client holds and renews them.
    pub credentials: Source,
    /// RDS endpoint; default the region's ([`endpoints::rds_endpoint`]).
    pub endpoint: Option<String>,
    /// IAM endpoint; default the region's ([`endpoints::iam_endpoint`]).
    pub iam_endpoint: Option<String>,
    /// Skip TLS verification (test endpoints only).
    pub insecure: bool,
    /// Only this enterprise project's instances are listed (`eps_id`).
    pub enterprise_project_id: Option<String>,
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
    pub fn new(credentials: impl Into<Source>) -> Self {
        ClientConfig {
            region: None,
            project_id: None,
            credentials: credentials.into(),
            endpoint: None,
            iam_endpoint: None,
            insecure: false,
            enterprise_project_id: None,
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
    credentials: Arc<CredentialHolder>,
}

/// A cheap-to-clone handle; every clone shares the HTTP pool, quotas, limiter and caches.
#[derive(Clone)]
pub struct RdsClient {
    inner: Arc<Inner>,
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
        let iam_for_credentials = iam_endpoint
            .clone()
            .or_else(|| config.region.as_deref().map(endpoints::iam_endpoint));
        let credentials = CredentialHolder::new(
            config.credentials.clone(),
            Exchanger::new(http.clone(), iam_for_credentials),
        );
        Ok(RdsClient {
            inner: Arc::new(Inner {
                http,
                limiter: RateLimiter::new(config.requests_per_second, config.burst),
                quotas: Quotas::new(Policy::per_minute(config.api_quota_per_minute.max(1))),
                endpoint,
                iam_endpoint,
                project_id,
                config,
                credentials,
            }),
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The credential every request signs with, and its renewal.
    pub fn credentials(&self) -> &Arc<CredentialHolder> {
        &self.inner.credentials
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

    /// A caller paced by [`Self::api_pace`] held a request of `api` back for this
    /// process's share (the tracker's sweeps): the share may grow, as when the quota's
    /// bucket holds one back itself.
    pub fn api_held_back(&self, api: Api) {
        self.bucket(api).held_back();
    }

    pub(super) fn bucket(&self, api: Api) -> Arc<ApiBucket> {
        self.inner.quotas.bucket(api)
    }

    /// The HTTP client every request is sent with (`send`).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.inner.http
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

    /// Submits a minor version upgrade with a reservation of the upgrade API made by
    /// [`Self::reserve`], for a caller that looks at the instance between reserving and
    /// sending: one attempt, whose [`Reply::SentBack`] (a 429, or a failure that may be
    /// retried) is reserved again ([`Self::reserve_again`]) before the next. The answer is
    /// the job id. Never retried once it may have reached the server: the error is then
    /// [`RdsError::Ambiguous`]. Cancellation and the deadline end the waits before it is
    /// sent (for the global ceiling); once sent, it is seen through to its answer.
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
    /// `total_count` items came. The first page tells how many there are: the others are
    /// asked for together (the API's quota paces them, and lets a burst go at once), then
    /// one by one if the listing grew meanwhile.
    async fn paginate<P: DeserializeOwned + Send + 'static, T>(
        &self,
        ctx: &CallCtx,
        api: Api,
        path: &str,
        filters: &[(&str, &Option<String>)],
        items: impl Fn(P) -> (Vec<T>, Option<u64>),
    ) -> Result<Vec<T>, RdsError> {
        let size = api.page_size();
        let query = |offset: usize| -> Vec<(String, String)> {
            let mut query = vec![
                ("offset".to_string(), offset.to_string()),
                ("limit".to_string(), size.to_string()),
            ];
            query.extend(
                filters
                    .iter()
                    .filter_map(|(k, v)| v.as_deref().map(|v| (k.to_string(), v.to_string()))),
            );
            query
        };
        let (mut all, total) = items(self.get_page(ctx, api, path, query(0)).await?);
        let mut total = total.unwrap_or(0) as usize;
        if all.is_empty() || all.len() >= total {
            return Ok(all);
        }
        let mut pages = tokio::task::JoinSet::new();
        for (index, offset) in (all.len()..total).step_by(size).enumerate() {
            let (client, ctx, path, query) =
                (self.clone(), ctx.clone(), path.to_string(), query(offset));
            pages
                .spawn(async move { (index, client.get_page::<P>(&ctx, api, &path, query).await) });
        }
        let mut got: Vec<Option<P>> = Vec::new();
        got.resize_with(pages.len(), || None);
        while let Some(done) = pages.join_next().await {
            let (index, page) = done.map_err(|e| {
                RdsError::Transport(format!("{api}: the request of a page ended early: {e}"))
            })?;
            got[index] = Some(page?);
        }
        for page in got.into_iter().flatten() {
            let (page, count) = items(page);
            total = count.map_or(total, |c| c as usize);
            all.extend(page);
        }
        // The listing grew while it was read: the rest, one page after another.
        while all.len() < total {
            let (page, count) = items(self.get_page(ctx, api, path, query(all.len())).await?);
            if page.is_empty() {
                break;
            }
            total = count.map_or(total, |c| c as usize);
            all.extend(page);
        }
        Ok(all)
    }

    /// One page of a listing.
    async fn get_page<P: DeserializeOwned>(
        &self,
        ctx: &CallCtx,
        api: Api,
        path: &str,
        query: Vec<(String, String)>,
    ) -> Result<P, RdsError> {
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.rds_get(ctx, api, path, &query).await
    }

    /// One instance by id (None when it does not exist).
    pub async fn instance(&self, ctx: &CallCtx, id: &str) -> Result<Option<Instance>, RdsError> {
        let eps = self.inner.config.enterprise_project_id.as_deref();
        let query: Vec<(&str, &str)> = [("id", Some(id)), ("eps_id", eps)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let list: InstanceList = self
            .rds_get(ctx, Api::ListInstances, "/instances", &query)
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
            ("eps_id", &self.inner.config.enterprise_project_id),
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
}
