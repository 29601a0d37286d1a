//! Actions (Terraform 1.14+): ValidateActionConfig, PlanAction, and the server-streaming
//! InvokeAction, which relays the action's progress messages as events and ends with a
//! completion event carrying its diagnostics.

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Status;

use super::super::convert;
use super::super::{Diagnostics, Progress, proto};
use super::Service;
use super::reply::WithDiagnostics;
use proto::invoke_action::{Event, event};

pub(super) async fn validate(
    service: &Service,
    req: proto::validate_action_config::Request,
) -> Result<proto::validate_action_config::Response, Diagnostics> {
    let (action, config) = service
        .actions
        .with_config(&req.type_name, req.config.as_ref())?;
    let d = action.validate_config(&config).await;
    Ok(proto::validate_action_config::Response::default().with_diagnostics(&d))
}

pub(super) async fn plan(
    service: &Service,
    req: proto::plan_action::Request,
) -> Result<proto::plan_action::Response, Diagnostics> {
    let (action, config) = service
        .actions
        .with_config(&req.action_type, req.config.as_ref())?;
    let d = action.plan(&service.ctx(), &config).await;
    Ok(proto::plan_action::Response::default().with_diagnostics(&d))
}

/// Starts the invocation in a task of its own and returns its events; a request that
/// cannot be invoked gets only the completion event, with the diagnostics.
pub(super) fn invoke(
    service: &Service,
    req: proto::invoke_action::Request,
) -> UnboundedReceiverStream<Result<Event, Status>> {
    let (events, stream) = unbounded_channel::<Result<Event, Status>>();
    match service
        .actions
        .with_config(&req.action_type, req.config.as_ref())
    {
        Err(d) => {
            let _ = events.send(Ok(completed(&d)));
        }
        Ok((action, config)) => {
            let action = action.clone();
            let ctx = service.ctx();
            tokio::spawn(async move {
                let (tx, rx) = unbounded_channel::<String>();
                let relay = tokio::spawn(relay_progress(rx, events.clone()));
                let d = action.invoke(&ctx, &config, Progress::new(tx)).await;
                // The progress sender is gone with `invoke`: the relay drains and ends.
                let _ = relay.await;
                let _ = events.send(Ok(completed(&d)));
            });
        }
    }
    UnboundedReceiverStream::new(stream)
}

/// Sends each progress message as an event until the action drops its sender.
async fn relay_progress(
    mut messages: tokio::sync::mpsc::UnboundedReceiver<String>,
    events: UnboundedSender<Result<Event, Status>>,
) {
    while let Some(message) = messages.recv().await {
        let progress = event::Type::Progress(event::Progress { message });
        let _ = events.send(Ok(Event {
            r#type: Some(progress),
        }));
    }
}

fn completed(d: &Diagnostics) -> Event {
    Event {
        r#type: Some(event::Type::Completed(event::Completed {
            diagnostics: convert::diagnostics(d),
        })),
    }
}
