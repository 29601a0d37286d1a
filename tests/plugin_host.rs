//! The plugin host as Terraform sees it, against the real binary: launch rules, the
//! handshake line, AutoMTLS (only Terraform's certificate gets in), socket hygiene and
//! prompt shutdown.

pub mod common;
#[path = "common/pinned.rs"]
mod pinned;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hwrds::plugin::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use hwrds::tfplugin::client as tf;
use pinned::PinnedServer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tonic::transport::{Channel, Endpoint};

const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-hwrds");

/// A client identity like Terraform's: self-signed ECDSA P-521.
struct Identity {
    pem: String,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn identity() -> Identity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Identity {
        pem: cert.pem(),
        cert: cert.der().to_vec(),
        key: key.serialize_der(),
    }
}

struct Plugin {
    child: Child,
    socket: PathBuf,
    server_cert: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(client_cert_pem: Option<&str>) -> Plugin {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BINARY);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("HWRDS_METADATA_ENDPOINT", common::NO_METADATA)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_cert_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line {line:?}");
    assert_eq!(&parts[..3], &["1", "6", "unix"]);
    assert_eq!(parts[4], "grpc");
    assert!(!parts[5].ends_with('='), "no base64 padding: {line}");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .unwrap();
    Plugin {
        child,
        socket: PathBuf::from(parts[3]),
        server_cert,
        _dir: dir,
    }
}

/// A gRPC channel over the plugin's socket: TLS with `client` as identity (None = no
/// client certificate), or plain when `tls` is false.
async fn channel(plugin: &Plugin, tls: bool, client: Option<&Identity>) -> Result<Channel, String> {
    let socket = plugin.socket.clone();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(PinnedServer::new(plugin.server_cert.clone())));
    let mut config = match client {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(id.cert.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let endpoint =
        Endpoint::from_static("http://localhost").connect_timeout(Duration::from_secs(5));
    let result = if tls {
        endpoint
            .connect_with_connector(tower::service_fn(move |_| {
                let socket = socket.clone();
                let connector = connector.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    let name = ServerName::try_from("localhost").unwrap();
                    let tls = connector.connect(name, stream).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
    } else {
        endpoint
            .connect_with_connector(tower::service_fn(move |_| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
    };
    result.map_err(|e| e.to_string())
}

async fn schema_call(channel: Channel) -> Result<tf::get_provider_schema::Response, tonic::Status> {
    let mut client = tf::provider_client::ProviderClient::new(channel);
    client
        .get_provider_schema(tf::get_provider_schema::Request {})
        .await
        .map(|r| r.into_inner())
}

#[test]
fn run_by_hand_explains_itself() {
    let out = Command::new(BINARY)
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not meant to be executed directly"),
        "{stderr}"
    );
    assert!(stderr.contains("terraform init"), "{stderr}");

    let out = Command::new(BINARY).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-hwrds {}", env!("CARGO_PKG_VERSION"))
    );

    let out = Command::new(BINARY)
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("protocol 6 only"));
}

#[tokio::test]
async fn only_terraforms_certificate_gets_in() {
    let terraform = identity();
    let plugin = launch(Some(&terraform.pem));
    let cert = x509_common_name(&plugin.server_cert);
    assert!(cert, "server certificate names localhost");

    // Terraform's own certificate: health and the provider service answer.
    let ch = channel(&plugin, true, Some(&terraform)).await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let schema = schema_call(ch.clone()).await.unwrap();
    let provider = schema.provider.unwrap().block.unwrap();
    assert!(
        provider
            .attributes
            .iter()
            .any(|a| a.name == "secret_key" && a.sensitive)
    );

    // Diagnostics carry the attribute path.
    let ty = hwrds::provider::config::schema().block.value_type();
    let mut config = hwrds::cty::Value::null_object(&ty);
    config.set_attr(
        "endpoint",
        hwrds::cty::Value::string("http://rds.example.com"),
    );
    let msgpack = hwrds::cty::msgpack::encode(&config, &ty).unwrap();
    let mut client = tf::provider_client::ProviderClient::new(ch);
    let resp = client
        .validate_provider_config(tf::validate_provider_config::Request {
            config: Some(tf::DynamicValue {
                msgpack,
                json: vec![],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let diag = &resp.diagnostics[0];
    assert!(diag.detail.contains("non-loopback"), "{diag:?}");
    let step = &diag.attribute.as_ref().unwrap().steps[0];
    assert_eq!(
        step.selector,
        Some(tf::attribute_path::step::Selector::AttributeName(
            "endpoint".into()
        ))
    );

    // Another certificate, no certificate, or plain gRPC: no RPC gets through.
    let stranger = identity();
    let refused = match channel(&plugin, true, Some(&stranger)).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client with another certificate must be refused");
    let refused = match channel(&plugin, true, None).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client without a certificate must be refused");
    let refused = match channel(&plugin, false, None).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(
        refused,
        "plain gRPC must be refused when Terraform asked for TLS"
    );
}

fn x509_common_name(der: &[u8]) -> bool {
    // "localhost" appears as the CN and DNS name in the DER.
    der.windows(9).any(|w| w == b"localhost")
}

#[tokio::test]
async fn fresh_certificate_owner_only_socket_prompt_shutdown() {
    use std::os::unix::fs::PermissionsExt;
    let terraform = identity();
    let first = launch(Some(&terraform.pem));
    let mut second = launch(Some(&terraform.pem));
    assert_ne!(
        first.server_cert, second.server_cert,
        "a new certificate per run"
    );
    let mode = std::fs::metadata(&second.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket is owner-only");

    // SIGINT (Terraform's Ctrl-C reaches the process group) must not end the plugin.
    let pid = second.child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        second.child.try_wait().unwrap().is_none(),
        "SIGINT must not stop the plugin"
    );

    let ch = channel(&second, true, Some(&terraform)).await.unwrap();
    let mut controller =
        hwrds::plugin::proto::grpc_controller_client::GrpcControllerClient::new(ch);
    let started = Instant::now();
    let _ = controller.shutdown(hwrds::plugin::proto::Empty {}).await;
    loop {
        if second.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "Shutdown must end the process within 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!second.socket.exists(), "socket removed on exit");

    let mut first = first;
    Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while first.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "SIGTERM ends the plugin"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!first.socket.exists());
}

/// A start that fails before the handshake line says why in Terraform's own output, not
/// only in its debug log: here the socket cannot be made (`PLUGIN_UNIX_SOCKET_DIR`, which
/// Terraform passes on, names no directory).
#[test]
fn a_failed_start_says_why_in_terraforms_output() {
    let mut ws = common::hwrds_only_workspace(
        common::terraform(),
        "data \"hwrds_db_instances\" \"all\" {}\n",
    );
    ws.set_env("PLUGIN_UNIX_SOCKET_DIR", "/nonexistent-hwrds-sockets");
    let run = ws.run(&["plan", "-input=false"]);
    assert_ne!(run.code, 0, "{}", run.all());
    let out = common::fixtures::flat(&run.all());
    assert!(
        out.contains("Failed to read any lines from plugin's stdout"),
        "{out}"
    );
    assert!(
        out.contains(
            "fatal error: terraform-provider-hwrds: listening on /nonexistent-hwrds-sockets/plugin"
        ),
        "the reason is shown: {out}"
    );
}
