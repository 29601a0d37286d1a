//! How a handler's answer reaches Terraform: handlers return `Result<Response,
//! Diagnostics>` and use `?` on every fallible step; [`respond`] turns a failure into the
//! RPC's empty response carrying the diagnostics, as the protocol wants (a gRPC error is
//! only for what the provider does not offer at all).

use tonic::{Response, Status};

use super::super::{Diagnostics, convert, proto};

/// A tfplugin6 response with a `diagnostics` field.
pub(super) trait WithDiagnostics: Default {
    /// The response with `diagnostics` in its diagnostics field.
    fn with_diagnostics(self, diagnostics: &Diagnostics) -> Self;
}

/// Implements [`WithDiagnostics`] for responses whose field is named `diagnostics`.
macro_rules! impl_with_diagnostics {
    ($($response:ty),+ $(,)?) => {$(
        impl WithDiagnostics for $response {
            fn with_diagnostics(mut self, diagnostics: &Diagnostics) -> Self {
                self.diagnostics = convert::diagnostics(diagnostics);
                self
            }
        }
    )+};
}

impl_with_diagnostics!(
    proto::validate_provider_config::Response,
    proto::configure_provider::Response,
    proto::validate_resource_config::Response,
    proto::upgrade_resource_state::Response,
    proto::read_resource::Response,
    proto::plan_resource_change::Response,
    proto::apply_resource_change::Response,
    proto::import_resource_state::Response,
    proto::move_resource_state::Response,
    proto::upgrade_resource_identity::Response,
    proto::validate_data_resource_config::Response,
    proto::read_data_source::Response,
    proto::validate_action_config::Response,
    proto::plan_action::Response,
    proto::validate_list_resource_config::Response,
    proto::generate_resource_config::Response,
);

/// The tonic answer for a handler's result: the response, or on failure an empty one
/// with the diagnostics.
pub(super) fn respond<R: WithDiagnostics>(
    result: Result<R, Diagnostics>,
) -> Result<Response<R>, Status> {
    let response = result.unwrap_or_else(|d| R::default().with_diagnostics(&d));
    Ok(Response::new(response))
}
