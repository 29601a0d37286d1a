//! The DEBUG line of one API call attempt: what was asked (method, path, query), what
//! came back (status, `X-Request-Id`, error code, the error answer's body cut to
//! [`MAX_BODY_BYTES`]), how long it took, which attempt it was and the wait the server
//! asked for. This is what a support ticket needs; it is built only from the request's
//! URL and the answer, never from headers, so no Authorization, signature, security token
//! or key can reach it, and the body is scrubbed of the access key as well.
//!
//! Not for: deciding anything. The client decides retries; this only reports them.

use std::time::Duration;

/// The most of an error answer's body a log line carries.
pub const MAX_BODY_BYTES: usize = 512;

/// One attempt's outcome as the client saw it.
#[derive(Debug)]
pub enum CallOutcome<'a> {
    /// The server answered (success or error).
    Answered {
        status: u16,
        request_id: Option<&'a str>,
        /// The API's error code, for an error answer.
        error_code: Option<&'a str>,
        /// The body of an error answer (successful bodies are not logged).
        error_body: Option<&'a [u8]>,
    },
    /// No usable answer: the request could not be sent, or its answer not read.
    NoAnswer { error: &'a str },
}

/// One attempt of one API call.
#[derive(Debug)]
pub struct CallRecord<'a> {
    pub method: &'a str,
    /// The full request URL (endpoint, path and query: our own parameters only).
    pub url: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub latency: Duration,
    pub outcome: CallOutcome<'a>,
    /// What the server asked us to wait (`Retry-After`, a throttled answer), when it did.
    pub retry_after: Option<Duration>,
    /// Words that must never be printed (the access key): replaced in the body.
    pub redact: &'a [&'a str],
}

/// Emits the record as one DEBUG event of target `hwrds::api`.
pub fn record(call: &CallRecord<'_>) {
    if !tracing::enabled!(target: "hwrds::api", tracing::Level::DEBUG) {
        return;
    }
    let (path, query) = split_url(call.url);
    let latency_ms = call.latency.as_millis() as u64;
    let retry_after_ms = call.retry_after.map(|d| d.as_millis() as u64);
    match &call.outcome {
        CallOutcome::Answered {
            status,
            request_id,
            error_code,
            error_body,
        } => {
            let body = error_body.map(|b| scrub(&truncate_body(b), call.redact));
            tracing::debug!(
                target: "hwrds::api",
                http_method = call.method,
                path,
                query,
                status = *status,
                request_id = *request_id,
                error_code = *error_code,
                error_body = body.as_deref(),
                latency_ms,
                attempt = call.attempt,
                retry_after_ms,
                "API call {} {path} -> {status} in {latency_ms} ms{}",
                call.method,
                attempt_note(call.attempt),
            );
        }
        CallOutcome::NoAnswer { error } => {
            let error = scrub(error, call.redact);
            tracing::debug!(
                target: "hwrds::api",
                http_method = call.method,
                path,
                query,
                error = error.as_str(),
                latency_ms,
                attempt = call.attempt,
                "API call {} {path} -> no answer after {latency_ms} ms{}",
                call.method,
                attempt_note(call.attempt),
            );
        }
    }
}

fn attempt_note(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    }
}

/// The path and the query string of a URL (the scheme and host dropped).
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    }
}

/// The body as text, at most [`MAX_BODY_BYTES`] (cut on a character boundary), with a
/// note of how much was left out.
pub fn truncate_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_BODY_BYTES {
        return text.into_owned();
    }
    let mut end = MAX_BODY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], body.len())
}

/// `text` with every non-empty word of `redact` replaced by `<redacted>`.
pub fn scrub(text: &str, redact: &[&str]) -> String {
    redact
        .iter()
        .filter(|w| !w.is_empty())
        .fold(text.to_string(), |t, w| t.replace(w, "<redacted>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            split_url("https://rds.example.com:8443/v3/p/instances?id=a%20b&limit=1"),
            ("/v3/p/instances", "id=a%20b&limit=1")
        );
        assert_eq!(
            split_url("http://127.0.0.1:1/v3/projects"),
            ("/v3/projects", "")
        );
        assert_eq!(split_url("http://host"), ("/", ""));
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let short = br#"{"error_code":"DBS.200001","error_msg":"no"}"#;
        assert_eq!(truncate_body(short), String::from_utf8_lossy(short));
        let long = "é".repeat(400); // 800 bytes
        let cut = truncate_body(long.as_bytes());
        let kept = cut.split('…').next().unwrap();
        assert!(kept.len() <= MAX_BODY_BYTES && kept.len() >= MAX_BODY_BYTES - 1);
        assert!(cut.ends_with("(800 bytes in all)"), "{cut}");
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        assert_eq!(
            scrub("key AKX and AKX again", &["AKX", ""]),
            "key <redacted> and <redacted> again"
        );
    }
}
