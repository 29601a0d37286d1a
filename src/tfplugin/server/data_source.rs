//! Data sources: ValidateDataResourceConfig and ReadDataSource (whose state the layer
//! checks is wholly known).

use super::super::convert::{self, Payload};
use super::super::{Diagnostics, proto, rules};
use super::Service;
use super::reply::WithDiagnostics;

pub(super) async fn validate(
    service: &Service,
    req: proto::validate_data_resource_config::Request,
) -> Result<proto::validate_data_resource_config::Response, Diagnostics> {
    let (source, config) = service
        .data_sources
        .with_config(&req.type_name, req.config.as_ref())?;
    let d = source.validate_config(&config).await;
    Ok(proto::validate_data_resource_config::Response::default().with_diagnostics(&d))
}

pub(super) async fn read(
    service: &Service,
    req: proto::read_data_source::Request,
) -> Result<proto::read_data_source::Response, Diagnostics> {
    let (source, schema) = service.data_sources.get(&req.type_name)?;
    let ty = schema.block.value_type();
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    let result = source.read(&service.ctx(), &config).await;
    let mut d = result.diagnostics;
    let state = match result.state {
        Some(mut state) => {
            d.extend(rules::check_wholly_known(&mut state));
            Some(convert::encode(&state, &ty)?)
        }
        None => None,
    };
    let response = proto::read_data_source::Response {
        state,
        ..Default::default()
    };
    Ok(response.with_diagnostics(&d))
}
