//! The provider driven in process through its real protocol layer, in memory: a tonic
//! client calls the tfplugin6 gRPC service of [`hwrds::tfplugin::routes`] (the server's
//! rules, identity handling and message limits) as a tower service, with no plugin
//! process and no socket. It sends the messages Terraform sends for the
//! `hwrds_db_minor_upgrade` resource — ConfigureProvider, ValidateResourceConfig,
//! PlanResourceChange, ApplyResourceChange, ReadResource, ImportResourceState — and
//! decodes the answers back into cty values, private data, replacement paths and
//! [`Diagnostics`]. Defaults, computed values unknown in a plan and a create's new state
//! wholly known and true to the plan are the server's doing, not this harness's.
//!
//! For fast tables of the resource's rules; tests through real Terraform prove the rest
//! of the wiring (tests/upgrade_resource.rs and others).

use std::sync::Arc;

use hwrds::cty::{AttributePath, PathStep, Type, Value, msgpack};
use hwrds::provider::HwrdsProvider;
use hwrds::schema::Block;
use hwrds::tfplugin::client::{self as tf, provider_client::ProviderClient};
use hwrds::tfplugin::{Diagnostic, Diagnostics, Provider, Severity};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use super::{ACCESS_KEY, Emulator, SECRET_KEY};

/// The resource type under test.
pub const RESOURCE: &str = "hwrds_db_minor_upgrade";

/// The summaries of the errors the server gives when a new state breaks the protocol's
/// rules: a value left unknown, or a value the plan knew changed.
const BROKEN_RULES: [&str; 2] = [
    "Provider left a value unknown",
    "Provider produced an inconsistent result",
];

/// A provider configured through its gRPC service, and the resource's schema.
pub struct InProcess {
    client: ProviderClient<Routes>,
    block: Block,
}

/// What a plan of the resource gave: the planned state, its private data (what
/// Terraform 1.16+ hands back to the final plan), replacement paths and diagnostics.
#[derive(Debug)]
pub struct Planned {
    pub planned: Value,
    pub private: Vec<u8>,
    pub requires_replace: Vec<AttributePath>,
    pub diagnostics: Diagnostics,
    /// The planned identity, which the apply gets back as Terraform sends it.
    identity: Option<tf::ResourceIdentityData>,
}

impl InProcess {
    /// A provider configured for `emu` as a user would configure it (endpoint, region,
    /// credentials), not pacing an emulator that meters nothing, plus the provider
    /// arguments `extra`. Panics with the diagnostics when the configuration fails.
    pub async fn configured(emu: &Emulator, extra: &[(&str, Value)]) -> InProcess {
        let provider = HwrdsProvider::new();
        let provider_type = provider.schema().block.value_type();
        let block = provider
            .resources()
            .into_iter()
            .find(|r| r.type_name() == RESOURCE)
            .unwrap_or_else(|| panic!("the provider offers {RESOURCE}"))
            .schema()
            .block;
        let routes = hwrds::tfplugin::routes(Arc::new(provider), CancellationToken::new());
        let tf = InProcess {
            client: ProviderClient::new(routes),
            block,
        };
        let mut config = Value::null_object(&provider_type);
        for (name, value) in [
            ("endpoint", emu.url.as_str()),
            ("region", "ap-southeast-1"),
            ("access_key", ACCESS_KEY),
            ("secret_key", SECRET_KEY),
            ("metadata_endpoint", super::NO_METADATA),
        ] {
            config.set_attr(name, Value::string(value));
        }
        if !emu.flow_control_enabled() {
            config.set_attr("api_quota_per_minute", Value::int(1_000_000));
        }
        for (name, value) in extra {
            config.set_attr(name, value.clone());
        }
        let answer = tf
            .client()
            .configure_provider(tf::configure_provider::Request {
                terraform_version: "1.16.0".into(),
                config: Some(dynamic(&config, &provider_type)),
                client_capabilities: Some(capabilities()),
            })
            .await
            .expect("ConfigureProvider")
            .into_inner();
        let diagnostics = diagnostics(&answer.diagnostics);
        assert!(
            !diagnostics.has_errors(),
            "the provider is configured: {diagnostics:?}"
        );
        tf
    }

    /// The resource's schema block.
    pub fn block(&self) -> Block {
        self.block.clone()
    }

    /// `resource "hwrds_db_minor_upgrade" { instance_id = …, <extra> }`: every other
    /// argument null.
    pub fn config(&self, instance_id: &str, extra: &[(&str, Value)]) -> Value {
        let mut config = Value::null_object(&self.block.value_type());
        config.set_attr("instance_id", Value::string(instance_id));
        for (name, value) in extra {
            config.set_attr(name, value.clone());
        }
        config
    }

    /// A `timeouts { <operation> = <duration> }` block value.
    pub fn timeouts(&self, operation: &str, duration: &str) -> Value {
        let nested = self
            .block
            .blocks
            .iter()
            .find(|b| b.name == "timeouts")
            .expect("the resource has a timeouts block");
        let mut value = Value::null_object(&nested.block.value_type());
        value.set_attr(operation, Value::string(duration));
        value
    }

    /// ValidateResourceConfig.
    pub async fn validate(&self, config: &Value) -> Diagnostics {
        let answer = self
            .client()
            .validate_resource_config(tf::validate_resource_config::Request {
                type_name: RESOURCE.into(),
                config: Some(self.dynamic(config)),
                client_capabilities: Some(capabilities()),
            })
            .await
            .expect("ValidateResourceConfig")
            .into_inner();
        diagnostics(&answer.diagnostics)
    }

    /// The plan of creating the resource with `config` (`first_plan_private`: empty in
    /// a first plan, the first plan's private data in the final plan of Terraform 1.16+).
    /// The proposed new state is the configuration, as Terraform proposes it.
    pub async fn plan_create(&self, config: &Value, first_plan_private: Vec<u8>) -> Planned {
        self.plan(config, &Value::Null, config, first_plan_private)
            .await
    }

    /// The plan of an existing resource whose state is `prior`, its configuration
    /// `config`: the proposed new state is `config` with each computed attribute it
    /// leaves null kept from `prior`, as Terraform proposes it (top-level attributes
    /// only: the resource's one nested block, `timeouts`, has no computed attributes).
    pub async fn plan_existing(&self, config: &Value, prior: &Value) -> Planned {
        let mut proposed = config.clone();
        for attr in self.block.attributes.iter().filter(|a| a.is_computed()) {
            if config.get_attr(&attr.name).is_none_or(Value::is_null)
                && let Some(kept) = prior.get_attr(&attr.name)
            {
                proposed.set_attr(&attr.name, kept.clone());
            }
        }
        self.plan(config, prior, &proposed, Vec::new()).await
    }

    /// PlanResourceChange.
    async fn plan(
        &self,
        config: &Value,
        prior: &Value,
        proposed: &Value,
        first_plan_private: Vec<u8>,
    ) -> Planned {
        let answer = self
            .client()
            .plan_resource_change(tf::plan_resource_change::Request {
                type_name: RESOURCE.into(),
                prior_state: Some(self.dynamic(prior)),
                proposed_new_state: Some(self.dynamic(proposed)),
                config: Some(self.dynamic(config)),
                planned_private: first_plan_private,
                client_capabilities: Some(capabilities()),
                ..Default::default()
            })
            .await
            .expect("PlanResourceChange")
            .into_inner();
        Planned {
            planned: self.value(answer.planned_state.as_ref()),
            private: answer.planned_private,
            requires_replace: answer.requires_replace.iter().map(path).collect(),
            diagnostics: diagnostics(&answer.diagnostics),
            identity: answer.planned_identity,
        }
    }

    /// ApplyResourceChange of a create as `plan` planned it. Panics when the server
    /// finds that the new state breaks the protocol's rules (a value left unknown, a
    /// planned value changed).
    pub async fn create(&self, config: &Value, plan: &Planned) -> Applied {
        let answer = self
            .client()
            .apply_resource_change(tf::apply_resource_change::Request {
                type_name: RESOURCE.into(),
                prior_state: Some(self.dynamic(&Value::Null)),
                planned_state: Some(self.dynamic(&plan.planned)),
                config: Some(self.dynamic(config)),
                planned_private: plan.private.clone(),
                planned_identity: plan.identity.clone(),
                ..Default::default()
            })
            .await
            .expect("ApplyResourceChange")
            .into_inner();
        let diagnostics = diagnostics(&answer.diagnostics);
        let broken: Vec<&Diagnostic> = diagnostics
            .iter()
            .filter(|d| BROKEN_RULES.contains(&d.summary.as_str()))
            .collect();
        assert!(
            broken.is_empty(),
            "the new state breaks the protocol's rules: {broken:?}"
        );
        Applied {
            state: self.state(answer.new_state.as_ref()),
            diagnostics,
        }
    }

    /// ReadResource of `state`.
    pub async fn read(&self, state: &Value) -> Applied {
        let answer = self
            .client()
            .read_resource(tf::read_resource::Request {
                type_name: RESOURCE.into(),
                current_state: Some(self.dynamic(state)),
                client_capabilities: Some(capabilities()),
                ..Default::default()
            })
            .await
            .expect("ReadResource")
            .into_inner();
        Applied {
            state: self.state(answer.new_state.as_ref()),
            diagnostics: diagnostics(&answer.diagnostics),
        }
    }

    /// ApplyResourceChange of a destroy of `prior` (planned state and configuration
    /// null, as Terraform sends them).
    pub async fn delete(&self, prior: &Value) -> Diagnostics {
        let answer = self
            .client()
            .apply_resource_change(tf::apply_resource_change::Request {
                type_name: RESOURCE.into(),
                prior_state: Some(self.dynamic(prior)),
                planned_state: Some(self.dynamic(&Value::Null)),
                config: Some(self.dynamic(&Value::Null)),
                ..Default::default()
            })
            .await
            .expect("ApplyResourceChange")
            .into_inner();
        diagnostics(&answer.diagnostics)
    }

    /// ImportResourceState by id.
    pub async fn import(&self, id: &str) -> Applied {
        let answer = self
            .client()
            .import_resource_state(tf::import_resource_state::Request {
                type_name: RESOURCE.into(),
                id: id.into(),
                client_capabilities: Some(capabilities()),
                ..Default::default()
            })
            .await
            .expect("ImportResourceState")
            .into_inner();
        assert!(
            answer.imported_resources.len() <= 1,
            "one object imported at most: {:?}",
            answer.imported_resources
        );
        Applied {
            state: answer
                .imported_resources
                .first()
                .and_then(|imported| self.state(imported.state.as_ref())),
            diagnostics: diagnostics(&answer.diagnostics),
        }
    }

    /// A client of the service; each call takes its own, so that calls may overlap.
    fn client(&self) -> ProviderClient<Routes> {
        self.client.clone()
    }

    /// A value of the resource's type as Terraform sends it.
    fn dynamic(&self, value: &Value) -> tf::DynamicValue {
        dynamic(value, &self.block.value_type())
    }

    /// A value of the resource's type from the server (msgpack); null when absent, as
    /// in an answer to a request the server could not take.
    fn value(&self, value: Option<&tf::DynamicValue>) -> Value {
        match value {
            Some(value) if !value.msgpack.is_empty() => {
                msgpack::decode(&value.msgpack, &self.block.value_type())
                    .expect("the server's value decodes")
            }
            _ => Value::Null,
        }
    }

    /// A new state from the server: None when it is null (no object).
    fn state(&self, value: Option<&tf::DynamicValue>) -> Option<Value> {
        Some(self.value(value)).filter(|state| !state.is_null())
    }
}

/// `value` of type `ty` encoded as Terraform sends it (msgpack).
fn dynamic(value: &Value, ty: &Type) -> tf::DynamicValue {
    tf::DynamicValue {
        msgpack: msgpack::encode(value, ty).expect("a value of its type encodes"),
        json: Vec::new(),
    }
}

/// What Terraform 1.16 announces.
fn capabilities() -> tf::ClientCapabilities {
    tf::ClientCapabilities {
        write_only_attributes_allowed: true,
        store_planned_private: true,
        ..Default::default()
    }
}

/// The server's diagnostics as the crate's.
fn diagnostics(found: &[tf::Diagnostic]) -> Diagnostics {
    Diagnostics(
        found
            .iter()
            .map(|d| Diagnostic {
                severity: match tf::diagnostic::Severity::try_from(d.severity) {
                    Ok(tf::diagnostic::Severity::Error) => Severity::Error,
                    Ok(tf::diagnostic::Severity::Warning) => Severity::Warning,
                    _ => panic!("a diagnostic of no known severity: {d:?}"),
                },
                summary: d.summary.clone(),
                detail: d.detail.clone(),
                path: d.attribute.as_ref().map(path),
            })
            .collect(),
    )
}

/// A path from the server as the crate's.
fn path(found: &tf::AttributePath) -> AttributePath {
    use tf::attribute_path::step::Selector;
    AttributePath(
        found
            .steps
            .iter()
            .map(|step| match &step.selector {
                Some(Selector::AttributeName(name)) => PathStep::Attribute(name.clone()),
                Some(Selector::ElementKeyString(key)) => PathStep::ElementKeyString(key.clone()),
                Some(Selector::ElementKeyInt(index)) => PathStep::ElementKeyInt(*index),
                None => panic!("a path step with no selector in {found:?}"),
            })
            .collect(),
    )
}

/// The outcome of a create, read or import: the new state, if any, and diagnostics.
#[derive(Debug)]
pub struct Applied {
    pub state: Option<Value>,
    pub diagnostics: Diagnostics,
}

impl Applied {
    /// The new state of an operation that had to succeed; panics with `what` and the
    /// diagnostics otherwise.
    #[track_caller]
    pub fn ok(&self, what: &str) -> &Value {
        assert!(
            !self.diagnostics.has_errors(),
            "{what}: {:?}",
            self.diagnostics
        );
        self.state
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no state"))
    }
}

/// The one diagnostic of `severity` whose summary is `summary`; panics, naming `case`,
/// when there is none or more than one.
#[track_caller]
pub fn the_diagnostic<'a>(
    diagnostics: &'a Diagnostics,
    severity: Severity,
    summary: &str,
    case: &str,
) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == severity && d.summary == summary)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{case}: one {severity:?} {summary:?} in {diagnostics:?}"
    );
    found[0]
}

/// The path of a top-level attribute, as diagnostics carry it.
pub fn at(name: &str) -> Option<AttributePath> {
    Some(AttributePath::attribute(name))
}

/// The errors among `diagnostics`.
pub fn errors(diagnostics: &Diagnostics) -> Vec<&Diagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}
