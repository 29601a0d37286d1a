//! Managed resources: ValidateResourceConfig, UpgradeResourceState, ReadResource,
//! PlanResourceChange, ApplyResourceChange, ImportResourceState and MoveResourceState.
//! Here the layer enforces the protocol's rules around each call into a [`Resource`]
//! (defaults and unknowns before a plan, configured values kept, applied state wholly
//! known and true to the plan, identities that never change).

use super::super::convert::{self, Payload};
use std::sync::Arc;

use super::super::{Diagnostic, Diagnostics, MoveSource, Plan, Resource, identity, proto, rules};
use super::Service;
use super::reply::WithDiagnostics;
use crate::cty::{Type, Value};

pub(super) async fn validate(
    service: &Service,
    req: proto::validate_resource_config::Request,
) -> Result<proto::validate_resource_config::Response, Diagnostics> {
    let (resource, config) = service
        .resources
        .with_config(&req.type_name, req.config.as_ref())?;
    let d = resource.validate_config(&config).await;
    Ok(proto::validate_resource_config::Response::default().with_diagnostics(&d))
}

/// A stored state (JSON) in today's schema; the pre-0.12 flatmap format is refused.
pub(super) fn upgrade_state(
    service: &Service,
    req: proto::upgrade_resource_state::Request,
) -> Result<proto::upgrade_resource_state::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let raw = req.raw_state.unwrap_or_default();
    if raw.json.is_empty() {
        if raw.flatmap.is_empty() {
            return Ok(proto::upgrade_resource_state::Response::default());
        }
        return Err(Diagnostics::from(Diagnostic::error(
            "Legacy state format",
            "This state was written in the pre-0.12 flatmap format, which hwrds never wrote.",
        )));
    }
    let value = resource.upgrade_state(req.version, &raw.json)?;
    let upgraded = convert::encode(&value, &schema.block.value_type())?;
    Ok(proto::upgrade_resource_state::Response {
        upgraded_state: Some(upgraded),
        diagnostics: Vec::new(),
    })
}

pub(super) async fn read(
    service: &Service,
    req: proto::read_resource::Request,
) -> Result<proto::read_resource::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let ty = schema.block.value_type();
    let current = convert::decode(req.current_state.as_ref(), &ty, Payload::State)?;
    if current.is_null() {
        return Ok(proto::read_resource::Response {
            new_state: req.current_state,
            private: req.private,
            new_identity: req.current_identity,
            ..Default::default()
        });
    }
    let prior_identity = identity::decode(resource, req.current_identity.as_ref())?;
    let result = resource.read(&service.ctx(), &current, &req.private).await;
    let mut d = result.diagnostics;
    let mut state = result.state.unwrap_or(Value::Null);
    d.extend(rules::check_wholly_known(&mut state));
    let (new_state, new_identity) = encode_object(resource, &ty, &state, &prior_identity, &mut d)?;
    let response = proto::read_resource::Response {
        new_state: Some(new_state),
        private: result.private,
        new_identity,
        ..Default::default()
    };
    Ok(response.with_diagnostics(&d))
}

pub(super) async fn plan(
    service: &Service,
    req: proto::plan_resource_change::Request,
) -> Result<proto::plan_resource_change::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let block = &schema.block;
    let ty = block.value_type();
    let prior = convert::decode(req.prior_state.as_ref(), &ty, Payload::PriorState)?;
    let proposed = convert::decode(req.proposed_new_state.as_ref(), &ty, Payload::ProposedState)?;
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    let prior_identity = identity::decode(resource, req.prior_identity.as_ref())?;
    if proposed.is_null() {
        return Ok(proto::plan_resource_change::Response {
            planned_state: req.proposed_new_state,
            planned_private: req.prior_private,
            planned_identity: req.prior_identity,
            ..Default::default()
        });
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
        first_plan_private: req.planned_private,
    };
    let mut d = resource.modify_plan(&service.ctx(), &mut plan).await;
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
    let (planned_state, planned_identity) =
        encode_object(resource, &ty, &plan.planned, &kept, &mut d)?;
    let response = proto::plan_resource_change::Response {
        planned_state: Some(planned_state),
        requires_replace: requires_replace.iter().map(convert::path).collect(),
        planned_private: plan.planned_private,
        planned_identity,
        ..Default::default()
    };
    Ok(response.with_diagnostics(&d))
}

/// Create, update or delete, by whether the prior and planned states are null.
pub(super) async fn apply(
    service: &Service,
    req: proto::apply_resource_change::Request,
) -> Result<proto::apply_resource_change::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let block = &schema.block;
    let ty = block.value_type();
    let prior = convert::decode(req.prior_state.as_ref(), &ty, Payload::PriorState)?;
    let planned = convert::decode(req.planned_state.as_ref(), &ty, Payload::PlannedState)?;
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    let planned_identity = identity::decode(resource, req.planned_identity.as_ref())?;
    let ctx = service.ctx();
    if planned.is_null() {
        let d = resource.delete(&ctx, &prior).await;
        let response = proto::apply_resource_change::Response {
            new_state: Some(convert::encode(&Value::Null, &ty)?),
            ..Default::default()
        };
        return Ok(response.with_diagnostics(&d));
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
    let (new_state, new_identity) =
        encode_object(resource, &ty, &state, &planned_identity, &mut d)?;
    let response = proto::apply_resource_change::Response {
        new_state: Some(new_state),
        private: result.private,
        new_identity,
        ..Default::default()
    };
    Ok(response.with_diagnostics(&d))
}

/// `terraform import` by id, or an `import` block by identity.
pub(super) async fn import(
    service: &Service,
    req: proto::import_resource_state::Request,
) -> Result<proto::import_resource_state::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let given = identity::decode(resource, req.identity.as_ref())?;
    let result = if given.is_null() {
        resource.import(&service.ctx(), &req.id).await
    } else {
        resource.import_by_identity(&service.ctx(), &given).await
    };
    let mut d = result.diagnostics;
    let mut imported = Vec::new();
    if let Some(mut state) = result.state {
        d.extend(rules::check_wholly_known(&mut state));
        let ty = schema.block.value_type();
        let (state, identity) = encode_object(resource, &ty, &state, &Value::Null, &mut d)?;
        imported.push(proto::import_resource_state::ImportedResource {
            type_name: req.type_name.clone(),
            state: Some(state),
            private: result.private,
            identity,
        });
    }
    let response = proto::import_resource_state::Response {
        imported_resources: imported,
        ..Default::default()
    };
    Ok(response.with_diagnostics(&d))
}

/// A `moved` block whose `from` is another resource type, possibly of another provider
/// (Terraform 1.8+). Terraform calls it on an unconfigured provider, so a move is a pure
/// translation of the stored state; the resource decides which sources it takes (none by
/// default), and the first refresh after the move reads the real world. A moved state
/// that cannot be encoded keeps the move's own diagnostics beside the error.
pub(super) fn move_state(
    service: &Service,
    req: proto::move_resource_state::Request,
) -> Result<proto::move_resource_state::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.target_type_name)?;
    let source = MoveSource {
        provider_address: req.source_provider_address,
        type_name: req.source_type_name,
        schema_version: req.source_schema_version,
        state_json: req.source_state.map(|s| s.json).unwrap_or_default(),
    };
    let moved = resource.move_state(&source)?;
    let mut d = moved.diagnostics;
    let mut state = moved.state;
    d.extend(rules::check_wholly_known(&mut state));
    let ty = schema.block.value_type();
    let mut response = proto::move_resource_state::Response::default();
    match encode_object(resource, &ty, &state, &Value::Null, &mut d) {
        Ok((state, identity)) => {
            response.target_state = Some(state);
            response.target_identity = identity;
        }
        Err(encode_diags) => d.extend(encode_diags),
    }
    Ok(response.with_diagnostics(&d))
}

/// An object's state and identity as Terraform gets them: the identity settled against
/// the one Terraform holds (`prior`, null if none), its diagnostics added to `d`, then
/// both encoded.
fn encode_object(
    resource: &Arc<dyn Resource>,
    ty: &Type,
    state: &Value,
    prior: &Value,
    d: &mut Diagnostics,
) -> Result<(proto::DynamicValue, Option<proto::ResourceIdentityData>), Diagnostics> {
    let (identity, id_diags) = identity::settle(resource, state, prior);
    d.extend(id_diags);
    let state = convert::encode(state, ty)?;
    Ok((state, identity::encode(resource, &identity)?))
}
