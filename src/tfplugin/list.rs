//! List resources (Terraform 1.14+, `terraform query`): `ValidateListResourceConfig` and
//! the server-streaming `ListResource`. Each event carries the found object's identity
//! (in the identity schema of the managed resource of the same name), a display name,
//! and its full state when Terraform asks for it (`include_resource`, implied by
//! `-generate-config-out`). The layer enforces the limit: the stream ends once `limit`
//! objects were sent, and a list resource sees that through [`ListSink::is_full`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;

use super::server::Service;
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

type EventSender = UnboundedSender<Result<proto::list_resource::Event, Status>>;

/// Where a list resource sends what it finds; encodes each item for Terraform.
pub struct ListSink {
    events: EventSender,
    resource: Arc<dyn Resource>,
    schema: Schema,
    request: ListRequest,
    sent: AtomicUsize,
}

impl ListSink {
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

fn diagnostics_event(d: &Diagnostics) -> proto::list_resource::Event {
    proto::list_resource::Event {
        identity: None,
        display_name: String::new(),
        resource_object: None,
        diagnostic: convert::diagnostics(d),
    }
}

impl Service {
    fn list_resource(
        &self,
        name: &str,
    ) -> Result<&(Arc<dyn super::ListResource>, Schema), Diagnostics> {
        self.list_resources.get(name).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Unknown list resource type",
                format!("This provider has no list resource type {name:?}."),
            ))
        })
    }

    pub(super) async fn rpc_validate_list_resource_config(
        &self,
        req: proto::validate_list_resource_config::Request,
    ) -> proto::validate_list_resource_config::Response {
        let d = match self
            .list_resource(&req.type_name)
            .and_then(|(list, schema)| {
                let config = convert::decode(
                    req.config.as_ref(),
                    &schema.block.value_type(),
                    "configuration",
                )?;
                Ok((list.clone(), config))
            }) {
            Ok((list, config)) => list.validate_config(&config).await,
            Err(d) => d,
        };
        proto::validate_list_resource_config::Response {
            diagnostics: convert::diagnostics(&d),
        }
    }

    pub(super) fn rpc_list_resource(
        &self,
        req: proto::list_resource::Request,
    ) -> tokio_stream::wrappers::UnboundedReceiverStream<Result<proto::list_resource::Event, Status>>
    {
        let (events, stream) = tokio::sync::mpsc::unbounded_channel();
        let prepared = self
            .list_resource(&req.type_name)
            .and_then(|(list, schema)| {
                let (resource, resource_schema) = self.resource(&req.type_name)?;
                if resource.identity_schema().is_none() {
                    return Err(Diagnostics::from(Diagnostic::error(
                        "List resource without identity",
                        format!(
                            "This is a bug in the provider: the resource type {} has no identity.",
                            req.type_name
                        ),
                    )));
                }
                let config = convert::decode(
                    req.config.as_ref(),
                    &schema.block.value_type(),
                    "configuration",
                )?;
                Ok((
                    list.clone(),
                    resource.clone(),
                    resource_schema.clone(),
                    config,
                ))
            });
        match prepared {
            Err(d) => {
                let _ = events.send(Ok(diagnostics_event(&d)));
            }
            Ok((list, resource, schema, config)) => {
                let request = ListRequest {
                    include_resource_object: req.include_resource_object,
                    limit: usize::try_from(req.limit.max(0)).unwrap_or(usize::MAX),
                };
                let ctx = self.ctx();
                tokio::spawn(async move {
                    let sink = ListSink {
                        events: events.clone(),
                        resource,
                        schema,
                        request,
                        sent: AtomicUsize::new(0),
                    };
                    if request.limit > 0 {
                        let d = list.list(&ctx, &config, request, &sink).await;
                        if !d.is_empty() {
                            let _ = events.send(Ok(diagnostics_event(&d)));
                        }
                    }
                });
            }
        }
        tokio_stream::wrappers::UnboundedReceiverStream::new(stream)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio_stream::StreamExt;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::cty::Type;
    use crate::schema::{Attribute, Block};
    use crate::tfplugin::{
        Ctx, DataSource, IdentityAttribute, IdentitySchema, Provider, StateResult,
    };

    /// Finds endlessly; counts how many objects it offered.
    struct Endless(Arc<AtomicUsize>);

    struct Thing;

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block::new("t").attribute(Attribute::required("name", Type::String, "")),
        }
    }

    #[async_trait::async_trait]
    impl Resource for Thing {
        fn type_name(&self) -> &'static str {
            "t_thing"
        }
        fn schema(&self) -> Schema {
            schema()
        }
        fn identity_schema(&self) -> Option<IdentitySchema> {
            Some(IdentitySchema {
                version: 0,
                attributes: vec![IdentityAttribute {
                    name: "name".into(),
                    ty: Type::String,
                    description: String::new(),
                    required_for_import: true,
                    optional_for_import: false,
                }],
            })
        }
        async fn create(&self, _: &Ctx, p: &Value, _: &Value, _: &[u8]) -> StateResult {
            StateResult::ok(p.clone())
        }
        async fn update(&self, _: &Ctx, _: &Value, p: &Value, _: &Value, _: &[u8]) -> StateResult {
            StateResult::ok(p.clone())
        }
        async fn delete(&self, _: &Ctx, _: &Value) -> Diagnostics {
            Diagnostics::default()
        }
        async fn read(&self, _: &Ctx, s: &Value, _: &[u8]) -> StateResult {
            StateResult::ok(s.clone())
        }
        async fn import(&self, _: &Ctx, _: &str) -> StateResult {
            StateResult::default()
        }
    }

    #[async_trait::async_trait]
    impl super::super::ListResource for Endless {
        fn type_name(&self) -> &'static str {
            "t_thing"
        }
        fn schema(&self) -> Schema {
            Schema {
                version: 0,
                block: Block::new("config"),
            }
        }
        async fn list(&self, _: &Ctx, _: &Value, _: ListRequest, sink: &ListSink) -> Diagnostics {
            for i in 0.. {
                self.0.fetch_add(1, Ordering::SeqCst);
                let name = Value::string(format!("n{i}"));
                let item = ListItem {
                    identity: Value::object([("name", name.clone())]),
                    display_name: format!("thing {i}"),
                    state: Some(Value::object([("name", name)])),
                };
                if !sink.send(item) {
                    break;
                }
            }
            Diagnostics::default()
        }
    }

    struct TestProvider(Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl Provider for TestProvider {
        fn schema(&self) -> Schema {
            Schema {
                version: 0,
                block: Block::new("p"),
            }
        }
        fn resources(&self) -> Vec<Arc<dyn Resource>> {
            vec![Arc::new(Thing)]
        }
        fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
            Vec::new()
        }
        fn list_resources(&self) -> Vec<Arc<dyn super::super::ListResource>> {
            vec![Arc::new(Endless(self.0.clone()))]
        }
        async fn configure(&self, _: &Ctx, _: &Value, _: &str) -> Diagnostics {
            Diagnostics::default()
        }
    }

    async fn list(limit: i64, include: bool) -> (Vec<proto::list_resource::Event>, usize) {
        let offered = Arc::new(AtomicUsize::new(0));
        let service = Service::new(
            Arc::new(TestProvider(offered.clone())),
            CancellationToken::new(),
        );
        let config = convert::encode(
            &Value::object(Vec::<(String, Value)>::new()),
            &Type::object(Vec::<(String, Type)>::new()),
        );
        let stream = service.rpc_list_resource(proto::list_resource::Request {
            type_name: "t_thing".into(),
            config: config.ok(),
            include_resource_object: include,
            limit,
        });
        let events: Vec<_> = stream.filter_map(Result::ok).collect().await;
        (events, offered.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn the_stream_ends_at_the_limit_and_the_listing_stops() {
        let (events, offered) = list(3, false).await;
        assert_eq!(events.len(), 3);
        assert_eq!(
            offered, 4,
            "the fourth offer is refused and the listing stops"
        );
        assert!(
            events
                .iter()
                .all(|e| e.identity.is_some() && e.resource_object.is_none())
        );
        assert_eq!(events[2].display_name, "thing 2");

        let (events, _) = list(2, true).await;
        assert!(
            events.iter().all(|e| e.resource_object.is_some()),
            "state when asked"
        );

        let (events, offered) = list(0, false).await;
        assert!(events.is_empty());
        assert_eq!(offered, 0, "a limit of 0 lists nothing");
    }
}
