//! `wsio::Server` with the `http2` feature: HTTP/2 on the port it serves HTTP/1.1 on, in
//! cleartext (prior knowledge) and over TLS (ALPN `h2`), each extended CONNECT (RFC 8441) a
//! WebSocket for the same handlers, several on one connection; plain HTTP through the server's
//! handler; refusals with their status; permessage-deflate agreed as over HTTP/1.1; and a
//! shutdown that closes the WebSockets of an HTTP/2 connection and ends it.
#![cfg(all(feature = "http2", feature = "tls"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode, Version};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsio::rustls::pki_types::ServerName;
use wsio::{
    ClientBuilder, CloseCode, DeflateConfig, Message, Server, ServerHandle, ServerRequest,
    Transport, WebSocket,
};

mod support;

#[path = "support/http2.rs"]
mod http2;
#[path = "support/peers.rs"]
mod peers;

/// Bounds every test: nothing here may hang.
const LIMIT: Duration = Duration::from_secs(60);

/// Each WebSocket the server opened: the HTTP version of its request and its subprotocol.
type Opened = mpsc::UnboundedReceiver<(Version, Option<String>)>;

/// A server on 127.0.0.1 with `/echo`, the subprotocol `chat` (also an echo), a page for plain
/// HTTP, permessage-deflate, 32 MiB frames, and TLS when given a certificate.
async fn start(
    tls: Option<(
        wsio::rustls::pki_types::CertificateDer<'static>,
        wsio::rustls::pki_types::PrivateKeyDer<'static>,
    )>,
) -> (SocketAddr, ServerHandle, Opened) {
    let (opened, reports) = mpsc::unbounded_channel();
    let echo = move |ws: WebSocket<Transport>, request: ServerRequest| {
        let _ = opened.send((request.request.version(), request.subprotocol.clone()));
        support::echo(ws)
    };
    let mut builder = Server::builder()
        .http(|_| http::Response::new("the page\n".into()))
        .route("/echo", echo.clone())
        .subprotocol("chat", echo)
        .deflate(DeflateConfig::default())
        .max_frame_size(32 << 20);
    if let Some((cert, key)) = tls {
        builder = builder.tls_certificate(vec![cert], key).unwrap();
    }
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    tokio::spawn(server.run());
    (addr, handle, reports)
}

async fn within_limit(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the test did not finish in time");
}

fn counting(len: usize) -> Message {
    Message::binary((0..len).map(|i| i as u8).collect::<Vec<u8>>())
}

#[tokio::test]
async fn cleartext_http2_and_http1_share_the_port() {
    within_limit(async {
        let (addr, _handle, mut opened) = start(None).await;
        let base = format!("http://{addr}");
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;

        let (parts, body) = http2::request(&mut sender, Method::GET, &format!("{base}/")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(&body[..], b"the page\n");

        // Three WebSockets on the connection, one by subprotocol; one closes, the others go on.
        let mut sockets = Vec::new();
        for path in ["/echo", "/echo", "/anything"] {
            let offer = [("sec-websocket-protocol", "chat")];
            let extra: &[_] = if path == "/anything" { &offer } else { &[] };
            let (parts, ws) = http2::open(&mut sender, &format!("{base}{path}"), extra).await;
            assert_eq!(parts.status, StatusCode::OK, "{path}");
            sockets.push(ws.unwrap());
            let (version, subprotocol) = opened.recv().await.unwrap();
            assert_eq!(version, Version::HTTP_2);
            assert_eq!(subprotocol.is_some(), path == "/anything");
        }
        let info = sockets[1]
            .close(CloseCode::NORMAL, "just this one")
            .await
            .unwrap();
        assert!(info.was_clean, "{info:?}");
        let big = counting(16 << 20);
        for i in [0, 2] {
            let text = Message::text(format!("stream {i}"));
            sockets[i].send(text.clone()).await.unwrap();
            assert_eq!(sockets[i].recv().await.unwrap().unwrap(), text);
            sockets[i].send(big.clone()).await.unwrap();
            assert_eq!(sockets[i].recv().await.unwrap().unwrap(), big);
        }

        // HTTP/1.1 on the same port, meanwhile.
        let (mut ws, _) = wsio::connect(&format!("ws://{addr}/echo")).await.unwrap();
        ws.send_text("over HTTP/1.1").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("over HTTP/1.1")
        );
        assert_eq!(opened.recv().await.unwrap().0, Version::HTTP_11);
    })
    .await;
}

#[tokio::test]
async fn http2_refusals_have_their_status_and_deflate_is_agreed() {
    within_limit(async {
        let (addr, _handle, _opened) = start(None).await;
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let url = format!("http://{addr}/nowhere");
        let (parts, ws) = http2::open(&mut sender, &url, &[]).await;
        assert!(ws.is_none());
        assert_eq!(parts.status, StatusCode::NOT_FOUND);

        let url = format!("http://{addr}/echo");
        let old = [("sec-websocket-version", "8")];
        let (parts, _) = http2::open(&mut sender, &url, &old).await;
        assert_eq!(parts.status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(parts.headers["sec-websocket-version"], "13");

        let deflate = [("sec-websocket-extensions", "permessage-deflate")];
        let (parts, ws) = http2::open(&mut sender, &url, &deflate).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(
            parts.headers["sec-websocket-extensions"],
            "permessage-deflate"
        );
        assert!(!parts.headers.contains_key("connection"));
        drop(ws);

        // The connection still serves after the refusals.
        let (parts, _) =
            http2::request(&mut sender, Method::HEAD, &format!("http://{addr}/")).await;
        assert_eq!(parts.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn tls_serves_http2_to_clients_that_pick_h2_and_http1_to_the_others() {
    within_limit(async {
        let (cert, key) = support::tls::certificate();
        let (addr, _handle, mut opened) = start(Some((cert.clone(), key))).await;

        let mut config = (*support::tls::trusting(&cert)).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut sender = http2::connect(tls).await;
        let url = format!("https://localhost:{}/echo", addr.port());
        let (parts, ws) = http2::open(&mut sender, &url, &[]).await;
        assert_eq!(parts.status, StatusCode::OK);
        let mut ws = ws.unwrap();
        assert_eq!(opened.recv().await.unwrap().0, Version::HTTP_2);
        ws.send_text("over h2 and TLS").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("over h2 and TLS")
        );

        // wsio's own client offers http/1.1 only.
        let url = format!("wss://localhost:{}/echo", addr.port());
        let (mut ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&cert))
            .connect()
            .await
            .unwrap();
        ws.send_text("over HTTP/1.1 and TLS").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("over HTTP/1.1 and TLS")
        );
        assert_eq!(opened.recv().await.unwrap().0, Version::HTTP_11);
    })
    .await;
}

#[tokio::test]
async fn closing_the_server_closes_http2_websockets_and_their_connection() {
    within_limit(async {
        let (addr, handle, _opened) = start(None).await;
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let url = format!("http://{addr}/echo");
        let mut sockets = Vec::new();
        for _ in 0..2 {
            sockets.push(http2::open(&mut sender, &url, &[]).await.1.unwrap());
        }
        let readers: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let first = ws.recv().await;
                    while ws.recv().await.is_some() {}
                    (first, ws.close_info())
                })
            })
            .collect();
        let started = Instant::now();
        handle.close().await;
        // Well within the close timeout: every client answered.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(handle.client_count(), 0);
        for reader in readers {
            let (first, info) = reader.await.unwrap();
            assert!(matches!(first, Some(Ok(Message::Close(_)))), "{first:?}");
            assert_eq!(info.unwrap().code, CloseCode::GOING_AWAY);
        }
        // The connection was shut down: no new stream is taken.
        let refused = tokio::time::timeout(Duration::from_secs(5), sender.ready()).await;
        assert!(matches!(refused, Ok(Err(_))), "{refused:?}");
    })
    .await;
}

/// An independent HTTP/2 client, Python's `h2`, in cleartext and over TLS.
#[tokio::test]
async fn python_h2_client_against_the_server() {
    within_limit(async {
        let (addr, _handle, _opened) = start(None).await;
        peers::run_h2_client(&format!("http://{addr}/echo")).await;
        let (cert, key) = support::tls::certificate();
        let (addr, _handle, _opened) = start(Some((cert, key))).await;
        peers::run_h2_client(&format!("https://localhost:{}/echo", addr.port())).await;
    })
    .await;
}

/// How a WebSocket the server served ended, and how many messages its handler sent.
type Ended = mpsc::UnboundedReceiver<(Option<wsio::CloseInfo>, usize)>;

/// A server on 127.0.0.1 whose `/echo` echoes (and closes when asked `close:CODE:REASON`),
/// whose `/flood` sends 64 KiB messages until a send fails or 1,024 are sent, and whose
/// handlers report how they ended; messages of at most 64 KiB.
async fn start_reporting() -> (SocketAddr, Ended, Arc<std::sync::atomic::AtomicUsize>) {
    let (ended, reports) = mpsc::unbounded_channel();
    let flooded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let echo = {
        let ended = ended.clone();
        move |mut ws: WebSocket<Transport>, _: ServerRequest| {
            let ended = ended.clone();
            async move {
                while let Some(Ok(message)) = ws.recv().await {
                    if let Some((code, reason)) = peers::close_command(&message) {
                        let _ = ws.send_close(CloseCode(code), &reason).await;
                    } else if message.is_data() && ws.send(message).await.is_err() {
                        break;
                    }
                }
                let _ = ended.send((ws.close_info(), 0));
            }
        }
    };
    let flood = {
        let flooded = flooded.clone();
        move |mut ws: WebSocket<Transport>, _: ServerRequest| {
            let (ended, flooded) = (ended.clone(), flooded.clone());
            async move {
                let chunk = Message::binary(vec![7u8; 64 << 10]);
                let mut sent = 0;
                while sent < 1024 && ws.send(chunk.clone()).await.is_ok() {
                    sent += 1;
                    flooded.store(sent, std::sync::atomic::Ordering::Relaxed);
                }
                let _ = ended.send((ws.close_info(), sent));
            }
        }
    };
    let server = Server::builder()
        .route("/echo", echo)
        .route("/flood", flood)
        .max_message_size(64 << 10)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    (addr, reports, flooded)
}

/// Pings, a close the server starts, and the message size limit (1009), each on a stream.
#[tokio::test]
async fn ping_server_close_and_limits_hold_on_streams() {
    within_limit(async {
        let (addr, mut ended, _) = start_reporting().await;
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let url = format!("http://{addr}/echo");

        let mut ws = http2::open(&mut sender, &url, &[]).await.1.unwrap();
        ws.ping("are you there").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Pong("are you there".into())
        );
        ws.send_text("close:4000:asked").await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
        assert!(ws.recv().await.is_none());
        let info = ws.close_info().unwrap();
        assert_eq!(
            (info.code, info.reason.as_str()),
            (CloseCode(4000), "asked")
        );
        assert!(info.was_clean, "{info:?}");
        let (server_side, _) = ended.recv().await.unwrap();
        assert!(server_side.unwrap().was_clean);

        let mut ws = http2::open(&mut sender, &url, &[]).await.1.unwrap();
        ws.send(Message::binary(vec![0u8; 100 << 10]))
            .await
            .unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
        assert_eq!(ws.close_info().unwrap().code, CloseCode::MESSAGE_TOO_BIG);
        // The server failed the connection: its record says why.
        let (server_side, _) = ended.recv().await.unwrap();
        let error = server_side.unwrap().error.unwrap();
        assert_eq!(
            error.close_code(),
            Some(CloseCode::MESSAGE_TOO_BIG),
            "{error}"
        );
    })
    .await;
}

/// A client that stops reading holds the server's writes back through HTTP/2 flow control:
/// the handler's sends wait, so what the server holds for it stays bounded; once the client
/// reads again, everything arrives.
#[tokio::test]
async fn a_client_that_stops_reading_is_held_back_by_flow_control() {
    within_limit(async {
        let (addr, mut ended, flooded) = start_reporting().await;
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let mut ws = http2::open(&mut sender, &format!("http://{addr}/flood"), &[])
            .await
            .1
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stalled = flooded.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let later = flooded.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            stalled, later,
            "the server kept sending to a client that does not read"
        );
        eprintln!("{later} messages of 64 KiB sent before the client read any");
        // Windows and buffers of a few MiB at most, far from the 64 MiB the handler has.
        assert!(later * (64 << 10) < 8 << 20, "{later} messages sent unread");
        for _ in 0..1024 {
            assert_eq!(ws.recv().await.unwrap().unwrap().payload().len(), 64 << 10);
        }
        let (_, sent) = ended.recv().await.unwrap();
        assert_eq!(sent, 1024);
    })
    .await;
}

/// A stream reset in the middle of a message ends that WebSocket (1006), and only it.
#[tokio::test]
async fn a_stream_reset_mid_message_ends_only_its_websocket() {
    use tokio::io::AsyncWriteExt;
    within_limit(async {
        let (addr, mut ended, _) = start_reporting().await;
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let url = format!("http://{addr}/echo");
        let mut other = http2::open(&mut sender, &url, &[]).await.1.unwrap();
        let mut raw = http2::open_raw(&mut sender, &url).await;
        // A masked binary frame announcing 1,000 bytes, of which 10 are sent.
        let mut partial = vec![0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4];
        partial.extend_from_slice(&[0u8; 10]);
        raw.write_all(&partial).await.unwrap();
        raw.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(raw);
        let (info, _) = ended.recv().await.unwrap();
        let info = info.unwrap();
        assert!(!info.was_clean, "{info:?}");
        assert_eq!(info.code, CloseCode::ABNORMAL);

        other.send_text("still here").await.unwrap();
        assert_eq!(
            other.recv().await.unwrap().unwrap(),
            Message::text("still here")
        );
    })
    .await;
}

/// An HTTP/2 connection holds at most the streams the server allows (here 2): a third
/// WebSocket waits for one of the first two to end; and a request head over the handshake
/// size limit is refused, as over HTTP/1.1.
#[tokio::test]
async fn streams_per_connection_and_head_size_are_limited() {
    within_limit(async {
        let server = Server::builder()
            .route("/echo", |ws, _| support::echo(ws))
            .http2_max_streams(2)
            .max_handshake_size(4 << 10)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run());
        let mut sender = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let url = format!("http://{addr}/echo");
        let mut first = http2::open(&mut sender, &url, &[]).await.1.unwrap();
        let _second = http2::open(&mut sender, &url, &[]).await.1.unwrap();
        let third = tokio::time::timeout(
            Duration::from_millis(500),
            http2::open(&mut sender, &url, &[]),
        )
        .await;
        assert!(third.is_err(), "a third stream opened");
        first.close(CloseCode::NORMAL, "make room").await.unwrap();
        let (parts, third) = http2::open(&mut sender, &url, &[]).await;
        assert_eq!(parts.status, StatusCode::OK);
        let mut third = third.unwrap();
        third.send_text("in the freed slot").await.unwrap();
        assert_eq!(
            third.recv().await.unwrap().unwrap(),
            Message::text("in the freed slot")
        );

        // A head over the limit: the server refuses it, the connection goes on or ends, and
        // no WebSocket opens.
        let mut fresh = http2::connect(TcpStream::connect(addr).await.unwrap()).await;
        let big = "x".repeat(8 << 10);
        let refused = http2::try_open(&mut fresh, &url, &[("x-big", &big)]).await;
        assert!(
            refused.is_err()
                || refused
                    .as_ref()
                    .is_ok_and(|status| *status != StatusCode::OK),
            "{refused:?}"
        );
    })
    .await;
}
