//! The one error type of the RDS client, with the kinds a caller must tell apart:
//! an API refusal (status, code, message, request id), a transport failure, an
//! ambiguous non-idempotent request, a decode failure, a timeout or a cancellation, and
//! a failed project-id lookup wrapping any of the others — and the flow-control policy
//! a gateway's 429 spells out.

use std::fmt;
use std::time::Duration;

use super::quota::Policy;

/// Errors from calls to Huawei Cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsError {
    /// The API answered with an error.
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The request could not be sent or its answer not received (safe to retry for reads).
    Transport(String),
    /// A non-idempotent request may have reached the server but no answer came back:
    /// the operation may or may not have happened.
    Ambiguous(String),
    /// The answer could not be understood.
    Decode { status: u16, message: String },
    /// The caller's deadline passed.
    Timeout(String),
    /// The caller cancelled (Terraform's Ctrl-C).
    Cancelled,
    /// A job id the API does not know (yet, or any more).
    JobNotFound(String),
    /// The configuration cannot work (bad endpoint, missing region).
    Config(String),
    /// The project id of `region` could not be looked up through IAM at `url`, so the
    /// call that needed it was not made. Never a cancellation or a timeout: those stay
    /// what they are.
    ProjectLookup {
        region: String,
        url: String,
        cause: Box<RdsError>,
    },
    /// Credentials could not be obtained from `source` (described, never a secret):
    /// what IAM or the metadata server answered. `tried` names the sources that gave
    /// none before it, when it was the last resort.
    Credentials {
        source: String,
        tried: Vec<String>,
        message: String,
    },
}

/// Error codes that mean "the instance is busy with another operation; try later".
pub const BUSY_CODES: &[&str] = &[
    "DBS.200011",
    "DBS.200019",
    "DBS.200047",
    "DBS.201202",
    "DBS.212006",
    "DBS.200018",
    "DBS.200076",
    "DBS.200080",
    "DBS.280036",
    "DBS.280228",
    // A backup is running (409): the instance takes one operation at a time.
    "DBS.201205",
    // The official provider waits and retries on these ("the RDS instance is limited to
    // only one operation at a time"; `DBS.01280030`: "instance status is illegal").
    "DBS.200452",
    "DBS.200463",
    "DBS.200611",
    "DBS.201015",
    "DBS.201206",
    "DBS.212033",
    "DBS.280011",
    "DBS.280816",
    "DBS.01010337",
    "DBS.01280030",
];

/// HTTP 403 answers that are not a permission refusal: the engine does not support the
/// operation, or the project is unavailable.
const FORBIDDEN_NOT_PERMISSION: &[&str] = &["DBS.280343", "APIGW.0310"];

impl RdsError {
    pub fn code(&self) -> Option<&str> {
        match self {
            RdsError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_busy(&self) -> bool {
        self.code().is_some_and(|c| BUSY_CODES.contains(&c))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RdsError::JobNotFound(_))
            || self.code().is_some_and(|c| {
                ["DBS.200002", "DBS.200045", "DBS.200602", "DBS.200543"].contains(&c)
            })
    }

    pub fn is_throttled(&self) -> bool {
        let e = self.root();
        matches!(e, RdsError::Api { status: 429, .. })
            || e.code().is_some_and(|c| THROTTLED_CODES.contains(&c))
    }

    /// The flow-control policy a throttling answer names, when it names one.
    pub fn throttle_policy(&self) -> Option<ThrottlePolicy> {
        match self.root() {
            e @ RdsError::Api { message, .. } if e.is_throttled() => parse_throttle_policy(message),
            _ => None,
        }
    }

    /// A 401 that a renewed credential may cure: `APIGW.0301` (expired, unknown key,
    /// missing token) or `APIGW.0307` ("The token must be updated").
    pub fn is_stale_credential(&self) -> bool {
        matches!(self.root(), RdsError::Api { status: 401, code, .. } if code == "APIGW.0301" || code == "APIGW.0307")
    }

    /// A 401 that says the credential expired (`token expires`, or `APIGW.0307`).
    pub fn is_expired_credential(&self) -> bool {
        match self.root() {
            RdsError::Api {
                status: 401,
                code,
                message,
                ..
            } => code == "APIGW.0307" || (code == "APIGW.0301" && message.contains("expire")),
            _ => false,
        }
    }

    /// Authentication failures are never retried: five in a row lock the access key.
    /// A project lookup refused by IAM is one too: the same key signed it.
    pub fn is_auth(&self) -> bool {
        matches!(self.root(), RdsError::Api { status: 401, .. })
    }

    /// An HTTP 403 that says the caller's IAM policy does not allow the operation (the
    /// code of a policy denial is not documented: every 403 but the busy codes and those
    /// with another documented meaning). Never retried.
    pub fn is_permission_denied(&self) -> bool {
        match self.root() {
            e @ RdsError::Api {
                status: 403, code, ..
            } => !e.is_busy() && !FORBIDDEN_NOT_PERMISSION.contains(&code.as_str()),
            _ => false,
        }
    }

    /// The error itself, or what made the project lookup fail.
    fn root(&self) -> &RdsError {
        match self {
            RdsError::ProjectLookup { cause, .. } => cause.root(),
            e => e,
        }
    }
}

impl fmt::Display for RdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdsError::Api {
                status,
                code,
                message,
                request_id,
            } => {
                write!(f, "{code}: {message} (HTTP {status}")?;
                if let Some(id) = request_id {
                    write!(f, ", request id {id}")?;
                }
                write!(f, ")")?;
                if code == SIGNATURE_EXPIRED {
                    write!(f, "{}", clock_hint())?;
                }
                Ok(())
            }
            RdsError::Transport(m) => write!(f, "network error: {m}"),
            RdsError::Ambiguous(m) => write!(
                f,
                "no answer after the request was sent ({m}); the operation may or may not have happened"
            ),
            RdsError::Decode { status, message } => {
                write!(f, "unexpected answer (HTTP {status}): {message}")
            }
            RdsError::Timeout(m) => write!(f, "timed out: {m}"),
            RdsError::Cancelled => write!(f, "cancelled"),
            RdsError::JobNotFound(id) => write!(f, "job {id} is not known to the API"),
            RdsError::Config(m) => write!(f, "{m}"),
            RdsError::ProjectLookup { region, url, cause } => write!(
                f,
                "looking up the project id of region {region:?} through IAM (GET {url}) failed: {cause}"
            ),
            RdsError::Credentials {
                source,
                tried,
                message,
            } if !tried.is_empty() => write!(
                f,
                "no credentials: {} gave none, and {source} gave none either: {message}",
                tried.join(", ")
            ),
            RdsError::Credentials {
                source, message, ..
            } => write!(f, "cannot obtain credentials from {source}: {message}"),
        }
    }
}

impl std::error::Error for RdsError {}

/// The gateway's codes for "the throttling threshold has been reached" (HTTP 429).
pub const THROTTLED_CODES: &[&str] = &["APIGW.0308", "APIG.0308"];

/// Whose requests a flow-control policy counts, as the gateway names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// `policy user over ratelimit`: this user's requests to the API.
    User,
    /// `policy api over ratelimit`: everyone's requests to the API.
    Api,
    /// `policy ip over ratelimit`: requests from this address (this process's too).
    Ip,
    /// Another word, or none.
    Other,
}

/// What a 429 says was exceeded: `policy user over ratelimit,limit:60,time:1 minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub scope: ThrottleScope,
    pub policy: Policy,
}

/// Reads `limit:N` and `time:M unit` (second, minute, hour or day, singular or
/// plural) out of a gateway's throttling message; None unless both are there and sane.
pub fn parse_throttle_policy(message: &str) -> Option<ThrottlePolicy> {
    let text = message.to_ascii_lowercase();
    let limit: u32 = leading_number(after(&text, "limit:")?)?
        .parse()
        .ok()
        .filter(|n| *n > 0)?;
    let time = after(&text, "time:")?;
    let count = leading_number(time)?;
    let unit: String = time[count.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let seconds_per_unit = match unit.as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
    let window = Duration::from_secs(count.checked_mul(seconds_per_unit)?);
    let scope = match after(&text, "policy ").map(|rest| rest.split_whitespace().next()) {
        Some(Some("user")) => ThrottleScope::User,
        Some(Some("api")) => ThrottleScope::Api,
        Some(Some("ip")) => ThrottleScope::Ip,
        _ => ThrottleScope::Other,
    };
    Some(ThrottlePolicy {
        scope,
        policy: Policy { limit, window },
    })
}

fn after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.find(key).map(|i| text[i + key.len()..].trim_start())
}

fn leading_number(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The gateway's code for a request signed at a time too far from its own clock.
pub const SIGNATURE_EXPIRED: &str = "APIGW.0303";

/// What to do about `APIGW.0303`: it is this machine's clock, not the credentials.
fn clock_hint() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        ". The request's signing time (X-Sdk-Date, taken from this machine's clock: \
         {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC) is more than 15 minutes away from \
         Huawei Cloud's clock: check this machine's date, time and time zone (synchronise \
         the clock, e.g. with NTP) and try again",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Parses an error body in any of the shapes Huawei's gateways use:
/// `{"error_code","error_msg"}`, `{"errCode","externalMessage"}` (some RDS answers),
/// `{"code","message"}`, `{"error":{"code","message"}}`; a body in none of them is
/// `HTTP.<status>` with the body described.
pub fn from_response(status: u16, body: &[u8], request_id: Option<String>) -> RdsError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let pick = |v: &serde_json::Value, code: &str, msg: &str| {
        let c = v.get(code)?.as_str()?.to_string();
        let m = v
            .get(msg)
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        Some((c, m))
    };
    let found = parsed.as_ref().and_then(|v| {
        pick(v, "error_code", "error_msg")
            .or_else(|| pick(v, "errCode", "externalMessage"))
            .or_else(|| pick(v, "code", "message"))
            .or_else(|| v.get("error").and_then(|e| pick(e, "code", "message")))
    });
    let request_id = request_id.or_else(|| {
        parsed
            .as_ref()
            .and_then(|v| v.get("request_id"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    match found {
        Some((code, message)) => RdsError::Api {
            status,
            code,
            message,
            request_id,
        },
        None => RdsError::Api {
            status,
            code: format!("HTTP.{status}"),
            message: describe_body(body),
            request_id,
        },
    }
}

/// A short, printable description of an unexpected body.
pub fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "empty body".to_string();
    }
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        shown.push('…');
    }
    format!("body {shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_parses() {
        let e = from_response(
            409,
            br#"{"error_code":"DBS.200019","error_msg":"busy"}"#,
            Some("r1".into()),
        );
        assert!(e.is_busy());
        assert_eq!(e.to_string(), "DBS.200019: busy (HTTP 409, request id r1)");
        let e = from_response(400, br#"{"code":"X.1","message":"m"}"#, None);
        assert_eq!(e.code(), Some("X.1"));
        let e = from_response(400, br#"{"error":{"code":"Y.2","message":"n"}}"#, None);
        assert_eq!(e.code(), Some("Y.2"));
        let e = from_response(
            429,
            br#"{"error_msg":"The throttling threshold has been reached","error_code":"APIGW.0308","request_id":"abc"}"#,
            None,
        );
        assert!(e.is_throttled());
        assert!(e.to_string().contains("abc"));
        let e = from_response(502, b"<html><body>Bad Gateway</body></html>", None);
        assert!(e.to_string().contains("Bad Gateway"), "{e}");
        let e = from_response(500, b"", None);
        assert!(e.to_string().contains("empty body"));
        assert!(from_response(401, b"{}", None).is_auth());
        let e = from_response(
            401,
            br#"{"error_code":"APIGW.0303","error_msg":"Incorrect app authentication information: signature expired"}"#,
            None,
        );
        assert!(e.is_auth(), "never retried");
        let text = e.to_string();
        assert!(text.contains("clock") && text.contains("UTC"), "{text}");
    }

    #[test]
    fn err_code_bodies_parse_like_error_code_bodies() {
        let e = from_response(
            409,
            br#"{"externalMessage":"Backup in progress.","errCode":"DBS.201205"}"#,
            Some("r9".into()),
        );
        assert_eq!(e.code(), Some("DBS.201205"));
        assert!(e.is_busy(), "a running backup keeps the instance busy");
        assert_eq!(
            e.to_string(),
            "DBS.201205: Backup in progress. (HTTP 409, request id r9)"
        );
        let e = from_response(400, br#"{"errCode":"DBS.280449","request_id":"r10"}"#, None);
        assert_eq!(e.code(), Some("DBS.280449"));
        assert_eq!(e.to_string(), "DBS.280449:  (HTTP 400, request id r10)");
        // error_code wins when a body has both.
        let e = from_response(
            400,
            br#"{"error_code":"DBS.200038","error_msg":"a","errCode":"DBS.1","externalMessage":"b"}"#,
            None,
        );
        assert_eq!(e.code(), Some("DBS.200038"));
        // Neither shape: today's typed error.
        for body in [
            &br#"{"errcode":"DBS.201205","externalmessage":"x"}"#[..],
            br#"{"errCode":42,"externalMessage":"x"}"#,
            br#"{"externalMessage":"x"}"#,
        ] {
            let e = from_response(409, body, None);
            assert_eq!(e.code(), Some("HTTP.409"), "{e}");
            assert!(!e.is_busy(), "{e}");
        }
    }

    #[test]
    fn permission_refusals_are_403s_without_another_meaning() {
        let denied = from_response(
            403,
            br#"{"error_code":"DBS.200010","error_msg":"Policy doesn't allow rds:instance:upgradeDatabaseVersion to be performed."}"#,
            None,
        );
        assert!(denied.is_permission_denied());
        assert!(!denied.is_busy() && !denied.is_auth() && !denied.is_throttled());
        assert!(from_response(403, b"<html>Forbidden</html>", None).is_permission_denied());
        for body in [
            &br#"{"error_code":"DBS.280343","error_msg":"engine"}"#[..],
            br#"{"error_code":"APIGW.0310","error_msg":"project"}"#,
            br#"{"error_code":"DBS.212033","error_msg":"busy"}"#,
        ] {
            assert!(!from_response(403, body, None).is_permission_denied());
        }
        assert!(
            !from_response(400, br#"{"error_code":"DBS.200010","error_msg":"x"}"#, None)
                .is_permission_denied()
        );
    }

    fn policy(limit: u32, seconds: u64) -> Policy {
        Policy {
            limit,
            window: Duration::from_secs(seconds),
        }
    }

    #[test]
    fn the_policy_of_real_429_bodies() {
        let bodies: &[(&[u8], ThrottleScope, Policy)] = &[
            (
                br#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:60,time:1 minute","error_code":"APIGW.0308","request_id":"0cd3a2b1"}"#,
                ThrottleScope::User,
                policy(60, 60),
            ),
            (
                br#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute","error_code":"APIGW.0308","request_id":"r2"}"#,
                ThrottleScope::User,
                policy(200, 300),
            ),
            (
                br#"{"error_msg":"The throttling threshold has been reached: policy ip over ratelimit,limit:5,time:1 second","error_code":"APIGW.0308","request_id":"r3"}"#,
                ThrottleScope::Ip,
                policy(5, 1),
            ),
            (
                br#"{"error_msg":"The throttling threshold has been reached: policy api over ratelimit,limit:8000,time:1 minute","error_code":"APIG.0308","request_id":"r4"}"#,
                ThrottleScope::Api,
                policy(8000, 60),
            ),
            (
                br#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:10,time:2 seconds","error_code":"APIGW.0308"}"#,
                ThrottleScope::User,
                policy(10, 2),
            ),
            (
                br#"{"error_msg":"Policy USER over ratelimit, limit: 1000, time: 1 Hours","error_code":"APIG.0308"}"#,
                ThrottleScope::User,
                policy(1000, 3600),
            ),
            (
                br#"{"error_msg":"limit:100000,time:1 day","error_code":"APIGW.0308"}"#,
                ThrottleScope::Other,
                policy(100_000, 86_400),
            ),
        ];
        for (body, scope, expected) in bodies {
            let e = from_response(429, body, None);
            assert!(e.is_throttled(), "{e}");
            let found = e.throttle_policy();
            assert_eq!(
                found,
                Some(ThrottlePolicy {
                    scope: *scope,
                    policy: *expected
                }),
                "{e}"
            );
        }
        let apig = from_response(
            400,
            br#"{"error_code":"APIG.0308","error_msg":"policy user over ratelimit,limit:3,time:1 minute"}"#,
            None,
        );
        assert!(apig.is_throttled(), "the code alone says throttled");
        assert_eq!(
            apig.throttle_policy().map(|p| p.policy),
            Some(policy(3, 60))
        );
    }

    #[test]
    fn no_policy_from_garbage_or_missing_fields() {
        let none_from =
            |status: u16, body: &[u8]| from_response(status, body, None).throttle_policy();
        for body in [
            &b""[..],
            b"<html>429 Too Many Requests</html>",
            br#"{"error_msg":"The throttling threshold has been reached","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:60","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,time:1 minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:0,time:1 minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:60,time:0 minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:60,time:1 fortnight","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:60,time:minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:-5,time:1 minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:99999999999,time:1 minute","error_code":"APIGW.0308"}"#,
            br#"{"error_msg":"policy user over ratelimit,limit:6,time:99999999999999999 day","error_code":"APIGW.0308"}"#,
            r#"{"error_msg":"limit:é,time:1 ß","error_code":"APIGW.0308"}"#.as_bytes(),
        ] {
            assert_eq!(none_from(429, body), None, "{}", String::from_utf8_lossy(body));
        }
        // Only throttling answers carry a policy.
        assert_eq!(
            none_from(
                409,
                br#"{"error_code":"DBS.200019","error_msg":"limit:60,time:1 minute"}"#
            ),
            None
        );
        assert_eq!(
            RdsError::Transport("limit:1,time:1 second".into()).throttle_policy(),
            None
        );
    }
}
