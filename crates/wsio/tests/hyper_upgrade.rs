//! WebSocket upgrades inside a hyper 1.x server that also serves plain HTTP on the same port:
//! the HTTP route, echo through the upgraded connection, subprotocols, refusals, and frames
//! the client sends before the 101 arrives.
#![cfg(feature = "hyper")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsio::{
    Accept, ClientBuilder, CloseCode, CloseInfo, Config, Error, Message, Reject, UpgradeRequest,
    Upgrading,
};

/// Bounds every test: nothing here may hang.
const LIMIT: Duration = Duration::from_secs(20);

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Starts a hyper server on 127.0.0.1 serving `GET /` as text and `/ws` as a WebSocket echo
/// (refused with 403 when the query is `deny`). Each echo reports how its connection ended.
async fn serve() -> (SocketAddr, mpsc::UnboundedReceiver<Option<CloseInfo>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ended, ends) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let ended = ended.clone();
            let service = service_fn(move |request| route(request, ended.clone()));
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    (addr, ends)
}

async fn route(
    mut request: Request<Incoming>,
    ended: mpsc::UnboundedSender<Option<CloseInfo>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        return Ok(Response::new(Full::from("plain HTTP\n")));
    }
    let (response, upgrading) = wsio::upgrade_with(
        &mut request,
        &Config::default(),
        |request: &UpgradeRequest<'_>| {
            if request.query() == Some("deny") {
                return Err(Reject::new(StatusCode::FORBIDDEN, "denied"));
            }
            Ok(Accept::new().subprotocol(request.select_subprotocol(&["chat.v2", "chat.v1"])))
        },
    );
    if let Ok(upgrading) = upgrading {
        tokio::spawn(echo(upgrading, ended));
    }
    Ok(response)
}

async fn echo(upgrading: Upgrading, ended: mpsc::UnboundedSender<Option<CloseInfo>>) {
    let mut ws = upgrading.await.unwrap();
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
    let _ = ended.send(ws.close_info());
}

/// Writes `request` on a fresh connection and reads until the response head is complete;
/// returns the head as text and whatever followed it.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (TcpStream, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response head ended: {received:?}");
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(received[..end].to_vec()).unwrap();
    (stream, head, received[end..].to_vec())
}

fn handshake(version: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

#[tokio::test]
async fn plain_http_is_served_on_the_same_port() {
    tokio::time::timeout(LIMIT, async {
        let (addr, _) = serve().await;
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let (mut stream, head, mut body) = raw_exchange(addr, request).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        stream.read_to_end(&mut body).await.unwrap();
        assert_eq!(body, b"plain HTTP\n");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn text_and_a_1_mib_message_echo_and_the_close_is_clean() {
    tokio::time::timeout(LIMIT, async {
        let (addr, mut ends) = serve().await;
        let (mut ws, response) = wsio::connect(&format!("ws://{addr}/ws")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.subprotocol(), None);
        let messages = [
            Message::text("hello through hyper"),
            Message::Binary(Bytes::from(vec![0xA5; 1 << 20])),
        ];
        for message in &messages {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(&ws.recv().await.unwrap().unwrap(), message);
        }
        // The close returns once the server answered and the connection ended.
        let info = ws.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(info.was_clean);
        assert_eq!(info.code, CloseCode::NORMAL);
        assert!(ws.recv().await.is_none());
        assert_eq!(ws.close_info(), Some(info));
        let server = ends.recv().await.unwrap().unwrap();
        assert!(server.was_clean);
        assert_eq!(
            (server.code, server.reason.as_str()),
            (CloseCode::NORMAL, "done")
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_server_chooses_among_offered_subprotocols() {
    tokio::time::timeout(LIMIT, async {
        let (addr, _) = serve().await;
        let (mut ws, response) = ClientBuilder::new(&format!("ws://{addr}/ws"))
            .unwrap()
            .subprotocols(["chat.v1", "chat.v2"])
            .connect()
            .await
            .unwrap();
        assert_eq!(response.subprotocol(), Some("chat.v2"));
        ws.send_text("still echoing").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("still echoing")
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unsupported_version_gets_426_naming_version_13() {
    tokio::time::timeout(LIMIT, async {
        let (addr, _) = serve().await;
        let (_, head, _) = raw_exchange(addr, handshake("8").as_bytes()).await;
        assert!(
            head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{head}"
        );
        let head = head.to_ascii_lowercase();
        assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
        assert!(!head.contains("sec-websocket-accept"), "{head}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refusal_reaches_the_client_with_its_status_and_body() {
    tokio::time::timeout(LIMIT, async {
        let (addr, _) = serve().await;
        let error = wsio::connect(&format!("ws://{addr}/ws?deny"))
            .await
            .unwrap_err();
        let Error::Rejected(response) = error else {
            panic!("{error:?}")
        };
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(&response.body()[..], b"denied");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_frame_sent_with_the_request_is_not_lost() {
    tokio::time::timeout(LIMIT, async {
        let (addr, _) = serve().await;
        // The request and a masked text frame "early" in one write: hyper reads both, and
        // the frame must come out of the upgraded connection.
        let mask = [1u8, 2, 3, 4];
        let mut wire = handshake("13").into_bytes();
        wire.extend_from_slice(&[0x81, 0x80 | 5]);
        wire.extend_from_slice(&mask);
        wire.extend(b"early".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        let (mut stream, head, mut after) = raw_exchange(addr, &wire).await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{head}"
        );
        while after.len() < 7 {
            let mut buf = [0u8; 64];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the echo: {after:?}");
            after.extend_from_slice(&buf[..n]);
        }
        assert_eq!(after, b"\x81\x05early");
    })
    .await
    .unwrap();
}
