//! `wss://` against a real TLS server on loopback, with a certificate made in the test.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::sync::Arc;

mod support;

use futures_util::StreamExt;
use support::LIMIT;
use support::tls::{certificate, provider, trusting};
use tokio::net::TcpListener;
use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wsio::rustls::{self, ServerConfig};
use wsio::{ClientBuilder, Error, Message};

/// A TLS echo server on 127.0.0.1 presenting `cert`.
async fn tls_echo_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(ws) = wsio::accept(tls).await {
                    support::echo(ws).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_with_a_trusted_certificate() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = certificate();
        let addr = tls_echo_server(cert.clone(), key).await;
        let url = format!("wss://localhost:{}/secure", addr.port());
        let (mut ws, response) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&cert))
            .connect()
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        ws.send_text("over TLS").await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over TLS"));
        let big = vec![3u8; 1 << 20];
        ws.send_binary(big.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_by_default() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = certificate();
        let addr = tls_echo_server(cert, key).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let error = wsio::connect(&url).await.unwrap_err();
        let Error::Tls(error) = error else {
            panic!("expected a TLS error, got {error:?}")
        };
        assert!(
            matches!(
                *error,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ),
            "{error:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = certificate();
        let addr = tls_echo_server(cert.clone(), key).await;
        // The certificate names localhost; the URL names 127.0.0.1.
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let error = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&cert))
            .connect()
            .await
            .unwrap_err();
        let Error::Tls(error) = error else {
            panic!("expected a TLS error, got {error:?}")
        };
        assert!(
            matches!(
                *error,
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                    | rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForNameContext { .. }
                    )
            ),
            "{error:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_insecure_option_is_the_only_way_around() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = certificate();
        let addr = tls_echo_server(cert, key).await;
        // Untrusted and for another name, yet accepted when asked for explicitly.
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .danger_accept_invalid_certs(true)
            .connect()
            .await
            .unwrap();
        ws.send_text("insecure but encrypted").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("insecure but encrypted")
        );
        // Turning it off again restores verification.
        let error = ClientBuilder::new(&url)
            .unwrap()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_certs(false)
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
    })
    .await
    .unwrap();
}
