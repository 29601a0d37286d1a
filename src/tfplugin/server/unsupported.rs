//! The optional parts of the protocol this provider does not offer: provider functions
//! (GetFunctions answers with none; CallFunction is unimplemented), ephemeral resources
//! and state stores (unimplemented: Terraform only calls them for types the provider
//! declares, and it declares none).

use tonic::Status;

use super::super::proto;

/// No functions.
pub(super) fn functions() -> proto::get_functions::Response {
    proto::get_functions::Response::default()
}

/// The gRPC answer to an RPC of a part this provider does not offer.
pub(super) fn unimplemented(what: &str) -> Status {
    Status::unimplemented(format!("the hwrds provider offers no {what}"))
}
