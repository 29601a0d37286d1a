//! One API request as the client sends it ([`Request`]): the API it calls (and so its
//! method and whether it may be sent again), its URL, query, body and project, and how
//! it becomes a signed HTTP request. What to do with the answer is the client's.

use super::api::Api;
use super::credentials::Credentials;
use super::error::RdsError;
use super::signer::{self, SignableRequest};

/// One request of `api`; built with [`Request::new`] and the setters after it.
#[derive(Debug, Clone)]
pub(super) struct Request<'a> {
    pub api: Api,
    pub method: reqwest::Method,
    pub url: String,
    pub query: &'a [(&'a str, &'a str)],
    /// A JSON body.
    pub body: Option<Vec<u8>>,
    /// The project, sent as `X-Project-Id` (the project-scoped RDS APIs).
    pub project: Option<&'a str>,
    /// Whether sending it twice is harmless (a read); a submission is not.
    pub idempotent: bool,
}

impl<'a> Request<'a> {
    /// A request of `api` to `url`, with its method and idempotency.
    pub fn new(api: Api, url: String) -> Self {
        Request {
            api,
            method: api.method(),
            url,
            query: &[],
            body: None,
            project: None,
            idempotent: !api.is_submission(),
        }
    }

    pub fn query(mut self, query: &'a [(&'a str, &'a str)]) -> Self {
        self.query = query;
        self
    }

    pub fn json(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub fn project(mut self, project: &'a str) -> Self {
        self.project = Some(project);
        self
    }

    /// The HTTP request, signed with `credentials` (the SDK's AK/SK signature).
    pub fn signed(
        &self,
        http: &reqwest::Client,
        credentials: &Credentials,
    ) -> Result<reqwest::Request, RdsError> {
        let url = &self.url;
        let mut full = reqwest::Url::parse(url)
            .map_err(|e| RdsError::Config(format!("bad URL {url}: {e}")))?;
        let encoded: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    signer::percent_encode(k),
                    signer::percent_encode(v)
                )
            })
            .collect();
        if !encoded.is_empty() {
            full.set_query(Some(&encoded.join("&")));
        }
        let host = match (full.host_str(), full.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(RdsError::Config(format!("no host in {url}"))),
        };
        let sdk_date = signer::sdk_date(time::OffsetDateTime::now_utc());
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), host),
            (signer::DATE_HEADER.into(), sdk_date),
        ];
        if self.body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        if let Some(project) = self.project {
            headers.push(("X-Project-Id".into(), project.to_string()));
        }
        if let Some(token) = &credentials.security_token {
            headers.push(("X-Security-Token".into(), token.expose().to_string()));
        }
        let decoded_path = signer::percent_decode(full.path(), false);
        let owned_query: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let authorization = signer::authorization(
            &credentials.access_key,
            credentials.secret_key.expose(),
            &SignableRequest {
                method: self.method.as_str(),
                path: &decoded_path,
                query: &owned_query,
                headers: &headers,
                body: self.body.as_deref().unwrap_or_default(),
            },
        );
        let mut builder = http.request(self.method.clone(), full);
        for (k, v) in headers.iter().filter(|(k, _)| k != "Host") {
            builder = builder.header(k, v);
        }
        builder = builder.header("Authorization", authorization);
        if let Some(body) = &self.body {
            builder = builder.body(body.clone());
        }
        builder
            .build()
            .map_err(|e| RdsError::Config(format!("building the request: {e}")))
    }
}
