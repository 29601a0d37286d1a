//! The `hwrds` provider block: its schema, the environment variable fallbacks, and
//! validation with diagnostics at the attribute. Resolves into the RDS client's
//! [`ClientConfig`].

use super::fleet_gate::Limits;
use super::shared_config;
use crate::cty::{AttributePath, Type, Value};
use crate::rds::ClientConfig;
use crate::rds::credentials::{Credentials, Secret};
use crate::rds::endpoints::check_endpoint;
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Diagnostic, Diagnostics};

/// Retries per API call when neither config nor `HW_MAX_RETRIES` says otherwise.
pub const DEFAULT_MAX_RETRIES: i64 = 5;
const MAX_MAX_RETRIES: i64 = 20;

/// Attribute name, environment variable, and description of each string setting.
const STRING_SETTINGS: &[(&str, &str, &str)] = &[
    (
        "region",
        "HW_REGION_NAME",
        "Huawei Cloud region of the RDS instances, e.g. `ap-southeast-1`. Falls back to `HW_REGION_NAME`. Required unless `project_id` is known (the project lookup needs the region).",
    ),
    (
        "project_id",
        "HW_PROJECT_ID",
        "Project id of the region. Falls back to `HW_PROJECT_ID`; when neither is set it is looked up once through IAM.",
    ),
    (
        "access_key",
        "HW_ACCESS_KEY",
        "Access key id (AK). Falls back to `HW_ACCESS_KEY`.",
    ),
    (
        "secret_key",
        "HW_SECRET_KEY",
        "Secret access key (SK). Falls back to `HW_SECRET_KEY`. Never logged nor stored in state.",
    ),
    (
        "security_token",
        "HW_SECURITY_TOKEN",
        "Security token of temporary credentials. Falls back to `HW_SECURITY_TOKEN`.",
    ),
    (
        "endpoint",
        "HWRDS_ENDPOINT",
        "RDS endpoint URL overriding the region's, `https://rds.{region}.myhuaweicloud.com` (`myhuaweicloud.eu` in the EU sovereign cloud, `eu-west-101`), e.g. the hwrds emulator. Falls back to `HWRDS_ENDPOINT`. `http://` is accepted for loopback addresses only.",
    ),
    (
        "iam_endpoint",
        "HWRDS_IAM_ENDPOINT",
        "IAM endpoint URL used to look up the project id, overriding the region's, `https://iam.{region}.myhuaweicloud.com` (`myhuaweicloud.eu` in the EU sovereign cloud, `eu-west-101`). Falls back to `HWRDS_IAM_ENDPOINT`, then to `endpoint` when that is set.",
    ),
    (
        "shared_config_file",
        "HW_SHARED_CONFIG_FILE",
        "Path of the Huawei Cloud CLI's shared config file (e.g. `~/.hcloud/config.json`, written by `hcloud configure` with `--cli-auth-encrypt=false`). Its profile supplies credentials, region and project id where neither this block nor the environment does. Falls back to `HW_SHARED_CONFIG_FILE`.",
    ),
    (
        "profile",
        "HW_PROFILE",
        "Profile of the shared config file to use. Falls back to `HW_PROFILE`, then to the file's `current` profile.",
    ),
];

/// Requests per second all calls of one provider process share when nothing else is set.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 20.0;
const MAX_REQUESTS_PER_SECOND: f64 = 1000.0;

/// Huawei's standard flow-control policy: 60 requests per minute per user for each API.
pub const DEFAULT_API_QUOTA_PER_MINUTE: i64 = 60;
const MAX_API_QUOTA_PER_MINUTE: i64 = 1_000_000;

/// The provider's fleet-safety settings: (attribute, env var, largest value).
const FLEET_SETTINGS: [(&str, &str, i64); 2] = [
    (
        "max_concurrent_upgrades",
        "HWRDS_MAX_CONCURRENT_UPGRADES",
        10_000,
    ),
    ("failure_budget", "HWRDS_FAILURE_BUDGET", 10_000),
];

/// The provider configuration schema.
pub fn schema() -> Schema {
    let mut block = Block::new(
        "The hwrds provider manages Huawei Cloud RDS minor version upgrades. Every argument is optional and falls back to the environment variable named in its description.",
    );
    for (name, _, description) in STRING_SETTINGS {
        let mut attribute = Attribute::optional(name, Type::String, description);
        if matches!(*name, "secret_key" | "security_token") {
            attribute = attribute.sensitive();
        }
        block = block.attribute(attribute);
    }
    block = block
        .attribute(Attribute::optional(
            "insecure",
            Type::Bool,
            "Skip TLS certificate verification of the API endpoints. Falls back to `HW_INSECURE`. Never use it against the real cloud; the provider warns every time it is set.",
        ))
        .attribute(Attribute::optional(
            "max_retries",
            Type::Number,
            "How many times a failed API request (network error, server error) is retried (0-20). Throttled requests (429) are not counted: they are waited out within the operation's timeout. Falls back to `HW_MAX_RETRIES`, default 5.",
        ))
        .attribute(Attribute::optional(
            "max_requests_per_second",
            Type::Number,
            "Rate limit shared by every API call of the provider (0.1-1000 requests per second), on top of each API's flow-control quota; upgrade submissions go ahead of queued reads. Falls back to `HWRDS_MAX_REQUESTS_PER_SECOND`, default 20.",
        ))
        .attribute(Attribute::optional(
            "api_quota_per_minute",
            Type::Number,
            "The flow-control quota of each RDS API for these credentials, in requests per minute (1-1000000). Huawei's standard policy is 60; raise it only if Huawei raised your tenant's quota. The provider paces every API so that no minute holds more, and when the API answers 429 with its policy it follows that policy instead. Falls back to `HWRDS_API_QUOTA_PER_MINUTE`, default 60.",
        ))
        .attribute(Attribute::optional(
            "max_concurrent_upgrades",
            Type::Number,
            "At most this many upgrade jobs of this provider process run at once (submitted and not finished), whatever Terraform's `-parallelism`: further creates and action invocations wait for a slot (logged at INFO, counted against their create timeout; interrupted, they submit nothing and leave nothing in the state). Jobs this run follows again count too; delayed upgrades (`is_delayed`) do not, as they run in the maintenance window. 1-10000; unset means no cap. Falls back to `HWRDS_MAX_CONCURRENT_UPGRADES`.",
        ))
        .attribute(Attribute::optional(
            "failure_budget",
            Type::Number,
            "Once this many upgrade jobs of this provider process have failed, creates and action invocations that have not submitted yet stop with an error naming the failed instances and their fail reasons, submit nothing and leave nothing in the state (the next apply tries them again); jobs already running are followed to the end. 1-10000; unset means no budget. Falls back to `HWRDS_FAILURE_BUDGET`.",
        ))
        .attribute(Attribute::optional(
            ACCEPT_NEWER_TARGET.0,
            Type::Bool,
            "What an apply does when, right before an upgrade is submitted, the API would install a newer minor version than the plan's `target_version` (one released since the plan). `false` (default): it submits nothing and fails at `instance_id`, naming both versions; plan again to review the new one. `true`, for configurations whose plans nobody reviews: it installs the newer version and warns; `target_version` keeps what the plan showed and `version_after` records what was installed. Falls back to `HWRDS_ACCEPT_NEWER_TARGET` (`true` or `false`).",
        ));
    Schema { version: 0, block }
}

/// The setting of what an apply does with a target newer than the plan's: (attribute, env var).
const ACCEPT_NEWER_TARGET: (&str, &str) = ("accept_newer_target", "HWRDS_ACCEPT_NEWER_TARGET");

/// Reads an environment variable (a seam so tests need not touch the process env).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn setting(config: &Value, name: &str, env_var: &str, env: Env) -> Option<String> {
    match config.get_attr(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => env(env_var).filter(|s| !s.is_empty()),
    }
}

fn check_quota(quota: i64) -> Option<u32> {
    (1..=MAX_API_QUOTA_PER_MINUTE)
        .contains(&quota)
        .then_some(quota as u32)
}

fn check_fleet_setting(value: i64, largest: i64) -> Option<u32> {
    (1..=largest).contains(&value).then_some(value as u32)
}

/// A fleet-safety setting from the block or its env var; a diagnostic when invalid.
fn fleet_setting(
    config: &Value,
    (name, env_var, largest): (&str, &str, i64),
    env: Env,
    diags: &mut Diagnostics,
) -> Option<u32> {
    match config.get_attr(name) {
        Some(v @ Value::Number(_)) => v.as_i64().and_then(|n| check_fleet_setting(n, largest)),
        _ => {
            let v = env(env_var).filter(|v| !v.trim().is_empty())?;
            let parsed = v
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| check_fleet_setting(n, largest));
            if parsed.is_none() {
                diags.push(Diagnostic::error_at(
                    AttributePath::attribute(name),
                    format!("Invalid {env_var}"),
                    format!("{env_var}={v:?} is not a whole number from 1 to {largest}."),
                ));
            }
            parsed
        }
    }
}

fn check_rate(rate: f64) -> Result<(), String> {
    if (0.1..=MAX_REQUESTS_PER_SECOND).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "max_requests_per_second must be from 0.1 to {MAX_REQUESTS_PER_SECOND}, not {rate}."
        ))
    }
}

/// Validates what is known of the configuration (values may still be unknown).
pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for (name, env_var, _) in STRING_SETTINGS {
        if let Some(Value::String(value)) = config.get_attr(name)
            && value.trim().is_empty()
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(*name),
                "Empty setting",
                format!("{name} is set to an empty string; give it a value, or remove it to use {env_var}."),
            ));
        }
    }
    for name in ["endpoint", "iam_endpoint"] {
        if let Some(Value::String(url)) = config.get_attr(name)
            && let Err(error) = check_endpoint(url)
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(name),
                "Invalid endpoint",
                error.to_string(),
            ));
        }
    }
    if let Some(v @ Value::Number(_)) = config.get_attr("max_requests_per_second")
        && let Err(message) = check_rate(v.as_f64().unwrap_or(0.0))
    {
        diags.push(Diagnostic::error_at(
            AttributePath::attribute("max_requests_per_second"),
            "Invalid max_requests_per_second",
            message,
        ));
    }
    if let Some(v @ Value::Number(_)) = config.get_attr("api_quota_per_minute")
        && v.as_i64().and_then(check_quota).is_none()
    {
        diags.push(Diagnostic::error_at(
            AttributePath::attribute("api_quota_per_minute"),
            "Invalid api_quota_per_minute",
            format!("api_quota_per_minute must be a whole number from 1 to {MAX_API_QUOTA_PER_MINUTE} (requests per minute per API); Huawei's standard policy is {DEFAULT_API_QUOTA_PER_MINUTE}."),
        ));
    }
    for (name, _, largest) in FLEET_SETTINGS {
        if let Some(v @ Value::Number(_)) = config.get_attr(name)
            && v.as_i64()
                .and_then(|n| check_fleet_setting(n, largest))
                .is_none()
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(name),
                format!("Invalid {name}"),
                format!("{name} must be a whole number from 1 to {largest}; leave it unset for no limit."),
            ));
        }
    }
    if let Some(v @ Value::Number(_)) = config.get_attr("max_retries") {
        match v.as_i64() {
            Some(n) if (0..=MAX_MAX_RETRIES).contains(&n) => {}
            _ => diags.push(Diagnostic::error_at(
                AttributePath::attribute("max_retries"),
                "Invalid max_retries",
                format!("max_retries must be a whole number from 0 to {MAX_MAX_RETRIES}."),
            )),
        }
    }
    diags
}

/// Resolves the configuration with environment fallbacks and checks it is usable.
pub fn resolve(config: &Value, env: Env) -> Result<(ClientConfig, Diagnostics), Diagnostics> {
    let mut diags = validate(config);
    let get = |name: &str| {
        let env_var = STRING_SETTINGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, e, _)| *e)
            .unwrap_or_default();
        setting(config, name, env_var, env)
    };
    let (region, endpoint) = (get("region"), get("endpoint"));
    for (name, value) in [
        ("endpoint", &endpoint),
        ("iam_endpoint", &get("iam_endpoint")),
    ] {
        let from_env = !matches!(config.get_attr(name), Some(Value::String(_)));
        if let (true, Some(url)) = (from_env, value)
            && let Err(error) = check_endpoint(url)
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute(name),
                "Invalid endpoint",
                format!("From the environment: {error}"),
            ));
        }
    }
    let mut access_key = get("access_key");
    let mut secret_key = get("secret_key").map(Secret::new);
    let mut security_token = get("security_token").map(Secret::new);
    let mut region = region;
    let mut project_id = get("project_id");
    if let Some(path) = get("shared_config_file") {
        let profile = get("profile");
        match shared_config::load(&path, profile.as_deref(), env("HOME").as_deref()) {
            Ok(found) => {
                if access_key.is_none() && secret_key.is_none() {
                    access_key = found.access_key;
                    secret_key = found.secret_key;
                    security_token = security_token.or(found.security_token);
                }
                region = region.or(found.region);
                project_id = project_id.or(found.project_id);
                tracing::debug!(profile = %found.name, "using the shared config file's profile");
            }
            Err(error) => {
                let attribute = match error {
                    shared_config::LoadError::NoProfile { .. } => "profile",
                    _ => "shared_config_file",
                };
                diags.push(Diagnostic::error_at(
                    AttributePath::attribute(attribute),
                    "Cannot use the shared config file",
                    error.to_string(),
                ));
            }
        }
    }
    match (&access_key, &secret_key) {
        (Some(_), Some(_)) => {}
        (None, None) => diags.push(Diagnostic::error_at(
            AttributePath::attribute("access_key"),
            "No credentials",
            "Set access_key and secret_key in the provider block, HW_ACCESS_KEY and HW_SECRET_KEY in the environment, or shared_config_file (HW_SHARED_CONFIG_FILE) with a profile holding them.",
        )),
        (Some(_), None) => diags.push(Diagnostic::error_at(
            AttributePath::attribute("secret_key"),
            "Incomplete credentials",
            "access_key is set but secret_key is not (nor HW_SECRET_KEY).",
        )),
        (None, Some(_)) => diags.push(Diagnostic::error_at(
            AttributePath::attribute("access_key"),
            "Incomplete credentials",
            "secret_key is set but access_key is not (nor HW_ACCESS_KEY).",
        )),
    }
    if region.is_none() && project_id.is_none() {
        diags.push(Diagnostic::error_at(
            AttributePath::attribute("region"),
            "No region",
            "Set region in the provider block or HW_REGION_NAME in the environment (or give project_id).",
        ));
    }
    let insecure = match config.get_attr("insecure") {
        Some(Value::Bool(b)) => *b,
        _ => env("HW_INSECURE").is_some_and(|v| matches!(v.as_str(), "true" | "1")),
    };
    if insecure {
        diags.push(Diagnostic::warning_at(
            AttributePath::attribute("insecure"),
            "TLS certificate verification is off",
            "insecure = true: the provider does not verify the API's TLS certificate, so anyone on the network path could read your requests. Use it only against a test endpoint.",
        ));
    }
    let max_retries = match config.get_attr("max_retries").and_then(Value::as_i64) {
        Some(n) => n,
        None => match env("HW_MAX_RETRIES") {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (0..=MAX_MAX_RETRIES).contains(&n) => n,
                _ => {
                    diags.push(Diagnostic::error_at(
                        AttributePath::attribute("max_retries"),
                        "Invalid HW_MAX_RETRIES",
                        format!("HW_MAX_RETRIES={v:?} is not a whole number from 0 to {MAX_MAX_RETRIES}."),
                    ));
                    DEFAULT_MAX_RETRIES
                }
            },
            None => DEFAULT_MAX_RETRIES,
        },
    };
    let requests_per_second = match config
        .get_attr("max_requests_per_second")
        .and_then(Value::as_f64)
    {
        Some(rate) => rate,
        None => match env("HWRDS_MAX_REQUESTS_PER_SECOND") {
            Some(v) => match v
                .trim()
                .parse::<f64>()
                .map_err(|e| e.to_string())
                .and_then(|r| check_rate(r).map(|_| r))
            {
                Ok(rate) => rate,
                Err(_) => {
                    diags.push(Diagnostic::error_at(
                        AttributePath::attribute("max_requests_per_second"),
                        "Invalid HWRDS_MAX_REQUESTS_PER_SECOND",
                        format!("HWRDS_MAX_REQUESTS_PER_SECOND={v:?} is not a number from 0.1 to {MAX_REQUESTS_PER_SECOND}."),
                    ));
                    DEFAULT_REQUESTS_PER_SECOND
                }
            },
            None => DEFAULT_REQUESTS_PER_SECOND,
        },
    };
    let api_quota_per_minute = match config.get_attr("api_quota_per_minute") {
        Some(v @ Value::Number(_)) => v.as_i64().and_then(check_quota),
        _ => match env("HWRDS_API_QUOTA_PER_MINUTE") {
            Some(v) => {
                let quota = v.trim().parse::<i64>().ok().and_then(check_quota);
                if quota.is_none() {
                    diags.push(Diagnostic::error_at(
                        AttributePath::attribute("api_quota_per_minute"),
                        "Invalid HWRDS_API_QUOTA_PER_MINUTE",
                        format!("HWRDS_API_QUOTA_PER_MINUTE={v:?} is not a whole number from 1 to {MAX_API_QUOTA_PER_MINUTE}."),
                    ));
                }
                quota
            }
            None => check_quota(DEFAULT_API_QUOTA_PER_MINUTE),
        },
    };
    if diags.has_errors() {
        return Err(diags);
    }
    let mut client = ClientConfig::new(Credentials {
        access_key: access_key.unwrap_or_default(),
        secret_key: secret_key.unwrap_or_else(|| Secret::new("")),
        security_token,
    });
    client.region = region;
    client.project_id = project_id;
    client.iam_endpoint = get("iam_endpoint").or_else(|| endpoint.clone());
    client.endpoint = endpoint;
    client.insecure = insecure;
    client.retry.max_retries = max_retries.clamp(0, MAX_MAX_RETRIES) as u32;
    client.requests_per_second = requests_per_second;
    client.burst = (requests_per_second * 2.0).ceil().max(1.0) as u32;
    client.api_quota_per_minute =
        api_quota_per_minute.unwrap_or(DEFAULT_API_QUOTA_PER_MINUTE as u32);
    Ok((client, diags))
}

/// The fleet-safety limits (`max_concurrent_upgrades`, `failure_budget`) with their
/// environment fallbacks; errors point at the attribute.
pub fn fleet_limits(config: &Value, env: Env) -> Result<Limits, Diagnostics> {
    let mut diags = Diagnostics::default();
    let [cap, budget] =
        FLEET_SETTINGS.map(|setting| fleet_setting(config, setting, env, &mut diags));
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Limits {
        max_concurrent_upgrades: cap,
        failure_budget: budget,
    })
}

/// Whether an apply installs a target newer than the plan's (`accept_newer_target`, else
/// `HWRDS_ACCEPT_NEWER_TARGET`, else `false`); an unreadable variable is an error at the
/// attribute.
pub fn accept_newer_target(config: &Value, env: Env) -> Result<bool, Diagnostics> {
    let (name, env_var) = ACCEPT_NEWER_TARGET;
    if let Some(Value::Bool(set)) = config.get_attr(name) {
        return Ok(*set);
    }
    match env(env_var)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(Diagnostics::from(Diagnostic::error_at(
            AttributePath::attribute(name),
            format!("Invalid {env_var}"),
            format!("{env_var}={other:?} is neither true nor false."),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, Value)]) -> Value {
        let mut v = Value::null_object(&schema().block.value_type());
        for (k, val) in pairs {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn env_fallbacks_and_secrets() {
        let env = |name: &str| match name {
            "HW_ACCESS_KEY" => Some("AK".to_string()),
            "HW_SECRET_KEY" => Some("SK-secret".to_string()),
            "HW_REGION_NAME" => Some("ap-southeast-1".to_string()),
            _ => None,
        };
        let (resolved, diags) = resolve(&config(&[]), &env).unwrap();
        assert!(diags.is_empty());
        assert_eq!(resolved.region.as_deref(), Some("ap-southeast-1"));
        assert_eq!(resolved.retry.max_retries, 5);
        assert_eq!(resolved.api_quota_per_minute, 60, "the standard policy");
        assert!(!format!("{resolved:?}").contains("SK-secret"));
        let (resolved, _) =
            resolve(&config(&[("region", Value::string("cn-north-4"))]), &env).unwrap();
        assert_eq!(resolved.region.as_deref(), Some("cn-north-4"));
    }

    #[test]
    fn errors_point_at_attributes() {
        let err = resolve(&config(&[("access_key", Value::string("AK"))]), &no_env).unwrap_err();
        let paths: Vec<_> = err.iter().filter_map(|d| d.path.clone()).collect();
        assert!(paths.contains(&AttributePath::attribute("secret_key")));
        assert!(paths.contains(&AttributePath::attribute("region")));
        let diags = validate(&config(&[
            ("endpoint", Value::string("http://example.com")),
            ("max_retries", Value::int(99)),
        ]));
        let paths: Vec<_> = diags.iter().filter_map(|d| d.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                AttributePath::attribute("endpoint"),
                AttributePath::attribute("max_retries")
            ]
        );
    }

    #[test]
    fn fleet_limits_from_config_or_env() {
        let env = |name: &str| match name {
            "HW_ACCESS_KEY" => Some("AK".to_string()),
            "HW_SECRET_KEY" => Some("SK".to_string()),
            "HW_REGION_NAME" => Some("ap-southeast-1".to_string()),
            "HWRDS_MAX_CONCURRENT_UPGRADES" => Some(" 4 ".to_string()),
            _ => None,
        };
        let limits = fleet_limits(&config(&[]), &env).unwrap();
        assert_eq!(limits.max_concurrent_upgrades, Some(4));
        assert_eq!(limits.failure_budget, None, "unset: no budget");
        let block = config(&[
            ("max_concurrent_upgrades", Value::int(2)),
            ("failure_budget", Value::int(1)),
        ]);
        let limits = fleet_limits(&block, &env).unwrap();
        assert_eq!(
            (limits.max_concurrent_upgrades, limits.failure_budget),
            (Some(2), Some(1)),
            "the block wins"
        );
        for name in ["max_concurrent_upgrades", "failure_budget"] {
            for bad in [Value::int(0), Value::Number(crate::cty::Number::Float(1.5))] {
                let err = resolve(&config(&[(name, bad.clone())]), &env).unwrap_err();
                assert_eq!(
                    err.0[0].path,
                    Some(AttributePath::attribute(name)),
                    "{bad:?}"
                );
            }
        }
        let bad_env = |name: &str| match name {
            "HWRDS_FAILURE_BUDGET" => Some("none".to_string()),
            other => env(other),
        };
        let err = fleet_limits(&config(&[]), &bad_env).unwrap_err();
        assert!(
            err.0[0].detail.contains("HWRDS_FAILURE_BUDGET"),
            "{:?}",
            err.0[0]
        );
        assert_eq!(
            err.0[0].path,
            Some(AttributePath::attribute("failure_budget"))
        );
    }

    #[test]
    fn api_quota_from_config_or_env() {
        let env = |name: &str| match name {
            "HW_ACCESS_KEY" | "HW_SECRET_KEY" | "HW_REGION_NAME" => Some("x".to_string()),
            "HWRDS_API_QUOTA_PER_MINUTE" => Some(" 600 ".to_string()),
            _ => None,
        };
        let (resolved, _) = resolve(&config(&[]), &env).unwrap();
        assert_eq!(resolved.api_quota_per_minute, 600);
        let high = config(&[("api_quota_per_minute", Value::int(1_000_000))]);
        let (resolved, _) = resolve(&high, &env).unwrap();
        assert_eq!(resolved.api_quota_per_minute, 1_000_000, "the block wins");
        for bad in [
            Value::int(0),
            Value::int(1_000_001),
            Value::Number(crate::cty::Number::Float(1.5)),
        ] {
            let err = resolve(&config(&[("api_quota_per_minute", bad.clone())]), &env).unwrap_err();
            assert_eq!(
                err.0[0].path,
                Some(AttributePath::attribute("api_quota_per_minute")),
                "{bad:?}"
            );
        }
        let bad_env = |name: &str| match name {
            "HWRDS_API_QUOTA_PER_MINUTE" => Some("lots".to_string()),
            other => env(other),
        };
        let err = resolve(&config(&[]), &bad_env).unwrap_err();
        assert!(
            err.0[0].detail.contains("HWRDS_API_QUOTA_PER_MINUTE"),
            "{:?}",
            err.0[0]
        );
    }

    #[test]
    fn accept_newer_target_from_config_or_env() {
        let env = |value: &'static str| {
            move |name: &str| (name == "HWRDS_ACCEPT_NEWER_TARGET").then(|| value.to_string())
        };
        assert_eq!(
            accept_newer_target(&config(&[]), &no_env),
            Ok(false),
            "refuses by default"
        );
        assert_eq!(accept_newer_target(&config(&[]), &env(" TRUE ")), Ok(true));
        assert_eq!(accept_newer_target(&config(&[]), &env("0")), Ok(false));
        let block = config(&[("accept_newer_target", Value::Bool(false))]);
        assert_eq!(
            accept_newer_target(&block, &env("true")),
            Ok(false),
            "the block wins"
        );
        let err = accept_newer_target(&config(&[]), &env("yes please")).unwrap_err();
        assert_eq!(
            err.0[0].path,
            Some(AttributePath::attribute("accept_newer_target"))
        );
        assert!(err.0[0].detail.contains("yes please"), "{:?}", err.0[0]);
    }

    #[test]
    fn insecure_always_warns() {
        let env = |name: &str| match name {
            "HW_ACCESS_KEY" | "HW_SECRET_KEY" | "HW_REGION_NAME" => Some("x".to_string()),
            "HWRDS_ENDPOINT" => Some("http://127.0.0.1:1".to_string()),
            "HW_INSECURE" => Some("true".to_string()),
            _ => None,
        };
        let (resolved, diags) = resolve(&config(&[]), &env).unwrap();
        assert!(resolved.insecure);
        assert_eq!(diags.0[0].path, Some(AttributePath::attribute("insecure")));
        assert_eq!(resolved.iam_endpoint.as_deref(), Some("http://127.0.0.1:1"));
    }
}
