//! `wss://` against a real TLS server on loopback, with a certificate made in the test.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::sync::Arc;

mod support;

use futures_util::StreamExt;
use support::LIMIT;
use support::tls::{Authority, certificate, provider, trusting};
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
    tls_echo_server_with(config).await
}

/// A TLS echo server on 127.0.0.1 with this configuration.
async fn tls_echo_server_with(config: ServerConfig) -> SocketAddr {
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

/// Connects with `danger_accept_invalid_certs` and has a message echoed.
async fn insecure_echo(url: &str) {
    let (mut ws, _) = ClientBuilder::new(url)
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
}

/// How the blocking client fails with `builder`, which must fail.
async fn blocking_refusal(builder: ClientBuilder) -> Error {
    tokio::task::spawn_blocking(move || builder.connect_blocking().unwrap_err())
        .await
        .unwrap()
}

/// The error's message names the certificate as the reason, in the words given.
fn says_why(error: &Error, why: &str) {
    let message = error.to_string();
    assert!(
        message.starts_with("TLS error: invalid peer certificate: ") && message.contains(why),
        "{message}"
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_authority_is_refused() {
    tokio::time::timeout(LIMIT, async {
        // Signed by an authority the webpki roots do not hold.
        let (cert, key) = Authority::new().issue(None);
        let addr = tls_echo_server(cert, key).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let error = wsio::connect(&url).await.unwrap_err();
        says_why(&error, "UnknownIssuer");
        // The blocking client refuses it the same way.
        let builder = ClientBuilder::new(&url).unwrap();
        says_why(&blocking_refusal(builder).await, "UnknownIssuer");
        // Trusting another authority does not help either.
        let other = Authority::new();
        let error = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&other.cert))
            .connect()
            .await
            .unwrap_err();
        says_why(&error, "UnknownIssuer");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    tokio::time::timeout(LIMIT, async {
        let authority = Authority::new();
        let (cert, key) = authority.issue(Some((2000, 2001)));
        let addr = tls_echo_server(cert, key).await;
        let url = format!("wss://localhost:{}/", addr.port());
        // The authority is trusted: only the dates are wrong.
        let error = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&authority.cert))
            .connect()
            .await
            .unwrap_err();
        let Error::Tls(tls) = &error else {
            panic!("expected a TLS error, got {error:?}")
        };
        assert!(
            matches!(
                **tls,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                )
            ),
            "{tls:?}"
        );
        says_why(&error, "certificate expired");
        // The blocking client refuses it the same way.
        let builder = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&authority.cert));
        says_why(&blocking_refusal(builder).await, "certificate expired");
        // Only the insecure option gets through.
        insecure_echo(&url).await;
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
        says_why(&Error::Tls(error), "not valid for name");
        // The blocking client refuses it the same way.
        let builder = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(trusting(&cert));
        says_why(&blocking_refusal(builder).await, "not valid for name");
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
        insecure_echo(&url).await;
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

#[tokio::test]
async fn a_server_that_stalls_the_tls_handshake_hits_the_connect_timeout() {
    tokio::time::timeout(LIMIT, async {
        // Accepts TCP, reads the ClientHello, and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut sink).await;
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let error = support::connect_timing_out(&url).await;
        assert_eq!(error.to_string(), "connecting timed out");
        server.abort();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_private_authority_and_a_client_certificate() {
    tokio::time::timeout(LIMIT, async {
        // The server's certificate comes from one private authority; it asks clients for a
        // certificate from another.
        let (servers, clients) = (Authority::new(), Authority::new());
        let (cert, key) = servers.issue(None);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(clients.cert.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .unwrap();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .unwrap();
        let addr = tls_echo_server_with(config).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let (client_cert, client_key) = clients.issue(None);
        let builder = ClientBuilder::new(&url)
            .unwrap()
            .tls_root_certificates([servers.cert.clone()])
            .unwrap()
            .tls_client_certificate(vec![client_cert], client_key);
        let (mut ws, _) = builder.clone().connect().await.unwrap();
        ws.send_text("mutual").await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("mutual"));
        // The blocking client takes the same settings.
        let blocking = tokio::task::spawn_blocking(move || {
            let (mut ws, _) = builder.connect_blocking().unwrap();
            ws.send_text("blocking").unwrap();
            ws.recv().unwrap()
        });
        assert_eq!(blocking.await.unwrap(), Message::text("blocking"));
        // Without a client certificate the server refuses the handshake; the error may come
        // from the handshake or from the first read, as TLS 1.3 reports it after.
        let trusting_only = ClientBuilder::new(&url)
            .unwrap()
            .tls_root_certificates([servers.cert.clone()])
            .unwrap();
        let refused = match trusting_only.connect().await {
            Err(error) => error.to_string(),
            Ok((mut ws, _)) => format!("{:?}", ws.next().await),
        };
        assert!(refused.to_lowercase().contains("certificate"), "{refused}");
        // The private roots replace the webpki roots: another authority is not trusted.
        let error = ClientBuilder::new(&url)
            .unwrap()
            .tls_root_certificates([clients.cert.clone()])
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        says_why(&error, "UnknownIssuer");
        // No roots at all is an error, not a client that trusts nobody.
        let error = ClientBuilder::new(&url)
            .unwrap()
            .tls_root_certificates([])
            .unwrap_err();
        assert!(error.to_string().contains("no root certificate"), "{error}");
    })
    .await
    .unwrap();
}
