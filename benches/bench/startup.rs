//! Section 1, plugin start-up: launches a provider binary the way Terraform does (magic
//! cookie, protocol versions, port range, a client certificate so AutoMTLS is on), times
//! the handshake line, reads resident memory, and times the first GetProviderSchema
//! answered over the plugin's own gRPC socket with mutual TLS.
//!
//! The schema call is protocol-agnostic: tfplugin6 `GetProviderSchema` and tfplugin5
//! `GetSchema` both take an empty request and number `resource_schemas` 2 and
//! `data_source_schemas` 3 in their answer, so one small prost message decodes both.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hwrds::plugin::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;

use crate::pinned::PinnedServer;
use crate::procfs;
use crate::stats::{Pairs, duration, error_block, header, mebibytes};
use crate::terraform::{
    OURS_RESOURCE, OURS_SOURCE, Tools, Workspace, peer_workspace, schema_lists,
};

/// A provider binary and how to talk to it.
pub struct Provider {
    pub label: &'static str,
    pub binary: PathBuf,
    /// The plugin protocol offered in PLUGIN_PROTOCOL_VERSIONS.
    pub protocol: u32,
    /// The gRPC method answering the schema.
    pub schema_method: &'static str,
    /// A type the schema must list, to check the answer is real.
    pub expected_type: &'static str,
}

/// One launch, measured.
pub struct Launch {
    pub handshake: Duration,
    pub rss_after_handshake: u64,
    pub schema_answered: Duration,
    pub rss_after_schema: u64,
}

/// A client identity like Terraform's: a self-signed ECDSA P-521 certificate.
pub struct Identity {
    pem: String,
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl Identity {
    pub fn generate() -> Identity {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into()]).expect("cert params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-signed cert");
        Identity {
            pem: cert.pem(),
            cert: cert.der().to_vec(),
            key: key.serialize_der(),
        }
    }
}

/// The parts of a schema answer the benchmark checks.
#[derive(Clone, PartialEq, prost::Message)]
struct SchemaSummary {
    #[prost(map = "string, bytes", tag = "2")]
    resource_schemas: HashMap<String, Vec<u8>>,
    #[prost(map = "string, bytes", tag = "3")]
    data_source_schemas: HashMap<String, Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// Launches `provider`, waits for its handshake and schema, then kills it.
pub fn launch(
    provider: &Provider,
    identity: &Identity,
    runtime: &tokio::runtime::Runtime,
) -> Result<Launch, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut command = Command::new(&provider.binary);
    command
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("HWRDS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .env("PLUGIN_PROTOCOL_VERSIONS", provider.protocol.to_string())
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_CLIENT_CERT", &identity.pem)
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        // Older go-plugin servers put their socket in the temp dir.
        .env("TMPDIR", dir.path())
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", provider.binary.display()))?;
    // Kept open until the process is killed: a Go plugin dies of SIGPIPE on a closed stdout.
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    let read = stdout.read_line(&mut line);
    let handshake = start.elapsed();
    let rss_after_handshake = procfs::status_bytes(child.id(), "VmRSS").unwrap_or(0);
    let result = read
        .map_err(|e| e.to_string())
        .and_then(|_| parse_handshake(&line, provider.protocol))
        .and_then(|(socket, cert)| runtime.block_on(schema(provider, identity, socket, cert)))
        .map(|_| {
            let schema_answered = start.elapsed();
            Launch {
                handshake,
                rss_after_handshake,
                schema_answered,
                rss_after_schema: procfs::status_bytes(child.id(), "VmRSS").unwrap_or(0),
            }
        });
    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);
    result
}

/// `1|<protocol>|unix|<socket>|grpc|<base64 cert>` → (socket, server certificate DER).
fn parse_handshake(line: &str, protocol: u32) -> Result<(PathBuf, Vec<u8>), String> {
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    let protocol = protocol.to_string();
    match parts.as_slice() {
        ["1", p, "unix", socket, "grpc", cert] if *p == protocol && !cert.is_empty() => {
            let der = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(cert.trim_end_matches('='))
                .map_err(|e| format!("server certificate: {e}"))?;
            Ok((PathBuf::from(socket), der))
        }
        _ => Err(format!(
            "unexpected handshake line (wanted protocol {protocol} over unix with AutoMTLS): {line:?}"
        )),
    }
}

/// Connects over the unix socket with mutual TLS and asks for the schema.
async fn schema(
    provider: &Provider,
    identity: &Identity,
    socket: PathBuf,
    server_cert: Vec<u8>,
) -> Result<(), String> {
    let aws_lc = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(aws_lc)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer::new(server_cert)))
        .with_client_auth_cert(
            vec![CertificateDer::from(identity.cert.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone())),
        )
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let channel = Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            let connector = connector.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                let name = ServerName::try_from("localhost").expect("server name");
                let tls = connector.connect(name, stream).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    grpc.ready().await.map_err(|e| e.to_string())?;
    let answer: SchemaSummary = grpc
        .unary(
            tonic::Request::new(Empty {}),
            PathAndQuery::from_static(provider.schema_method),
            tonic_prost::ProstCodec::<Empty, SchemaSummary>::default(),
        )
        .await
        .map_err(|e| format!("{}: {e}", provider.schema_method))?
        .into_inner();
    let listed = answer.resource_schemas.contains_key(provider.expected_type)
        || answer
            .data_source_schemas
            .contains_key(provider.expected_type);
    if listed {
        Ok(())
    } else {
        Err(format!(
            "the schema does not list {} (resources: {:?})",
            provider.expected_type,
            answer.resource_schemas.keys().collect::<Vec<_>>()
        ))
    }
}

/// The size of a file in bytes (0 when unreadable).
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Section 1: `reps` launch pairs (ours and the peer alternate which goes first), binary
/// sizes, and `terraform providers schema -json` wall time for `terraform_reps` pairs.
/// Returns the Markdown section and whether ours lists the benchmarked resource.
pub fn section(tools: &Tools, reps: usize, terraform_reps: usize) -> (String, bool) {
    let ours = Provider {
        label: "hwrds",
        binary: tools.ours.clone(),
        protocol: 6,
        schema_method: "/tfplugin6.Provider/GetProviderSchema",
        expected_type: "hwrds_db_instance",
    };
    let peer = Provider {
        label: "null 2.1.2",
        binary: tools.peer.clone(),
        protocol: 5,
        schema_method: "/tfplugin5.Provider/GetSchema",
        expected_type: "null_resource",
    };
    let identity = Identity::generate();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut handshake = Pairs::default();
    let mut schema = Pairs::default();
    let mut rss_handshake = Pairs::default();
    let mut rss_schema = Pairs::default();
    let mut errors = Vec::new();
    for rep in 0..reps {
        let (first, second) = if rep % 2 == 0 {
            (&ours, &peer)
        } else {
            (&peer, &ours)
        };
        let a = launch(first, &identity, &runtime);
        let b = launch(second, &identity, &runtime);
        let (o, p) = if rep % 2 == 0 { (a, b) } else { (b, a) };
        match (o, p) {
            (Ok(o), Ok(p)) => {
                handshake.push(o.handshake.as_secs_f64(), p.handshake.as_secs_f64());
                schema.push(
                    o.schema_answered.as_secs_f64(),
                    p.schema_answered.as_secs_f64(),
                );
                rss_handshake.push(o.rss_after_handshake as f64, p.rss_after_handshake as f64);
                rss_schema.push(o.rss_after_schema as f64, p.rss_after_schema as f64);
            }
            (o, p) => {
                for (provider, result) in [(&ours, o.err()), (&peer, p.err())] {
                    if let Some(e) = result {
                        errors.push(format!("{}: {e}", provider.label));
                    }
                }
            }
        }
    }
    let sizes = Pairs {
        ours: vec![file_size(&ours.binary) as f64],
        peer: vec![file_size(&peer.binary) as f64],
    };

    let (cli_schema, available, cli_error) = terraform_schema(tools, terraform_reps);
    if let Some(e) = cli_error {
        errors.push(e);
    }

    let runs = |pairs: &Pairs| format!("{}", pairs.ours.len());
    let mut text = String::from("## 1. Plugin start-up\n\n");
    text.push_str(
        "Each provider binary is launched as Terraform launches it (magic cookie, \
         `PLUGIN_PROTOCOL_VERSIONS` 6 for hwrds and 5 for null, `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`, \
         `PLUGIN_CLIENT_CERT` = a fresh self-signed ECDSA P-521 certificate so AutoMTLS is on). \
         \"GetProviderSchema answered\" is measured by the benchmark's own gRPC client over the \
         plugin's unix socket with mutual TLS (tfplugin6 `GetProviderSchema` for hwrds, tfplugin5 \
         `GetSchema` for null), from exec to the decoded answer. `terraform providers schema -json` \
         is the wall time of the whole Terraform command. hwrds and null alternate which goes first \
         in each repetition; the ratio is the median of the per-repetition ratios.\n\n"
    );
    text.push_str(&header(&[
        "measurement",
        "hwrds (median)",
        "null 2.1.2 (median)",
        "ratio hwrds/null",
        "runs",
    ]));
    text.push('\n');
    for (label, pairs, format) in [
        (
            "exec → handshake line",
            &handshake,
            duration as fn(f64) -> String,
        ),
        (
            "exec → first GetProviderSchema answered (gRPC, mTLS)",
            &schema,
            duration,
        ),
        ("VmRSS after the handshake", &rss_handshake, mebibytes),
        ("VmRSS after GetProviderSchema", &rss_schema, mebibytes),
        ("binary size", &sizes, mebibytes),
        (
            "`terraform providers schema -json` wall time",
            &cli_schema,
            duration,
        ),
    ] {
        text.push_str(&pairs.row(label, format, &[runs(pairs)]));
        text.push('\n');
    }
    for e in &errors {
        text.push_str(&error_block("start-up", e));
    }
    (text, available)
}

/// `terraform providers schema -json` for ours and the peer, alternating; also whether
/// ours lists the benchmarked resource.
fn terraform_schema(tools: &Tools, reps: usize) -> (Pairs, bool, Option<String>) {
    let mut pairs = Pairs::default();
    let workspaces = Workspace::new(
        tools,
        "terraform {\n  required_providers {\n    hwrds = { source = \"hwrds/hwrds\" }\n  }\n}\n",
    )
    .and_then(|ours| Ok((ours, peer_workspace(tools, 1, false)?)));
    let (ours, peer) = match workspaces {
        Ok(w) => w,
        Err(e) => return (pairs, false, Some(e)),
    };
    let available = match schema_lists(&ours, OURS_SOURCE, OURS_RESOURCE) {
        Ok(listed) => listed,
        Err(e) => return (pairs, false, Some(e)),
    };
    let args = ["providers", "schema", "-json"];
    let timeout = Duration::from_secs(120);
    for rep in 0..reps {
        let order = if rep % 2 == 0 {
            [&ours, &peer]
        } else {
            [&peer, &ours]
        };
        let runs: Vec<Result<f64, String>> = order
            .iter()
            .map(|w| {
                w.run(&args, None, timeout)
                    .ok("providers schema -json")
                    .map(|r| r.wall.as_secs_f64())
            })
            .collect();
        let (o, p) = if rep % 2 == 0 {
            (&runs[0], &runs[1])
        } else {
            (&runs[1], &runs[0])
        };
        match (o, p) {
            (Ok(o), Ok(p)) => pairs.push(*o, *p),
            (Err(e), _) | (_, Err(e)) => return (pairs, available, Some(e.clone())),
        }
    }
    (pairs, available, None)
}
