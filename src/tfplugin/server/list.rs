//! List resources (Terraform 1.14+, `terraform query`): ValidateListResourceConfig, the
//! server-streaming ListResource, and GenerateResourceConfig (the configuration
//! `-generate-config-out` writes for a found object). What a list resource sees of a
//! listing (its request, the items, the sink) is in `tfplugin::list`.

use std::sync::Arc;

use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Status;

use super::super::convert::{self, Payload};
use super::super::list::{ListRequest, ListSink, diagnostics_event};
use super::super::{Diagnostic, Diagnostics, ListResource, Resource, proto};
use super::Service;
use super::reply::WithDiagnostics;
use crate::cty::Value;
use crate::schema::Schema;

pub(super) async fn validate(
    service: &Service,
    req: proto::validate_list_resource_config::Request,
) -> Result<proto::validate_list_resource_config::Response, Diagnostics> {
    let (list, config) = service
        .list_resources
        .with_config(&req.type_name, req.config.as_ref())?;
    let d = list.validate_config(&config).await;
    Ok(proto::validate_list_resource_config::Response::default().with_diagnostics(&d))
}

/// Starts the listing in a task of its own and returns its events (nothing is listed for
/// a limit of 0); the listing's diagnostics, or those of a request that cannot be
/// listed, end the stream.
pub(super) fn start(
    service: &Service,
    req: proto::list_resource::Request,
) -> UnboundedReceiverStream<Result<proto::list_resource::Event, Status>> {
    let (events, stream) = tokio::sync::mpsc::unbounded_channel();
    match prepare(service, &req) {
        Err(d) => {
            let _ = events.send(Ok(diagnostics_event(&d)));
        }
        Ok(listing) => {
            let request = ListRequest {
                include_resource_object: req.include_resource_object,
                limit: usize::try_from(req.limit.max(0)).unwrap_or(usize::MAX),
            };
            let ctx = service.ctx();
            tokio::spawn(async move {
                let Listing {
                    list,
                    resource,
                    schema,
                    config,
                } = listing;
                let sink = ListSink::new(events.clone(), resource, schema, request);
                if request.limit > 0 {
                    let d = list.list(&ctx, &config, request, &sink).await;
                    if !d.is_empty() {
                        let _ = events.send(Ok(diagnostics_event(&d)));
                    }
                }
            });
        }
    }
    UnboundedReceiverStream::new(stream)
}

/// A listing ready to run: the list resource, the managed resource type it finds, and
/// the decoded `config` block.
struct Listing {
    list: Arc<dyn ListResource>,
    resource: Arc<dyn Resource>,
    schema: Schema,
    config: Value,
}

fn prepare(service: &Service, req: &proto::list_resource::Request) -> Result<Listing, Diagnostics> {
    let (list, list_schema) = service.list_resources.get(&req.type_name)?;
    let (resource, schema) = service.resources.get(&req.type_name)?;
    if resource.identity_schema().is_none() {
        return Err(Diagnostics::from(Diagnostic::error(
            "List resource without identity",
            format!(
                "This is a bug in the provider: the resource type {} has no identity.",
                req.type_name
            ),
        )));
    }
    let ty = list_schema.block.value_type();
    let config = convert::decode(req.config.as_ref(), &ty, Payload::Configuration)?;
    Ok(Listing {
        list: list.clone(),
        resource: resource.clone(),
        schema: schema.clone(),
        config,
    })
}

/// The configuration a user would write for a state (see `tfplugin::generate`).
pub(super) fn generate_config(
    service: &Service,
    req: proto::generate_resource_config::Request,
) -> Result<proto::generate_resource_config::Response, Diagnostics> {
    let (resource, schema) = service.resources.get(&req.type_name)?;
    let ty = schema.block.value_type();
    let state = convert::decode(req.state.as_ref(), &ty, Payload::State)?;
    let config = resource.generate_config(&state);
    Ok(proto::generate_resource_config::Response {
        config: Some(convert::encode(&config, &ty)?),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio_stream::StreamExt;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::cty::Type;
    use crate::schema::{Attribute, Block};
    use crate::tfplugin::{
        Ctx, DataSource, IdentityAttribute, IdentitySchema, ListItem, Provider, StateResult,
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
    impl ListResource for Endless {
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
        fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
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
        let stream = start(
            &service,
            proto::list_resource::Request {
                type_name: "t_thing".into(),
                config: config.ok(),
                include_resource_object: include,
                limit,
            },
        );
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
