//! Resource identity RPCs (Terraform 1.12+): GetResourceIdentitySchemas and
//! UpgradeResourceIdentity. The identity rule every other RPC keeps is in
//! `tfplugin::identity`.

use super::super::{Diagnostic, Diagnostics, convert, proto};
use super::Service;

/// The identity schema of every resource type that has one.
pub(super) fn schemas(service: &Service) -> proto::get_resource_identity_schemas::Response {
    proto::get_resource_identity_schemas::Response {
        identity_schemas: service
            .resources
            .iter()
            .filter_map(|(name, resource, _)| {
                let schema = resource.identity_schema()?;
                Some((name.to_string(), convert::identity_schema(&schema)))
            })
            .collect(),
        diagnostics: Vec::new(),
    }
}

/// A stored identity (JSON) in today's identity schema.
pub(super) fn upgrade(
    service: &Service,
    req: proto::upgrade_resource_identity::Request,
) -> Result<proto::upgrade_resource_identity::Response, Diagnostics> {
    let (resource, _) = service.resources.get(&req.type_name)?;
    let schema = resource.identity_schema().ok_or_else(|| {
        Diagnostics::from(Diagnostic::error(
            "Resource type has no identity",
            format!("{} has no identity to upgrade.", req.type_name),
        ))
    })?;
    let json = req.raw_identity.map(|r| r.json).unwrap_or_default();
    let value = resource.upgrade_identity(req.version, &json)?;
    let data = convert::encode(&value, &schema.value_type())?;
    Ok(proto::upgrade_resource_identity::Response {
        upgraded_identity: Some(proto::ResourceIdentityData {
            identity_data: Some(data),
        }),
        diagnostics: Vec::new(),
    })
}
