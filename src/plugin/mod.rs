//! The go-plugin host side: what makes this binary a Terraform plugin. Checks the launch
//! cookie, negotiates the protocol, listens on a unix socket with AutoMTLS, prints the
//! handshake line, serves the provider's gRPC routes plus go-plugin's services and gRPC
//! health, and shuts down on `GRPCController.Shutdown` or SIGTERM.
//!
//! Knows nothing about tfplugin6 or RDS: the provider's routes are handed in.

mod handshake;
mod services;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tonic::service::{Routes, RoutesBuilder};

pub use handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, handshake_line, negotiate};
pub use services::proto;

/// gRPC message size limit, as Terraform's (tonic's default is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How long in-flight RPCs get to finish after shutdown before the process exits.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A function that adds the provider's gRPC services; it gets a token that is cancelled
/// when the process shuts down.
pub trait RegisterServices: FnOnce(CancellationToken, &mut RoutesBuilder) {}
impl<F: FnOnce(CancellationToken, &mut RoutesBuilder)> RegisterServices for F {}

/// Runs the process as a Terraform plugin and returns its exit code.
pub fn run(version: &str, register: impl RegisterServices) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("terraform-provider-hwrds {version}");
        return ExitCode::SUCCESS;
    }
    let cookie = std::env::var(MAGIC_COOKIE_KEY).ok();
    if !handshake::launched_by_terraform(cookie.as_deref()) {
        eprintln!("{}", handshake::RUN_BY_HAND_MESSAGE);
        return ExitCode::from(1);
    }
    report_panics_to_terraform();
    if let Err(message) = negotiate(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref()) {
        eprintln!("{message}");
        return ExitCode::from(1);
    }
    crate::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fatal(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(serve(register)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "plugin server failed");
            fatal(&message)
        }
    }
}

/// Terraform shows a plugin's stderr only from a line starting `panic: ` or
/// `fatal error: ` (Go's crash headers), once the plugin has died; any other line goes
/// to its debug log alone. A failed start said only "Failed to read any lines from
/// plugin's stdout".
fn fatal(message: &str) -> ExitCode {
    eprintln!("fatal error: terraform-provider-hwrds: {message}");
    ExitCode::from(1)
}

/// Heads a panic's report (before the handshake too) with `panic: `, so that Terraform
/// shows it (see [`fatal`]).
fn report_panics_to_terraform() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("panic: terraform-provider-hwrds: {info}");
        default(info);
    }));
}

/// Removes the socket file when the server ends, however it ends.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn socket_path() -> PathBuf {
    let dir = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("plugin{}", fastrand::u64(100_000_000..u64::MAX)))
}

fn bind_owner_only(path: &Path) -> Result<UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    let listener =
        UnixListener::bind(path).map_err(|e| format!("listening on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("restricting {}: {e}", path.display()))?;
    Ok(listener)
}

async fn serve(register: impl RegisterServices) -> Result<(), String> {
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone())?;

    let path = socket_path();
    let listener = bind_owner_only(&path)?;
    let _socket = SocketFile(path.clone());

    let tls = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !pem.trim().is_empty() => Some(tls::server_tls(&pem)?),
        _ => None,
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let mut builder = Routes::builder();
    builder
        .add_service(health_service)
        .add_service(
            proto::grpc_controller_server::GrpcControllerServer::new(services::Controller {
                shutdown: shutdown.clone(),
            })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            proto::grpc_stdio_server::GrpcStdioServer::new(services::Stdio {
                shutdown: shutdown.clone(),
            })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        );
    register(shutdown.clone(), &mut builder);
    let routes = builder.routes();

    let line = handshake_line(
        &path.to_string_lossy(),
        tls.as_ref().map(|t| t.cert_der.as_slice()),
    );
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|_| stdout.flush())
            .map_err(|e| format!("writing the handshake line: {e}"))?;
    }
    tracing::debug!(socket = %path.display(), tls = tls.is_some(), "plugin server listening");

    let server = tonic::transport::Server::builder().add_routes(routes);
    let stop = shutdown.clone();
    let mut server_task = match tls {
        Some(tls) => {
            let incoming = tls_incoming(listener, tls.config, shutdown.clone());
            tokio::spawn(server.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()))
        }
        None => {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tokio::spawn(server.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()))
        }
    };
    let ended = tokio::select! {
        _ = shutdown.cancelled() => {
            // In-flight RPCs get a short grace; Terraform kills a plugin that lingers anyway.
            tokio::time::timeout(SHUTDOWN_GRACE, server_task).await.ok()
        }
        ended = &mut server_task => Some(ended),
    };
    match ended {
        Some(Ok(Err(e))) => Err(format!("gRPC server: {e}")),
        Some(Err(e)) => Err(format!("gRPC server task: {e}")),
        _ => Ok(()),
    }
}

/// Accepts unix connections and completes the TLS handshake of each in its own task, so a
/// client that fails or stalls the handshake never holds up the others.
fn tls_incoming(
    listener: UnixListener,
    config: std::sync::Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<
    Result<tokio_rustls::server::TlsStream<UnixStream>, std::io::Error>,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake refused"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// SIGTERM shuts down. SIGINT is only noted: Terraform forwards Ctrl-C to the whole
/// process group and then calls StopProvider, expecting the in-flight apply to return.
fn watch_signals(shutdown: CancellationToken) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::debug!("SIGTERM received, shutting down");
                    shutdown.cancel();
                    break;
                }
                _ = int.recv() => tracing::debug!("SIGINT received; waiting for Terraform to stop the provider"),
            }
        }
    });
    Ok(())
}
