//! Malformed and hostile configurations, table-driven, through real Terraform: each gets
//! a clear diagnostic (at its line where it concerns one attribute), never a crash. The
//! suite counts the distinct bad inputs it tries.

pub mod common;

use common::Emulator;
use common::fixtures::{ORDERS, REPORTING, flat};
use serde_json::json;

/// One bad input: the configuration, environment changes, and what the user must see.
struct Case {
    body: String,
    env: Vec<(&'static str, Option<&'static str>)>,
    /// `plan` (exit 1 expected unless `warning_only`), or `apply`.
    command: &'static str,
    message: &'static str,
    /// A fragment of the offending line Terraform shows, if the input is one attribute.
    line: Option<String>,
    warning_only: bool,
}

fn upgrade(args: &str) -> String {
    format!("resource \"hwrds_db_minor_upgrade\" \"x\" {{\n{args}\n}}\n")
}

fn with_id(id: &str, more: &str) -> String {
    upgrade(&format!("  instance_id = \"{id}\"\n{more}"))
}

fn case(body: String, message: &'static str, line: Option<&str>) -> Case {
    Case {
        body,
        env: Vec::new(),
        command: "plan",
        message,
        line: line.map(str::to_string),
        warning_only: false,
    }
}

fn cases() -> Vec<Case> {
    let long_id = "a".repeat(65);
    let mut cases = vec![
        case(
            with_id("", ""),
            "Invalid instance id",
            Some("instance_id = \"\""),
        ),
        case(
            with_id("   ", ""),
            "must not be empty",
            Some("instance_id = \"   \""),
        ),
        case(
            with_id("a/b", ""),
            "may only contain",
            Some("instance_id = \"a/b\""),
        ),
        case(
            with_id("x y", ""),
            "may only contain",
            Some("instance_id = \"x y\""),
        ),
        case(with_id("💥", ""), "may only contain", None),
        case(with_id(&long_id, ""), "longer than 64 characters", None),
        case(
            with_id("0000000000000000000000000000000in01", ""),
            "RDS instance not found",
            Some("instance_id = \"0000"),
        ),
        case(
            with_id(REPORTING, ""),
            "MySQL and PostgreSQL only",
            Some("instance_id = \"e5f6"),
        ),
        case(
            upgrade("  is_delayed = true"),
            "Missing required argument",
            None,
        ),
        case(
            with_id(ORDERS, "  is_delayed = \"maybe\""),
            "a bool is required",
            Some("is_delayed = \"maybe\""),
        ),
        case(
            with_id(ORDERS, "  second_switch = [1]"),
            "bool required",
            None,
        ),
        case(
            with_id(ORDERS, "  triggers = \"x\""),
            "map of string required",
            None,
        ),
        case(
            with_id(ORDERS, "  triggers = { a = { b = 1 } }"),
            "string required",
            None,
        ),
        case(
            with_id(ORDERS, "  flavour = \"x\""),
            "Unsupported argument",
            Some("flavour"),
        ),
        case(
            with_id(ORDERS, "  timeouts {\n    delete = \"5m\"\n  }"),
            "Unsupported argument",
            Some("delete = \"5m\""),
        ),
    ];
    for bad in ["", "10", "-5m", "10 minutes", "1y", "9999h", "1..5s", "m5"] {
        let body = with_id(
            ORDERS,
            &format!("  timeouts {{\n    create = \"{bad}\"\n  }}"),
        );
        cases.push(case(
            body,
            "Invalid duration",
            Some(&format!("create = \"{bad}\"")),
        ));
    }
    // Conflicting settings: a delayed upgrade waited for is allowed, with a warning.
    let mut conflicting = case(
        with_id(
            ORDERS,
            "  is_delayed          = true\n  wait_for_completion = true",
        ),
        "The apply will wait for the maintenance window",
        Some("wait_for_completion = true"),
    );
    conflicting.warning_only = true;
    cases.push(conflicting);
    // Huge triggers are just data: planned without trouble.
    let huge_value = format!("  triggers = {{ big = \"{}\" }}", "x".repeat(200_000));
    let many_keys: String = (0..2000).map(|i| format!("    k{i} = \"{i}\"\n")).collect();
    for body in [
        with_id(ORDERS, &huge_value),
        with_id(ORDERS, &format!("  triggers = {{\n{many_keys}  }}")),
    ] {
        let mut c = case(body, "hwrds_db_minor_upgrade.x will be created", None);
        c.warning_only = true;
        cases.push(c);
    }
    // An id unknown at plan time is checked at apply, before anything is submitted.
    let mut unknown = case(
        format!(
            "resource \"terraform_data\" \"id\" {{\n  input = \"{REPORTING}\"\n}}\nresource \"hwrds_db_minor_upgrade\" \"x\" {{\n  instance_id = terraform_data.id.output\n}}\n"
        ),
        "MySQL and PostgreSQL only",
        None,
    );
    unknown.command = "apply";
    cases.push(unknown);

    // The provider block and its environment.
    let provider = |block: &str| {
        format!(
            "provider \"hwrds\" {{\n{block}\n}}\n{}",
            with_id(ORDERS, "")
        )
    };
    let env_case = |env: Vec<(&'static str, Option<&'static str>)>, message| Case {
        env,
        ..case(with_id(ORDERS, ""), message, None)
    };
    cases.extend([
        env_case(
            vec![("HW_ACCESS_KEY", None), ("HW_SECRET_KEY", None)],
            "No credentials",
        ),
        // The error lists the sources tried, the metadata address last (loopback here).
        env_case(
            vec![("HW_ACCESS_KEY", None), ("HW_SECRET_KEY", None)],
            "the environment (HW_ACCESS_KEY, HW_SECRET_KEY), a shared config file (shared_config_file, HW_SHARED_CONFIG_FILE: not set), OIDC (assume_role.idp_id, HW_ASSUME_ROLE_IDP_ID: not set) gave none, and ECS metadata at http://127.0.0.1:9 gave none either",
        ),
        env_case(
            vec![("HW_ASSUME_ROLE_AGENCY_NAME", Some("upgrader"))],
            "needs the account it belongs to",
        ),
        env_case(vec![("HW_SECRET_KEY", None)], "Incomplete credentials"),
        env_case(vec![("HW_ACCESS_KEY", None)], "Incomplete credentials"),
        env_case(vec![("HW_REGION_NAME", None)], "No region"),
        env_case(
            vec![("HW_MAX_RETRIES", Some("abc"))],
            "Invalid HW_MAX_RETRIES",
        ),
        env_case(
            vec![("HWRDS_ENDPOINT", Some("http://rds.example.com"))],
            "non-loopback",
        ),
        case(
            provider("  endpoint = \"not a url\""),
            "is not a valid URL",
            Some("endpoint = \"not a url\""),
        ),
        case(
            provider("  endpoint = \"ftp://rds.example.com\""),
            "use https://",
            Some("ftp://"),
        ),
        case(
            provider("  endpoint = \"http://rds.example.com\""),
            "non-loopback",
            Some("http://rds.example.com"),
        ),
        case(
            provider("  iam_endpoint = \"http://10.0.0.1\""),
            "non-loopback",
            Some("http://10.0.0.1"),
        ),
        case(
            provider("  max_retries = 99"),
            "Invalid max_retries",
            Some("max_retries = 99"),
        ),
        case(
            provider("  max_retries = -1"),
            "Invalid max_retries",
            Some("max_retries = -1"),
        ),
        case(
            provider("  max_retries = 1.5"),
            "Invalid max_retries",
            Some("max_retries = 1.5"),
        ),
        case(
            provider("  secret_key = \"only-the-secret\"\n  access_key = \"\""),
            "access_key is set to an empty string",
            Some("access_key = \"\""),
        ),
    ]);
    // The data sources.
    cases.extend([
        case(
            "data \"hwrds_db_instances\" \"x\" {\n  name_regex = \"([\"\n}\n".into(),
            "Invalid regular expression",
            Some("name_regex = \"([\""),
        ),
        case(
            "data \"hwrds_db_instance\" \"x\" {\n  id   = \"a\"\n  name = \"b\"\n}\n".into(),
            "Set either id or name",
            None,
        ),
        case(
            "data \"hwrds_db_instance\" \"x\" {\n}\n".into(),
            "Set id or name",
            None,
        ),
        case(
            "data \"hwrds_db_instance\" \"x\" {\n  name = \"no-such-name\"\n}\n".into(),
            "RDS instance not found",
            Some("name = \"no-such-name\""),
        ),
    ]);
    cases
}

#[test]
fn every_bad_input_gets_a_clear_diagnostic() {
    let emu = Emulator::demo(1.0);
    let cases = cases();
    let mut failures = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let mut ws = common::workspace(&emu, &c.body);
        for (key, value) in &c.env {
            match value {
                Some(v) => ws.set_env(key, v),
                None => ws.unset_env(key),
            }
        }
        let run = match c.command {
            "apply" => ws.run(&["apply", "-auto-approve", "-input=false"]),
            _ => ws.plan(),
        };
        let out = flat(&run.all());
        let expected_code = if c.warning_only { 2 } else { 1 };
        let code_ok = if c.command == "apply" {
            run.code == 1
        } else {
            run.code == expected_code
        };
        let line_ok = c.line.as_ref().is_none_or(|l| out.contains(&flat(l)));
        let crashed = out.contains("panic")
            || out.contains("plugin crashed")
            || out.contains("Plugin did not respond");
        if !code_ok || !out.contains(c.message) || !line_ok || crashed {
            let shown: String = out.chars().take(3000).collect();
            failures.push(format!(
                "case {n} (exit {}): expected {:?} / {:?}\n{}\n{shown}",
                run.code,
                c.message,
                c.line,
                c.body.chars().take(300).collect::<String>()
            ));
        }
    }
    eprintln!("bad inputs tried: {}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert_eq!(
        emu.stats()["upgrade_posts"],
        json!({}),
        "no bad input submitted an upgrade"
    );
}
