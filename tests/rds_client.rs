//! The RDS client against the real emulator process over HTTP: every call, error shapes,
//! retries under each fault kind, no blind POST retry, the rate limiter, 429s waited out
//! within the deadline (and cancellation and deadlines during those waits), pacing to the
//! emulator's flow control (each algorithm, a policy learned from its 429s, another
//! client spending the same quota), and the job waiter's progress, deadline,
//! cancellation, grace period and coalescing.

pub mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::client::{EmulatorClient, FAST_POLL, NOW, client, ctx, follow, submit_upgrade};
use common::{Emulator, PROJECT_ID, SECRET_KEY};
use hwrds::rds::models::Instance;
use hwrds::rds::{
    Api, CallCtx, ClientConfig, InstanceFilter, Policy, RdsClient, RdsError, TaskFilter,
    UpgradeRequest,
};
use hwrds::upgrade::job::JobStatus;
use hwrds::upgrade::tracking::{JobTracker, WaitError};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn config(emulator: &Emulator, secret: &str) -> ClientConfig {
    // Most emulators here do not meter requests; those that do say so, and the client
    // assumes a quota above theirs so that it must learn the real one.
    EmulatorClient::fast(&emulator.url).secret(secret).config()
}

fn instance(id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut base = json!({"id": id, "name": format!("db-{id}"), "engine": "MySQL", "version": "8.0",
        "complete_version": "8.0.28", "latest_version": "8.0.32", "type": "Single", "job_seconds": 0.6});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

/// An emulator of the demo instances (jobs of 0.6 s) and a client of it.
fn demo_client() -> (Emulator, RdsClient) {
    let emu = Emulator::demo(0.6);
    let c = client(&emu);
    (emu, c)
}

/// Every instance the emulator lists, and the one named `name`.
async fn listed(c: &RdsClient, name: &str) -> (Vec<Instance>, Instance) {
    let all = c
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .unwrap();
    let found = all
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} is listed: {all:?}"))
        .clone();
    (all, found)
}

#[tokio::test]
async fn the_project_id_is_looked_up_through_iam() {
    let (_emu, c) = demo_client();
    assert_eq!(
        c.project_id(&ctx()).await.unwrap(),
        PROJECT_ID,
        "looked up through IAM"
    );
}

#[tokio::test]
async fn instances_are_listed_filtered_and_found() {
    let (_emu, c) = demo_client();
    let (all, ha) = listed(&c, "payments").await;
    assert_eq!(all.len(), 5, "the demo instances");
    let mysql = c
        .instances(
            &ctx(),
            &InstanceFilter {
                engine: Some("MySQL".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(mysql.iter().all(|i| i.datastore.engine == "MySQL"));
    assert_eq!(ha.instance_type, "Ha");
    assert_eq!(ha.nodes.len(), 2);
    assert!(
        c.instance(&ctx(), "no-such-instance")
            .await
            .unwrap()
            .is_none()
    );
    let replica = all.iter().find(|i| i.instance_type == "Replica").unwrap();
    assert_eq!(replica.primary_id(), Some(ha.id.as_str()));
}

#[tokio::test]
async fn engine_versions_and_minor_versions_are_listed() {
    let (_emu, c) = demo_client();
    let mysql_versions = c.engine_versions(&ctx(), "mysql").await.unwrap();
    assert!(
        mysql_versions.iter().any(|v| v.name == "8.0.32"),
        "{mysql_versions:?}"
    );
    let pg_minors = c.minor_versions(&ctx(), "postgresql", "14").await.unwrap();
    assert!(
        pg_minors
            .iter()
            .any(|v| v.name == "14.12" && v.favored == Some(true)),
        "{pg_minors:?}"
    );
}

#[tokio::test]
async fn a_second_upgrade_while_one_runs_is_refused_as_busy() {
    let (_emu, c) = demo_client();
    let (_, ha) = listed(&c, "payments").await;
    submit_upgrade(&c, &ctx(), &ha.id, NOW).await.unwrap();
    let busy = submit_upgrade(&c, &ctx(), &ha.id, NOW).await.unwrap_err();
    assert!(busy.is_busy(), "{busy}");
    assert!(busy.to_string().contains("request id"), "{busy}");
}

#[tokio::test]
async fn an_upgrade_is_followed_to_completion_and_listed_in_the_task_center() {
    let (_emu, c) = demo_client();
    let (_, ha) = listed(&c, "payments").await;
    let job_id = submit_upgrade(&c, &ctx(), &ha.id, NOW).await.unwrap();
    let running = c.job(&ctx(), &job_id).await.unwrap();
    assert_eq!(running.status, "Running");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let tracker = JobTracker::new(c.clone(), CancellationToken::new());
    let done = follow(&tracker, &ctx(), &job_id, "", FAST_POLL, move |job| {
        sink.lock()
            .unwrap()
            .push(job.progress.clone().unwrap_or_default())
    })
    .await
    .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(!seen.lock().unwrap().is_empty(), "progress was reported");
    let after = c.instance(&ctx(), &ha.id).await.unwrap().unwrap();
    assert_eq!(after.datastore.complete_version.as_deref(), Some("8.0.32"));
    assert_eq!(after.status, "ACTIVE");
    // AZs differ and second_switch: the roles are back where they were.
    assert_eq!(after.nodes[0].role, ha.nodes[0].role);
    let tasks = c
        .tasks(
            &ctx(),
            &TaskFilter {
                instance_id: Some(ha.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].id, job_id);
    assert_eq!(tasks[0].status, "Completed");
}

#[tokio::test]
async fn an_unknown_job_is_job_not_found() {
    let (_emu, c) = demo_client();
    assert!(matches!(
        c.job(&ctx(), "unknown-job").await,
        Err(RdsError::JobNotFound(_))
    ));
}

#[tokio::test]
async fn the_upgrade_of_a_read_replica_is_refused_with_its_code() {
    let (_emu, c) = demo_client();
    let (_, replica) = listed(&c, "payments-replica").await;
    assert_eq!(replica.instance_type, "Replica");
    let refused = submit_upgrade(&c, &ctx(), &replica.id, NOW)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("DBS.200023"));
}

#[tokio::test]
async fn every_route_called_is_metered_under_the_name_the_client_paces_it_by() {
    let (emu, c) = demo_client();
    // One call of each route the client has: IAM, listings, versions, the upgrade, its
    // job and the task center.
    c.project_id(&ctx()).await.unwrap();
    let (_, orders) = listed(&c, "orders").await;
    c.engine_versions(&ctx(), "mysql").await.unwrap();
    c.minor_versions(&ctx(), "postgresql", "14").await.unwrap();
    let job_id = submit_upgrade(&c, &ctx(), &orders.id, NOW).await.unwrap();
    c.job(&ctx(), &job_id).await.unwrap();
    c.tasks(
        &ctx(),
        &TaskFilter {
            instance_id: Some(orders.id.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let routes: Vec<&str> = Api::ALL.iter().map(|a| a.route()).collect();
    let stats = emu.stats();
    let called = stats["requests"].as_object().unwrap();
    assert!(called.len() >= 7, "{called:?}");
    for route in called.keys() {
        assert!(routes.contains(&route.as_str()), "{route} is not an Api");
    }
}

#[tokio::test]
async fn wrong_secret_is_refused_once_and_never_retried() {
    let emu = Emulator::start(json!({}), false);
    let c = RdsClient::new(config(&emu, "not-the-secret")).unwrap();
    let err = c
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(err.to_string().contains("APIGW.0301"), "{err}");
    assert_eq!(
        emu.stats()["rejected_signatures"],
        1,
        "a 401 is never retried"
    );
}

#[tokio::test]
async fn reads_survive_every_fault_kind() {
    // One emulator per kind, side by side: a 429 now waits for the quota (1.5 s each
    // here), so one after the other would take long.
    let kinds = [
        "throttle",
        "server_error",
        "reset_after_processing",
        "latency",
    ];
    let runs = kinds.map(|kind| async move {
        let emu = Emulator::start(json!({}), false);
        let c = client(&emu);
        c.project_id(&ctx()).await.unwrap();
        emu.faults(json!({"probability": 0.5, "kinds": [kind], "seed": 7}));
        for _ in 0..8 {
            let list = c.instances(&ctx(), &InstanceFilter::default()).await;
            assert!(list.is_ok(), "{kind}: {list:?}");
        }
    });
    let [a, b, c, d] = runs;
    tokio::join!(a, b, c, d);
}

/// A listing of several pages: the first tells how many there are, the others are asked
/// for together; every instance comes once, in the listing's order.
#[tokio::test]
async fn a_listing_of_many_pages_comes_whole_and_in_order() {
    let ids: Vec<String> = (0..250).map(|i| format!("pg{i:030}in01")).collect();
    let instances: Vec<serde_json::Value> = ids.iter().map(|id| instance(id, json!({}))).collect();
    let emu = Emulator::start(json!({"instances": instances}), false);
    let c = client(&emu);
    c.project_id(&ctx()).await.unwrap();
    let listed = c
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(
        requests(&emu, "GET /v3/{project_id}/instances"),
        3,
        "pages of 100"
    );
    let got: Vec<&str> = listed.iter().map(|i| i.id.as_str()).collect();
    // The emulator lists instances in the order they were made.
    assert_eq!(got, ids);
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250, "each instance once");
}

/// An emulator of the one instance `id`, and a client of it that has looked up its
/// project (so that faults meet only the calls under test).
async fn one_instance_client(id: &str) -> (Emulator, RdsClient) {
    let emu = Emulator::start(json!({"instances": [instance(id, json!({}))]}), false);
    let c = client(&emu);
    c.project_id(&ctx()).await.unwrap();
    (emu, c)
}

#[tokio::test]
async fn a_submit_whose_connection_reset_after_processing_is_ambiguous_and_never_retried() {
    let (emu, c) = one_instance_client("i1").await;
    emu.faults(json!({"probability": 1.0, "kinds": ["reset_after_processing"], "seed": 1}));
    let err = submit_upgrade(&c, &ctx(), "i1", NOW).await.unwrap_err();
    assert!(matches!(err, RdsError::Ambiguous(_)), "{err}");
    emu.faults(json!({"probability": 0}));
    let stats = emu.stats();
    assert_eq!(stats["upgrade_posts"]["i1"], 1, "posted exactly once");
    assert_eq!(
        stats["upgrade_jobs"]["i1"], 1,
        "the server did start the job"
    );
}

/// A 500 after arrival may have been carried out: ambiguous, never sent again (503s,
/// "not processed", are retried until the 500 comes).
#[tokio::test]
async fn a_submit_answered_500_is_ambiguous_and_never_retried() {
    let (emu, c) = one_instance_client("i3").await;
    emu.faults(json!({"probability": 1.0, "kinds": ["server_error"], "seed": 1}));
    let err = submit_upgrade(&c, &ctx(), "i3", NOW).await.unwrap_err();
    assert!(
        matches!(&err, RdsError::Ambiguous(m) if m.contains("500")),
        "{err}"
    );
    emu.faults(json!({"probability": 0}));
    assert_eq!(emu.upgrade_jobs("i3"), 0, "the emulator did not process it");
}

/// Throttled submits were not processed, so they are retried until one gets through.
#[tokio::test]
async fn a_throttled_submit_is_retried_until_one_gets_through() {
    let (emu, c) = one_instance_client("i2").await;
    emu.faults(json!({"probability": 0.6, "kinds": ["throttle"], "seed": 3}));
    submit_upgrade(&c, &ctx(), "i2", NOW).await.unwrap();
    assert_eq!(emu.upgrade_jobs("i2"), 1);
}

/// The emulator's `throttle_user` fault: a 429 `APIGW.0308` with `Retry-After: 1`, whose
/// message names this user's policy of 200 per 5 minutes (another user of the key spent
/// it), refusing at random whatever the quota.
fn throttling(emu: &Emulator, probability: f64, seed: u64) {
    emu.faults(json!({"probability": probability, "kinds": ["throttle_user"], "seed": seed}));
}

fn requests(emu: &Emulator, route: &str) -> u64 {
    emu.stats()["requests"][route].as_u64().unwrap_or(0)
}

/// The client's log events (level and fields, `message` included), as a subscriber
/// of this test's thread sees them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Event>>>);

type Event = (tracing::Level, Vec<(String, String)>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(Vec<(String, String)>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0
                    .push((field.name().to_string(), format!("{value:?}")));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.push((field.name().to_string(), value.to_string()));
            }
        }
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields.0));
    }
}

impl Captured {
    /// Installs itself for the current thread (a `#[tokio::test]` runs on one), beside a
    /// silent dispatcher kept alive as long: with one dispatcher registered, tracing takes
    /// it for the global one, and a callsite first reached on another test's thread (which
    /// has none) is cached as never enabled, losing this thread's events there.
    fn install(&self) -> Installed {
        use tracing_subscriber::layer::SubscriberExt;
        let companion = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()));
        Installed {
            _guard: guard,
            _companion: companion,
        }
    }

    /// The fields of every event whose message is `message`.
    fn events(&self, message: &str) -> Vec<Event> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|(_, f)| f.iter().any(|(k, v)| k == "message" && v == message))
            .cloned()
            .collect()
    }
}

/// A [`Captured`] installed for the current thread, until dropped.
struct Installed {
    _guard: tracing::subscriber::DefaultGuard,
    _companion: tracing::Dispatch,
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

const WAITING: &str = "the API's flow control refused the request; waiting for its quota";

#[tokio::test]
async fn a_429_never_surfaces_while_the_deadline_allows() {
    let log = Captured::default();
    let _installed = log.install();
    let (emu, c) = retrying_nothing().await;
    // Half the requests refused by the API's quota over all users (other tenants).
    emu.faults(json!({"probability": 0.5, "kinds": ["throttle"], "seed": 11}));
    let deadline = || ctx().with_deadline(Instant::now() + Duration::from_secs(60));
    let started = Instant::now();
    for _ in 0..6 {
        let found = c.instance(&deadline(), "i1").await;
        assert!(found.as_ref().is_ok_and(|i| i.is_some()), "{found:?}");
    }
    let listings = requests(&emu, "GET /v3/{project_id}/instances");
    assert!(listings > 6, "some reads were refused first: {listings}");
    // Each refusal holds the API back for the Retry-After of 1 s.
    let refusals = listings - 6;
    assert!(
        started.elapsed() >= Duration::from_millis(1000 * refusals - 100),
        "{refusals} refusals in {:?}",
        started.elapsed()
    );
    // 8000 per minute is everyone's quota, not this key's: nothing is learned from it,
    // and the client keeps the quota it was told (this emulator meters nothing).
    let told = Policy::per_minute(1_000_000);
    assert_eq!(
        c.api_policy(Api::ListInstances),
        (told, false),
        "the assumed policy stays"
    );
    // Each wait is logged at INFO with the API, the policy and the wait.
    let waits = log.events(WAITING);
    assert_eq!(waits.len() as u64, refusals, "one line per 429");
    for (level, fields) in &waits {
        assert_eq!(*level, tracing::Level::INFO);
        assert_eq!(field(fields, "api"), "GET /v3/{project_id}/instances");
        assert_eq!(field(fields, "policy"), told.to_string());
        assert_eq!(field(fields, "policy_source"), "assumed");
        assert_eq!(field(fields, "scope"), "Some(Api)");
        assert_eq!(
            field(fields, "wait_ms"),
            "1000",
            "the Retry-After: {fields:?}"
        );
        // Other tenants' use: this process's share of the key's quota is not cut.
        assert_eq!(field(fields, "explained_by_our_use"), "false", "{fields:?}");
        assert_eq!(field(fields, "share"), "1000000.0", "{fields:?}");
        assert!(field(fields, "error").contains("APIGW.0308"), "{fields:?}");
    }
}

#[tokio::test]
async fn a_429_of_the_keys_policy_teaches_it_and_cuts_this_processs_share() {
    let log = Captured::default();
    let _installed = log.install();
    let (emu, c) = retrying_nothing().await;
    // Another user of the access key crowds half the requests out.
    throttling(&emu, 0.5, 11);
    let mut reads = 0;
    while reads < 10 && requests(&emu, "GET /v3/{project_id}/instances") == reads {
        let deadline = ctx().with_deadline(Instant::now() + Duration::from_secs(60));
        let found = c.instance(&deadline, "i1").await;
        assert!(found.as_ref().is_ok_and(|i| i.is_some()), "{found:?}");
        reads += 1;
    }
    let refusals = requests(&emu, "GET /v3/{project_id}/instances") - reads;
    assert!(refusals >= 1, "the seed refuses a read within ten");
    let (policy, learned) = c.api_policy(Api::ListInstances);
    assert!(learned, "the gateway named the key's policy");
    assert_eq!(
        (policy.limit, policy.window),
        (200, Duration::from_secs(300))
    );
    assert!(
        !c.api_policy(Api::ShowJob).1,
        "another API keeps the assumed policy"
    );
    let waits = log.events(WAITING);
    assert_eq!(waits.len() as u64, refusals, "one line per 429");
    for (_, fields) in &waits {
        assert_eq!(field(fields, "policy"), "200 per 300 s");
        assert_eq!(field(fields, "policy_source"), "gateway");
        assert_eq!(field(fields, "scope"), "Some(User)");
        // The log holds none of our requests, not the policy's 200: others fill the
        // window, and this process's share is cut, to its floor (a thirtieth).
        assert_eq!(field(fields, "explained_by_our_use"), "false", "{fields:?}");
        let share: f64 = field(fields, "share").parse().unwrap();
        assert!((6.0..200.0).contains(&share), "{fields:?}");
    }
}

/// The emulator of [`instance`] `i1` and a client of it that may retry nothing, its
/// project looked up: a 429 must not use up a retry.
async fn retrying_nothing() -> (Emulator, RdsClient) {
    let emu = Emulator::start(json!({"instances": [instance("i1", json!({}))]}), false);
    let mut cfg = config(&emu, SECRET_KEY);
    // 429s are not failed attempts: none of them may use up a retry.
    cfg.retry.max_retries = 0;
    let c = RdsClient::new(cfg).unwrap();
    c.project_id(&ctx()).await.unwrap();
    (emu, c)
}

#[tokio::test]
async fn a_refused_submission_is_sent_again_until_accepted_once() {
    let (emu, c) = retrying_nothing().await;
    let deadline = || ctx().with_deadline(Instant::now() + Duration::from_secs(60));
    // A refused submission was not processed: it is sent again until accepted, once.
    throttling(&emu, 0.6, 3);
    let job = submit_upgrade(&c, &deadline(), "i1", NOW).await;
    assert!(job.is_ok(), "{job:?}");
    let posts = requests(
        &emu,
        "POST /v3/{project_id}/instances/{instance_id}/db-upgrade",
    );
    assert!(posts > 1, "the first submissions were refused: {posts}");
    assert_eq!(emu.upgrade_jobs("i1"), 1, "one job");
}

/// The emulator of [`instance`] `i1` refusing every request with a 429, and a client of
/// it that looked up its project first.
async fn always_throttled() -> (Emulator, RdsClient) {
    let emu = Emulator::start(json!({"instances": [instance("i1", json!({}))]}), false);
    let c = client(&emu);
    c.project_id(&ctx()).await.unwrap();
    throttling(&emu, 1.0, 1);
    (emu, c)
}

#[tokio::test]
async fn cancellation_ends_a_429_wait_at_once() {
    let (emu, c) = always_throttled().await;
    let request = NOW;

    for read in [true, false] {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            trigger.cancel();
        });
        let call = CallCtx::new(cancel).with_deadline(Instant::now() + Duration::from_secs(60));
        let started = Instant::now();
        let result = if read {
            c.instance(&call, "i1").await.map(|_| String::new())
        } else {
            submit_upgrade(&c, &call, "i1", request).await
        };
        let took = started.elapsed();
        assert!(matches!(result, Err(RdsError::Cancelled)), "{result:?}");
        assert!(
            (Duration::from_millis(2500)..Duration::from_millis(2900)).contains(&took),
            "cancellation ends the wait at once: {took:?}"
        );
    }
    emu.faults(json!({"probability": 0}));
    assert_eq!(
        emu.upgrade_jobs("i1"),
        0,
        "no refused submission was processed"
    );
}

#[tokio::test]
async fn a_deadline_a_429_wait_cannot_meet_ends_it_at_once() {
    let (emu, c) = always_throttled().await;
    let request = NOW;
    // The next slot after a refusal is at least 1.5 s away (the policy's spacing, twice
    // that after two 429s in a row): a deadline 1 s away cannot be met, and the caller
    // learns it at once, with the 429 as the last error when the request was refused,
    // or the flow control's next grant when it was not sent at all.
    let started = Instant::now();
    let call = ctx().with_deadline(Instant::now() + Duration::from_secs(1));
    let err = submit_upgrade(&c, &call, "i1", request).await.unwrap_err();
    assert!(
        matches!(&err, RdsError::Timeout(m) if m.contains("db-upgrade")
            && (m.contains("APIGW.0308") || m.contains("has no reservation for this request before the deadline"))),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    emu.faults(json!({"probability": 0}));
    assert_eq!(
        emu.upgrade_jobs("i1"),
        0,
        "no refused submission was processed"
    );
}

const SHOW_JOB: &str = "GET /v3/{project_id}/jobs";

fn throttled(emu: &Emulator, route: &str) -> u64 {
    emu.stats()["throttled"][route].as_u64().unwrap_or(0)
}

/// A client that assumes a quota 10 times the emulator's (10 per 2 s on `GET /jobs`),
/// so it meets the real one and must learn it; and an upgrade job to read.
async fn flow_controlled(algorithm: &str) -> (Emulator, RdsClient, String) {
    let emu = Emulator::start(
        json!({"instances": [instance("i1", json!({"job_seconds": 600}))],
               "flow_control": {"limit": 1000, "window_seconds": 2, "algorithm": algorithm,
                                "routes": {SHOW_JOB: {"limit": 10}}}}),
        false,
    );
    let mut cfg = config(&emu, SECRET_KEY);
    cfg.api_quota_per_minute = 3000;
    let c = RdsClient::new(cfg).unwrap();
    let request = UpgradeRequest {
        is_delayed: false,
        second_switch: true,
    };
    let job = submit_upgrade(&c, &ctx(), "i1", request).await.unwrap();
    (emu, c, job)
}

#[tokio::test]
async fn paced_to_the_gateways_policy_under_each_algorithm() {
    let run = |algorithm: &'static str| async move {
        let (emu, c, job) = flow_controlled(algorithm).await;
        let started = Instant::now();
        for n in 0..40 {
            let read = c.job(&ctx(), &job).await;
            assert!(read.is_ok(), "{algorithm}: read {n}: {read:?}");
        }
        let took = started.elapsed();
        let (policy, learned) = c.api_policy(Api::ShowJob);
        assert!(learned, "{algorithm}");
        assert_eq!(
            (policy.limit, policy.window),
            (10, Duration::from_secs(2)),
            "{algorithm}"
        );
        // The first 429 teaches the policy; after it the client stays within it.
        let refused = throttled(&emu, SHOW_JOB);
        eprintln!("flow control {algorithm:<12} 40 reads in {took:.2?}, {refused} refused");
        assert!((1..=3).contains(&refused), "{algorithm}: {refused} 429s");
        assert_eq!(requests(&emu, SHOW_JOB), 40, "{algorithm}");
        // 40 reads at 10 per 2 s: the 40th cannot go before 6 s, and should not be
        // much later (three windows and their margins, plus the requests themselves).
        assert!(
            (Duration::from_secs(6)..Duration::from_millis(8500)).contains(&took),
            "{algorithm}: {took:?}"
        );
        (emu, c, job)
    };
    let (sliding, _, _) = tokio::join!(run("sliding"), run("fixed"), run("token_bucket"));

    // Once learned, 40 concurrent readers share the API's one bucket: no more 429s.
    let (emu, c, job) = sliding;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = throttled(&emu, SHOW_JOB);
    let started = Instant::now();
    let reads = (0..40).map(|_| {
        let (c, job) = (c.clone(), job.clone());
        async move { c.job(&ctx(), &job).await }
    });
    for read in futures_join(reads).await {
        read.unwrap();
    }
    let refused = throttled(&emu, SHOW_JOB) - before;
    eprintln!(
        "flow control, learned: 40 concurrent reads in {:.2?}, {refused} refused",
        started.elapsed()
    );
    assert!(refused <= 1, "{refused} 429s after the policy was learned");
    assert!(
        (Duration::from_secs(6)..Duration::from_millis(8500)).contains(&started.elapsed()),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn another_client_spending_the_quota_delays_but_never_fails_reads() {
    let (emu, c, job) = flow_controlled("sliding").await;
    // Another process with the same credentials reads as fast as its own pacing lets it.
    let mut other_cfg = config(&emu, SECRET_KEY);
    other_cfg.api_quota_per_minute = 3000;
    let other = RdsClient::new(other_cfg).unwrap();
    let stop = CancellationToken::new();
    let storm = {
        let (stop, job) = (stop.clone(), job.clone());
        tokio::spawn(async move {
            let mut done = 0u32;
            while !stop.is_cancelled() {
                if other.job(&CallCtx::new(stop.clone()), &job).await.is_ok() {
                    done += 1;
                }
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    for n in 0..10 {
        let call = ctx().with_deadline(Instant::now() + Duration::from_secs(30));
        let read = c.job(&call, &job).await;
        assert!(read.is_ok(), "read {n}: {read:?}");
    }
    let took = started.elapsed();
    stop.cancel();
    let theirs = storm.await.unwrap();
    eprintln!(
        "shared quota: 10 reads in {took:.2?} beside {theirs} of the other client's, {} refused",
        throttled(&emu, SHOW_JOB)
    );
    assert!(theirs >= 10, "the other client got its share too: {theirs}");
    assert!(throttled(&emu, SHOW_JOB) >= 2, "{}", emu.stats());
    // Sharing 10 per 2 s with a client as greedy that came first: our first refusal
    // cuts our share to what we held of the window (one request), and windows of use
    // grow it back; 10 reads within a dozen windows, none failed.
    assert!(took < Duration::from_secs(24), "{took:?}");
}

/// Ten reads from ten tasks, each with its own clone of one client, after the project
/// lookup: eleven requests through the clones' one limiter of 10 per second with a burst
/// of 1. The first leaves at once and each next one a tenth of a second after the last,
/// so the eleventh leaves at 1.0 s.
#[tokio::test]
async fn the_shared_limiter_bounds_the_rate() {
    let emu = Emulator::start(json!({}), false);
    let mut cfg = config(&emu, SECRET_KEY);
    cfg.requests_per_second = 10.0;
    cfg.burst = 1;
    let c = RdsClient::new(cfg).unwrap();
    let started = Instant::now();
    let calls = (0..10).map(|_| {
        let c = c.clone();
        async move { c.instance(&ctx(), "x").await }
    });
    for result in futures_join(calls).await {
        result.unwrap();
    }
    let took = started.elapsed();
    // Each call was a request the limiter let through: the lookup and the ten reads.
    let stats = emu.stats();
    assert_eq!(
        requests(&emu, "GET /v3/{project_id}/instances"),
        10,
        "{stats}"
    );
    assert_eq!(common::stats_total(&stats, "requests"), 11, "{stats}");
    // A limiter per clone would let the ten reads go together, in a fraction of that.
    assert!(took >= Duration::from_millis(950), "{took:?}");
    // Paced at half the rate (or each clone waiting its turn twice) the eleventh request
    // could not leave before 2.0 s, however idle the machine. Paced right it leaves at
    // 1.0 s and the rest is one local request: 0.8 s of margin for a loaded machine.
    assert!(took < Duration::from_millis(1800), "{took:?}");
}

async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// An emulator whose jobs are invisible for their first 0.5 s, with the instances `slow`
/// (jobs of 30 s) and `quick` (1.5 s); a client of it and its job tracker.
fn waiting() -> (Emulator, RdsClient, JobTracker) {
    let emu = Emulator::start(
        json!({"job_visible_after_seconds": 0.5,
               "instances": [instance("slow", json!({"job_seconds": 30})), instance("quick", json!({"job_seconds": 1.5}))]}),
        false,
    );
    let c = client(&emu);
    let tracker = JobTracker::new(c.clone(), CancellationToken::new());
    (emu, c, tracker)
}

#[tokio::test]
async fn a_wait_that_reaches_its_deadline_returns_the_last_status() {
    let (_emu, c, tracker) = waiting();
    let slow = submit_upgrade(&c, &ctx(), "slow", NOW).await.unwrap();
    let deadline = ctx().with_deadline(Instant::now() + Duration::from_millis(1200));
    match follow(&tracker, &deadline, &slow, "", FAST_POLL, |_| {}).await {
        Err(WaitError::Timeout(Some(job))) => assert_eq!(job.status, JobStatus::Running),
        other => panic!("expected a timeout with the last status, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cancelled_wait_ends_promptly() {
    let (_emu, c, tracker) = waiting();
    let slow = submit_upgrade(&c, &ctx(), "slow", NOW).await.unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let result = follow(
        &tracker,
        &CallCtx::new(cancel),
        &slow,
        "",
        FAST_POLL,
        |_| {},
    )
    .await;
    assert!(matches!(result, Err(WaitError::Cancelled(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "cancellation is prompt"
    );
}

#[tokio::test]
async fn two_waiters_on_a_job_not_yet_visible_share_one_poll_loop() {
    let (emu, c, tracker) = waiting();
    // Two waiters on one job share one poll loop; the job is invisible for 0.5 s first.
    let quick = submit_upgrade(&c, &ctx(), "quick", NOW).await.unwrap();
    let before = emu.stats()["requests"]["GET /v3/{project_id}/jobs"]
        .as_u64()
        .unwrap_or(0);
    let (ctx_a, ctx_b) = (ctx(), ctx());
    let (a, b) = tokio::join!(
        follow(&tracker, &ctx_a, &quick, "", FAST_POLL, |_| {}),
        follow(&tracker, &ctx_b, &quick, "", FAST_POLL, |_| {})
    );
    assert_eq!(a.unwrap().status, JobStatus::Completed);
    assert_eq!(b.unwrap().status, JobStatus::Completed);
    let polls = emu.stats()["requests"]["GET /v3/{project_id}/jobs"]
        .as_u64()
        .unwrap_or(0)
        - before;
    // One loop polling every ~0.1-0.4 s for ~1.5 s: well under what two loops would make.
    assert!(polls <= 10, "{polls} polls for two waiters");
}

#[tokio::test]
async fn listings_follow_pagination() {
    let emu = Emulator::start(json!({"instances": []}), false);
    let many: Vec<_> = (0..250)
        .map(|i| instance(&format!("p{i:03}"), json!({})))
        .collect();
    emu.admin("/__emulator/instances", json!({"instances": many}));
    let c = client(&emu);
    let all = c
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(emu.stats()["requests"]["GET /v3/{project_id}/instances"], 3);
}
