//! go-plugin's own gRPC services: the controller (Shutdown) and the stdio stream.
//! The broker is not offered; Terraform's provider plugins do not use it.

use std::pin::Pin;

use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Code generated from proto/plugin/*.proto.
pub mod proto {
    tonic::include_proto!("plugin");
}

use proto::grpc_controller_server::GrpcController;
use proto::grpc_stdio_server::GrpcStdio;

/// `plugin.GRPCController`: Shutdown ends the process.
pub struct Controller {
    pub shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _request: Request<proto::Empty>,
    ) -> Result<Response<proto::Empty>, Status> {
        tracing::debug!("shutdown requested by Terraform");
        self.shutdown.cancel();
        Ok(Response::new(proto::Empty {}))
    }
}

/// `plugin.GRPCStdio`: an idle stream (logs go to stderr) that ends at shutdown.
pub struct Stdio {
    pub shutdown: CancellationToken,
}

type StdioStream = Pin<Box<dyn Stream<Item = Result<proto::StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let shutdown = self.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<proto::StdioData, Status>>(1);
        tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(tx);
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
