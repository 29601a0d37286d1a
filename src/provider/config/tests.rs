//! The provider block as a whole: the schema and validation from the table, resolution
//! with its fallbacks, and every diagnostic reported together.

use super::settings::{Kind, TABLE};
use super::*;
use crate::cty::{AttributePath, Number};
use crate::rds::ClientConfig;
use crate::tfplugin::Diagnostic;

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

/// The keys and region, and one more variable.
fn env_with(extra: (&'static str, &'static str)) -> impl Fn(&str) -> Option<String> {
    move |name: &str| match name {
        "HW_ACCESS_KEY" | "HW_SECRET_KEY" | "HW_REGION_NAME" => Some("x".to_string()),
        _ if name == extra.0 => Some(extra.1.to_string()),
        _ => None,
    }
}

fn paths(diags: &Diagnostics) -> Vec<AttributePath> {
    diags.iter().filter_map(|d| d.path.clone()).collect()
}

fn find<'a>(diags: &'a Diagnostics, summary: &str) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| d.summary == summary)
        .unwrap_or_else(|| panic!("no {summary:?} in {diags:?}"))
}

#[test]
fn the_schema_is_the_table() {
    let schema = schema();
    let nested = &schema.block.blocks[0];
    assert_eq!(nested.name, settings::ASSUME_ROLE);
    let attributes = || {
        schema
            .block
            .attributes
            .iter()
            .chain(nested.block.attributes.iter())
    };
    let names: Vec<_> = attributes().map(|a| &a.name).collect();
    let rows: Vec<_> = TABLE.iter().map(|s| s.name).collect();
    assert_eq!(names, rows);
    let sensitive: Vec<_> = attributes()
        .filter(|a| a.sensitive)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(sensitive, ["secret_key", "security_token", "id_token"]);
    let mut env_vars: Vec<_> = TABLE.iter().map(|s| s.env_var).collect();
    env_vars.sort();
    env_vars.dedup();
    assert_eq!(env_vars.len(), TABLE.len(), "one variable per setting");
}

#[test]
fn descriptions_tell_the_variable_range_and_default_of_the_table() {
    for setting in TABLE {
        let text = setting.description;
        assert!(text.contains(&format!("`{}`", setting.env_var)), "{text}");
        let (range, default) = match &setting.kind {
            Kind::Whole { range, default } => (
                format!("{}-{}", range.start(), range.end()),
                default.map(|d| d.to_string()),
            ),
            Kind::Decimal { range, default } => (
                format!("{}-{}", range.start(), range.end()),
                default.map(|d| d.to_string()),
            ),
            _ => continue,
        };
        assert!(text.contains(&range), "{range} in {text}");
        if let Some(default) = default {
            assert!(text.contains(&format!("default {default}.")), "{text}");
        }
    }
}

#[test]
fn env_fallbacks_defaults_and_secrets() {
    let env = |name: &str| match name {
        "HW_ACCESS_KEY" => Some("AK".to_string()),
        "HW_SECRET_KEY" => Some("SK-secret".to_string()),
        "HW_REGION_NAME" => Some("ap-southeast-1".to_string()),
        _ => None,
    };
    let (resolved, diags) = resolve(&config(&[]), &env).unwrap();
    assert!(diags.is_empty());
    let client = &resolved.client;
    assert_eq!(client.region.as_deref(), Some("ap-southeast-1"));
    assert_eq!(client.retry.max_retries, 5);
    assert_eq!(client.api_quota_per_minute, 60, "the standard policy");
    assert_eq!((client.requests_per_second, client.burst), (20.0, 40));
    assert!(!client.insecure && !resolved.accept_newer_target);
    assert_eq!(resolved.limits, Default::default(), "no cap, no budget");
    assert!(!format!("{resolved:?}").contains("SK-secret"));
    let (resolved, _) = resolve(&config(&[("region", Value::string("cn-north-4"))]), &env).unwrap();
    assert_eq!(resolved.client.region.as_deref(), Some("cn-north-4"));
}

#[test]
fn the_client_and_the_table_share_their_defaults() {
    let (resolved, _) = resolve(&config(&[]), &env_with(("", ""))).unwrap();
    let ClientConfig {
        retry,
        requests_per_second,
        burst,
        api_quota_per_minute,
        ..
    } = ClientConfig::new(resolved.client.credentials.clone());
    let client = &resolved.client;
    assert_eq!(client.retry.max_retries, retry.max_retries);
    assert_eq!(client.requests_per_second, requests_per_second);
    assert_eq!(client.burst, burst);
    assert_eq!(client.api_quota_per_minute, api_quota_per_minute);
}

#[test]
fn errors_point_at_attributes() {
    let err = resolve(&config(&[("access_key", Value::string("AK"))]), &no_env).unwrap_err();
    let at = paths(&err);
    assert!(at.contains(&AttributePath::attribute("secret_key")));
    assert!(at.contains(&AttributePath::attribute("region")));
    let diags = validate(&config(&[
        ("endpoint", Value::string("http://example.com")),
        ("max_retries", Value::int(99)),
    ]));
    assert_eq!(
        paths(&diags),
        vec![
            AttributePath::attribute("endpoint"),
            AttributePath::attribute("max_retries")
        ]
    );
    assert_eq!(
        find(&diags, "Invalid max_retries").detail,
        "max_retries must be a whole number from 0 to 20, not 99."
    );
}

#[test]
fn validation_leaves_unknown_values_for_configure() {
    let unknown = config(&[
        ("endpoint", Value::Unknown),
        ("max_retries", Value::Unknown),
        ("insecure", Value::Unknown),
    ]);
    assert!(validate(&unknown).is_empty());
    let known = config(&[("max_retries", Value::int(21))]);
    let err = resolve(&known, &env_with(("", ""))).unwrap_err();
    assert_eq!(paths(&err), [AttributePath::attribute("max_retries")]);
}

#[test]
fn every_diagnostic_is_reported_together() {
    let block = config(&[
        ("insecure", Value::Bool(true)),
        ("max_retries", Value::int(99)),
    ]);
    let env = |name: &str| match name {
        "HWRDS_FAILURE_BUDGET" => Some("none".to_string()),
        "HWRDS_ACCEPT_NEWER_TARGET" => Some("maybe".to_string()),
        other => env_with(("", ""))(other),
    };
    let err = resolve(&block, &env).unwrap_err();
    let warning = find(&err, "TLS certificate verification is off");
    assert_eq!(warning.path, Some(AttributePath::attribute("insecure")));
    for (summary, attribute) in [
        ("Invalid max_retries", "max_retries"),
        ("Invalid HWRDS_FAILURE_BUDGET", "failure_budget"),
        ("Invalid HWRDS_ACCEPT_NEWER_TARGET", "accept_newer_target"),
    ] {
        assert_eq!(
            find(&err, summary).path,
            Some(AttributePath::attribute(attribute))
        );
    }
    assert_eq!(err.0.len(), 4, "{err:?}");

    // The same from the environment alone.
    let env = |name: &str| match name {
        "HW_INSECURE" => Some("true".to_string()),
        "HW_MAX_RETRIES" => Some("abc".to_string()),
        other => env_with(("", ""))(other),
    };
    let err = resolve(&config(&[]), &env).unwrap_err();
    find(&err, "TLS certificate verification is off");
    assert_eq!(
        find(&err, "Invalid HW_MAX_RETRIES").detail,
        "HW_MAX_RETRIES=\"abc\" is not a whole number from 0 to 20."
    );
}

#[test]
fn fleet_limits_from_config_or_env() {
    let env = env_with(("HWRDS_MAX_CONCURRENT_UPGRADES", " 4 "));
    let (resolved, _) = resolve(&config(&[]), &env).unwrap();
    assert_eq!(resolved.limits.max_concurrent_upgrades, Some(4));
    assert_eq!(resolved.limits.failure_budget, None, "unset: no budget");
    let block = config(&[
        ("max_concurrent_upgrades", Value::int(2)),
        ("failure_budget", Value::int(1)),
    ]);
    let (resolved, _) = resolve(&block, &env).unwrap();
    assert_eq!(
        (
            resolved.limits.max_concurrent_upgrades,
            resolved.limits.failure_budget
        ),
        (Some(2), Some(1)),
        "the block wins"
    );
    for name in ["max_concurrent_upgrades", "failure_budget"] {
        for bad in [Value::int(0), Value::Number(Number::Float(1.5))] {
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
    let err = resolve(&config(&[]), &bad_env).unwrap_err();
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
fn api_quota_and_rate_from_config_or_env() {
    let env = env_with(("HWRDS_API_QUOTA_PER_MINUTE", " 600 "));
    let (resolved, _) = resolve(&config(&[]), &env).unwrap();
    assert_eq!(resolved.client.api_quota_per_minute, 600);
    let high = config(&[("api_quota_per_minute", Value::int(1_000_000))]);
    let (resolved, _) = resolve(&high, &env).unwrap();
    assert_eq!(
        resolved.client.api_quota_per_minute, 1_000_000,
        "the block wins"
    );
    for bad in [
        Value::int(0),
        Value::int(1_000_001),
        Value::Number(Number::Float(1.5)),
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

    let env = env_with(("HWRDS_MAX_REQUESTS_PER_SECOND", "0.5"));
    let (resolved, _) = resolve(&config(&[]), &env).unwrap();
    let client = &resolved.client;
    assert_eq!((client.requests_per_second, client.burst), (0.5, 1));
    let err = validate(&config(&[("max_requests_per_second", Value::int(0))]));
    assert_eq!(
        find(&err, "Invalid max_requests_per_second").detail,
        "max_requests_per_second must be a number from 0.1 to 1000, not 0."
    );
    let err = resolve(
        &config(&[]),
        &env_with(("HWRDS_MAX_REQUESTS_PER_SECOND", "NaN")),
    );
    let err = err.unwrap_err();
    assert_eq!(
        find(&err, "Invalid HWRDS_MAX_REQUESTS_PER_SECOND").detail,
        "HWRDS_MAX_REQUESTS_PER_SECOND=\"NaN\" is not a number from 0.1 to 1000."
    );
}

#[test]
fn accept_newer_target_from_config_or_env() {
    let accept = |block: &Value, value: &'static str| {
        resolve(block, &env_with(("HWRDS_ACCEPT_NEWER_TARGET", value)))
            .map(|(resolved, _)| resolved.accept_newer_target)
    };
    let unset = config(&[]);
    assert_eq!(accept(&unset, ""), Ok(false), "refuses by default");
    assert_eq!(accept(&unset, " TRUE "), Ok(true));
    assert_eq!(accept(&unset, "0"), Ok(false));
    let block = config(&[("accept_newer_target", Value::Bool(false))]);
    assert_eq!(accept(&block, "true"), Ok(false), "the block wins");
    let err = accept(&unset, "yes please").unwrap_err();
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
    assert!(resolved.client.insecure);
    assert_eq!(diags.0[0].path, Some(AttributePath::attribute("insecure")));
    assert_eq!(
        resolved.client.iam_endpoint.as_deref(),
        Some("http://127.0.0.1:1")
    );
}

#[test]
fn endpoints_from_the_environment_are_checked() {
    let env = env_with(("HWRDS_IAM_ENDPOINT", "http://rds.example.com"));
    let err = resolve(&config(&[]), &env).unwrap_err();
    let invalid = find(&err, "Invalid endpoint");
    assert_eq!(invalid.path, Some(AttributePath::attribute("iam_endpoint")));
    assert!(
        invalid.detail.starts_with("From the environment: "),
        "{invalid:?}"
    );
    let empty = validate(&config(&[("endpoint", Value::string(" "))]));
    assert_eq!(
        find(&empty, "Empty setting").path,
        Some(AttributePath::attribute("endpoint"))
    );
    assert_eq!(empty.0.len(), 1, "{empty:?}");
}

/// The `assume_role` block with these attributes.
fn assume_role(pairs: &[(&str, &str)]) -> (&'static str, Value) {
    let attrs: Vec<(&str, Value)> = pairs.iter().map(|(k, v)| (*k, Value::string(*v))).collect();
    ("assume_role", Value::object(attrs))
}

#[test]
fn sources_are_chosen_in_the_documented_order() {
    use crate::rds::credentials::{AgencyAccount, IdToken, Source};
    let region = |name: &str| (name == "HW_REGION_NAME").then(|| "r".to_string());
    // No keys anywhere: the metadata server, naming what was tried before it.
    let (resolved, _) = resolve(&config(&[]), &region).unwrap();
    match &resolved.client.credentials {
        Source::Metadata { endpoint, tried } => {
            assert_eq!(endpoint, "http://169.254.169.254");
            assert!(
                tried.iter().any(|t| t.contains("HW_ACCESS_KEY")),
                "{tried:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // An agency over the environment's keys, from the block.
    let block = assume_role(&[("agency_name", "upgrader"), ("domain_name", "ops")]);
    let (resolved, _) = resolve(&config(&[block]), &env_with(("", ""))).unwrap();
    match &resolved.client.credentials {
        Source::Agency { base, agency } => {
            assert!(matches!(**base, Source::Static(_)));
            assert_eq!(agency.account, AgencyAccount::Name("ops".into()));
            assert_eq!(agency.duration, 3600);
        }
        other => panic!("{other:?}"),
    }
    // OIDC from the environment, its token file first, then the agency.
    let env = |name: &str| {
        let value = match name {
            "HW_REGION_NAME" => "r",
            "HW_ASSUME_ROLE_IDP_ID" => "github",
            "HW_ASSUME_ROLE_ID_TOKEN_FILE" => "/run/token",
            "HW_ASSUME_ROLE_ID_TOKEN" => "inline",
            "HW_ASSUME_ROLE_AGENCY_NAME" => "upgrader",
            "HW_ASSUME_ROLE_DOMAIN_ID" => "d1",
            "HW_ASSUME_ROLE_DURATION" => "900",
            _ => return None,
        };
        Some(value.to_string())
    };
    let (resolved, _) = resolve(&config(&[]), &env).unwrap();
    match &resolved.client.credentials {
        Source::Oidc {
            idp_id,
            id_token,
            duration,
            then: Some(agency),
        } => {
            assert_eq!((idp_id.as_str(), *duration), ("github", 900));
            assert_eq!(id_token, &IdToken::File("/run/token".into()));
            assert_eq!(agency.account, AgencyAccount::Id("d1".into()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn assume_role_errors_point_into_the_block() {
    let at = |name: &str| {
        AttributePath::attribute("assume_role").join(crate::cty::PathStep::Attribute(name.into()))
    };
    let cases = [
        (
            assume_role(&[("agency_name", "upgrader")]),
            "agency_name",
            "Agency without an account",
        ),
        (
            assume_role(&[("idp_id", "github")]),
            "id_token_file",
            "No OIDC id token",
        ),
        (
            assume_role(&[
                ("agency_name", "a"),
                ("domain_name", "d"),
                ("session_name", "1x"),
            ]),
            "session_name",
            "Invalid session_name",
        ),
    ];
    for (block, attribute, summary) in cases {
        let diags = resolve(&config(&[block]), &env_with(("", ""))).unwrap_err();
        assert_eq!(find(&diags, summary).path, Some(at(attribute)), "{diags:?}");
    }
    let diags = resolve(&config(&[]), &env_with(("HW_ASSUME_ROLE_DURATION", "60"))).unwrap_err();
    assert_eq!(
        find(&diags, "Invalid HW_ASSUME_ROLE_DURATION").path,
        Some(at("duration"))
    );
}
