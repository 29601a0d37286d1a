//! The client's credential holder against the real emulator process: requests waiting
//! when a credential expires cause one renewal; a credential due for renewal is still
//! signed with while it is renewed in the background; a credential the gateway refuses
//! causes one renewal and one retry, never a loop; a source that cannot give keys fails
//! fast with an error naming it and the answer.

pub mod common;

use std::time::Duration;

use common::client::{EmulatorClient, ctx, ctx_within};
use common::signed::spec;
use common::{ACCESS_KEY, Emulator, SECRET_KEY, counter};
use hwrds::rds::credentials::{Agency, AgencyAccount, Credentials, Secret, Source};
use hwrds::rds::{InstanceFilter, RdsClient, RdsError};
use serde_json::json;

const SECURITY_TOKENS: &str = "POST /v3.0/OS-CREDENTIAL/securitytokens";

fn emulator(lifetime: f64) -> Emulator {
    Emulator::start(
        json!({
            "instances": [spec("i-1", json!({}))],
            "agencies": [{"domain_name": "ops", "domain_id": "d0d0", "agency_name": "rds-upgrader"}],
            "temporary_credential_seconds": lifetime,
        }),
        false,
    )
}

fn agency_source() -> Source {
    Source::Agency {
        base: Box::new(Source::Static(Credentials {
            access_key: ACCESS_KEY.into(),
            secret_key: Secret::new(SECRET_KEY),
            security_token: None,
        })),
        agency: Agency {
            name: "rds-upgrader".into(),
            account: AgencyAccount::Name("ops".into()),
            duration: 900,
            session_name: Some("hwrds-tests".into()),
        },
    }
}

fn agency_client(emu: &Emulator) -> RdsClient {
    EmulatorClient::fast(&emu.url)
        .source(agency_source())
        .build()
        .unwrap()
}

fn assumed(emu: &Emulator) -> u64 {
    counter(&emu.stats(), "requests", SECURITY_TOKENS)
}

async fn list_without_deadline(client: &RdsClient) -> Result<usize, RdsError> {
    client
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .map(|i| i.len())
}

async fn list(client: &RdsClient) -> Result<usize, RdsError> {
    client
        .instances(&ctx_within(20), &InstanceFilter::default())
        .await
        .map(|i| i.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_waiting_when_the_credential_expires_cause_one_renewal() {
    let emu = emulator(1.5);
    let client = agency_client(&emu);
    assert_eq!(list(&client).await, Ok(1));
    assert_eq!(assumed(&emu), 1);
    // Nothing asks while it is due: it expires, and twenty requests find it expired.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { list(&client).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &Ok(1)), "{answers:?}");
    assert_eq!(assumed(&emu), 2, "one renewal for twenty waiting requests");
    assert_eq!(client.credentials().obtained(), 2);
}

#[tokio::test]
async fn a_credential_due_for_renewal_signs_while_the_next_one_is_obtained() {
    let emu = emulator(3.0);
    let client = agency_client(&emu);
    let holder = client.credentials();
    let first = holder.current(&ctx()).await.unwrap();
    assert_eq!(first.generation, 1);
    // A third of the lifetime is left after 2 s: due, still valid.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let due = holder.current(&ctx()).await.unwrap();
    assert_eq!(due.generation, 1, "signing does not wait for the renewal");
    for _ in 0..50 {
        if holder.obtained() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(holder.obtained(), 2, "renewed in the background");
    assert_eq!(assumed(&emu), 2);
    assert_eq!(list(&client).await, Ok(1));
    assert_eq!(
        assumed(&emu),
        2,
        "the renewed credential serves the next requests"
    );
}

#[tokio::test]
async fn a_refused_credential_causes_one_renewal_and_one_retry_never_a_loop() {
    let emu = emulator(900.0);
    let client = agency_client(&emu);
    assert_eq!(list(&client).await, Ok(1));
    // The emulator forgets what its IAM issued: the key is unknown, 401 APIGW.0301.
    emu.admin("/__emulator/reset", json!({}));
    assert_eq!(list(&client).await, Ok(1));
    assert_eq!(
        assumed(&emu),
        1,
        "one renewal (the reset cleared the count)"
    );
    assert_eq!(
        counter(&emu.stats(), "requests", "GET /v3/{project_id}/instances"),
        2
    );

    // Credentials that are expired when issued: one renewal, one retry, then the error.
    let stale = emulator(0.0);
    let client = agency_client(&stale);
    let error = list(&client).await.unwrap_err();
    assert!(error.is_expired_credential(), "{error}");
    let asked = assumed(&stale);
    assert!((2..=3).contains(&asked), "{asked} credential requests");
    // The first request, the project lookup, and its one retry.
    let looked_up = counter(&stale.stats(), "requests", "GET /v3/projects");
    assert_eq!(looked_up, 2, "the request and its one retry");
}

#[tokio::test]
async fn a_source_that_gives_no_keys_fails_fast_naming_it_and_the_answer() {
    let emu = emulator(900.0);
    // No agency attached to "the server".
    let client = EmulatorClient::fast(&emu.url)
        .source(Source::Metadata {
            endpoint: emu.url.clone(),
            tried: vec!["the environment (HW_ACCESS_KEY, HW_SECRET_KEY)".into()],
        })
        .build()
        .unwrap();
    let error = list(&client).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("no credentials: the environment (HW_ACCESS_KEY, HW_SECRET_KEY) gave none, and ECS metadata at"), "{text}");
    assert!(
        text.contains("Please configure Cloud Service Agency first"),
        "{text}"
    );

    // Nothing listens (not on ECS): refused at once, not tried again, even with no
    // deadline.
    let started = std::time::Instant::now();
    let client = EmulatorClient::fast(&emu.url)
        .source(Source::Metadata {
            endpoint: common::NO_METADATA.into(),
            tried: Vec::new(),
        })
        .build()
        .unwrap();
    let error = client
        .instances(&ctx(), &InstanceFilter::default())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
    assert!(
        error.to_string().contains("no metadata server answers"),
        "{error}"
    );

    // The same under an agency that the metadata keys would sign for.
    let started = std::time::Instant::now();
    let mut over_metadata = agency_source();
    if let Source::Agency { base, .. } = &mut over_metadata {
        **base = Source::Metadata {
            endpoint: common::NO_METADATA.into(),
            tried: Vec::new(),
        };
    }
    let client = EmulatorClient::fast(&emu.url)
        .source(over_metadata)
        .build()
        .unwrap();
    let error = list_without_deadline(&client).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error.to_string().contains("no metadata server answers"),
        "{error}"
    );

    // An agency IAM does not know: refused, not tried again.
    let mut unknown = agency_source();
    if let Source::Agency { agency, .. } = &mut unknown {
        agency.name = "no-such-agency".into();
    }
    let client = EmulatorClient::fast(&emu.url)
        .source(unknown)
        .build()
        .unwrap();
    let error = list(&client).await.unwrap_err();
    assert!(
        error.to_string().contains("cannot obtain credentials from agency no-such-agency of account ops, signed with static keys"),
        "{error}"
    );
    assert!(error.to_string().contains("HTTP 403"), "{error}");
    assert_eq!(assumed(&emu), 1, "a refusal is not tried again");
}

/// A stand-in for IAM on loopback that answers each request with the next of `answers`
/// (status and body; the last one repeats), counting the requests.
async fn scripted_iam(
    answers: Vec<(u16, String)>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let i = count.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[i.min(answers.len() - 1)].clone();
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (url, served)
}

fn credential_answer() -> String {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expires = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({"credential": {"access": "TMPAK", "secret": "TMPSK", "securitytoken": "TMPTOKEN",
                          "expires_at": expires}})
    .to_string()
}

#[tokio::test]
async fn a_failed_renewal_is_tried_again_with_backoff_and_a_refusal_names_iams_answer() {
    use std::sync::atomic::Ordering;
    let unavailable = (
        503,
        r#"{"error_msg":"busy","error_code":"APIGW.0201"}"#.to_string(),
    );
    let throttled = (
        429,
        r#"{"error_msg":"throttled","error_code":"APIGW.0308"}"#.to_string(),
    );
    let (iam, served) =
        scripted_iam(vec![unavailable, throttled, (201, credential_answer())]).await;
    let mut config = hwrds::rds::ClientConfig::new(agency_source());
    config.region = Some("ap-southeast-1".into());
    config.iam_endpoint = Some(iam.clone());
    let client = RdsClient::new(config).unwrap();
    let started = std::time::Instant::now();
    let current = client.credentials().current(&ctx_within(10)).await.unwrap();
    assert_eq!(current.credentials.access_key, "TMPAK");
    assert_eq!(
        served.load(Ordering::SeqCst),
        3,
        "two failures, then the credential"
    );
    // Backoff of 0.5 s, then 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );

    let refusal = (
        403,
        r#"{"error":{"code":403,"message":"agency not allowed","title":"Forbidden"}}"#.to_string(),
    );
    let (iam, served) = scripted_iam(vec![refusal]).await;
    let mut config = hwrds::rds::ClientConfig::new(agency_source());
    config.region = Some("ap-southeast-1".into());
    config.iam_endpoint = Some(iam);
    let client = RdsClient::new(config).unwrap();
    let error = client
        .credentials()
        .current(&ctx_within(10))
        .await
        .unwrap_err();
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "a refusal is not tried again"
    );
    let text = error.to_string();
    assert!(
        text.contains("cannot obtain credentials from agency rds-upgrader of account ops"),
        "{text}"
    );
    assert!(
        text.contains("HTTP 403") && text.contains("agency not allowed"),
        "{text}"
    );

    // Unavailable until the deadline: the error says how many tries were made.
    let (iam, _) = scripted_iam(vec![(503, "{}".into())]).await;
    let mut config = hwrds::rds::ClientConfig::new(agency_source());
    config.region = Some("ap-southeast-1".into());
    config.iam_endpoint = Some(iam);
    let client = RdsClient::new(config).unwrap();
    let error = client
        .credentials()
        .current(&ctx_within(2))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("HTTP 503") && error.to_string().contains("tries)"),
        "{error}"
    );
}
