//! Resolution of the provider block: every setting read from the block, the environment
//! or its default, the shared config file's profile where both leave credentials, region
//! or project id unset, and the checks across settings. The result is one typed value,
//! [`ResolvedConfig`], or every error found, together with the warnings.

use super::Env;
use super::read::Reader;
use super::settings::{
    ACCEPT_NEWER_TARGET, ACCESS_KEY, API_QUOTA_PER_MINUTE, ENDPOINT, FAILURE_BUDGET, IAM_ENDPOINT,
    INSECURE, MAX_CONCURRENT_UPGRADES, MAX_REQUESTS_PER_SECOND, MAX_RETRIES, PROFILE, PROJECT_ID,
    REGION, SECRET_KEY, SECURITY_TOKEN, SHARED_CONFIG_FILE,
};
use super::shared_config::{self, LoadError};
use crate::cty::{AttributePath, Value};
use crate::rds::credentials::{Credentials, Secret};
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
    if let Some(path) = read.text(&SHARED_CONFIG_FILE) {
        let profile = read.text(&PROFILE);
        match shared_config::load(&path, profile.as_deref(), env("HOME").as_deref()) {
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

    let credentials = identity.credentials(&mut read.diags);
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
    fn credentials(&mut self, diags: &mut Diagnostics) -> Option<Credentials> {
        let missing = match (self.access_key.take(), self.secret_key.take()) {
            (Some(access_key), Some(secret_key)) => {
                return Some(Credentials {
                    access_key,
                    secret_key,
                    security_token: self.security_token.take(),
                });
            }
            (None, None) => (
                ACCESS_KEY.name,
                "No credentials",
                "Set access_key and secret_key in the provider block, HW_ACCESS_KEY and HW_SECRET_KEY in the environment, or shared_config_file (HW_SHARED_CONFIG_FILE) with a profile holding them.",
            ),
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
        None
    }
}
