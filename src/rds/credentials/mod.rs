//! Credentials for AK/SK signing, where they come from and how they stay fresh. Secrets
//! redact themselves in `Debug` and `Display`, so no log line, error message or panic can
//! print them.
//!
//! - [`source`]: where credentials come from (static keys, an agency, OIDC, ECS metadata);
//! - [`exchange`]: the requests to IAM and the metadata server that obtain them;
//! - [`renewal`]: when a credential is renewed, and the backoff of a failed renewal;
//! - [`holder`]: the one holder per client that every request signs with.

pub mod exchange;
pub mod holder;
pub mod renewal;
pub mod source;

pub use holder::{CredentialHolder, Current};
pub use source::{Agency, AgencyAccount, IdToken, Source};

/// A secret string: only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An access key with its secret, and a security token for temporary credentials.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: Secret,
    pub security_token: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let creds = Credentials {
            access_key: "AK".into(),
            secret_key: Secret::new("very-secret"),
            security_token: Some(Secret::new("token-value")),
        };
        let shown = format!("{creds:?} {}", creds.secret_key);
        assert!(!shown.contains("very-secret") && !shown.contains("token-value"));
        assert!(shown.contains("AK"));
        assert_eq!(creds.secret_key.expose(), "very-secret");
    }
}
