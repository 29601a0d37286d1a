//! Where a client's credentials come from, as the configuration resolved it: static keys
//! (the provider block, the environment or a shared-config profile), the keys of the
//! agency attached to an ECS/CCE server (its metadata server), an OIDC id token
//! exchanged through IAM, or an agency assumed with the keys of another source. Only
//! the static source never renews. Knows nothing about HTTP (that is `exchange`).

use std::fmt;
use std::path::PathBuf;

use super::{Credentials, Secret};

/// The default address of the ECS/CCE metadata server.
pub const METADATA_ENDPOINT: &str = "http://169.254.169.254";

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Keys given once (permanent, or temporary with a security token): never renewed.
    Static(Credentials),
    /// The keys of the agency attached to this server, from its metadata server.
    /// `tried` names the sources that gave no keys before it was chosen, for the error
    /// when it gives none either.
    Metadata {
        endpoint: String,
        tried: Vec<String>,
    },
    /// An agency assumed with the keys `base` gives.
    Agency { base: Box<Source>, agency: Agency },
    /// An OIDC id token exchanged for an IAM token, then for temporary keys, optionally
    /// followed by an agency assumed with those.
    Oidc {
        idp_id: String,
        id_token: IdToken,
        /// Seconds the temporary keys are asked to live.
        duration: u32,
        then: Option<Agency>,
    },
}

/// An agency to assume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub name: String,
    pub account: AgencyAccount,
    /// Seconds the temporary keys are asked to live (900-86400).
    pub duration: u32,
    pub session_name: Option<String>,
}

/// The account an agency belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgencyAccount {
    Name(String),
    Id(String),
}

/// The OIDC id token: given inline, or in a file the CI rotates (read at every renewal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdToken {
    Inline(Secret),
    File(PathBuf),
}

impl From<Credentials> for Source {
    fn from(credentials: Credentials) -> Self {
        Source::Static(credentials)
    }
}

impl Source {
    /// Whether the credentials it gives expire and are renewed.
    pub fn renews(&self) -> bool {
        match self {
            Source::Static(_) => false,
            Source::Metadata { .. } | Source::Agency { .. } | Source::Oidc { .. } => true,
        }
    }

    /// The static keys, for the source that has them.
    pub fn static_keys(&self) -> Option<&Credentials> {
        match self {
            Source::Static(credentials) => Some(credentials),
            _ => None,
        }
    }
}

/// What a source is, for logs and errors: never a secret.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // No access key either: the logs never show one.
            Source::Static(c) if c.security_token.is_some() => {
                write!(f, "static temporary keys (with a security token)")
            }
            Source::Static(_) => write!(f, "static keys"),
            Source::Metadata { endpoint, .. } => write!(f, "ECS metadata at {endpoint}"),
            Source::Agency { base, agency } => write!(f, "{agency}, signed with {base}"),
            Source::Oidc {
                idp_id,
                id_token,
                then,
                ..
            } => {
                write!(f, "OIDC id token ")?;
                match id_token {
                    IdToken::Inline(_) => write!(f, "(inline)")?,
                    IdToken::File(path) => write!(f, "from {}", path.display())?,
                }
                write!(f, " of identity provider {idp_id}")?;
                match then {
                    Some(agency) => write!(f, ", then {agency}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for Agency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = match &self.account {
            AgencyAccount::Name(name) => format!("account {name}"),
            AgencyAccount::Id(id) => format!("account id {id}"),
        };
        write!(f, "agency {} of {account}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_source_and_never_a_secret() {
        let base = Source::Static(Credentials {
            access_key: "AK".into(),
            secret_key: Secret::new("very-secret"),
            security_token: None,
        });
        let agency = Agency {
            name: "rds-upgrader".into(),
            account: AgencyAccount::Name("ops".into()),
            duration: 3600,
            session_name: None,
        };
        let assumed = Source::Agency {
            base: Box::new(base),
            agency: agency.clone(),
        };
        assert_eq!(
            assumed.to_string(),
            "agency rds-upgrader of account ops, signed with static keys"
        );
        let oidc = Source::Oidc {
            idp_id: "github".into(),
            id_token: IdToken::Inline(Secret::new("eyJ.secret.jwt")),
            duration: 3600,
            then: Some(agency),
        };
        let shown = format!("{oidc} {oidc:?}");
        assert!(
            !shown.contains("eyJ") && !shown.contains("very-secret"),
            "{shown}"
        );
        assert!(oidc.renews() && !Source::Static(Credentials::default()).renews());
    }
}
