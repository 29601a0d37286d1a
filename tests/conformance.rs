//! Protocol conformance with real Terraform. This test binary is also the provider under
//! test: when Terraform launches it (the plugin cookie is set) it serves `hwrdstest`, a
//! minimal provider built only for these tests, through the same plugin host and
//! tfplugin6 layer as hwrds. Otherwise it runs the scenarios below against Terraform
//! 1.15.5 and 1.6.6 and reports like the standard test harness.

pub mod common;

use std::sync::Arc;

use hwrds::cty::{AttributePath, Type, Value};
use hwrds::schema::{Attribute, Block, NestedBlock, Schema};
use hwrds::tfplugin::{
    Ctx, DataSource, Diagnostic, Diagnostics, Plan, Provider, Resource, StateResult,
};

struct TestProvider;

#[async_trait::async_trait]
impl Provider for TestProvider {
    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Test provider").attribute(Attribute::optional(
                "greeting",
                Type::String,
                "A provider-level setting.",
            )),
        }
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing)]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(Echo)]
    }
    async fn configure(&self, _ctx: &Ctx, config: &Value, _v: &str) -> Diagnostics {
        match config.get_attr("greeting").and_then(Value::as_str) {
            Some("fail") => Diagnostics::from(Diagnostic::error_at(
                AttributePath::attribute("greeting"),
                "Bad greeting",
                "greeting must not be \"fail\"",
            )),
            _ => Diagnostics::default(),
        }
    }
}

/// `hwrdstest_thing`: every attribute kind, a nested block, replacement and import.
struct Thing;

fn thing_schema() -> Schema {
    let rule = Block::new("A rule.")
        .attribute(Attribute::required("port", Type::Number, "Port."))
        .attribute(Attribute::optional("proto", Type::String, "Protocol."));
    Schema {
        version: 1,
        block: Block::new("A test thing.")
            .attribute(Attribute::computed("id", Type::String, "Identifier.").stable())
            .attribute(
                Attribute::required(
                    "name",
                    Type::String,
                    "Name; changing it replaces the thing.",
                )
                .requires_replace(),
            )
            .attribute(Attribute::optional("size", Type::Number, "Size."))
            .attribute(
                Attribute::optional("enabled", Type::Bool, "Enabled.").default(Value::Bool(true)),
            )
            .attribute(Attribute::optional(
                "tags",
                Type::map(Type::String),
                "Tags.",
            ))
            .attribute(Attribute::optional(
                "items",
                Type::list(Type::String),
                "Items.",
            ))
            .attribute(Attribute::optional(
                "labels",
                Type::set(Type::String),
                "Labels.",
            ))
            .attribute(Attribute::optional("secret", Type::String, "A secret.").sensitive())
            .attribute(Attribute::computed(
                "name_length",
                Type::Number,
                "Length of name, known at plan.",
            ))
            .attribute(Attribute::computed(
                "revision",
                Type::Number,
                "Bumped by every update.",
            ))
            .attribute(Attribute::optional(
                "wait_seconds",
                Type::Number,
                "Create waits this long, or until Terraform stops the provider.",
            ))
            .attribute(Attribute::computed(
                "interrupted",
                Type::Bool,
                "Whether StopProvider cut the create short.",
            ))
            .block(NestedBlock::list("rule", rule)),
    }
}

#[async_trait::async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &'static str {
        "hwrdstest_thing"
    }
    fn schema(&self) -> Schema {
        thing_schema()
    }
    async fn validate_config(&self, config: &Value) -> Diagnostics {
        match config.get_attr("name").and_then(Value::as_str) {
            Some("") => Diagnostics::from(Diagnostic::error_at(
                AttributePath::attribute("name"),
                "Empty name",
                "name must not be empty",
            )),
            _ => Diagnostics::default(),
        }
    }
    async fn modify_plan(&self, _ctx: &Ctx, plan: &mut Plan) -> Diagnostics {
        if let Some(name) = plan.planned.get_attr("name").and_then(Value::as_str) {
            let len = name.chars().count() as i64;
            plan.planned.set_attr("name_length", Value::int(len));
        }
        Diagnostics::default()
    }
    async fn create(&self, ctx: &Ctx, planned: &Value, _c: &Value, _p: &[u8]) -> StateResult {
        let mut state = planned.clone();
        let name = planned
            .get_attr("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        state.set_attr("id", Value::string(format!("thing-{name}")));
        state.set_attr("revision", Value::int(1));
        let wait = planned
            .get_attr("wait_seconds")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let interrupted = tokio::select! {
            _ = ctx.cancel.cancelled() => true,
            _ = tokio::time::sleep(std::time::Duration::from_secs_f64(wait)) => false,
        };
        state.set_attr("interrupted", Value::Bool(interrupted));
        let mut result = StateResult::ok(state);
        if interrupted {
            result.diagnostics.push(Diagnostic::warning(
                "Stopped early",
                "Terraform stopped the provider; the object is recorded as it is.",
            ));
        }
        result
    }
    async fn update(
        &self,
        _ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        _c: &Value,
        _p: &[u8],
    ) -> StateResult {
        let mut state = planned.clone();
        state.set_attr("interrupted", Value::Bool(false));
        state.set_attr("id", prior.get_attr("id").cloned().unwrap_or(Value::Null));
        let revision = prior
            .get_attr("revision")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        state.set_attr("revision", Value::int(revision + 1));
        StateResult::ok(state)
    }
    async fn delete(&self, _ctx: &Ctx, _prior: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn read(&self, _ctx: &Ctx, state: &Value, private: &[u8]) -> StateResult {
        StateResult {
            state: Some(state.clone()),
            private: private.to_vec(),
            diagnostics: Diagnostics::default(),
        }
    }
    async fn import(&self, _ctx: &Ctx, id: &str) -> StateResult {
        let Some(name) = id.strip_prefix("thing-") else {
            return StateResult::error(Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("expected thing-<name>, got {id:?}"),
            )));
        };
        let mut state = Value::null_object(&thing_schema().block.value_type());
        state.set_attr("id", Value::string(id));
        state.set_attr("name", Value::string(name));
        state.set_attr("enabled", Value::Bool(true));
        state.set_attr("name_length", Value::int(name.chars().count() as i64));
        state.set_attr("revision", Value::int(1));
        state.set_attr("interrupted", Value::Bool(false));
        state.set_attr("rule", Value::List(Vec::new()));
        StateResult::ok(state)
    }
}

/// `hwrdstest_echo`: returns its input upper-cased.
struct Echo;

#[async_trait::async_trait]
impl DataSource for Echo {
    fn type_name(&self) -> &'static str {
        "hwrdstest_echo"
    }
    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Echo.")
                .attribute(Attribute::required("input", Type::String, "Input."))
                .attribute(Attribute::computed(
                    "output",
                    Type::String,
                    "Input in upper case.",
                )),
        }
    }
    async fn read(&self, _ctx: &Ctx, config: &Value) -> StateResult {
        let mut state = config.clone();
        let input = config
            .get_attr("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        state.set_attr("output", Value::string(input.to_uppercase()));
        StateResult::ok(state)
    }
}

// ---------------------------------------------------------------- scenarios

use common::Workspace;

const HEADER: &str = r#"
terraform {
  required_providers {
    hwrdstest = { source = "hwrds/hwrdstest" }
  }
}
provider "hwrdstest" {}
"#;

fn workspace(terraform: std::path::PathBuf, body: &str) -> Workspace {
    let exe = std::env::current_exe().expect("test binary path");
    Workspace::new(
        terraform,
        &[("hwrds/hwrdstest", &exe)],
        &format!("{HEADER}{body}"),
    )
}

const FULL: &str = r#"
resource "hwrdstest_thing" "a" {
  name   = "alpha"
  size   = 3.5
  tags   = { team = "db", tier = "gold" }
  items  = ["x", "y"]
  labels = ["l1", "l2"]
  secret = "s3cr3t-value"
  rule {
    port  = 5432
    proto = "tcp"
  }
  rule {
    port = 3306
  }
}

resource "hwrdstest_thing" "b" {
  name = hwrdstest_thing.a.id
}

data "hwrdstest_echo" "e" {
  input = "gamma"
}

resource "hwrdstest_thing" "c" {
  name = data.hwrdstest_echo.e.output
}

output "b_name" {
  value = hwrdstest_thing.b.name
}
"#;

fn lifecycle(terraform: std::path::PathBuf) {
    let ws = workspace(terraform, FULL);
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        2,
        "first plan should show changes:\n{}",
        plan.all()
    );
    let out = plan.all();
    assert!(out.contains("Plan: 3 to add"), "{out}");
    assert!(
        out.contains("(sensitive value)"),
        "secret must be hidden in the plan:\n{out}"
    );
    assert!(!out.contains("s3cr3t-value"), "{out}");
    assert!(
        out.contains("name_length = 5"),
        "a computed value set at plan time is shown:\n{out}"
    );
    assert!(out.contains("(known after apply)"), "{out}");

    ws.apply().assert_ok();
    let a = ws.resource_attributes("hwrdstest_thing.a");
    assert_eq!(a["id"], "thing-alpha");
    assert_eq!(a["enabled"], true, "default applied");
    assert_eq!(a["size"], 3.5);
    assert_eq!(a["tags"]["tier"], "gold");
    assert_eq!(a["items"], serde_json::json!(["x", "y"]));
    assert_eq!(a["rule"][0]["port"], 5432);
    assert_eq!(a["rule"][1]["proto"], serde_json::Value::Null);
    let b = ws.resource_attributes("hwrdstest_thing.b");
    assert_eq!(
        b["name"], "thing-alpha",
        "a value unknown at plan flowed between resources"
    );
    let c = ws.resource_attributes("hwrdstest_thing.c");
    assert_eq!(
        c["name"], "GAMMA",
        "a data source's result reached a resource"
    );

    let again = ws.plan();
    assert_eq!(again.code, 0, "second plan must be empty:\n{}", again.all());

    // An in-place update: computed values refresh, nothing is replaced.
    ws.write(
        "main.tf",
        &format!("{HEADER}{}", FULL.replace("size   = 3.5", "size   = 4")),
    );
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.all().contains("1 to change, 0 to destroy"),
        "{}",
        plan.all()
    );
    ws.apply().assert_ok();
    assert_eq!(ws.resource_attributes("hwrdstest_thing.a")["revision"], 2);
    assert_eq!(ws.plan().code, 0);

    // A requires_replace attribute forces a new object.
    ws.write(
        "main.tf",
        &format!(
            "{HEADER}{}",
            FULL.replace("\"alpha\"", "\"beta\"")
                .replace("size   = 3.5", "size   = 4")
        ),
    );
    let plan = ws.plan();
    let out = plan.all();
    assert!(out.contains("must be replaced"), "{out}");
    assert!(out.contains("forces replacement"), "{out}");
    assert!(
        out.contains("2 to add, 0 to change, 2 to destroy"),
        "a and its dependent b:\n{out}"
    );
    ws.apply().assert_ok();
    assert_eq!(
        ws.resource_attributes("hwrdstest_thing.b")["name"],
        "thing-beta"
    );
    assert_eq!(
        ws.resource_attributes("hwrdstest_thing.a")["id"],
        "thing-beta"
    );
    assert_eq!(ws.plan().code, 0);

    let destroy = ws.run(&["destroy", "-auto-approve"]);
    destroy.assert_ok();
    assert!(destroy.all().contains("3 destroyed"), "{}", destroy.all());
    assert!(
        ws.state()["resources"]
            .as_array()
            .is_none_or(|r| r.is_empty())
    );
}

fn import_both_ways(terraform: std::path::PathBuf, with_block: bool) {
    let body = r#"
resource "hwrdstest_thing" "x" {
  name = "imp"
}
"#;
    let ws = workspace(terraform, body);
    if with_block {
        ws.write(
            "import.tf",
            "import {\n  to = hwrdstest_thing.x\n  id = \"thing-imp\"\n}\n",
        );
        let plan = ws.plan();
        assert!(plan.all().contains("1 to import"), "{}", plan.all());
        ws.apply().assert_ok();
    } else {
        let run = ws.run(&["import", "hwrdstest_thing.x", "thing-imp"]);
        run.assert_ok();
        assert!(run.all().contains("Import successful"), "{}", run.all());
        let bad = ws.run(&["import", "hwrdstest_thing.x", "nope"]);
        assert_ne!(bad.code, 0);
        assert!(bad.all().contains("expected thing-<name>"), "{}", bad.all());
    }
    assert_eq!(
        ws.resource_attributes("hwrdstest_thing.x")["id"],
        "thing-imp"
    );
    let plan = ws.plan();
    assert_eq!(
        plan.code,
        0,
        "imported object matches its config:\n{}",
        plan.all()
    );
}

fn diagnostics_point_at_lines(terraform: std::path::PathBuf) {
    let body = "resource \"hwrdstest_thing\" \"bad\" {\n  name = \"\"\n}\n";
    let ws = workspace(terraform.clone(), body);
    let run = ws.run(&["validate"]);
    assert_ne!(run.code, 0);
    let out = run.all();
    assert!(out.contains("Empty name"), "{out}");
    assert!(
        out.contains("main.tf line"),
        "diagnostic points at the line:\n{out}"
    );
    assert!(
        out.contains("name = \"\""),
        "the offending line is shown:\n{out}"
    );

    let ws = workspace(terraform, "");
    ws.write(
        "main.tf",
        &format!(
            "{}\nresource \"hwrdstest_thing\" \"t\" {{ name = \"n\" }}\n",
            HEADER.replace(
                "provider \"hwrdstest\" {}",
                "provider \"hwrdstest\" {\n  greeting = \"fail\"\n}"
            )
        ),
    );
    let run = ws.plan();
    assert_eq!(run.code, 1);
    assert!(run.all().contains("Bad greeting"), "{}", run.all());
    assert!(run.all().contains("greeting = \"fail\""), "{}", run.all());
}

/// Ctrl-C during an apply: Terraform calls StopProvider, the in-flight create sees the
/// cancellation and returns its state, which Terraform records. The plugin survives the
/// SIGINT until then.
fn interrupt_returns_state(terraform: std::path::PathBuf) {
    let body = "resource \"hwrdstest_thing\" \"slow\" {\n  name         = \"slow\"\n  wait_seconds = 120\n}\n";
    let ws = workspace(terraform, body);
    let run = ws.run_interrupted(
        &["apply", "-auto-approve", "-no-color"],
        "Creating...",
        std::time::Duration::from_millis(500),
    );
    let text = run.all();
    assert!(text.contains("Interrupt received"), "{text}");
    let attrs = ws.resource_attributes("hwrdstest_thing.slow");
    assert_eq!(
        attrs["interrupted"], true,
        "the create returned early with its state: {text}"
    );
    assert_eq!(attrs["id"], "thing-slow");
}

fn schema_has_descriptions(terraform: std::path::PathBuf) {
    let exe = std::env::current_exe().expect("test binary path");
    let main_tf = r#"
terraform {
  required_providers {
    hwrds     = { source = "hwrds/hwrds" }
    hwrdstest = { source = "hwrds/hwrdstest" }
  }
}
"#;
    let ws = Workspace::new(
        terraform,
        &[
            ("hwrds/hwrds", &common::hwrds_binary()),
            ("hwrds/hwrdstest", &exe),
        ],
        main_tf,
    );
    let run = ws.run(&["providers", "schema", "-json"]);
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("schema JSON");
    let schemas = &json["provider_schemas"];
    let hwrds = schemas
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.ends_with("hwrds/hwrds"))
                .map(|(_, v)| v.clone())
        })
        .expect("hwrds schema present");
    let attrs = &hwrds["provider"]["block"]["attributes"];
    for name in [
        "region",
        "project_id",
        "access_key",
        "secret_key",
        "security_token",
        "endpoint",
        "iam_endpoint",
        "insecure",
        "max_retries",
    ] {
        let description = attrs[name]["description"].as_str().unwrap_or_default();
        assert!(description.len() > 20, "{name} has a description: {attrs}");
    }
    assert_eq!(attrs["secret_key"]["sensitive"], true);
    assert_eq!(attrs["security_token"]["sensitive"], true);
    let test = schemas
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.ends_with("hwrds/hwrdstest"))
                .map(|(_, v)| v.clone())
        })
        .expect("test schema present");
    assert_eq!(test["resource_schemas"]["hwrdstest_thing"]["version"], 1);
}

fn main() {
    if std::env::var(hwrds::plugin::MAGIC_COOKIE_KEY).is_ok() {
        let code = hwrds::plugin::run("0.0.0-test", |shutdown, routes| {
            hwrds::tfplugin::register(Arc::new(TestProvider), shutdown, routes);
        });
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    type Scenario = (&'static str, Box<dyn Fn()>);
    let scenarios: Vec<Scenario> = vec![
        (
            "lifecycle_tf115",
            Box::new(|| lifecycle(common::terraform())),
        ),
        (
            "lifecycle_tf16",
            Box::new(|| lifecycle(common::terraform_16())),
        ),
        (
            "import_cli_tf115",
            Box::new(|| import_both_ways(common::terraform(), false)),
        ),
        (
            "import_block_tf115",
            Box::new(|| import_both_ways(common::terraform(), true)),
        ),
        (
            "import_cli_tf16",
            Box::new(|| import_both_ways(common::terraform_16(), false)),
        ),
        (
            "diagnostics_point_at_lines",
            Box::new(|| diagnostics_point_at_lines(common::terraform())),
        ),
        (
            "schema_has_descriptions",
            Box::new(|| schema_has_descriptions(common::terraform())),
        ),
        (
            "interrupt_returns_state_tf115",
            Box::new(|| interrupt_returns_state(common::terraform())),
        ),
        (
            "interrupt_returns_state_tf16",
            Box::new(|| interrupt_returns_state(common::terraform_16())),
        ),
    ];
    let selected: Vec<&Scenario> = scenarios
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, scenario) in &selected {
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario));
        let status = if result.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {status} ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        if result.is_err() {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() {
        println!(
            "\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n"
        );
    } else {
        println!("\nfailures: {failed:?}");
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
            failed.len()
        );
        std::process::exit(101);
    }
}
