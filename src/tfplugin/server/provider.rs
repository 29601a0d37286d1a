//! The provider itself: GetMetadata and GetProviderSchema (what it offers and the schemas
//! of everything), ValidateProviderConfig, ConfigureProvider and StopProvider.

use std::collections::HashMap;

use super::super::convert::{self, Payload};
use super::super::{Diagnostics, proto};
use super::reply::WithDiagnostics;
use super::{Offered, Service};

pub(super) fn metadata(service: &Service) -> proto::get_metadata::Response {
    use proto::get_metadata::{
        ActionMetadata, DataSourceMetadata, ListResourceMetadata, ResourceMetadata,
    };
    proto::get_metadata::Response {
        server_capabilities: Some(capabilities()),
        diagnostics: Vec::new(),
        data_sources: service
            .data_sources
            .names()
            .map(|type_name| DataSourceMetadata { type_name })
            .collect(),
        resources: service
            .resources
            .names()
            .map(|type_name| ResourceMetadata { type_name })
            .collect(),
        actions: service
            .actions
            .names()
            .map(|type_name| ActionMetadata { type_name })
            .collect(),
        list_resources: service
            .list_resources
            .names()
            .map(|type_name| ListResourceMetadata { type_name })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn schema(service: &Service) -> proto::get_provider_schema::Response {
    let action_schemas = schemas(&service.actions)
        .into_iter()
        .map(|(name, schema)| {
            (
                name,
                proto::ActionSchema {
                    schema: Some(schema),
                },
            )
        })
        .collect();
    proto::get_provider_schema::Response {
        provider: Some(convert::schema(&service.provider_schema)),
        resource_schemas: schemas(&service.resources),
        data_source_schemas: schemas(&service.data_sources),
        action_schemas,
        list_resource_schemas: schemas(&service.list_resources),
        diagnostics: Vec::new(),
        server_capabilities: Some(capabilities()),
        ..Default::default()
    }
}

/// The schema of each type in `offered`, by type name.
fn schemas<T: ?Sized>(offered: &Offered<T>) -> HashMap<String, proto::Schema> {
    offered
        .iter()
        .map(|(name, _, schema)| (name.to_string(), convert::schema(schema)))
        .collect()
}

pub(super) async fn validate(
    service: &Service,
    req: proto::validate_provider_config::Request,
) -> Result<proto::validate_provider_config::Response, Diagnostics> {
    let ty = service.provider_schema.block.value_type();
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    let d = service.provider.validate_config(&config).await;
    Ok(proto::validate_provider_config::Response::default().with_diagnostics(&d))
}

pub(super) async fn configure(
    service: &Service,
    req: proto::configure_provider::Request,
) -> Result<proto::configure_provider::Response, Diagnostics> {
    let ty = service.provider_schema.block.value_type();
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    let d = service
        .provider
        .configure(&service.ctx(), &config, &req.terraform_version)
        .await;
    Ok(proto::configure_provider::Response::default().with_diagnostics(&d))
}

/// Cancels the token every in-flight and later call sees (Ctrl-C in Terraform).
pub(super) fn stop(service: &Service) -> proto::stop_provider::Response {
    tracing::info!("Terraform asked the provider to stop; cancelling in-flight work");
    service.stop.cancel();
    proto::stop_provider::Response {
        error: String::new(),
    }
}

fn capabilities() -> proto::ServerCapabilities {
    proto::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: true,
        generate_resource_config: true,
    }
}
