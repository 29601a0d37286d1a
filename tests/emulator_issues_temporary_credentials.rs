//! The emulator's IAM and metadata server, against the real emulator process: temporary
//! credentials for an agency, for an OIDC id token, and from the metadata server (with
//! its rotation), in the documented shapes; what the gateway answers a temporary key
//! that expired, lost its token or is unknown; the lock after bad signatures; and the
//! counts in `stats`.

pub mod common;

use std::time::Duration;

use base64::Engine;
use common::signed::{exchange_with, spec};
use common::{ACCESS_KEY, Emulator, PROJECT_ID, SECRET_KEY, counter};
use serde_json::{Value, json};

const SECURITY_TOKENS: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
const ID_TOKENS: &str = "/v3.0/OS-AUTH/id-token/tokens";
const SECURITY_KEY: &str = "/openstack/latest/securitykey";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn emulator(extra: Value) -> Emulator {
    let mut config = json!({
        "instances": [spec("i-1", json!({}))],
        "agencies": [{"domain_name": "ops", "domain_id": "d0d0", "agency_name": "rds-upgrader"}],
        "identity_providers": [{"id": "github", "issuer": ISSUER}],
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Emulator::start(config, false)
}

fn assume_role_body(agency: &str, duration: Option<u64>) -> Value {
    let mut role = json!({"agency_name": agency, "domain_name": "ops",
                          "session_user": {"name": "ci-pipeline"}});
    if let Some(d) = duration {
        role["duration_seconds"] = json!(d);
    }
    json!({"auth": {"identity": {"methods": ["assume_role"], "assume_role": role}}})
}

/// `POST securitytokens` signed with the main key, as the SDKs send it (`X-Domain-Id`).
async fn assume_role(emu: &Emulator, body: Value) -> (u16, Value) {
    let (status, _, body) = exchange_with(
        emu,
        (ACCESS_KEY, SECRET_KEY),
        &[
            ("Content-Type", "application/json;charset=UTF-8"),
            ("X-Domain-Id", "d0d0"),
        ],
        "POST",
        SECURITY_TOKENS,
        &[],
        Some(body),
        None,
    )
    .await;
    (status, body)
}

/// `GET /instances` signed with a temporary credential, with `token` as its
/// `X-Security-Token` when given.
async fn list_with(emu: &Emulator, credential: &Value, token: Option<&str>) -> (u16, Value) {
    let mut headers = vec![("X-Project-Id", PROJECT_ID)];
    if let Some(token) = token {
        headers.push(("X-Security-Token", token));
    }
    let (status, _, body) = exchange_with(
        emu,
        (
            credential["access"].as_str().unwrap(),
            credential["secret"].as_str().unwrap(),
        ),
        &headers,
        "GET",
        &format!("/v3/{PROJECT_ID}/instances"),
        &[],
        None,
        None,
    )
    .await;
    (status, body)
}

fn token_of(credential: &Value) -> &str {
    credential["securitytoken"].as_str().unwrap()
}

/// `2020-01-08T03:50:07.574000Z`, as the Python SDK parses it.
fn assert_iam_time(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    let re = regex_lite::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap();
    assert!(re.is_match(text), "not IAM's expires_at: {value}");
}

/// An unsigned JSON POST; the status, headers and body.
async fn post(
    emu: &Emulator,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", emu.url))
        .json(&body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An unsigned JWT with these claims (the emulator does not check signatures).
fn jwt(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&claims)
    )
}

fn unix_now() -> u64 {
    common::signed::unix_now() as u64
}

#[tokio::test]
async fn an_agency_gives_temporary_credentials_that_act_as_the_main_user_until_they_expire() {
    let emu = emulator(json!({"temporary_credential_seconds": 1.5}));
    let (status, body) = assume_role(&emu, assume_role_body("rds-upgrader", Some(900))).await;
    assert_eq!(status, 201, "{body}");
    let credential = &body["credential"];
    assert_iam_time(&credential["expires_at"]);
    assert!(credential["access"].as_str().unwrap().len() >= 16);

    let (status, listed) = list_with(&emu, credential, Some(token_of(credential))).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["instances"][0]["id"], "i-1");

    let (status, refused) = list_with(&emu, credential, None).await;
    assert_eq!(
        (status, &refused["error_code"]),
        (401, &json!("APIGW.0301"))
    );
    assert!(
        refused["error_msg"]
            .as_str()
            .unwrap()
            .contains("security token"),
        "{refused}"
    );

    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (status, expired) = list_with(&emu, credential, Some(token_of(credential))).await;
    assert_eq!(
        (status, &expired["error_code"]),
        (401, &json!("APIGW.0301"))
    );
    assert!(
        expired["error_msg"]
            .as_str()
            .unwrap()
            .contains("token expires, expires_at: "),
        "{expired}"
    );

    let unknown = json!({"access": "TMPNOSUCHKEY0000000", "secret": "x"});
    let (status, body) = list_with(&emu, &unknown, Some("t")).await;
    assert_eq!((status, &body["error_code"]), (401, &json!("APIGW.0301")));

    let stats = emu.stats();
    assert_eq!(
        counter(&stats, "requests", &format!("POST {SECURITY_TOKENS}")),
        1
    );
}

#[tokio::test]
async fn iam_refuses_unknown_agencies_bad_durations_and_bad_signatures() {
    let emu = emulator(json!({}));
    let (status, body) = assume_role(&emu, assume_role_body("no-such-agency", None)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], 403);
    let (status, body) = assume_role(&emu, assume_role_body("rds-upgrader", Some(899))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("900"));
    // Without a fixed lifetime, what the request asks.
    let (status, body) = assume_role(&emu, assume_role_body("rds-upgrader", Some(3600))).await;
    assert_eq!(status, 201, "{body}");
    let expires = time::OffsetDateTime::parse(
        body["credential"]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = (expires - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((3590..=3600).contains(&left), "{left}");

    let (status, _, body) = exchange_with(
        &emu,
        (ACCESS_KEY, "WRONGSECRET"),
        &[],
        "POST",
        SECURITY_TOKENS,
        &[],
        Some(assume_role_body("rds-upgrader", None)),
        None,
    )
    .await;
    assert_eq!((status, &body["error_code"]), (401, &json!("APIGW.0301")));
}

#[tokio::test]
async fn an_oidc_id_token_becomes_an_iam_token_then_temporary_credentials() {
    let emu = emulator(json!({"temporary_credential_seconds": 60}));
    let claims = json!({"iss": ISSUER, "sub": "repo:org/fleet:ref:refs/heads/main",
                        "aud": "hwrds", "exp": unix_now() + 300});
    let body = json!({"auth": {"id_token": {"id": jwt(claims.clone())}}});
    let (status, headers, answer) = post(&emu, ID_TOKENS, &[("X-Idp-Id", "github")], body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["token"]["methods"], json!(["mapped"]));
    assert_iam_time(&answer["token"]["expires_at"]);
    let subject = headers["x-subject-token"].to_str().unwrap().to_string();

    let exchange = json!({"auth": {"identity": {"methods": ["token"],
        "token": {"id": subject, "duration_seconds": 900}}}});
    let (status, _, body) = post(&emu, SECURITY_TOKENS, &[], exchange).await;
    assert_eq!(status, 201, "{body}");
    let credential = &body["credential"];
    assert_iam_time(&credential["expires_at"]);
    let (status, _) = list_with(&emu, credential, Some(token_of(credential))).await;
    assert_eq!(status, 200);

    let wrong_issuer = json!({"iss": "https://gitlab.example.com", "exp": unix_now() + 300});
    let refused = [
        ("github", jwt(wrong_issuer), 401),
        (
            "github",
            jwt(json!({"iss": ISSUER, "exp": unix_now() - 5})),
            401,
        ),
        ("github", "not-a-jwt".to_string(), 400),
        ("gitlab", jwt(claims), 404),
    ];
    for (idp, token, expected) in refused {
        let body = json!({"auth": {"id_token": {"id": token}}});
        let (status, headers, answer) = post(&emu, ID_TOKENS, &[("X-Idp-Id", idp)], body).await;
        assert_eq!(status, expected, "{idp}: {answer}");
        assert!(!headers.contains_key("x-subject-token"));
    }
    let bad_subject =
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "MIISnope"}}}});
    let (status, _, _) = post(&emu, SECURITY_TOKENS, &[], bad_subject).await;
    assert_eq!(status, 401);
    assert_eq!(
        counter(&emu.stats(), "requests", &format!("POST {ID_TOKENS}")),
        5
    );
}

async fn security_key(emu: &Emulator, session: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{SECURITY_KEY}", emu.url));
    if let Some(session) = session {
        request = request.header("X-Metadata-Token", session);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_metadata_server_serves_the_attached_agency_keys_and_rotates_them_with_overlap() {
    let without = emulator(json!({}));
    let (status, body) = security_key(&without, None).await;
    assert_eq!(status, 401);
    assert!(
        body.to_string()
            .contains("Please configure Cloud Service Agency first"),
        "{body}"
    );

    // Keys of 3 s: replaced half a second (a sixth) before they expire.
    let emu = emulator(json!({"metadata_agency": "ecs-rds", "temporary_credential_seconds": 3}));
    let session = reqwest::Client::new()
        .put(format!("{}/meta-data/latest/api/token", emu.url))
        .header("X-Metadata-Token-Ttl-Seconds", "21600")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, first) = security_key(&emu, Some(&session)).await;
    assert_eq!(status, 200, "{first}");
    assert_iam_time(&first["credential"]["expires_at"]);
    let (status, _) = security_key(&emu, Some("not-a-session")).await;
    assert_eq!(status, 401);
    let (_, again) = security_key(&emu, None).await;
    assert_eq!(again["credential"]["access"], first["credential"]["access"]);

    tokio::time::sleep(Duration::from_millis(2700)).await;
    let (_, rotated) = security_key(&emu, None).await;
    assert_ne!(
        rotated["credential"]["access"],
        first["credential"]["access"]
    );
    let old = &first["credential"];
    assert_eq!(list_with(&emu, old, Some(token_of(old))).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(list_with(&emu, old, Some(token_of(old))).await.0, 401);
    let new = &rotated["credential"];
    assert_eq!(list_with(&emu, new, Some(token_of(new))).await.0, 200);
    assert_eq!(
        counter(&emu.stats(), "requests", &format!("GET {SECURITY_KEY}")),
        4
    );
}

#[tokio::test]
async fn more_than_five_bad_signatures_in_a_row_lock_the_key_for_a_while() {
    let emu = emulator(json!({"signature_lock_seconds": 1.0}));
    let path = format!("/v3/{PROJECT_ID}/instances");
    let call = |secret: &'static str| {
        let emu = &emu;
        let path = path.clone();
        async move {
            let (status, _, body) = exchange_with(
                emu,
                (ACCESS_KEY, secret),
                &[],
                "GET",
                &path,
                &[],
                None,
                None,
            )
            .await;
            (status, body)
        }
    };
    for _ in 0..6 {
        assert_eq!(call("WRONG").await.0, 401);
    }
    let (status, body) = call(SECRET_KEY).await;
    assert_eq!(status, 401);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("AK access failed to reach the limit,forbidden"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(SECRET_KEY).await.0, 200);
}
