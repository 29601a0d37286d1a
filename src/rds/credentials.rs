//! Credentials for AK/SK signing. Secrets redact themselves in `Debug` and `Display`, so
//! no log line, error message or panic can print them.

/// A secret string: only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
