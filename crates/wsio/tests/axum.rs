//! The axum extractor `wsio::axum::WebSocketUpgrade` in a real `axum::serve` on loopback:
//! HTTP/1.1 upgrades from wsio's client (with and without permessage-deflate) and from
//! Python's `websockets` and Node's `ws`; HTTP/2 extended CONNECTs (RFC 8441) from hyper's
//! HTTP/2 client over cleartext, several WebSockets on one connection, and from wsio's own
//! HTTP/2 client with and without compression; and every refusal with its status.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use http::{StatusCode, Version};
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsio::axum::WebSocketUpgrade;
use wsio::{ClientBuilder, CloseCode, Config, DeflateConfig, Error, Message, UpgradedWebSocket};

#[path = "support/http2.rs"]
mod http2;
#[path = "support/peers.rs"]
mod peers;

use peers::{Peer, close_command};

/// Bounds every test: nothing here may hang.
const LIMIT: Duration = Duration::from_secs(60);

/// What the server tells the test: each failed upgrade, and each WebSocket's version.
#[derive(Debug)]
enum Seen {
    Failed(Error),
    Opened(Version),
}

/// Serves `/echo` (subprotocol `chat` if offered, permessage-deflate on when `deflate`) with
/// `axum::serve` on 127.0.0.1, and `/` as plain text.
async fn serve(deflate: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (seen, reports) = mpsc::unbounded_channel();
    let echo = move |version: Version, upgrade: WebSocketUpgrade| async move {
        echo_route(version, upgrade, deflate, seen).await
    };
    let app = Router::new()
        .route("/", any(|| async { "plain HTTP\n" }))
        .route("/echo", any(echo));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, reports)
}

async fn echo_route(
    version: Version,
    upgrade: WebSocketUpgrade,
    deflate: bool,
    seen: mpsc::UnboundedSender<Seen>,
) -> Response {
    let mut config = Config::default().max_frame_size(32 << 20);
    if deflate {
        config = config.deflate(DeflateConfig::default());
    }
    let subprotocol = upgrade.select_subprotocol(&["chat"]);
    let failed = seen.clone();
    upgrade
        .subprotocol(subprotocol)
        .config(config)
        .on_failed_upgrade(move |error| {
            let _ = failed.send(Seen::Failed(error));
        })
        .on_upgrade(move |ws| async move {
            let _ = seen.send(Seen::Opened(version));
            echo(ws).await;
        })
}

/// Echoes data messages; `close:CODE:REASON` asks it to close.
async fn echo(mut ws: UpgradedWebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if let Some((code, reason)) = close_command(&message) {
            let _ = ws.send_close(CloseCode(code), &reason).await;
        } else if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn within_limit(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the test did not finish in time");
}

#[tokio::test]
async fn http1_upgrades_echo_with_subprotocol_and_deflate() {
    within_limit(async {
        for deflate in [false, true] {
            let (addr, mut seen) = serve(deflate).await;
            let mut builder = ClientBuilder::new(&format!("ws://{addr}/echo"))
                .unwrap()
                .subprotocol("chat");
            if deflate {
                builder = builder.deflate(DeflateConfig::default());
            }
            let (mut ws, response) = builder.connect().await.unwrap();
            assert_eq!(response.subprotocol(), Some("chat"));
            assert_eq!(ws.negotiated().is_empty(), !deflate);
            let big = Message::binary(vec![7u8; 1 << 20]);
            for message in [Message::text("hello axum"), big] {
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), message);
            }
            let info = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
            assert!(info.was_clean, "{info:?}");
            assert!(matches!(
                seen.recv().await,
                Some(Seen::Opened(Version::HTTP_11))
            ));
        }
    })
    .await;
}

/// Sends `request` as raw HTTP/1.1 and returns the response head.
async fn raw_response(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

fn handshake(method: &str, version: &str, extensions: &str) -> String {
    format!(
        "{method} /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\
         {extensions}\r\n"
    )
}

#[tokio::test]
async fn refusals_carry_their_status() {
    within_limit(async {
        let (addr, mut seen) = serve(true).await;
        let plain = raw_response(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");

        let not_upgrade = raw_response(addr, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(not_upgrade.starts_with("HTTP/1.1 400"), "{not_upgrade}");

        let post = raw_response(addr, &handshake("POST", "13", "")).await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(
            post.to_ascii_lowercase().contains("allow: get\r\n"),
            "{post}"
        );

        let old = raw_response(addr, &handshake("GET", "8", "")).await;
        assert!(old.starts_with("HTTP/1.1 426"), "{old}");
        assert!(
            old.to_ascii_lowercase()
                .contains("sec-websocket-version: 13\r\n"),
            "{old}"
        );

        // Refused before the handler: no failed upgrade to report.
        assert!(seen.try_recv().is_err());

        // A malformed extension offer is refused once the handler turned deflate on, and the
        // failure is reported.
        let malformed = "Sec-WebSocket-Extensions: permessage-deflate; ;\r\n";
        let refused = raw_response(addr, &handshake("GET", "13", malformed)).await;
        assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
        let Some(Seen::Failed(Error::Handshake(_))) = seen.recv().await else {
            panic!("the failed upgrade was not reported");
        };
    })
    .await;
}

/// An HTTP/2 connection to `addr`, in cleartext with prior knowledge.
async fn http2_connection(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    http2::connect(TcpStream::connect(addr).await.unwrap()).await
}

/// Opens a WebSocket on a stream of `sender`'s connection to `/echo`.
async fn open_stream(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    extra: &[(&str, &str)],
) -> (http::response::Parts, Option<UpgradedWebSocket>) {
    http2::open(sender, &format!("http://{addr}/echo"), extra).await
}

#[tokio::test]
async fn http2_extended_connect_opens_websockets_on_streams_of_one_connection() {
    within_limit(async {
        let (addr, mut seen) = serve(true).await;
        let mut sender = http2_connection(addr).await;
        let offers = [
            ("sec-websocket-protocol", "chat"),
            ("sec-websocket-extensions", "permessage-deflate"),
        ];
        let (parts, _) = open_stream(&mut sender, addr, &offers).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(parts.headers["sec-websocket-protocol"], "chat");
        assert_eq!(
            parts.headers["sec-websocket-extensions"],
            "permessage-deflate"
        );
        assert!(!parts.headers.contains_key("sec-websocket-accept"));
        assert!(matches!(
            seen.recv().await,
            Some(Seen::Opened(Version::HTTP_2))
        ));

        // Three WebSockets on the same connection, uncompressed; one closes, the others go on.
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let (parts, ws) = open_stream(&mut sender, addr, &[]).await;
            assert_eq!(parts.status, StatusCode::OK);
            sockets.push(ws.unwrap());
        }
        let big = Message::binary((0..16 << 20).map(|i: u32| i as u8).collect::<Vec<u8>>());
        for (i, ws) in sockets.iter_mut().enumerate() {
            let text = Message::text(format!("stream {i}"));
            ws.send(text.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), text);
        }
        let info = sockets[1]
            .close(CloseCode::NORMAL, "only this one")
            .await
            .unwrap();
        assert!(info.was_clean, "{info:?}");
        for i in [0, 2] {
            let ws = &mut sockets[i];
            ws.send(big.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), big);
            ws.send_text("close:4000:done").await.unwrap();
            assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
            assert!(ws.recv().await.is_none());
            assert_eq!(ws.close_info().unwrap().code, CloseCode(4000));
        }
    })
    .await;
}

/// wsio's own HTTP/2 client against `axum::serve`: WebSockets as streams of one connection,
/// compressed where the client offers permessage-deflate, with the subprotocol chosen.
#[cfg(feature = "http2")]
#[tokio::test]
async fn wsio_http2_client_with_and_without_compression() {
    use wsio::Http2Connection;
    within_limit(async {
        let (addr, mut seen) = serve(true).await;
        let url = format!("ws://{addr}/echo");
        let connection = Http2Connection::connect(&ClientBuilder::new(&url).unwrap())
            .await
            .unwrap();
        for deflate in [false, true] {
            let mut builder = ClientBuilder::new(&url).unwrap().subprotocol("chat");
            if deflate {
                builder = builder.deflate(DeflateConfig::default());
            }
            let (mut ws, response) = connection.open(builder).await.unwrap();
            assert_eq!(response.subprotocol(), Some("chat"));
            assert_eq!(ws.negotiated().is_empty(), !deflate);
            assert!(matches!(
                seen.recv().await,
                Some(Seen::Opened(Version::HTTP_2))
            ));
            let text = Message::text("compress me ".repeat(50_000));
            ws.send(text.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), text);
            let info = ws.close(CloseCode::NORMAL, "done").await.unwrap();
            assert!(info.was_clean, "{info:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn http2_requests_that_are_not_websockets_are_refused() {
    within_limit(async {
        let (addr, _seen) = serve(false).await;
        let mut sender = http2_connection(addr).await;
        let (parts, ws) = open_stream(&mut sender, addr, &[("sec-websocket-version", "8")]).await;
        assert!(ws.is_none());
        assert_eq!(parts.status, StatusCode::UPGRADE_REQUIRED);

        // A GET over HTTP/2 cannot be a WebSocket.
        sender.ready().await.unwrap();
        let get = http::Request::get(format!("http://{addr}/echo"))
            .version(Version::HTTP_2)
            .header("sec-websocket-version", "13")
            .body(Empty::new())
            .unwrap();
        let response = sender.send_request(get).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "CONNECT");
    })
    .await;
}

async fn peer_client_against_axum(peer: Peer, deflate: bool) {
    within_limit(async {
        let (addr, _seen) = serve(deflate).await;
        peer.run_client(&format!("ws://{addr}/echo"), deflate.then_some("on"))
            .await;
    })
    .await;
}

#[tokio::test]
async fn python_client_against_axum() {
    peer_client_against_axum(Peer::Python, false).await;
}

#[tokio::test]
async fn python_client_against_axum_compressed() {
    peer_client_against_axum(Peer::Python, true).await;
}

#[tokio::test]
async fn node_client_against_axum() {
    peer_client_against_axum(Peer::Node, false).await;
}

#[tokio::test]
async fn node_client_against_axum_compressed() {
    peer_client_against_axum(Peer::Node, true).await;
}
