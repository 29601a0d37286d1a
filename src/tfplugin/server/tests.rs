//! The layer's rules seen through the tonic service, as Terraform sees them.
use super::*;
use crate::cty::{AttributePath, Type, Value, msgpack};
use crate::schema::{Attribute, Block};
use crate::tfplugin::{Plan, StateResult, convert};

/// A resource whose behaviour each test picks, to exercise the layer's rules.
#[derive(Clone, Copy, PartialEq)]
enum Quirk {
    None,
    /// modify_plan overwrites a configured value.
    ChangesConfig,
    /// create leaves a computed value unknown.
    LeavesUnknown,
    /// create returns a state together with an error (Terraform taints).
    PartialCreate,
}

struct Thing(Quirk);

fn thing_schema() -> Schema {
    Schema {
        version: 1,
        block: Block::new("A thing.")
            .attribute(Attribute::required("name", Type::String, "").requires_replace())
            .attribute(Attribute::optional("note", Type::String, ""))
            .attribute(Attribute::computed("id", Type::String, "").stable()),
    }
}

#[async_trait::async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &'static str {
        "hwrds_thing"
    }
    fn schema(&self) -> Schema {
        thing_schema()
    }
    async fn modify_plan(&self, _ctx: &Ctx, plan: &mut Plan) -> Diagnostics {
        if self.0 == Quirk::ChangesConfig {
            plan.planned.set_attr("note", Value::string("changed"));
        }
        Diagnostics::default()
    }
    async fn create(&self, _: &Ctx, planned: &Value, _: &Value, _: &[u8]) -> StateResult {
        let mut state = planned.clone();
        match self.0 {
            Quirk::LeavesUnknown => {}
            _ => state.set_attr("id", Value::string("t-1")),
        }
        let mut result = StateResult::ok(state);
        if self.0 == Quirk::PartialCreate {
            result
                .diagnostics
                .error("Upgrade job failed", "the job ended in FAIL");
        }
        result
    }
    async fn update(&self, _: &Ctx, _: &Value, p: &Value, _: &Value, _: &[u8]) -> StateResult {
        StateResult::ok(p.clone())
    }
    async fn delete(&self, _: &Ctx, _: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn read(&self, ctx: &Ctx, state: &Value, _: &[u8]) -> StateResult {
        // Reports gone once the provider was asked to stop, so tests can see the token.
        if ctx.cancel.is_cancelled() {
            return StateResult::default();
        }
        StateResult::ok(state.clone())
    }
    async fn import(&self, _: &Ctx, id: &str) -> StateResult {
        StateResult::ok(Value::object([
            ("name", Value::Null),
            ("note", Value::Null),
            ("id", Value::string(id)),
        ]))
    }
}

struct TestProvider(Quirk);

#[async_trait::async_trait]
impl Provider for TestProvider {
    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("test"),
        }
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing(self.0))]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }
    async fn configure(&self, _: &Ctx, _: &Value, _: &str) -> Diagnostics {
        Diagnostics::default()
    }
}

fn service(quirk: Quirk) -> Service {
    Service::new(Arc::new(TestProvider(quirk)), CancellationToken::new())
}

fn ty() -> Type {
    thing_schema().block.value_type()
}

fn dv(value: &Value) -> Option<proto::DynamicValue> {
    let msgpack = msgpack::encode(value, &ty()).expect("test values match the schema");
    Some(proto::DynamicValue {
        msgpack,
        json: Vec::new(),
    })
}

fn val(dv: Option<proto::DynamicValue>) -> Value {
    let bytes = dv.map(|d| d.msgpack).unwrap_or_default();
    msgpack::decode(&bytes, &ty()).expect("the layer encodes valid msgpack")
}

fn thing(name: &str, note: Value, id: Value) -> Value {
    Value::object([("name", Value::string(name)), ("note", note), ("id", id)])
}

async fn plan(
    s: &Service,
    prior: &Value,
    config: &Value,
    proposed: &Value,
) -> proto::plan_resource_change::Response {
    let req = proto::plan_resource_change::Request {
        type_name: "hwrds_thing".into(),
        prior_state: dv(prior),
        proposed_new_state: dv(proposed),
        config: dv(config),
        ..Default::default()
    };
    match s.plan_resource_change(Request::new(req)).await {
        Ok(r) => r.into_inner(),
        Err(status) => panic!("plan failed: {status}"),
    }
}

async fn create(s: &Service, planned: &Value) -> proto::apply_resource_change::Response {
    let req = proto::apply_resource_change::Request {
        type_name: "hwrds_thing".into(),
        prior_state: dv(&Value::Null),
        planned_state: dv(planned),
        config: dv(planned),
        ..Default::default()
    };
    match s.apply_resource_change(Request::new(req)).await {
        Ok(r) => r.into_inner(),
        Err(status) => panic!("apply failed: {status}"),
    }
}

fn summaries(d: &[proto::Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.summary.as_str()).collect()
}

#[tokio::test]
async fn plan_create_update_and_destroy() {
    let s = service(Quirk::None);
    let config = thing("a", Value::Null, Value::Null);
    let created = plan(&s, &Value::Null, &config, &config).await;
    assert!(created.diagnostics.is_empty());
    assert_eq!(
        val(created.planned_state),
        thing("a", Value::Null, Value::Unknown)
    );

    let prior = thing("a", Value::Null, Value::string("t-1"));
    let renamed = thing("b", Value::Null, Value::string("t-1"));
    let replaced = plan(&s, &prior, &thing("b", Value::Null, Value::Null), &renamed).await;
    assert_eq!(
        replaced.requires_replace,
        vec![convert::path(&AttributePath::attribute("name"))]
    );

    let destroyed = plan(&s, &prior, &Value::Null, &Value::Null).await;
    assert_eq!(val(destroyed.planned_state), Value::Null);
    assert!(destroyed.requires_replace.is_empty());
}

#[tokio::test]
async fn a_plan_that_changes_configuration_is_an_error() {
    let s = service(Quirk::ChangesConfig);
    let config = thing("a", Value::string("mine"), Value::Null);
    let r = plan(&s, &Value::Null, &config, &config).await;
    assert_eq!(
        summaries(&r.diagnostics),
        ["Provider changed a configured value"]
    );
    let step = &r.diagnostics[0].attribute.as_ref().expect("path").steps[0];
    assert_eq!(
        step.selector,
        Some(proto::attribute_path::step::Selector::AttributeName(
            "note".into()
        ))
    );
}

#[tokio::test]
async fn apply_requires_a_wholly_known_state() {
    let planned = thing("a", Value::Null, Value::Unknown);
    let r = create(&service(Quirk::LeavesUnknown), &planned).await;
    assert_eq!(summaries(&r.diagnostics), ["Provider left a value unknown"]);
    assert_eq!(val(r.new_state).get_attr("id"), Some(&Value::Null));

    let r = create(&service(Quirk::None), &planned).await;
    assert!(r.diagnostics.is_empty());
    assert_eq!(
        val(r.new_state),
        thing("a", Value::Null, Value::string("t-1"))
    );
}

#[tokio::test]
async fn a_partial_create_keeps_its_state_with_the_error() {
    let planned = thing("a", Value::Null, Value::Unknown);
    let r = create(&service(Quirk::PartialCreate), &planned).await;
    assert_eq!(summaries(&r.diagnostics), ["Upgrade job failed"]);
    assert_eq!(
        val(r.new_state),
        thing("a", Value::Null, Value::string("t-1"))
    );
}

#[tokio::test]
async fn undecodable_values_become_diagnostics() {
    let req = proto::plan_resource_change::Request {
        type_name: "hwrds_thing".into(),
        config: Some(proto::DynamicValue {
            msgpack: vec![0xc1, 0xff],
            json: Vec::new(),
        }),
        ..Default::default()
    };
    let r = service(Quirk::None)
        .plan_resource_change(Request::new(req))
        .await
        .map(Response::into_inner);
    let diags = r.map(|r| r.diagnostics).unwrap_or_default();
    assert_eq!(summaries(&diags), ["Invalid configuration from Terraform"]);

    let req = proto::read_resource::Request {
        type_name: "hwrds_nope".into(),
        ..Default::default()
    };
    let r = service(Quirk::None).read_resource(Request::new(req)).await;
    let diags = r.map(|r| r.into_inner().diagnostics).unwrap_or_default();
    assert_eq!(summaries(&diags), ["Unknown resource type"]);
}

#[tokio::test]
async fn upgrade_decodes_json_and_refuses_flatmap() {
    let s = service(Quirk::None);
    let upgrade = |raw: proto::RawState| proto::upgrade_resource_state::Request {
        type_name: "hwrds_thing".into(),
        version: 0,
        raw_state: Some(raw),
    };
    let json = br#"{"name":"a","note":null,"id":"t-1","gone":true}"#.to_vec();
    let r = s
        .upgrade_resource_state(Request::new(upgrade(proto::RawState {
            json,
            flatmap: Default::default(),
        })))
        .await
        .map(Response::into_inner);
    let r = r.unwrap_or_default();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        val(r.upgraded_state),
        thing("a", Value::Null, Value::string("t-1"))
    );

    let flatmap = [("id".to_string(), "t-1".to_string())].into();
    let r = s
        .upgrade_resource_state(Request::new(upgrade(proto::RawState {
            json: Vec::new(),
            flatmap,
        })))
        .await
        .map(Response::into_inner)
        .unwrap_or_default();
    assert_eq!(summaries(&r.diagnostics), ["Legacy state format"]);
}

#[tokio::test]
async fn stop_provider_reaches_in_flight_calls() {
    let s = service(Quirk::None);
    let state = thing("a", Value::Null, Value::string("t-1"));
    let read = || {
        let req = proto::read_resource::Request {
            type_name: "hwrds_thing".into(),
            current_state: dv(&state),
            ..Default::default()
        };
        Request::new(req)
    };
    let before = s
        .read_resource(read())
        .await
        .map(|r| val(r.into_inner().new_state));
    assert_eq!(before.ok(), Some(state.clone()));
    let stopped = s
        .stop_provider(Request::new(proto::stop_provider::Request {}))
        .await
        .map(|r| r.into_inner().error);
    assert_eq!(stopped.ok().as_deref(), Some(""), "stopped, no error");
    let after = s
        .read_resource(read())
        .await
        .map(|r| val(r.into_inner().new_state));
    assert_eq!(after.ok(), Some(Value::Null));
}

#[tokio::test]
async fn optional_parts_are_empty_or_unimplemented() {
    let s = service(Quirk::None);
    let ids = s
        .get_resource_identity_schemas(Request::new(Default::default()))
        .await
        .map(|r| r.into_inner().identity_schemas.len());
    assert_eq!(ids.ok(), Some(0));
    let functions = s
        .get_functions(Request::new(Default::default()))
        .await
        .map(|r| r.into_inner().functions.len());
    assert_eq!(functions.ok(), Some(0));
    let call = s.call_function(Request::new(Default::default())).await;
    assert_eq!(
        call.err().map(|e| e.code()),
        Some(tonic::Code::Unimplemented)
    );
    let schema = s
        .get_provider_schema(Request::new(Default::default()))
        .await
        .map(Response::into_inner)
        .unwrap_or_default();
    let caps = schema.server_capabilities.unwrap_or_default();
    assert!(!caps.plan_destroy && !caps.get_provider_schema_optional);
    assert_eq!(
        schema.resource_schemas.keys().collect::<Vec<_>>(),
        ["hwrds_thing"]
    );
}
