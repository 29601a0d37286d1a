//! `MoveResourceState` (Terraform 1.8+): a `moved` block whose `from` is another resource
//! type, possibly of another provider. Terraform calls it on an unconfigured provider, so
//! a move is a pure translation of the stored state; the resource decides which sources
//! it takes (none by default), and the first refresh after the move reads the real world.

use super::server::Service;
use super::{Diagnostics, MoveSource, convert, identity, proto, rules};
use crate::cty::Value;

impl Service {
    pub(super) fn rpc_move_resource_state(
        &self,
        req: proto::move_resource_state::Request,
    ) -> proto::move_resource_state::Response {
        let mut resp = proto::move_resource_state::Response::default();
        let (resource, schema) = match self.resource(&req.target_type_name) {
            Ok(found) => found,
            Err(d) => {
                resp.diagnostics = convert::diagnostics(&d);
                return resp;
            }
        };
        let source = MoveSource {
            provider_address: req.source_provider_address,
            type_name: req.source_type_name,
            schema_version: req.source_schema_version,
            state_json: req.source_state.map(|s| s.json).unwrap_or_default(),
        };
        let moved = match resource.move_state(&source) {
            Ok(moved) => moved,
            Err(d) => {
                resp.diagnostics = convert::diagnostics(&d);
                return resp;
            }
        };
        let mut diags = moved.diagnostics;
        let mut state = moved.state;
        diags.extend(rules::check_wholly_known(&mut state));
        let ty = schema.block.value_type();
        let (id, d) = identity::settle(resource, &state, &Value::Null);
        diags.extend(d);
        let encoded = convert::encode(&state, &ty).and_then(|s| {
            let id = identity::encode(resource, &id)?;
            Ok::<_, Diagnostics>((s, id))
        });
        match encoded {
            Ok((s, id)) => {
                resp.target_state = Some(s);
                resp.target_identity = id;
            }
            Err(d) => diags.extend(d),
        }
        resp.diagnostics = convert::diagnostics(&diags);
        resp
    }
}
