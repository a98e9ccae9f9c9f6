//! wsio's HTTP/2 client (feature `http2`): `ClientBuilder::http2` and `Http2Connection`
//! against wsio's own server, in cleartext and over TLS, many WebSockets on one connection,
//! subprotocol and permessage-deflate; against Hypercorn, an independent HTTP/2 server; and
//! the typed error from servers that do not take WebSockets over HTTP/2.
#![cfg(all(feature = "http2", feature = "tls"))]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http::Version;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wsio::{
    ClientBuilder, CloseCode, DeflateConfig, Error, Http2Connection, Message, Server,
    ServerRequest, Transport, WebSocket,
};

mod support;

#[path = "support/peers.rs"]
mod peers;

/// Bounds every test: nothing here may hang.
const LIMIT: Duration = Duration::from_secs(60);

/// What the server saw of each WebSocket: the HTTP version and the client's address.
type Seen = mpsc::UnboundedReceiver<(Version, Option<SocketAddr>)>;

/// wsio's server on 127.0.0.1: `/echo`, the subprotocol `chat`, permessage-deflate, TLS when
/// given a certificate.
async fn start(
    tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> (SocketAddr, Seen) {
    let (seen, reports) = mpsc::unbounded_channel();
    let echo = move |ws: WebSocket<Transport>, request: ServerRequest| {
        let _ = seen.send((request.request.version(), request.peer_addr));
        support::echo(ws)
    };
    let mut builder = Server::builder()
        .route("/echo", echo.clone())
        .subprotocol("chat", echo)
        .deflate(DeflateConfig::default());
    if let Some((cert, key)) = tls {
        builder = builder.tls_certificate(vec![cert], key).unwrap();
    }
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    (addr, reports)
}

async fn within_limit(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the test did not finish in time");
}

/// Sends `message` and expects it back.
async fn round_trip(ws: &mut WebSocket<Transport>, message: Message) {
    ws.send(message.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), message);
}

#[tokio::test]
async fn connects_over_http2_in_cleartext_and_over_tls() {
    within_limit(async {
        let (addr, mut seen) = start(None).await;
        let url = format!("ws://{addr}/echo");
        let (mut ws, response) = ClientBuilder::new(&url)
            .unwrap()
            .http2()
            .connect()
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(seen.recv().await.unwrap().0, Version::HTTP_2);
        round_trip(&mut ws, Message::text("over h2c")).await;
        let info = ws.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(info.was_clean, "{info:?}");

        let (cert, key) = support::tls::certificate();
        let (addr, mut seen) = start(Some((cert.clone(), key))).await;
        let url = format!("wss://localhost:{}/echo", addr.port());
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&cert))
            .http2()
            .connect()
            .await
            .unwrap();
        assert_eq!(seen.recv().await.unwrap().0, Version::HTTP_2);
        round_trip(&mut ws, Message::binary(vec![9u8; 1 << 20])).await;
    })
    .await;
}

#[tokio::test]
async fn one_connection_carries_many_websockets_with_their_own_offers() {
    within_limit(async {
        let (addr, mut seen) = start(None).await;
        let base = format!("ws://{addr}");
        let connection = Http2Connection::connect(&ClientBuilder::new(&base).unwrap())
            .await
            .unwrap();
        let mut sockets = Vec::new();
        for n in 0..8 {
            let builder = if n % 2 == 0 {
                ClientBuilder::new(&format!("{base}/echo")).unwrap()
            } else {
                ClientBuilder::new(&format!("{base}/elsewhere"))
                    .unwrap()
                    .subprotocol("chat")
                    .deflate(DeflateConfig::default())
            };
            let (ws, response) = connection.open(builder).await.unwrap();
            assert_eq!(response.subprotocol().is_some(), n % 2 == 1);
            assert_eq!(ws.negotiated().is_empty(), n % 2 == 0);
            sockets.push(ws);
        }
        // Every WebSocket came from one client address: one TCP connection.
        let mut peers = std::collections::HashSet::new();
        for _ in 0..8 {
            peers.insert(seen.recv().await.unwrap().1);
        }
        assert_eq!(peers.len(), 1, "{peers:?}");

        let text = Message::text("compressible ".repeat(10_000));
        for ws in &mut sockets {
            round_trip(ws, text.clone()).await;
        }
        // Closing some leaves the others working, and new ones can still open.
        for ws in sockets.drain(..4) {
            drop(ws);
        }
        for ws in &mut sockets {
            round_trip(ws, Message::text("still here")).await;
        }
        let (mut ws, _) = connection
            .open(ClientBuilder::new(&format!("{base}/echo")).unwrap())
            .await
            .unwrap();
        round_trip(&mut ws, Message::text("a latecomer")).await;
    })
    .await;
}

#[tokio::test]
async fn servers_without_websockets_over_http2_are_a_typed_error() {
    within_limit(async {
        // TLS that agrees only HTTP/1.1.
        let (cert, key) = support::tls::certificate();
        let mut config =
            wsio::rustls::ServerConfig::builder_with_provider(support::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.clone()], key)
                .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server = Server::builder()
            .route("/echo", |ws, _| support::echo(ws))
            .tls(Arc::new(config))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(server.run());
        let builder = ClientBuilder::new(&format!("wss://localhost:{port}/echo"))
            .unwrap()
            .tls_config(support::tls::trusting(&cert));
        let refused = builder.clone().http2().connect().await;
        assert!(
            matches!(refused, Err(Error::Http2Unavailable(_))),
            "{refused:?}"
        );
        // The caller falls back to HTTP/1.1.
        let (mut ws, _) = builder.connect().await.unwrap();
        round_trip(&mut ws, Message::text("over HTTP/1.1")).await;

        // HTTP/2 without extended CONNECT: hyper's server with the default settings.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(|_| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        let refused = ClientBuilder::new(&format!("ws://{addr}/echo"))
            .unwrap()
            .http2()
            .connect()
            .await;
        assert!(
            matches!(refused, Err(Error::Http2Unavailable(_))),
            "{refused:?}"
        );
    })
    .await;
}

/// Hypercorn, killed when dropped.
struct Hypercorn {
    _child: Child,
    port: u16,
}

impl Hypercorn {
    /// Starts `tests/peers/hypercorn_echo.py` on a free port of 127.0.0.1 (with TLS when given
    /// PEM files) and waits until it takes connections.
    async fn start(tls: Option<(&str, &str)>) -> Hypercorn {
        let root = peers::workspace_root();
        let python = peers::python(&root, "hypercorn");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut command = Command::new(python);
        command
            .arg(root.join("tests/peers/hypercorn_echo.py"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some((cert, key)) = tls {
            command.args([cert, key]);
        }
        let child = command
            .spawn()
            .expect("Hypercorn starts (see scripts/setup-peers.sh)");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Hypercorn {
                    _child: child,
                    port,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("Hypercorn did not listen on port {port}");
    }
}

/// Hypercorn, an independent server, takes wsio's HTTP/2 client in cleartext (prior
/// knowledge) and over TLS (ALPN h2), with a subprotocol, large messages and a close.
#[tokio::test]
async fn hypercorn_serves_the_http2_client() {
    within_limit(async {
        let hypercorn = Hypercorn::start(None).await;
        let url = format!("ws://127.0.0.1:{}/echo", hypercorn.port);
        let (mut ws, response) = ClientBuilder::new(&url)
            .unwrap()
            .subprotocol("chat")
            .max_message_size(64 << 20)
            .http2()
            .connect()
            .await
            .unwrap();
        assert_eq!(response.subprotocol(), Some("chat"));
        round_trip(&mut ws, Message::text("hello, Hypercorn")).await;
        let big = Message::binary((0..16 << 20).map(|i: u32| i as u8).collect::<Vec<u8>>());
        round_trip(&mut ws, big).await;
        let info = ws.close(CloseCode::NORMAL, "done").await.unwrap();
        assert_eq!(info.code, CloseCode::NORMAL, "{info:?}");

        let (cert, key, trusted) = support::tls::pem_files("hypercorn-tls");
        let hypercorn = Hypercorn::start(Some((&cert, &key))).await;
        let url = format!("wss://localhost:{}/echo", hypercorn.port);
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&trusted))
            .http2()
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, Message::text("hello, Hypercorn over TLS")).await;
    })
    .await;
}
