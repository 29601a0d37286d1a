//! The tfplugin6 `Provider` gRPC service: the service value with the provider's registries,
//! and the one `impl` tonic needs, which only routes each RPC to its family's module and
//! wraps the answer. The families decode each request, call the trait layer, apply the
//! protocol rules and encode the answer; every failure becomes a diagnostic and nothing
//! here panics on what Terraform sends.
//!
//! - [`provider`]: metadata, schemas, provider configuration, stop.
//! - [`resource`]: managed resources — validate, upgrade state, read, plan, apply, import,
//!   move.
//! - [`identity`]: resource identity schemas and upgrades (Terraform 1.12+).
//! - [`data_source`]: data sources.
//! - [`action`]: actions (Terraform 1.14+).
//! - [`list`]: list resources and generated configuration (`terraform query`, 1.14+).
//! - [`unsupported`]: what this provider does not offer (functions, ephemeral resources,
//!   state stores).
//! - [`reply`]: a handler's `Result<_, Diagnostics>` as the tonic answer.

mod action;
mod data_source;
mod identity;
mod list;
mod provider;
mod reply;
mod resource;
#[cfg(test)]
mod tests;
mod unsupported;

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::codegen::BoxStream;
use tonic::service::{Routes, RoutesBuilder};
use tonic::{Request, Response, Status, Streaming};

use super::convert::{self, Payload};
use super::proto::provider_server::{Provider as ProviderRpc, ProviderServer};
use super::{
    Action, Ctx, DataSource, Diagnostic, Diagnostics, ListResource, Provider, Resource, proto,
};
use crate::cty::Value;
use crate::plugin::MAX_MESSAGE_BYTES;
use crate::schema::Schema;
use reply::respond;
use unsupported::unimplemented;

/// The tfplugin6 Provider gRPC service for `provider`, with Terraform's 256 MiB message
/// limits. StopProvider cancels a child of `shutdown` that every in-flight call sees.
pub fn routes(provider: Arc<dyn Provider>, shutdown: CancellationToken) -> Routes {
    Routes::new(server(provider, shutdown))
}

/// Adds the same service as [`routes`] to routes being built by the plugin host.
pub fn register(
    provider: Arc<dyn Provider>,
    shutdown: CancellationToken,
    routes: &mut RoutesBuilder,
) {
    routes.add_service(server(provider, shutdown));
}

fn server(provider: Arc<dyn Provider>, shutdown: CancellationToken) -> ProviderServer<Service> {
    ProviderServer::new(Service::new(provider, shutdown.child_token()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The types of one kind a provider offers, by type name, each with its schema (built
/// once, when the service starts).
struct Offered<T: ?Sized> {
    /// "resource", "data source", …: named when Terraform asks for a type not offered.
    kind: &'static str,
    entries: HashMap<&'static str, (Arc<T>, Schema)>,
}

impl<T: ?Sized> Offered<T> {
    fn new(
        kind: &'static str,
        items: Vec<Arc<T>>,
        describe: fn(&T) -> (&'static str, Schema),
    ) -> Self {
        let entries = items
            .into_iter()
            .map(|item| {
                let (name, schema) = describe(&item);
                (name, (item, schema))
            })
            .collect();
        Offered { kind, entries }
    }

    /// The type `name` with its schema, or the error Terraform shows for a type not offered.
    fn get(&self, name: &str) -> Result<&(Arc<T>, Schema), Diagnostics> {
        self.entries.get(name).ok_or_else(|| {
            let kind = self.kind;
            Diagnostics::from(Diagnostic::error(
                format!("Unknown {kind} type"),
                format!("This provider has no {kind} type {name:?}."),
            ))
        })
    }

    /// The type `name` with `config` decoded against its schema.
    fn with_config(
        &self,
        name: &str,
        config: Option<&proto::DynamicValue>,
    ) -> Result<(&Arc<T>, Value), Diagnostics> {
        let (item, schema) = self.get(name)?;
        let ty = schema.block.value_type();
        let config = convert::decode(config, &ty, Payload::Configuration)?;
        Ok((item, config))
    }

    fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.keys().map(|name| name.to_string())
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &Arc<T>, &Schema)> + '_ {
        self.entries
            .iter()
            .map(|(name, (item, schema))| (*name, item, schema))
    }
}

/// The service: the provider, what it offers, and the token StopProvider cancels.
struct Service {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    resources: Offered<dyn Resource>,
    data_sources: Offered<dyn DataSource>,
    actions: Offered<dyn Action>,
    list_resources: Offered<dyn ListResource>,
    stop: CancellationToken,
}

impl Service {
    fn new(provider: Arc<dyn Provider>, stop: CancellationToken) -> Self {
        Service {
            provider_schema: provider.schema(),
            resources: Offered::new("resource", provider.resources(), |r| {
                (r.type_name(), r.schema())
            }),
            data_sources: Offered::new("data source", provider.data_sources(), |d| {
                (d.type_name(), d.schema())
            }),
            actions: Offered::new("action", provider.actions(), |a| {
                (a.type_name(), a.schema())
            }),
            list_resources: Offered::new("list resource", provider.list_resources(), |l| {
                (l.type_name(), l.schema())
            }),
            provider,
            stop,
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            cancel: self.stop.clone(),
        }
    }
}

#[tonic::async_trait]
impl ProviderRpc for Service {
    async fn get_metadata(
        &self,
        _request: Request<proto::get_metadata::Request>,
    ) -> Result<Response<proto::get_metadata::Response>, Status> {
        Ok(Response::new(provider::metadata(self)))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<proto::get_provider_schema::Request>,
    ) -> Result<Response<proto::get_provider_schema::Response>, Status> {
        Ok(Response::new(provider::schema(self)))
    }

    async fn validate_provider_config(
        &self,
        request: Request<proto::validate_provider_config::Request>,
    ) -> Result<Response<proto::validate_provider_config::Response>, Status> {
        respond(provider::validate(self, request.into_inner()).await)
    }

    async fn configure_provider(
        &self,
        request: Request<proto::configure_provider::Request>,
    ) -> Result<Response<proto::configure_provider::Response>, Status> {
        respond(provider::configure(self, request.into_inner()).await)
    }

    async fn stop_provider(
        &self,
        _request: Request<proto::stop_provider::Request>,
    ) -> Result<Response<proto::stop_provider::Response>, Status> {
        Ok(Response::new(provider::stop(self)))
    }

    async fn validate_resource_config(
        &self,
        request: Request<proto::validate_resource_config::Request>,
    ) -> Result<Response<proto::validate_resource_config::Response>, Status> {
        respond(resource::validate(self, request.into_inner()).await)
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<proto::upgrade_resource_state::Request>,
    ) -> Result<Response<proto::upgrade_resource_state::Response>, Status> {
        respond(resource::upgrade_state(self, request.into_inner()))
    }

    async fn read_resource(
        &self,
        request: Request<proto::read_resource::Request>,
    ) -> Result<Response<proto::read_resource::Response>, Status> {
        respond(resource::read(self, request.into_inner()).await)
    }

    async fn plan_resource_change(
        &self,
        request: Request<proto::plan_resource_change::Request>,
    ) -> Result<Response<proto::plan_resource_change::Response>, Status> {
        respond(resource::plan(self, request.into_inner()).await)
    }

    async fn apply_resource_change(
        &self,
        request: Request<proto::apply_resource_change::Request>,
    ) -> Result<Response<proto::apply_resource_change::Response>, Status> {
        respond(resource::apply(self, request.into_inner()).await)
    }

    async fn import_resource_state(
        &self,
        request: Request<proto::import_resource_state::Request>,
    ) -> Result<Response<proto::import_resource_state::Response>, Status> {
        respond(resource::import(self, request.into_inner()).await)
    }

    async fn move_resource_state(
        &self,
        request: Request<proto::move_resource_state::Request>,
    ) -> Result<Response<proto::move_resource_state::Response>, Status> {
        respond(resource::move_state(self, request.into_inner()))
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<proto::get_resource_identity_schemas::Request>,
    ) -> Result<Response<proto::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(identity::schemas(self)))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<proto::upgrade_resource_identity::Request>,
    ) -> Result<Response<proto::upgrade_resource_identity::Response>, Status> {
        respond(identity::upgrade(self, request.into_inner()))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<proto::validate_data_resource_config::Request>,
    ) -> Result<Response<proto::validate_data_resource_config::Response>, Status> {
        respond(data_source::validate(self, request.into_inner()).await)
    }

    async fn read_data_source(
        &self,
        request: Request<proto::read_data_source::Request>,
    ) -> Result<Response<proto::read_data_source::Response>, Status> {
        respond(data_source::read(self, request.into_inner()).await)
    }

    async fn validate_action_config(
        &self,
        request: Request<proto::validate_action_config::Request>,
    ) -> Result<Response<proto::validate_action_config::Response>, Status> {
        respond(action::validate(self, request.into_inner()).await)
    }

    async fn plan_action(
        &self,
        request: Request<proto::plan_action::Request>,
    ) -> Result<Response<proto::plan_action::Response>, Status> {
        respond(action::plan(self, request.into_inner()).await)
    }

    type InvokeActionStream = BoxStream<proto::invoke_action::Event>;

    async fn invoke_action(
        &self,
        request: Request<proto::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        let events = action::invoke(self, request.into_inner());
        Ok(Response::new(Box::pin(events)))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<proto::validate_list_resource_config::Request>,
    ) -> Result<Response<proto::validate_list_resource_config::Response>, Status> {
        respond(list::validate(self, request.into_inner()).await)
    }

    type ListResourceStream = BoxStream<proto::list_resource::Event>;

    async fn list_resource(
        &self,
        request: Request<proto::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let events = list::start(self, request.into_inner());
        Ok(Response::new(Box::pin(events)))
    }

    async fn generate_resource_config(
        &self,
        request: Request<proto::generate_resource_config::Request>,
    ) -> Result<Response<proto::generate_resource_config::Response>, Status> {
        respond(list::generate_config(self, request.into_inner()))
    }

    async fn get_functions(
        &self,
        _request: Request<proto::get_functions::Request>,
    ) -> Result<Response<proto::get_functions::Response>, Status> {
        Ok(Response::new(unsupported::functions()))
    }

    async fn call_function(
        &self,
        _request: Request<proto::call_function::Request>,
    ) -> Result<Response<proto::call_function::Response>, Status> {
        Err(unimplemented("provider functions"))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _request: Request<proto::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<proto::validate_ephemeral_resource_config::Response>, Status> {
        Err(unimplemented("ephemeral resources"))
    }

    async fn open_ephemeral_resource(
        &self,
        _request: Request<proto::open_ephemeral_resource::Request>,
    ) -> Result<Response<proto::open_ephemeral_resource::Response>, Status> {
        Err(unimplemented("ephemeral resources"))
    }

    async fn renew_ephemeral_resource(
        &self,
        _request: Request<proto::renew_ephemeral_resource::Request>,
    ) -> Result<Response<proto::renew_ephemeral_resource::Response>, Status> {
        Err(unimplemented("ephemeral resources"))
    }

    async fn close_ephemeral_resource(
        &self,
        _request: Request<proto::close_ephemeral_resource::Request>,
    ) -> Result<Response<proto::close_ephemeral_resource::Response>, Status> {
        Err(unimplemented("ephemeral resources"))
    }

    type ReadStateBytesStream = BoxStream<proto::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _request: Request<proto::read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn write_state_bytes(
        &self,
        _request: Request<Streaming<proto::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<proto::write_state_bytes::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn validate_state_store_config(
        &self,
        _request: Request<proto::validate_state_store::Request>,
    ) -> Result<Response<proto::validate_state_store::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn configure_state_store(
        &self,
        _request: Request<proto::configure_state_store::Request>,
    ) -> Result<Response<proto::configure_state_store::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn lock_state(
        &self,
        _request: Request<proto::lock_state::Request>,
    ) -> Result<Response<proto::lock_state::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn unlock_state(
        &self,
        _request: Request<proto::unlock_state::Request>,
    ) -> Result<Response<proto::unlock_state::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn get_states(
        &self,
        _request: Request<proto::get_states::Request>,
    ) -> Result<Response<proto::get_states::Response>, Status> {
        Err(unimplemented("state stores"))
    }

    async fn delete_state(
        &self,
        _request: Request<proto::delete_state::Request>,
    ) -> Result<Response<proto::delete_state::Response>, Status> {
        Err(unimplemented("state stores"))
    }
}
