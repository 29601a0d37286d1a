//! Huawei Cloud AK/SK request signing (`SDK-HMAC-SHA256`), shared by the client (to sign)
//! and the emulator (to verify), so both compute the canonical request one way.
//!
//! Does not send anything and knows no endpoint: it turns the parts of a request into
//! the `Authorization` header value.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only signing algorithm the RDS endpoints need.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// Header carrying the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";

/// The parts of an HTTP request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The decoded path, e.g. `/v3/abc/jobs`.
    pub path: &'a str,
    /// Decoded query parameters in any order.
    pub query: &'a [(String, String)],
    /// Headers to sign (name, value); names in any case. Names containing `_` are skipped.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Percent-encodes everything but `A-Za-z0-9-_.~`, as the official SDKs do.
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and, in query strings, `+` as a space); malformed escapes are
/// kept as they are.
pub fn percent_decode(input: &str, plus_as_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| input.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if plus_as_space && bytes[i] == b'+' {
                    b' '
                } else {
                    bytes[i]
                });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `X-Sdk-Date` value for a time: `YYYYMMDDTHHMMSSZ` in UTC.
pub fn sdk_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The canonical URI: each segment encoded, always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query string: sorted by raw key then value (as the official SDKs sort,
/// before encoding), each part encoded.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signed header names: lowercase, sorted, deduplicated, without names containing `_`.
pub fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| !name.contains('_'))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Hex SHA-256 of `data`.
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical request the signature is computed over.
pub fn canonical_request(request: &SignableRequest<'_>) -> String {
    let names = signed_header_names(request.headers);
    let mut canonical_headers = String::new();
    for name in &names {
        let value = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .unwrap_or_default();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
        canonical_headers,
        names.join(";"),
        hex_sha256(request.body)
    )
}

/// The hex signature of a canonical request made at `sdk_date`.
pub fn signature(secret_key: &str, sdk_date: &str, canonical_request: &str) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex_sha256(canonical_request.as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs `request` (whose headers must include `X-Sdk-Date`) and returns the value of
/// the `Authorization` header.
pub fn authorization(access_key: &str, secret_key: &str, request: &SignableRequest<'_>) -> String {
    let sdk_date = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(DATE_HEADER))
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    let sig = signature(secret_key, sdk_date, &canonical_request(request));
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={sig}",
        signed_header_names(request.headers).join(";")
    )
}

/// The parts of an `Authorization` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access_key: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.trim().strip_prefix(ALGORITHM)?.trim_start();
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        match key {
            "Access" => access = Some(val.to_string()),
            "SignedHeaders" => signed = Some(val.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(val.to_string()),
            _ => return None,
        }
    }
    Some(ParsedAuthorization {
        access_key: access?,
        signed_headers: signed?,
        signature: sig?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signing_guide_vector() {
        let query = pairs(&[
            ("marker", "13551d6b-755d-4757-b956-536f674975c0"),
            ("limit", "2"),
        ]);
        let headers = pairs(&[
            ("Content-Type", "application/json"),
            ("Host", "service.region.example.com"),
            ("X-Sdk-Date", "20191115T033655Z"),
        ]);
        let request = SignableRequest {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: &query,
            headers: &headers,
            body: b"",
        };
        let canonical = canonical_request(&request);
        assert_eq!(
            hex_sha256(canonical.as_bytes()),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            signature(
                "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
                "20191115T033655Z",
                &canonical
            ),
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    fn go_sdk_request_signature(method: &str, query: &[(&str, &str)], body: &[u8]) -> String {
        let query = pairs(query);
        let headers = pairs(&[("X-Sdk-Date", "20060102T150405Z"), ("TEST_UNDERSCORE", "x")]);
        let request = SignableRequest {
            method,
            path: "/path",
            query: &query,
            headers: &headers,
            body,
        };
        let header = authorization("AccessKey", "SecretKey", &request);
        parse_authorization(&header).unwrap().signature
    }

    #[test]
    fn go_sdk_vectors() {
        assert_eq!(
            go_sdk_request_signature("GET", &[("limit", "1")], b""),
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
        assert_eq!(
            go_sdk_request_signature(
                "POST",
                &[("key", "value")],
                b"{\"Name\":\"test\",\"Id\":1}\n"
            ),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn header_round_trips_through_parse() {
        let headers = pairs(&[("X-Sdk-Date", "20060102T150405Z"), ("Host", "h")]);
        let request = SignableRequest {
            method: "GET",
            path: "/v3/p/jobs",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let parsed = parse_authorization(&authorization("AK", "SK", &request)).unwrap();
        assert_eq!(parsed.access_key, "AK");
        assert_eq!(parsed.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(parsed.signature.len(), 64);
    }

    #[test]
    fn decoding_and_dates() {
        assert_eq!(percent_decode("a%20b+c%2", true), "a b c%2");
        assert_eq!(percent_decode("a+b%zz", false), "a+b%zz");
        assert_eq!(percent_decode("%C3%A9", false), "é");
        let at = time::macros::datetime!(2026-11-24 10:15:00 UTC);
        assert_eq!(sdk_date(at), "20261124T101500Z");
    }

    #[test]
    fn canonical_parts() {
        assert_eq!(canonical_uri("/v3/p/jobs"), "/v3/p/jobs/");
        assert_eq!(canonical_uri("/a b/c"), "/a%20b/c/");
        assert_eq!(
            canonical_query(&pairs(&[("b", "x y"), ("a", "é/+")])),
            "a=%C3%A9%2F%2B&b=x%20y"
        );
        // Sorted before encoding: "z" comes before "é" although "%C3" < "z".
        assert_eq!(
            canonical_query(&pairs(&[("é", "1"), ("z", "2")])),
            "z=2&%C3%A9=1"
        );
    }
}
