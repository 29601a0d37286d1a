//! The tfplugin6 `Provider` gRPC service: decodes each request, routes it to the trait
//! layer, applies the protocol rules, and encodes the answer. Every failure becomes a
//! diagnostic; nothing here panics on what Terraform sends.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::codegen::BoxStream;
use tonic::service::{Routes, RoutesBuilder};
use tonic::{Request, Response, Status, Streaming};

use super::proto::provider_server::{Provider as ProviderRpc, ProviderServer};
use super::{
    Action, Ctx, DataSource, Diagnostic, Diagnostics, ListResource, Plan, Progress, Provider,
    Resource, convert, identity, proto, rules,
};
use crate::cty::Value;
use crate::plugin::MAX_MESSAGE_BYTES;
use crate::schema::Schema;

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

pub(super) struct Service {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    pub(super) resources: HashMap<&'static str, (Arc<dyn Resource>, Schema)>,
    data_sources: HashMap<&'static str, (Arc<dyn DataSource>, Schema)>,
    actions: HashMap<&'static str, (Arc<dyn Action>, Schema)>,
    pub(super) list_resources: HashMap<&'static str, (Arc<dyn ListResource>, Schema)>,
    stop: CancellationToken,
}

impl Service {
    pub(super) fn new(provider: Arc<dyn Provider>, stop: CancellationToken) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name(), (r.clone(), r.schema())))
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| (d.type_name(), (d.clone(), d.schema())))
            .collect();
        let actions = provider
            .actions()
            .into_iter()
            .map(|a| (a.type_name(), (a.clone(), a.schema())))
            .collect();
        let list_resources = provider
            .list_resources()
            .into_iter()
            .map(|l| (l.type_name(), (l.clone(), l.schema())))
            .collect();
        Service {
            provider_schema: provider.schema(),
            provider,
            resources,
            data_sources,
            actions,
            list_resources,
            stop,
        }
    }

    pub(super) fn ctx(&self) -> Ctx {
        Ctx {
            cancel: self.stop.clone(),
        }
    }

    pub(super) fn resource(&self, name: &str) -> Result<&(Arc<dyn Resource>, Schema), Diagnostics> {
        self.resources.get(name).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown resource type",
                format!("This provider has no resource type {name:?}."),
            ))
        })
    }

    fn action(&self, name: &str) -> Result<&(Arc<dyn Action>, Schema), Diagnostics> {
        self.actions.get(name).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown action type",
                format!("This provider has no action type {name:?}."),
            ))
        })
    }

    fn data_source(&self, name: &str) -> Result<&(Arc<dyn DataSource>, Schema), Diagnostics> {
        self.data_sources.get(name).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown data source type",
                format!("This provider has no data source type {name:?}."),
            ))
        })
    }
}

fn diags(d: &Diagnostics) -> Vec<proto::Diagnostic> {
    convert::diagnostics(d)
}

/// Runs a fallible step, turning its diagnostics into the RPC's answer on failure.
macro_rules! try_diags {
    ($expr:expr, $resp:expr) => {
        match $expr {
            Ok(v) => v,
            Err(d) => {
                let mut resp = $resp;
                resp.diagnostics = diags(&d);
                return Ok(Response::new(resp));
            }
        }
    };
}

#[tonic::async_trait]
impl ProviderRpc for Service {
    async fn get_metadata(
        &self,
        _request: Request<proto::get_metadata::Request>,
    ) -> Result<Response<proto::get_metadata::Response>, Status> {
        Ok(Response::new(proto::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: self
                .data_sources
                .keys()
                .map(|n| proto::get_metadata::DataSourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            resources: self
                .resources
                .keys()
                .map(|n| proto::get_metadata::ResourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            actions: self
                .actions
                .keys()
                .map(|n| proto::get_metadata::ActionMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            list_resources: self
                .list_resources
                .keys()
                .map(|n| proto::get_metadata::ListResourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<proto::get_provider_schema::Request>,
    ) -> Result<Response<proto::get_provider_schema::Response>, Status> {
        Ok(Response::new(proto::get_provider_schema::Response {
            provider: Some(convert::schema(&self.provider_schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(n, (_, s))| (n.to_string(), convert::schema(s)))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(n, (_, s))| (n.to_string(), convert::schema(s)))
                .collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(n, (_, s))| {
                    let schema = Some(convert::schema(s));
                    (n.to_string(), proto::ActionSchema { schema })
                })
                .collect(),
            list_resource_schemas: self
                .list_resources
                .iter()
                .map(|(n, (_, s))| (n.to_string(), convert::schema(s)))
                .collect(),
            diagnostics: Vec::new(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<proto::validate_provider_config::Request>,
    ) -> Result<Response<proto::validate_provider_config::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::validate_provider_config::Response::default();
        let ty = self.provider_schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = self.provider.validate_config(&config).await;
        Ok(Response::new(proto::validate_provider_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<proto::validate_resource_config::Request>,
    ) -> Result<Response<proto::validate_resource_config::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::validate_resource_config::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let ty = schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = resource.validate_config(&config).await;
        Ok(Response::new(proto::validate_resource_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<proto::validate_data_resource_config::Request>,
    ) -> Result<Response<proto::validate_data_resource_config::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::validate_data_resource_config::Response::default();
        let (source, schema) = try_diags!(self.data_source(&req.type_name), empty);
        let ty = schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = source.validate_config(&config).await;
        Ok(Response::new(
            proto::validate_data_resource_config::Response {
                diagnostics: diags(&d),
            },
        ))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<proto::upgrade_resource_state::Request>,
    ) -> Result<Response<proto::upgrade_resource_state::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::upgrade_resource_state::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let raw = req.raw_state.unwrap_or_default();
        if raw.json.is_empty() {
            let d = if raw.flatmap.is_empty() {
                Diagnostics::default()
            } else {
                Diagnostics::from(Diagnostic::error(
                    "Legacy state format",
                    "This state was written in the pre-0.12 flatmap format, which hwrds never wrote.",
                ))
            };
            return Ok(Response::new(proto::upgrade_resource_state::Response {
                upgraded_state: None,
                diagnostics: diags(&d),
            }));
        }
        let value = try_diags!(resource.upgrade_state(req.version, &raw.json), empty);
        let ty = schema.block.value_type();
        let upgraded = try_diags!(convert::encode(&value, &ty), empty);
        Ok(Response::new(proto::upgrade_resource_state::Response {
            upgraded_state: Some(upgraded),
            diagnostics: Vec::new(),
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<proto::configure_provider::Request>,
    ) -> Result<Response<proto::configure_provider::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::configure_provider::Response::default();
        let ty = self.provider_schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = self
            .provider
            .configure(&self.ctx(), &config, &req.terraform_version)
            .await;
        Ok(Response::new(proto::configure_provider::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn read_resource(
        &self,
        request: Request<proto::read_resource::Request>,
    ) -> Result<Response<proto::read_resource::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::read_resource::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let ty = schema.block.value_type();
        let current = try_diags!(
            convert::decode(req.current_state.as_ref(), &ty, "state"),
            empty
        );
        if current.is_null() {
            return Ok(Response::new(proto::read_resource::Response {
                new_state: req.current_state,
                private: req.private,
                new_identity: req.current_identity,
                ..Default::default()
            }));
        }
        let prior_identity = try_diags!(
            identity::decode(resource, req.current_identity.as_ref()),
            empty
        );
        let result = resource.read(&self.ctx(), &current, &req.private).await;
        let mut d = result.diagnostics;
        let mut state = result.state.unwrap_or(Value::Null);
        d.extend(rules::check_wholly_known(&mut state));
        let (new_identity, id_diags) = identity::settle(resource, &state, &prior_identity);
        d.extend(id_diags);
        let new_state = try_diags!(convert::encode(&state, &ty), empty);
        let new_identity = try_diags!(identity::encode(resource, &new_identity), empty);
        Ok(Response::new(proto::read_resource::Response {
            new_state: Some(new_state),
            diagnostics: diags(&d),
            private: result.private,
            new_identity,
            ..Default::default()
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<proto::plan_resource_change::Request>,
    ) -> Result<Response<proto::plan_resource_change::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::plan_resource_change::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let block = &schema.block;
        let ty = block.value_type();
        let prior = try_diags!(
            convert::decode(req.prior_state.as_ref(), &ty, "prior state"),
            empty
        );
        let proposed = try_diags!(
            convert::decode(req.proposed_new_state.as_ref(), &ty, "proposed state"),
            empty
        );
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let prior_identity = try_diags!(
            identity::decode(resource, req.prior_identity.as_ref()),
            empty
        );
        if proposed.is_null() {
            return Ok(Response::new(proto::plan_resource_change::Response {
                planned_state: req.proposed_new_state,
                planned_private: req.prior_private,
                planned_identity: req.prior_identity,
                ..Default::default()
            }));
        }
        let prior = (!prior.is_null()).then_some(prior);
        let planned = rules::prepare_plan(block, prior.as_ref(), &config, proposed);
        let mut plan = Plan {
            config,
            prior,
            planned,
            requires_replace: Vec::new(),
            planned_private: req.prior_private.clone(),
            prior_private: req.prior_private,
        };
        let mut d = resource.modify_plan(&self.ctx(), &mut plan).await;
        d.extend(rules::check_plan_keeps_config(
            block,
            &plan.config,
            &plan.planned,
        ));
        let mut requires_replace = plan.requires_replace;
        if let Some(prior) = &plan.prior {
            for path in rules::replace_paths(block, prior, &plan.planned) {
                if !requires_replace.contains(&path) {
                    requires_replace.push(path);
                }
            }
        }
        // A replacement is a new object, whose identity is not known yet.
        let kept = if requires_replace.is_empty() {
            prior_identity
        } else {
            Value::Null
        };
        let (planned_identity, id_diags) = identity::settle(resource, &plan.planned, &kept);
        d.extend(id_diags);
        let planned_state = try_diags!(convert::encode(&plan.planned, &ty), empty);
        let planned_identity = try_diags!(identity::encode(resource, &planned_identity), empty);
        Ok(Response::new(proto::plan_resource_change::Response {
            planned_state: Some(planned_state),
            requires_replace: requires_replace.iter().map(convert::path).collect(),
            planned_private: plan.planned_private,
            diagnostics: diags(&d),
            planned_identity,
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<proto::apply_resource_change::Request>,
    ) -> Result<Response<proto::apply_resource_change::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::apply_resource_change::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let block = &schema.block;
        let ty = block.value_type();
        let prior = try_diags!(
            convert::decode(req.prior_state.as_ref(), &ty, "prior state"),
            empty
        );
        let planned = try_diags!(
            convert::decode(req.planned_state.as_ref(), &ty, "planned state"),
            empty
        );
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let planned_identity = try_diags!(
            identity::decode(resource, req.planned_identity.as_ref()),
            empty
        );
        let ctx = self.ctx();
        if planned.is_null() {
            let d = resource.delete(&ctx, &prior).await;
            let new_state = try_diags!(convert::encode(&Value::Null, &ty), empty);
            return Ok(Response::new(proto::apply_resource_change::Response {
                new_state: Some(new_state),
                diagnostics: diags(&d),
                ..Default::default()
            }));
        }
        let result = if prior.is_null() {
            resource
                .create(&ctx, &planned, &config, &req.planned_private)
                .await
        } else {
            resource
                .update(&ctx, &prior, &planned, &config, &req.planned_private)
                .await
        };
        let mut d = result.diagnostics;
        let state = match result.state {
            Some(mut state) => {
                d.extend(rules::check_wholly_known(&mut state));
                d.extend(rules::check_keeps_planned(block, &planned, &state));
                state
            }
            // A failed update keeps the prior object; a failed create leaves nothing.
            None if !prior.is_null() => prior,
            None => Value::Null,
        };
        let (new_identity, id_diags) = identity::settle(resource, &state, &planned_identity);
        d.extend(id_diags);
        let new_state = try_diags!(convert::encode(&state, &ty), empty);
        let new_identity = try_diags!(identity::encode(resource, &new_identity), empty);
        Ok(Response::new(proto::apply_resource_change::Response {
            new_state: Some(new_state),
            private: result.private,
            diagnostics: diags(&d),
            new_identity,
            ..Default::default()
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<proto::import_resource_state::Request>,
    ) -> Result<Response<proto::import_resource_state::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::import_resource_state::Response::default();
        let (resource, schema) = try_diags!(self.resource(&req.type_name), empty);
        let ty = schema.block.value_type();
        let given = try_diags!(identity::decode(resource, req.identity.as_ref()), empty);
        let result = if given.is_null() {
            resource.import(&self.ctx(), &req.id).await
        } else {
            resource.import_by_identity(&self.ctx(), &given).await
        };
        let mut d = result.diagnostics;
        let mut imported = Vec::new();
        if let Some(mut state) = result.state {
            d.extend(rules::check_wholly_known(&mut state));
            let (found, id_diags) = identity::settle(resource, &state, &Value::Null);
            d.extend(id_diags);
            let encoded = try_diags!(convert::encode(&state, &ty), empty);
            let identity = try_diags!(identity::encode(resource, &found), empty);
            imported.push(proto::import_resource_state::ImportedResource {
                type_name: req.type_name.clone(),
                state: Some(encoded),
                private: result.private,
                identity,
            });
        }
        Ok(Response::new(proto::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diags(&d),
            deferred: None,
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<proto::read_data_source::Request>,
    ) -> Result<Response<proto::read_data_source::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::read_data_source::Response::default();
        let (source, schema) = try_diags!(self.data_source(&req.type_name), empty);
        let ty = schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let result = source.read(&self.ctx(), &config).await;
        let mut d = result.diagnostics;
        let state = match result.state {
            Some(mut state) => {
                d.extend(rules::check_wholly_known(&mut state));
                Some(try_diags!(convert::encode(&state, &ty), empty))
            }
            None => None,
        };
        Ok(Response::new(proto::read_data_source::Response {
            state,
            diagnostics: diags(&d),
            deferred: None,
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<proto::get_resource_identity_schemas::Request>,
    ) -> Result<Response<proto::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(self.rpc_get_resource_identity_schemas()))
    }

    async fn get_functions(
        &self,
        _request: Request<proto::get_functions::Request>,
    ) -> Result<Response<proto::get_functions::Response>, Status> {
        // The provider defines no functions.
        Ok(Response::new(proto::get_functions::Response::default()))
    }

    type ListResourceStream = BoxStream<proto::list_resource::Event>;

    async fn list_resource(
        &self,
        request: Request<proto::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let stream = self.rpc_list_resource(request.into_inner());
        Ok(Response::new(Box::pin(stream)))
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

    type InvokeActionStream = BoxStream<proto::invoke_action::Event>;

    async fn invoke_action(
        &self,
        request: Request<proto::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        use proto::invoke_action::{Event, event};
        let req = request.into_inner();
        let (events, stream) = tokio::sync::mpsc::unbounded_channel::<Result<Event, Status>>();
        let completed = |d: &Diagnostics| Event {
            r#type: Some(event::Type::Completed(event::Completed {
                diagnostics: diags(d),
            })),
        };
        let decoded = self.action(&req.action_type).and_then(|(action, schema)| {
            let ty = schema.block.value_type();
            convert::decode(req.config.as_ref(), &ty, "configuration")
                .map(|config| (action.clone(), config))
        });
        match decoded {
            Err(d) => {
                let _ = events.send(Ok(completed(&d)));
            }
            Ok((action, config)) => {
                let ctx = self.ctx();
                tokio::spawn(async move {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    let forward = events.clone();
                    let relay = tokio::spawn(async move {
                        while let Some(message) = rx.recv().await {
                            let progress = event::Type::Progress(event::Progress { message });
                            let _ = forward.send(Ok(Event {
                                r#type: Some(progress),
                            }));
                        }
                    });
                    let d = action.invoke(&ctx, &config, Progress::new(tx)).await;
                    // The progress sender is gone with `invoke`: the relay drains and ends.
                    let _ = relay.await;
                    let _ = events.send(Ok(completed(&d)));
                });
            }
        }
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(stream);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<proto::upgrade_resource_identity::Request>,
    ) -> Result<Response<proto::upgrade_resource_identity::Response>, Status> {
        Ok(Response::new(
            self.rpc_upgrade_resource_identity(request.into_inner()),
        ))
    }

    async fn move_resource_state(
        &self,
        request: Request<proto::move_resource_state::Request>,
    ) -> Result<Response<proto::move_resource_state::Response>, Status> {
        Ok(Response::new(
            self.rpc_move_resource_state(request.into_inner()),
        ))
    }

    async fn generate_resource_config(
        &self,
        request: Request<proto::generate_resource_config::Request>,
    ) -> Result<Response<proto::generate_resource_config::Response>, Status> {
        Ok(Response::new(
            self.rpc_generate_resource_config(request.into_inner())
                .await,
        ))
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

    async fn validate_list_resource_config(
        &self,
        request: Request<proto::validate_list_resource_config::Request>,
    ) -> Result<Response<proto::validate_list_resource_config::Response>, Status> {
        Ok(Response::new(
            self.rpc_validate_list_resource_config(request.into_inner())
                .await,
        ))
    }

    async fn call_function(
        &self,
        _request: Request<proto::call_function::Request>,
    ) -> Result<Response<proto::call_function::Response>, Status> {
        Err(unimplemented("provider functions"))
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

    async fn plan_action(
        &self,
        request: Request<proto::plan_action::Request>,
    ) -> Result<Response<proto::plan_action::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::plan_action::Response::default();
        let (action, schema) = try_diags!(self.action(&req.action_type), empty);
        let ty = schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = action.plan(&self.ctx(), &config).await;
        Ok(Response::new(proto::plan_action::Response {
            diagnostics: diags(&d),
            deferred: None,
        }))
    }

    async fn validate_action_config(
        &self,
        request: Request<proto::validate_action_config::Request>,
    ) -> Result<Response<proto::validate_action_config::Response>, Status> {
        let req = request.into_inner();
        let empty = proto::validate_action_config::Response::default();
        let (action, schema) = try_diags!(self.action(&req.type_name), empty);
        let ty = schema.block.value_type();
        let config = try_diags!(
            convert::decode(req.config.as_ref(), &ty, "configuration"),
            empty
        );
        let d = action.validate_config(&config).await;
        Ok(Response::new(proto::validate_action_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn stop_provider(
        &self,
        _request: Request<proto::stop_provider::Request>,
    ) -> Result<Response<proto::stop_provider::Response>, Status> {
        tracing::info!("Terraform asked the provider to stop; cancelling in-flight work");
        self.stop.cancel();
        Ok(Response::new(proto::stop_provider::Response {
            error: String::new(),
        }))
    }
}

/// The answer to the optional parts of the protocol this provider does not offer.
fn unimplemented(what: &str) -> Status {
    Status::unimplemented(format!("the hwrds provider offers no {what}"))
}

fn capabilities() -> proto::ServerCapabilities {
    proto::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: true,
        generate_resource_config: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::{AttributePath, Type, msgpack};
    use crate::schema::{Attribute, Block};
    use crate::tfplugin::StateResult;

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
            .await;
        assert!(stopped.is_ok());
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
}
