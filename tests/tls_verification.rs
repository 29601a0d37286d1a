//! TLS to API endpoints: a certificate the system does not trust is refused unless
//! `insecure` is set — the only way out, which the provider warns about every time.

use std::sync::Arc;
use std::time::Duration;

use hwrds::rds::credentials::{Credentials, Secret};
use hwrds::rds::{CallCtx, ClientConfig, RdsClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// An HTTPS server on localhost with a self-signed certificate that answers every
/// request with an empty instance list. Returns its port.
async fn untrusted_server() -> u16 {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"instances": [], "total_count": 0}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn client(port: u16, insecure: bool) -> RdsClient {
    let mut config = ClientConfig::new(Credentials {
        access_key: "AK".into(),
        secret_key: Secret::new("SK"),
        security_token: None,
    });
    config.region = Some("ap-southeast-1".into());
    config.project_id = Some("p".into());
    config.endpoint = Some(format!("https://localhost:{port}"));
    config.insecure = insecure;
    config.retry.max_retries = 0;
    RdsClient::new(config).unwrap()
}

#[tokio::test]
async fn untrusted_certificates_are_refused_unless_insecure() {
    let port = untrusted_server().await;
    let ctx = CallCtx::new(CancellationToken::new())
        .with_deadline(tokio::time::Instant::now() + Duration::from_secs(20));
    let refused = client(port, false)
        .instance(&ctx, "any")
        .await
        .expect_err("a self-signed certificate must be refused");
    let message = refused.to_string().to_lowercase();
    assert!(message.contains("certificate"), "{message}");
    let accepted = client(port, true).instance(&ctx, "any").await;
    assert_eq!(
        accepted.unwrap(),
        None,
        "insecure = true skips verification"
    );
}
