//! The tfplugin6 protocol layer: a small `Provider` / `Resource` / `DataSource` trait layer
//! and the gRPC service that drives it. This layer — not each resource — enforces the
//! protocol's plan and apply rules and turns errors into diagnostics with attribute paths.
//!
//! Generated prost types never leave this module (but for the few in [`client`] that the
//! plugin host's end-to-end tests send and read); everything above speaks `cty::Value`,
//! `schema::Schema` and [`Diagnostics`].

mod convert;
mod diagnostics;
mod generate;
mod identity;
mod list;
mod rules;
mod server;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cty::{AttributePath, Type, Value};
use crate::schema::Schema;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use list::{ListItem, ListRequest, ListSink};
pub use server::{register, routes};

/// Code generated from proto/tfplugin6.proto. Crate-private: everything above this layer
/// speaks `cty::Value`, `Schema` and [`Diagnostics`]. Generated code holds the whole
/// protocol (empty namespace structs, enum name helpers, the client), not all of which
/// the crate names, hence the allowance.
#[allow(dead_code)]
pub(crate) mod proto {
    tonic::include_proto!("tfplugin6");
}

/// The tfplugin6 client and the messages the tests send and read when they drive the
/// gRPC service as Terraform does, from outside the crate: the plugin host's end-to-end
/// tests over the built provider binary's socket, the in-process harness in memory over
/// [`routes`]. Only these leave the crate; the rest of the generated code stays here.
#[doc(hidden)]
pub mod client {
    pub use super::proto::{
        AttributePath, ClientCapabilities, Diagnostic, DynamicValue, ResourceIdentityData,
        apply_resource_change, attribute_path, configure_provider, diagnostic, get_provider_schema,
        import_resource_state, plan_resource_change, provider_client, read_resource,
        validate_provider_config, validate_resource_config,
    };
}

/// What every call into a provider, resource or data source can see.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Cancelled by StopProvider (Ctrl-C in Terraform) or process shutdown.
    pub cancel: CancellationToken,
}

/// A planned change that a resource may refine.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Value,
    /// None when the resource is being created.
    pub prior: Option<Value>,
    /// The planned new state: the layer has applied defaults and marked computed values
    /// unknown where something changes; the resource may set computed values.
    pub planned: Value,
    /// Extra paths whose change replaces the resource (schema flags are added by the layer).
    pub requires_replace: Vec<AttributePath>,
    pub prior_private: Vec<u8>,
    pub planned_private: Vec<u8>,
    /// In the final plan Terraform makes right before applying a change, the
    /// `planned_private` this resource returned from the plan being applied (Terraform
    /// 1.16+ hands it back; empty otherwise, and in every first plan): what lets a value
    /// planned then be planned again though its source changed meanwhile.
    pub first_plan_private: Vec<u8>,
}

/// The outcome of create/update/read: the new state (None = the object is gone) with
/// private data and diagnostics. A create may return a state together with errors.
#[derive(Debug, Clone, Default)]
pub struct StateResult {
    pub state: Option<Value>,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl StateResult {
    pub fn ok(state: Value) -> Self {
        StateResult {
            state: Some(state),
            ..Default::default()
        }
    }

    pub fn error(diagnostics: Diagnostics) -> Self {
        StateResult {
            state: None,
            private: Vec::new(),
            diagnostics,
        }
    }
}

/// The provider: its configuration schema, configuration, and what it offers.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>>;
    /// Actions (Terraform 1.14+); none by default.
    fn actions(&self) -> Vec<Arc<dyn Action>> {
        Vec::new()
    }
    /// List resources for `terraform query` (Terraform 1.14+); none by default. Each
    /// must share its type name with a managed resource that has an identity.
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        Vec::new()
    }
    async fn validate_config(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn configure(&self, ctx: &Ctx, config: &Value, terraform_version: &str) -> Diagnostics;
}

/// A managed resource type.
#[async_trait::async_trait]
pub trait Resource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate_config(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    /// Refines a plan (never called for destroy).
    async fn modify_plan(&self, _ctx: &Ctx, _plan: &mut Plan) -> Diagnostics {
        Diagnostics::default()
    }
    async fn create(
        &self,
        ctx: &Ctx,
        planned: &Value,
        config: &Value,
        private: &[u8],
    ) -> StateResult;
    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        config: &Value,
        private: &[u8],
    ) -> StateResult;
    async fn delete(&self, ctx: &Ctx, prior: &Value) -> Diagnostics;
    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> StateResult;
    /// The state for `terraform import` (Terraform calls read right after).
    async fn import(&self, ctx: &Ctx, id: &str) -> StateResult;
    /// Turns a stored state of `version` (JSON) into a value of today's schema. The default
    /// decodes it with today's schema (attributes no longer known are dropped).
    fn upgrade_state(&self, _version: i64, json: &[u8]) -> Result<Value, Diagnostics> {
        crate::cty::json::decode(json, &self.schema().block.value_type()).map_err(|e| {
            Diagnostics::from(Diagnostic::error_at(
                e.path.clone(),
                "Stored state could not be read",
                format!("The state of this resource does not match its schema: {e}"),
            ))
        })
    }

    /// The attributes that identify an object of this type (Terraform 1.12+); None: the
    /// type has no identity.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }
    /// The identity of the object a state describes, once it is wholly known. The layer
    /// checks that it never changes for an object.
    fn identity(&self, _state: &Value) -> Option<Value> {
        None
    }
    /// The state for an `import` block that gives an `identity` (Terraform calls read
    /// right after).
    async fn import_by_identity(&self, _ctx: &Ctx, _identity: &Value) -> StateResult {
        StateResult::error(Diagnostics::from(Diagnostic::error(
            "Import by identity not supported",
            format!(
                "{} cannot be imported by identity; import it by id.",
                self.type_name()
            ),
        )))
    }
    /// Turns a stored identity of `version` (JSON) into a value of today's identity
    /// schema. The default decodes it with today's schema.
    fn upgrade_identity(&self, _version: i64, json: &[u8]) -> Result<Value, Diagnostics> {
        let ty = self
            .identity_schema()
            .map(|s| s.value_type())
            .unwrap_or_else(|| Type::object(Vec::<(String, Type)>::new()));
        crate::cty::json::decode(json, &ty).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Stored identity could not be read",
                format!("The identity of this resource does not match its schema: {e}"),
            ))
        })
    }
    /// A state of this type from another resource type's state (a `moved` block across
    /// types or providers, Terraform 1.8+). The default refuses every move.
    fn move_state(&self, source: &MoveSource) -> Result<MovedState, Diagnostics> {
        Err(Diagnostics::from(Diagnostic::error(
            "Move not supported",
            format!(
                "{} cannot take the state of {} (provider {}).",
                self.type_name(),
                source.type_name,
                source.provider_address
            ),
        )))
    }
    /// The configuration `terraform query -generate-config-out` writes for a state: by
    /// default its required and optional arguments, leaving out what the provider
    /// computes and values equal to their defaults.
    fn generate_config(&self, state: &Value) -> Value {
        generate::config_from_state(&self.schema().block, state)
    }
}

/// The identity schema of a managed resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

/// One identity attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    /// Must be given in an `import` block's `identity`.
    pub required_for_import: bool,
    /// May be given; the provider finds it otherwise.
    pub optional_for_import: bool,
}

impl IdentitySchema {
    /// The object type of identity values.
    pub fn value_type(&self) -> Type {
        Type::object(
            self.attributes
                .iter()
                .map(|a| (a.name.as_str(), a.ty.clone())),
        )
    }
}

/// The state of another resource type that a `moved` block brings to this one.
#[derive(Debug, Clone)]
pub struct MoveSource {
    /// e.g. `registry.terraform.io/huaweicloud/huaweicloud`.
    pub provider_address: String,
    pub type_name: String,
    pub schema_version: i64,
    /// The source state as Terraform stored it (JSON).
    pub state_json: Vec<u8>,
}

/// The result of a move: the new state (its identity, once known, is taken from it) and
/// diagnostics such as warnings about what the first refresh will do.
#[derive(Debug, Clone)]
pub struct MovedState {
    pub state: Value,
    pub diagnostics: Diagnostics,
}

/// A list resource type (Terraform 1.14+, `list` blocks in `.tfquery.hcl` files): finds
/// existing objects of the managed resource type of the same name.
#[async_trait::async_trait]
pub trait ListResource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    /// The schema of the `config` block.
    fn schema(&self) -> Schema;
    async fn validate_config(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    /// Sends each object found to `sink` until `request.limit` were sent or `sink`
    /// reports that Terraform stopped listening; the diagnostics end the stream.
    async fn list(
        &self,
        ctx: &Ctx,
        config: &Value,
        request: ListRequest,
        sink: &ListSink,
    ) -> Diagnostics;
}

/// A data source type.
#[async_trait::async_trait]
pub trait DataSource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate_config(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn read(&self, ctx: &Ctx, config: &Value) -> StateResult;
}

/// Where an action reports progress; Terraform prints each message while the action runs.
#[derive(Debug, Clone)]
pub struct Progress(tokio::sync::mpsc::UnboundedSender<String>);

impl Progress {
    pub fn new(sender: tokio::sync::mpsc::UnboundedSender<String>) -> Self {
        Progress(sender)
    }

    /// Reports one progress message (dropped if Terraform stopped listening).
    pub fn report(&self, message: impl Into<String>) {
        let _ = self.0.send(message.into());
    }
}

/// An action type (Terraform 1.14+): invoked with `terraform apply -invoke=...` or from a
/// resource's `action_trigger`, streaming progress until it completes. Actions have no
/// state: what they did is what their progress and diagnostics say.
#[async_trait::async_trait]
pub trait Action: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate_config(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    /// Checks planned before the invocation (the config may hold unknown values).
    async fn plan(&self, _ctx: &Ctx, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn invoke(&self, ctx: &Ctx, config: &Value, progress: Progress) -> Diagnostics;
}
