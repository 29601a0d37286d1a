//! The requests that obtain credentials from a [`Source`]: IAM's `assume_role` (signed
//! with the base keys), the OIDC exchange (id token → IAM token → temporary keys) and
//! the ECS metadata server (with its optional session-token handshake). Answers are
//! read as Huawei documents them; only the request and IAM's error body ever reach an
//! error message, never a key, token or id token.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::source::{Agency, AgencyAccount, IdToken, Source};
use super::{Credentials, Secret};
use crate::rds::send::error_chain;
use crate::rds::signer::{self, SignableRequest};

/// Credentials as obtained, with their expiry (none for static keys).
#[derive(Debug, Clone)]
pub struct Issued {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
}

/// Why obtaining credentials failed: the request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeError {
    /// `POST https://iam…/v3.0/OS-CREDENTIAL/securitytokens`, or the file read.
    pub step: String,
    pub failure: Failure,
}

/// What went wrong in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer (connection refused, timed out).
    Unreachable(String),
    /// Nothing answers at the metadata address (off ECS, or the server's network bars it).
    NoMetadataServer(String),
    /// An answer refusing the request, with its status and body.
    Refused { status: u16, body: String },
    /// A success that is not the documented shape.
    BadAnswer(String),
    /// The id token could not be read.
    TokenFile(String),
}

impl ExchangeError {
    /// Whether nothing answered at the metadata address.
    pub fn is_no_metadata_server(&self) -> bool {
        matches!(self.failure, Failure::NoMetadataServer(_))
    }

    /// Whether trying again may help: no answer, throttled, or a server error.
    pub fn is_passing(&self) -> bool {
        match &self.failure {
            Failure::Unreachable(_) | Failure::NoMetadataServer(_) => true,
            Failure::Refused { status, .. } => *status == 429 || *status >= 500,
            Failure::BadAnswer(_) | Failure::TokenFile(_) => false,
        }
    }
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.step)?;
        match &self.failure {
            Failure::Unreachable(e) => write!(f, "no answer ({e})"),
            Failure::NoMetadataServer(e) => write!(f, "no metadata server answers ({e})"),
            Failure::Refused { status, body } => write!(f, "HTTP {status}: {body}"),
            Failure::BadAnswer(e) => write!(f, "unexpected answer ({e})"),
            Failure::TokenFile(e) => write!(f, "{e}"),
        }
    }
}

/// The documented `{"credential": {...}}` of IAM and the metadata server.
#[derive(Deserialize)]
struct CredentialAnswer {
    credential: Temporary,
}

#[derive(Deserialize)]
struct Temporary {
    access: String,
    secret: String,
    securitytoken: String,
    expires_at: String,
}

/// How long the metadata server may take to answer (the SDKs' 3 s).
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection to the metadata server may take: an address that is not there
/// (off ECS) must fail fast, never hang.
const METADATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Obtains credentials over HTTP: IAM at `iam`, the metadata server at its endpoint.
pub struct Exchanger {
    http: reqwest::Client,
    metadata_http: reqwest::Client,
    iam: Option<String>,
}

type Obtained<'a> = Pin<Box<dyn Future<Output = Result<Issued, ExchangeError>> + Send + 'a>>;

impl Exchanger {
    /// `http` is the client's (IAM calls share its pool and TLS settings); `iam` the IAM
    /// endpoint, when one is known.
    pub fn new(http: reqwest::Client, iam: Option<String>) -> Self {
        let metadata_http = reqwest::Client::builder()
            .connect_timeout(METADATA_CONNECT_TIMEOUT)
            .timeout(METADATA_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_default();
        Exchanger {
            http,
            metadata_http,
            iam,
        }
    }

    /// Credentials from `source`, obtained now.
    pub fn obtain<'a>(&'a self, source: &'a Source) -> Obtained<'a> {
        Box::pin(async move {
            match source {
                Source::Static(credentials) => Ok(Issued {
                    credentials: credentials.clone(),
                    expires: None,
                }),
                Source::Metadata { endpoint, .. } => self.metadata(endpoint).await,
                Source::Agency { base, agency } => {
                    let base = self.obtain(base).await?;
                    self.assume(&base.credentials, agency).await
                }
                Source::Oidc {
                    idp_id,
                    id_token,
                    duration,
                    then,
                } => {
                    let keys = self.federate(idp_id, id_token, *duration).await?;
                    match then {
                        Some(agency) => self.assume(&keys.credentials, agency).await,
                        None => Ok(keys),
                    }
                }
            }
        })
    }

    fn iam_url(&self, path: &str) -> Result<String, ExchangeError> {
        match &self.iam {
            Some(iam) => Ok(format!("{iam}{path}")),
            None => Err(ExchangeError {
                step: format!("POST {path}"),
                failure: Failure::BadAnswer("no IAM endpoint: set region (or iam_endpoint)".into()),
            }),
        }
    }

    /// `assume_role`: temporary keys of `agency`, signed with `base`.
    async fn assume(&self, base: &Credentials, agency: &Agency) -> Result<Issued, ExchangeError> {
        let url = self.iam_url("/v3.0/OS-CREDENTIAL/securitytokens")?;
        let mut role = json!({"agency_name": agency.name, "duration_seconds": agency.duration});
        match &agency.account {
            AgencyAccount::Name(name) => role["domain_name"] = json!(name),
            AgencyAccount::Id(id) => role["domain_id"] = json!(id),
        }
        if let Some(session) = &agency.session_name {
            role["session_user"] = json!({"name": session});
        }
        let body = json!({"auth": {"identity": {"methods": ["assume_role"], "assume_role": role}}});
        let request =
            signed_post(&self.http, &url, base, body.to_string().into_bytes()).map_err(|e| {
                ExchangeError {
                    step: format!("POST {url}"),
                    failure: Failure::BadAnswer(e),
                }
            })?;
        let answer = self.send(&url, request).await?;
        credential_of(&url, &answer.1)
    }

    /// OIDC: the id token (read now, from its file if it has one) for an IAM token, and
    /// that for temporary keys living `duration` seconds.
    async fn federate(
        &self,
        idp_id: &str,
        id_token: &IdToken,
        duration: u32,
    ) -> Result<Issued, ExchangeError> {
        let token = match id_token {
            IdToken::Inline(token) => token.clone(),
            IdToken::File(path) => {
                let read = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| ExchangeError {
                        step: format!("reading the id token file {}", path.display()),
                        failure: Failure::TokenFile(e.to_string()),
                    })?;
                Secret::new(read.trim())
            }
        };
        let url = self.iam_url("/v3.0/OS-AUTH/id-token/tokens")?;
        let body = json!({"auth": {"id_token": {"id": token.expose()}}});
        let request = self
            .http
            .post(&url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .header("X-Idp-Id", idp_id)
            .body(body.to_string());
        let (headers, _) = self.send(&url, request).await?;
        let subject = headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new)
            .ok_or_else(|| ExchangeError {
                step: format!("POST {url}"),
                failure: Failure::BadAnswer("no X-Subject-Token header".into()),
            })?;
        let url = self.iam_url("/v3.0/OS-CREDENTIAL/securitytokens")?;
        let body = json!({"auth": {"identity": {"methods": ["token"],
            "token": {"id": subject.expose(), "duration_seconds": duration}}}});
        let request = self
            .http
            .post(&url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .header("X-Auth-Token", subject.expose())
            .body(body.to_string());
        let (_, answer) = self.send(&url, request).await?;
        credential_of(&url, &answer)
    }

    /// The keys of the agency attached to this server, after the optional session-token
    /// handshake (a server that does not offer it answers 404, 405 or 503).
    async fn metadata(&self, endpoint: &str) -> Result<Issued, ExchangeError> {
        let endpoint = endpoint.trim_end_matches('/');
        let session_url = format!("{endpoint}/meta-data/latest/api/token");
        let session = self
            .metadata_http
            .put(&session_url)
            .header("X-Metadata-Token-Ttl-Seconds", "21600")
            .send()
            .await;
        let session = match session {
            Ok(answer) if answer.status().is_success() => answer.text().await.ok(),
            Ok(_) => None,
            Err(e) => {
                return Err(ExchangeError {
                    step: format!("PUT {session_url}"),
                    failure: Failure::NoMetadataServer(error_chain(&e)),
                });
            }
        };
        let url = format!("{endpoint}/openstack/latest/securitykey");
        let mut request = self.metadata_http.get(&url);
        if let Some(session) = session.filter(|s| !s.trim().is_empty()) {
            request = request.header("X-Metadata-Token", session.trim());
        }
        let (_, answer) = self
            .send(&url, request)
            .await
            .map_err(|e| match e.failure {
                Failure::Unreachable(why) => ExchangeError {
                    failure: Failure::NoMetadataServer(why),
                    ..e
                },
                _ => e,
            })?;
        credential_of(&url, &answer)
    }

    /// Sends `request` to `url`: the headers and body of a 2xx answer.
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), ExchangeError> {
        let method = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| r.method().to_string())
            .unwrap_or_else(|| "POST".into());
        let step = format!("{method} {url}");
        let answer = request.send().await.map_err(|e| ExchangeError {
            step: step.clone(),
            failure: Failure::Unreachable(error_chain(&e)),
        })?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.bytes().await.map_err(|e| ExchangeError {
            step: step.clone(),
            failure: Failure::Unreachable(format!("reading the answer: {}", error_chain(&e))),
        })?;
        tracing::debug!(%step, status = status.as_u16(), "credential request answered");
        if status.is_success() {
            return Ok((headers, body.to_vec()));
        }
        Err(ExchangeError {
            step,
            failure: Failure::Refused {
                status: status.as_u16(),
                body: error_body(status, &body),
            },
        })
    }
}

/// A refusal's body, short (IAM's and the gateway's error bodies hold no secret).
fn error_body(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("no body").to_string();
    }
    text.chars().take(300).collect()
}

/// The temporary keys of a `{"credential": {...}}` answer.
fn credential_of(url: &str, body: &[u8]) -> Result<Issued, ExchangeError> {
    let bad = |what: String| ExchangeError {
        step: url.to_string(),
        failure: Failure::BadAnswer(what),
    };
    let answer: CredentialAnswer = serde_json::from_slice(body)
        .map_err(|e| bad(format!("not the documented credential shape: {e}")))?;
    let t = answer.credential;
    let expires = parse_expiry(&t.expires_at)
        .ok_or_else(|| bad(format!("expires_at {:?} is not a time", t.expires_at)))?;
    Ok(Issued {
        credentials: Credentials {
            access_key: t.access,
            secret_key: Secret::new(t.secret),
            security_token: Some(Secret::new(t.securitytoken)),
        },
        expires: Some(expires),
    })
}

/// IAM's `expires_at` (`2020-01-08T03:50:07.574000Z`; RFC 3339).
pub fn parse_expiry(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// A JSON POST signed with `credentials` (with its security token when it has one), as
/// the SDKs sign IAM calls.
fn signed_post(
    http: &reqwest::Client,
    url: &str,
    credentials: &Credentials,
    body: Vec<u8>,
) -> Result<reqwest::RequestBuilder, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Err(format!("no host in {url}")),
    };
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), host),
        (
            signer::DATE_HEADER.into(),
            signer::sdk_date(time::OffsetDateTime::now_utc()),
        ),
        (
            "Content-Type".into(),
            "application/json;charset=UTF-8".into(),
        ),
    ];
    if let Some(token) = &credentials.security_token {
        headers.push(("X-Security-Token".into(), token.expose().to_string()));
    }
    let path = signer::percent_decode(parsed.path(), false);
    let authorization = signer::authorization(
        &credentials.access_key,
        credentials.secret_key.expose(),
        &SignableRequest {
            method: "POST",
            path: &path,
            query: &[],
            headers: &headers,
            body: &body,
        },
    );
    let mut builder = http.post(parsed);
    for (k, v) in headers.iter().filter(|(k, _)| k != "Host") {
        builder = builder.header(k, v);
    }
    Ok(builder.header("Authorization", authorization).body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_iam_times_with_microseconds() {
        let at = parse_expiry("2020-01-08T03:50:07.574000Z").unwrap();
        let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(seconds.as_millis(), 1_578_455_407_574);
        assert!(parse_expiry("tomorrow").is_none());
    }

    #[test]
    fn only_passing_failures_are_tried_again() {
        let refused = |status| ExchangeError {
            step: "POST x".into(),
            failure: Failure::Refused {
                status,
                body: String::new(),
            },
        };
        assert!(refused(429).is_passing() && refused(503).is_passing());
        assert!(!refused(403).is_passing() && !refused(401).is_passing());
    }
}
