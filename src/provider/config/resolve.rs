//! Resolution of the provider block: every setting read from the block, the environment
//! or its default, the shared config file's profile where both leave credentials, region
//! or project id unset, and the checks across settings. The result is one typed value,
//! [`ResolvedConfig`], or every error found, together with the warnings.

use super::Env;
use super::read::Reader;
use super::settings::{
    ACCEPT_NEWER_TARGET, ACCESS_KEY, AGENCY_NAME, API_QUOTA_PER_MINUTE, DOMAIN_ID, DOMAIN_NAME,
    DURATION, ENDPOINT, ENTERPRISE_PROJECT_ID, FAILURE_BUDGET, IAM_ENDPOINT, ID_TOKEN,
    ID_TOKEN_FILE, IDP_ID, INSECURE, MAX_CONCURRENT_UPGRADES, MAX_REQUESTS_PER_SECOND, MAX_RETRIES,
    METADATA_ENDPOINT, PROFILE, PROJECT_ID, REGION, SECRET_KEY, SECURITY_TOKEN, SESSION_NAME,
    SHARED_CONFIG_FILE,
};
use super::shared_config::{self, LoadError};
use crate::cty::{AttributePath, Value};
use crate::rds::credentials::{Agency, AgencyAccount, Credentials, IdToken, Secret, Source};
use crate::rds::{ClientConfig, defaults};
use crate::tfplugin::{Diagnostic, Diagnostics};
use crate::upgrade::fleet_gate::Limits;

/// The provider block resolved: what `configure` gives the RDS client, the fleet gate,
/// and the last look before a submission.
#[derive(Debug)]
pub struct ResolvedConfig {
    pub client: ClientConfig,
    pub limits: Limits,
    /// Whether an apply installs a target newer than the plan's.
    pub accept_newer_target: bool,
}

/// The settings that identify the caller, before the shared config file fills gaps.
struct Identity {
    access_key: Option<String>,
    secret_key: Option<Secret>,
    security_token: Option<Secret>,
    region: Option<String>,
    project_id: Option<String>,
}

/// Resolves the configuration with environment fallbacks and defaults. `Ok` holds the
/// warnings; `Err` holds every error and every warning.
pub fn resolve(config: &Value, env: Env) -> Result<(ResolvedConfig, Diagnostics), Diagnostics> {
    let mut read = Reader::new(config, env);
    let mut identity = Identity {
        region: read.text(&REGION),
        project_id: read.text(&PROJECT_ID),
        access_key: read.text(&ACCESS_KEY),
        secret_key: read.text(&SECRET_KEY).map(Secret::new),
        security_token: read.text(&SECURITY_TOKEN).map(Secret::new),
    };
    let endpoint = read.text(&ENDPOINT);
    let iam_endpoint = read.text(&IAM_ENDPOINT).or_else(|| endpoint.clone());
    let shared_config_file = read.text(&SHARED_CONFIG_FILE);
    if let Some(path) = &shared_config_file {
        let profile = read.text(&PROFILE);
        match shared_config::load(path, profile.as_deref(), env("HOME").as_deref()) {
            Ok(found) => identity.fill_from(found),
            Err(error) => {
                let attribute = match error {
                    LoadError::NoProfile { .. } => PROFILE.name,
                    _ => SHARED_CONFIG_FILE.name,
                };
                read.diags.push(Diagnostic::error_at(
                    AttributePath::attribute(attribute),
                    "Cannot use the shared config file",
                    error.to_string(),
                ));
            }
        }
    }
    let insecure = read.flag(&INSECURE);
    if insecure {
        read.diags.push(Diagnostic::warning_at(
            AttributePath::attribute(INSECURE.name),
            "TLS certificate verification is off",
            "insecure = true: the provider does not verify the API's TLS certificate, so anyone on the network path could read your requests. Use it only against a test endpoint.",
        ));
    }
    let max_retries = read.whole(&MAX_RETRIES);
    let requests_per_second = read.decimal(&MAX_REQUESTS_PER_SECOND);
    let api_quota_per_minute = read.whole(&API_QUOTA_PER_MINUTE);
    let limits = Limits {
        max_concurrent_upgrades: read.whole(&MAX_CONCURRENT_UPGRADES),
        failure_budget: read.whole(&FAILURE_BUDGET),
    };
    let accept_newer_target = read.flag(&ACCEPT_NEWER_TARGET);
    let enterprise_project_id = read.text(&ENTERPRISE_PROJECT_ID);

    let has_shared_config = shared_config_file.is_some();
    let keys = identity.credentials(&mut read.diags);
    let credentials = source(&mut read, keys, has_shared_config);
    if identity.region.is_none() && identity.project_id.is_none() {
        read.diags.push(Diagnostic::error_at(
            AttributePath::attribute(REGION.name),
            "No region",
            "Set region in the provider block or HW_REGION_NAME in the environment (or give project_id).",
        ));
    }
    let Some(credentials) = credentials.filter(|_| !read.diags.has_errors()) else {
        return Err(read.diags);
    };

    // Unset, each keeps the client's default: the table's default is the same constant.
    let mut client = ClientConfig::new(credentials);
    client.region = identity.region;
    client.project_id = identity.project_id;
    client.endpoint = endpoint;
    client.iam_endpoint = iam_endpoint;
    client.insecure = insecure;
    client.enterprise_project_id = enterprise_project_id;
    if let Some(max_retries) = max_retries {
        client.retry.max_retries = max_retries;
    }
    if let Some(rate) = requests_per_second {
        client.requests_per_second = rate;
        client.burst = defaults::burst(rate);
    }
    if let Some(quota) = api_quota_per_minute {
        client.api_quota_per_minute = quota;
    }
    let resolved = ResolvedConfig {
        client,
        limits,
        accept_newer_target,
    };
    Ok((resolved, read.diags))
}

impl Identity {
    /// Takes from the shared config file's profile what the block and the environment
    /// left unset; its keys only when neither key is set, so that keys never mix.
    fn fill_from(&mut self, profile: shared_config::Profile) {
        if self.access_key.is_none() && self.secret_key.is_none() {
            self.access_key = profile.access_key;
            self.secret_key = profile.secret_key;
            self.security_token = self.security_token.take().or(profile.security_token);
        }
        self.region = self.region.take().or(profile.region);
        self.project_id = self.project_id.take().or(profile.project_id);
        tracing::debug!(profile = %profile.name, "using the shared config file's profile");
    }

    /// The credentials, or an error at the key that is missing.
    /// `Ok(None)` when no key is set at all (another source may give them).
    fn credentials(&mut self, diags: &mut Diagnostics) -> Result<Option<Credentials>, ()> {
        let missing = match (self.access_key.take(), self.secret_key.take()) {
            (Some(access_key), Some(secret_key)) => {
                return Ok(Some(Credentials {
                    access_key,
                    secret_key,
                    security_token: self.security_token.take(),
                }));
            }
            (None, None) => return Ok(None),
            (Some(_), None) => (
                SECRET_KEY.name,
                "Incomplete credentials",
                "access_key is set but secret_key is not (nor HW_SECRET_KEY).",
            ),
            (None, Some(_)) => (
                ACCESS_KEY.name,
                "Incomplete credentials",
                "secret_key is set but access_key is not (nor HW_ACCESS_KEY).",
            ),
        };
        let (attribute, summary, detail) = missing;
        diags.push(Diagnostic::error_at(
            AttributePath::attribute(attribute),
            summary,
            detail,
        ));
        Err(())
    }
}

/// The sources that give keys before the metadata server, as the "no credentials"
/// error lists them.
fn sources_tried(has_shared_config: bool) -> Vec<String> {
    let mut tried = vec![
        "the provider block (access_key, secret_key)".to_string(),
        "the environment (HW_ACCESS_KEY, HW_SECRET_KEY)".to_string(),
    ];
    tried.push(if has_shared_config {
        "the shared config file's profile".to_string()
    } else {
        "a shared config file (shared_config_file, HW_SHARED_CONFIG_FILE: not set)".to_string()
    });
    tried.push("OIDC (assume_role.idp_id, HW_ASSUME_ROLE_IDP_ID: not set)".to_string());
    tried
}

/// Where the credentials come from, in the documented order: OIDC when an identity
/// provider is set (then the agency, if one is named); else the static keys (the block,
/// the environment, the profile) or, without any, the ECS metadata server — assuming
/// the agency with them when one is named. `None` after an error.
fn source(
    read: &mut Reader<'_>,
    keys: Result<Option<Credentials>, ()>,
    has_shared_config: bool,
) -> Option<Source> {
    let metadata = read
        .text(&METADATA_ENDPOINT)
        .unwrap_or_else(|| crate::rds::credentials::source::METADATA_ENDPOINT.to_string());
    let duration = read.whole(&DURATION).unwrap_or(3_600);
    let agency = agency(read, duration);
    let idp_id = read.text(&IDP_ID);
    let id_token = read.text(&ID_TOKEN).map(Secret::new);
    let id_token_file = read.text(&ID_TOKEN_FILE);
    let keys = keys.ok()?;
    let agency = agency.ok()?;
    if let Some(idp_id) = idp_id {
        let id_token = match (id_token, id_token_file) {
            (_, Some(path)) => IdToken::File(path.into()),
            (Some(token), None) => IdToken::Inline(token),
            (None, None) => {
                read.diags.push(Diagnostic::error_at(
                    ID_TOKEN_FILE.path(),
                    "No OIDC id token",
                    "idp_id (HW_ASSUME_ROLE_IDP_ID) is set but neither id_token_file (HW_ASSUME_ROLE_ID_TOKEN_FILE) nor id_token (HW_ASSUME_ROLE_ID_TOKEN) is.",
                ));
                return None;
            }
        };
        return Some(Source::Oidc {
            idp_id,
            id_token,
            duration,
            then: agency,
        });
    }
    let base = match keys {
        Some(keys) => Source::Static(keys),
        None => Source::Metadata {
            endpoint: metadata,
            tried: sources_tried(has_shared_config),
        },
    };
    Some(match agency {
        Some(agency) => Source::Agency {
            base: Box::new(base),
            agency,
        },
        None => base,
    })
}

/// The agency of the `assume_role` block, if it names one; `Err` after a diagnostic.
fn agency(read: &mut Reader<'_>, duration: u32) -> Result<Option<Agency>, ()> {
    let name = read.text(&AGENCY_NAME);
    let domain_name = read.text(&DOMAIN_NAME);
    let domain_id = read.text(&DOMAIN_ID);
    let session_name = read.text(&SESSION_NAME);
    let Some(name) = name else {
        return Ok(None);
    };
    let account = match (domain_id, domain_name) {
        (Some(id), _) => AgencyAccount::Id(id),
        (None, Some(name)) => AgencyAccount::Name(name),
        (None, None) => {
            read.diags.push(Diagnostic::error_at(
                AGENCY_NAME.path(),
                "Agency without an account",
                "agency_name (HW_ASSUME_ROLE_AGENCY_NAME) needs the account it belongs to: domain_name (HW_ASSUME_ROLE_DOMAIN_NAME) or domain_id (HW_ASSUME_ROLE_DOMAIN_ID).",
            ));
            return Err(());
        }
    };
    if let Some(session) = &session_name {
        let ok = (5..=64).contains(&session.len())
            && session.starts_with(|c: char| c.is_ascii_alphabetic())
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            read.diags.push(Diagnostic::error_at(
                SESSION_NAME.path(),
                "Invalid session_name",
                format!("session_name {session:?} must be 5-64 letters, digits, '-' or '_', starting with a letter."),
            ));
            return Err(());
        }
    }
    Ok(Some(Agency {
        name,
        account,
        duration,
        session_name,
    }))
}
