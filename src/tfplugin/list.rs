//! What a list resource (Terraform 1.14+, `terraform query`) sees of the server-streaming
//! `ListResource` RPC (served in `server::list`): the request, the items, and the sink
//! that encodes them as events. Each event carries the found object's identity
//! (in the identity schema of the managed resource of the same name), a display name,
//! and its full state when Terraform asks for it (`include_resource`, implied by
//! `-generate-config-out`). The layer enforces the limit: the stream ends once `limit`
//! objects were sent, and a list resource sees that through [`ListSink::is_full`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;

use super::{Diagnostic, Diagnostics, Resource, convert, identity, proto, rules};
use crate::cty::Value;
use crate::schema::Schema;

/// What Terraform asked of one listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    /// Send each object's state too.
    pub include_resource_object: bool,
    /// At most this many objects.
    pub limit: usize,
}

/// One object found.
#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    pub identity: Value,
    pub display_name: String,
    /// The object's state, as a read would return it (sent only when asked for).
    pub state: Option<Value>,
}

pub(super) type EventSender = UnboundedSender<Result<proto::list_resource::Event, Status>>;

/// Where a list resource sends what it finds; encodes each item for Terraform.
pub struct ListSink {
    events: EventSender,
    resource: Arc<dyn Resource>,
    schema: Schema,
    request: ListRequest,
    sent: AtomicUsize,
}

impl ListSink {
    /// A sink for one listing of `resource` (of `schema`) that sends to `events`.
    pub(super) fn new(
        events: EventSender,
        resource: Arc<dyn Resource>,
        schema: Schema,
        request: ListRequest,
    ) -> Self {
        ListSink {
            events,
            resource,
            schema,
            request,
            sent: AtomicUsize::new(0),
        }
    }

    /// Whether the limit was reached or Terraform stopped listening: find no more.
    pub fn is_full(&self) -> bool {
        self.sent.load(Ordering::SeqCst) >= self.request.limit || self.events.is_closed()
    }

    /// Sends one object; false once the stream takes no more (see [`Self::is_full`]).
    pub fn send(&self, item: ListItem) -> bool {
        if self.is_full() {
            return false;
        }
        match self.event(item) {
            Ok(event) => {
                self.sent.fetch_add(1, Ordering::SeqCst);
                self.events.send(Ok(event)).is_ok()
            }
            Err(d) => {
                let _ = self.events.send(Ok(diagnostics_event(&d)));
                false
            }
        }
    }

    fn event(&self, item: ListItem) -> Result<proto::list_resource::Event, Diagnostics> {
        let identity = identity::encode(&self.resource, &item.identity)?.ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Listed object without identity",
                format!(
                    "This is a bug in the provider: {} found an object with no identity.",
                    self.resource.type_name()
                ),
            ))
        })?;
        let resource_object = match item.state {
            Some(mut state) if self.request.include_resource_object => {
                let d = rules::check_wholly_known(&mut state);
                if d.has_errors() {
                    return Err(d);
                }
                Some(convert::encode(&state, &self.schema.block.value_type())?)
            }
            _ => None,
        };
        Ok(proto::list_resource::Event {
            identity: Some(identity),
            display_name: item.display_name,
            resource_object,
            diagnostic: Vec::new(),
        })
    }
}

/// The event that carries diagnostics (a stream's last, or one item that failed).
pub(super) fn diagnostics_event(d: &Diagnostics) -> proto::list_resource::Event {
    proto::list_resource::Event {
        identity: None,
        display_name: String::new(),
        resource_object: None,
        diagnostic: convert::diagnostics(d),
    }
}
