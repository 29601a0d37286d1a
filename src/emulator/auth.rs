//! AK/SK signature verification, as the cloud's API gateway does it: rebuild the canonical
//! request from what arrived (decoded path and query, the headers named in
//! `SignedHeaders`, the body) and compare signatures; check the date window and token.

use axum::http::request::Parts;

use super::config::Config;
use super::identity::{Identity, Lookup, iam_time};
use crate::rds::signer::{self, SignableRequest};

/// Why a request was refused.
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

fn reject<T>(code: &'static str, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        code,
        message: message.into(),
    })
}

/// Seconds the signing time may differ from the server's clock.
const DATE_WINDOW_SECONDS: f64 = 15.0 * 60.0;

fn parse_sdk_date(value: &str) -> Option<f64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = time::PrimitiveDateTime::parse(value, &format).ok()?;
    Some(parsed.assume_utc().unix_timestamp() as f64)
}

/// Verifies the request's AK/SK signature against the configured credentials and the
/// temporary ones IAM issued; on success, the user whose quota and permissions the
/// request has (a temporary credential acts as the main user). More than five bad
/// signatures of a key in a row lock it.
pub fn verify(
    config: &Config,
    identity: &mut Identity,
    parts: &Parts,
    body: &[u8],
    now: f64,
) -> Result<String, Rejection> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: Authorization header is missing.",
        );
    };
    let Some(parsed) = signer::parse_authorization(authorization) else {
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: unsupported Authorization header.",
        );
    };
    let Some(date) = header("x-sdk-date") else {
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: X-Sdk-Date is missing.",
        );
    };
    if !parsed.signed_headers.iter().any(|h| h == "x-sdk-date") {
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: X-Sdk-Date must be signed.",
        );
    }
    match parse_sdk_date(date) {
        Some(at) if (at - now).abs() <= DATE_WINDOW_SECONDS => {}
        Some(_) => {
            return reject(
                "APIGW.0303",
                "Incorrect app authentication information: the signature expired (X-Sdk-Date is more than 15 minutes off).",
            );
        }
        None => {
            return reject(
                "APIGW.0301",
                "Incorrect IAM authentication information: X-Sdk-Date is malformed.",
            );
        }
    }
    let access_key = parsed.access_key.as_str();
    if identity.locked(access_key, now) {
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden.",
        );
    }
    let security_token = header("x-security-token");
    let (secret_key, user) = if access_key == config.access_key {
        if let Some(token) = &config.security_token
            && security_token != Some(token.as_str())
        {
            return reject(
                "APIGW.0301",
                "Incorrect IAM authentication information: the security token is missing or wrong.",
            );
        }
        (config.secret_key.clone(), config.access_key.clone())
    } else if let Some(credential) = config
        .extra_credentials
        .iter()
        .find(|c| c.access_key == access_key)
    {
        (credential.secret_key.clone(), credential.access_key.clone())
    } else {
        match identity.lookup(access_key, now) {
            Lookup::Valid(temporary) => {
                if security_token != Some(temporary.security_token.as_str()) {
                    return reject(
                        "APIGW.0301",
                        "Incorrect IAM authentication information: the security token is missing or wrong.",
                    );
                }
                (temporary.secret_key.clone(), config.access_key.clone())
            }
            Lookup::Expired(expires_at) => {
                return reject(
                    "APIGW.0301",
                    format!(
                        "Incorrect IAM authentication information: token expires, expires_at: {}",
                        iam_time(expires_at)
                    ),
                );
            }
            Lookup::Unknown => {
                return reject(
                    "APIGW.0301",
                    "Incorrect IAM authentication information: ak not exist.",
                );
            }
        }
    };
    let mut headers = Vec::with_capacity(parsed.signed_headers.len());
    for name in &parsed.signed_headers {
        let value = if name == "host" {
            header("host").map(str::to_string)
        } else {
            header(name).map(str::to_string)
        };
        match value {
            Some(v) => headers.push((name.clone(), v)),
            None => {
                return reject(
                    "APIGW.0301",
                    format!(
                        "Incorrect IAM authentication information: signed header {name} is missing."
                    ),
                );
            }
        }
    }
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                signer::percent_decode(k, true),
                signer::percent_decode(v, true),
            )
        })
        .collect();
    let path = signer::percent_decode(parts.uri.path(), false);
    let request = SignableRequest {
        method: parts.method.as_str(),
        path: &path,
        query: &query,
        headers: &headers,
        body,
    };
    let expected = signer::signature(&secret_key, date, &signer::canonical_request(&request));
    if expected != parsed.signature {
        identity.bad_signature(config, access_key, now);
        return reject(
            "APIGW.0301",
            "Incorrect IAM authentication information: verify aksk signature fail.",
        );
    }
    identity.good_signature(access_key);
    Ok(user)
}

/// The IAM action a signed API route needs, for the routes a policy in the emulator can
/// deny (`extra_credentials[].deny`).
fn action_of(route_key: &str) -> Option<&'static str> {
    match route_key.split_once(' ') {
        Some(("POST", super::DB_UPGRADE)) => Some("rds:instance:upgradeDatabaseVersion"),
        Some(("GET", super::INSTANCES)) => Some("rds:instance:list"),
        _ => None,
    }
}

/// The action a user scoped to an enterprise project (`extra_credentials[]
/// .enterprise_project_id`) may not perform with this request: an instance listing that
/// does not name its project (`eps_id`), or an upgrade of an instance of another project
/// (`instance_project` gives an instance's project).
pub fn outside_enterprise_project(
    config: &Config,
    user: &str,
    route_key: &str,
    parts: &Parts,
    instance_project: impl Fn(&str) -> Option<String>,
) -> Option<&'static str> {
    let scoped = config
        .extra_credentials
        .iter()
        .find(|c| c.access_key == user)?
        .enterprise_project_id
        .as_deref()?;
    let action = action_of(route_key)?;
    let inside = match action {
        "rds:instance:list" => parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair == format!("eps_id={scoped}")),
        _ => {
            // `/v3/{project_id}/instances/{instance_id}/db-upgrade`
            let instance = parts.uri.path().split('/').nth(4).unwrap_or_default();
            instance_project(instance).as_deref() == Some(scoped)
        }
    };
    (!inside).then_some(action)
}

/// The action `user`'s policy does not allow for the route `route_key`
/// (`"<METHOD> <template>"`), if any.
pub fn denied_action(config: &Config, user: &str, route_key: &str) -> Option<&'static str> {
    let action = action_of(route_key)?;
    config
        .extra_credentials
        .iter()
        .find(|c| c.access_key == user)
        .filter(|c| c.deny.iter().any(|d| d == action))
        .map(|_| action)
}
