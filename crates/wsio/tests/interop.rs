//! wsio against real peers from other ecosystems, on loopback: Python's `websockets` and Node's
//! `ws`, each as a server that wsio's client talks to and as a client that talks to wsio's
//! server. Text, binary, 16 MiB messages, fragmented messages, ping/pong, and close codes and
//! reasons in both directions; each scenario but the raw fragments also with permessage-deflate
//! on at both ends (Python `websockets` with its default compression, Node `ws` with
//! `perMessageDeflate`, every message compressed), and Python asking wsio's server for a window
//! of 8 bits, which its zlib inflates with a 256-byte window.
//!
//! The peer programs are in `tests/peers/`; `scripts/setup-peers.sh` installs the libraries
//! (a venv in `.venv`, `npm ci` in `tests/peers`). Without them these tests fail and say so.
//! Every test runs under a time limit, and every peer process is killed when its test ends
//! (the peer servers also exit by themselves after 60 s).

use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use peers::{Peer, close_command};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;
use wsio::proto::{ClientHandshake, WsUrl, encode_frame};
use wsio::{
    Accept, ClientBuilder, CloseCode, CloseFrame, CloseInfo, Config, DeflateConfig, Frame, Message,
    OpCode, UpgradeRequest, WebSocket,
};

#[path = "support/peers.rs"]
mod peers;

/// Bounds every test: nothing here may hang.
const LIMIT: Duration = Duration::from_secs(60);

/// The size of the large messages, in both directions.
const BIG: usize = 16 << 20;

/// "fragmented κόσμε" cut in three, the second cut inside the two bytes of "κ". The peer
/// clients send the same fragments.
const FRAGMENTED_TEXT: [&[u8]; 3] = [
    b"frag",
    b"mented \xce",
    b"\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5",
];

/// A binary message in three fragments, the middle one empty. The peer clients send the same.
const FRAGMENTED_BINARY: [&[u8]; 3] = [b"\x00\x01", b"", b"\x02\x03\x04"];

/// A peer's echo server, killed when dropped.
struct PeerServer {
    child: Child,
    port: u16,
}

impl PeerServer {
    /// Starts `peer`'s echo server on a free port of 127.0.0.1 and waits until it listens;
    /// with `deflate`, it accepts permessage-deflate.
    async fn start(peer: Peer, deflate: bool) -> PeerServer {
        let mut child = peer
            .command(true, deflate.then_some("on"))
            .arg("0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {peer:?} echo server: {e}"));
        let stdout = child.stdout.take().unwrap();
        let line = BufReader::new(stdout)
            .lines()
            .next_line()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the {peer:?} echo server exited before listening"));
        let port = line
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the {peer:?} echo server said {line:?}"));
        PeerServer { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Bytes 0, 1, ..., 255, 0, 1, ... : the content of the large messages.
fn counting(len: usize) -> Bytes {
    (0..len).map(|i| i as u8).collect()
}

/// A message as a short line: large payloads are described rather than printed.
fn summary(message: &Message) -> String {
    match message {
        Message::Binary(data) if data.len() > 1024 => {
            let content = if *data == counting(data.len()) {
                "counting"
            } else {
                "WRONG CONTENT"
            };
            format!("Binary({} bytes, {content})", data.len())
        }
        other => format!("{other:?}"),
    }
}

/// The next message, summarised; a failure or the end of the stream is a panic.
async fn next_summary<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> String {
    match ws.next().await {
        Some(Ok(message)) => summary(&message),
        Some(Err(error)) => panic!("receive failed: {error:?}"),
        None => panic!("the connection ended early"),
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame::new(CloseCode(code), reason)))
}

/// Expects the end of the stream after a close handshake, and that it was clean with this code
/// and reason from the peer.
async fn expect_clean_end<S>(ws: &mut WebSocket<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(item) = ws.next().await {
        panic!("expected the end of the stream, got {item:?}");
    }
    let info = ws
        .close_info()
        .expect("close_info once the stream has ended");
    assert!(info.was_clean, "not clean: {info:?}");
    assert_eq!(
        (info.code, info.reason.as_str()),
        (CloseCode(code), reason),
        "{info:?}"
    );
}

/// wsio's client against the peer's echo server: text (ASCII, empty, non-ASCII), binary and a
/// 16 MiB binary message come back equal and of the same type; a ping with a payload gets its
/// pong; closing with 4001 "done" gets the peer's close frame back, then the stream ends
/// cleanly.
async fn wsio_client_echo(peer: Peer, deflate: bool) {
    let server = PeerServer::start(peer, deflate).await;
    let (mut ws, response) = client(&server.url(), deflate).await;
    assert_eq!(response.status(), 101);
    assert_eq!(response.negotiated().is_empty(), !deflate, "{response:?}");
    let messages = [
        Message::text("hello"),
        Message::text(""),
        Message::text("κόσμε 😀 ünïcødé"),
        Message::binary((0..=255).collect::<Vec<u8>>()),
        Message::Binary(counting(BIG)),
    ];
    for message in &messages {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(next_summary(&mut ws).await, summary(message));
    }

    ws.ping(Bytes::from_static(b"wsio-ping")).await.unwrap();
    assert_eq!(
        next_summary(&mut ws).await,
        summary(&Message::Pong(Bytes::from_static(b"wsio-ping")))
    );

    ws.send_close(CloseCode(4001), "done").await.unwrap();
    // Both libraries echo the code and the reason of the close frame they receive.
    assert_eq!(
        next_summary(&mut ws).await,
        summary(&close_message(4001, "done"))
    );
    expect_clean_end(&mut ws, 4001, "done").await;
    server.stop().await;
}

/// The peer's echo server closes with a code and reason of its choosing (asked for with the
/// text `close:4002:server says bye`): wsio's client reports that close frame, answers it, and
/// its stream ends cleanly with that code and reason.
/// wsio's client, offering permessage-deflate if `deflate`.
async fn client(url: &str, deflate: bool) -> (WebSocket<wsio::Transport>, wsio::Response) {
    let mut builder = ClientBuilder::new(url).unwrap();
    if deflate {
        builder = builder.deflate(DeflateConfig::default());
    }
    builder.connect().await.unwrap()
}

async fn wsio_client_sees_server_close(peer: Peer, deflate: bool) {
    let server = PeerServer::start(peer, deflate).await;
    let (mut ws, response) = client(&server.url(), deflate).await;
    assert_eq!(response.negotiated().is_empty(), !deflate, "{response:?}");
    ws.send_text("close:4002:server says bye").await.unwrap();
    assert_eq!(
        next_summary(&mut ws).await,
        summary(&close_message(4002, "server says bye"))
    );
    expect_clean_end(&mut ws, 4002, "server says bye").await;
    server.stop().await;
}

/// Fragmented messages from the client side, which wsio's async API cannot send: the handshake
/// is made with `wsio::proto::ClientHandshake` and the frames are written with
/// `wsio::proto::encode_frame` on the bare socket, a ping between two fragments of the text.
/// The socket and the connection the handshake ended in are then handed to
/// `WebSocket::from_connection`, which must see the pong first, then the text and the binary
/// message echoed whole.
async fn raw_fragments_to_peer(peer: Peer) {
    let server = PeerServer::start(peer, false).await;
    let url: WsUrl = server.url().parse().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut handshake = ClientHandshake::new(&url);
    stream.write_all(&handshake.encode_request()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let accepted = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the {peer:?} server closed during the handshake");
        if let Some(accepted) = handshake.receive(&buf[..n]).unwrap() {
            break accepted;
        }
    };

    let frames = [
        Frame::new(false, OpCode::Text, FRAGMENTED_TEXT[0]),
        Frame::new(false, OpCode::Continuation, FRAGMENTED_TEXT[1]),
        Frame::new(true, OpCode::Ping, &b"between fragments"[..]),
        Frame::new(true, OpCode::Continuation, FRAGMENTED_TEXT[2]),
        Frame::new(false, OpCode::Binary, FRAGMENTED_BINARY[0]),
        Frame::new(false, OpCode::Continuation, FRAGMENTED_BINARY[1]),
        Frame::new(true, OpCode::Continuation, FRAGMENTED_BINARY[2]),
    ];
    let mut wire = BytesMut::new();
    for frame in &frames {
        // A fixed masking key is enough for a test; a real client draws a fresh one per frame.
        wire.extend_from_slice(&encode_frame(frame, Some([0x5a, 0x0f, 0xc3, 0x96])));
    }
    stream.write_all(&wire).await.unwrap();

    let mut ws = WebSocket::from_connection(stream, accepted.connection, &Config::default());
    let expected = [
        Message::Pong(Bytes::from_static(b"between fragments")),
        Message::text("fragmented κόσμε"),
        Message::binary(vec![0u8, 1, 2, 3, 4]),
    ];
    for message in &expected {
        assert_eq!(next_summary(&mut ws).await, summary(message));
    }
    ws.send_close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(
        next_summary(&mut ws).await,
        summary(&close_message(1000, ""))
    );
    expect_clean_end(&mut ws, 1000, "").await;
    server.stop().await;
}

/// What a wsio server saw on one connection: each message summarised, and how it ended.
type Seen = (Vec<String>, Option<CloseInfo>);

/// A wsio echo server on `listener` for `connections` connections, one after the other, which
/// follows the same `close:CODE:REASON` command as the peers' echo servers.
/// Serves `connections` connections with `config`, one after the other, echoing; each must
/// agree permessage-deflate exactly when `deflate`.
async fn wsio_echo_server(
    listener: TcpListener,
    connections: usize,
    config: Config,
    deflate: bool,
) -> Vec<Seen> {
    let mut results = Vec::new();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = wsio::accept_with(stream, &config, |_: &UpgradeRequest<'_>| Ok(Accept::new()))
            .await
            .unwrap();
        assert_eq!(ws.negotiated().is_empty(), !deflate);
        let mut seen = Vec::new();
        while let Some(item) = ws.next().await {
            match item {
                Ok(message) => {
                    seen.push(summary(&message));
                    if let Some((code, reason)) = close_command(&message) {
                        ws.send_close(CloseCode(code), &reason).await.unwrap();
                    } else if message.is_data() {
                        ws.send(message).await.unwrap();
                    }
                }
                Err(error) => seen.push(format!("error: {error:?}")),
            }
        }
        results.push((seen, ws.close_info()));
    }
    results
}

/// Asserts that a wsio server's connection saw exactly `expected` and ended cleanly with the
/// peer's close code and reason.
fn assert_seen((seen, info): &Seen, expected: &[Message], code: u16, reason: &str) {
    let expected: Vec<String> = expected.iter().map(summary).collect();
    assert_eq!(seen, &expected);
    let info = info.as_ref().expect("close_info once the stream has ended");
    assert!(info.was_clean, "{info:?}");
    assert_eq!((info.code, info.reason.as_str()), (CloseCode(code), reason));
}

/// The peer's scripted client against a wsio echo server (`wsio::accept` on 127.0.0.1).
///
/// First connection: the script's checks all pass (text, non-ASCII text, binary, 16 MiB,
/// fragmented text cut inside a character, fragmented binary with an empty fragment,
/// ping/pong); wsio's server receives exactly those messages, fragments assembled, then the
/// client's close 4001 "done", and ends cleanly; the client sees wsio's close reply carry code
/// 4001 and no reason (wsio echoes the code only, as RFC 6455 section 5.5.1 allows).
///
/// Second connection: wsio's server closes with 4003 "wsio says bye" when asked; the client
/// sees that code and reason, and both ends find the close clean.
/// `peer`'s scripted client against wsio's echo server; with `deflate`, both turn
/// permessage-deflate on (the value tells the peer which offer to make).
async fn peer_client_against_wsio_server(peer: Peer, deflate: Option<&str>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let mut config = Config::default();
    if deflate.is_some() {
        // Compressed with a small window, the 16 MiB message (a pattern of period 256) comes
        // out a little larger than it went in.
        config = config
            .deflate(DeflateConfig::default())
            .max_frame_size(32 << 20);
    }
    let server = tokio::spawn(wsio_echo_server(listener, 2, config, deflate.is_some()));

    peer.run_client(&url, deflate).await;

    let seen = server.await.unwrap();
    let first = [
        Message::text("hello"),
        Message::text("κόσμε 😀 ünïcødé"),
        Message::binary((0..=255).collect::<Vec<u8>>()),
        Message::Binary(counting(BIG)),
        Message::text("fragmented κόσμε"),
        Message::binary(vec![0u8, 1, 2, 3, 4]),
        Message::Ping(Bytes::from_static(b"interop-ping")),
        close_message(4001, "done"),
    ];
    assert_seen(&seen[0], &first, 4001, "done");
    // The peer answers wsio's close with the same code and reason.
    let second = [
        Message::text("close:4003:wsio says bye"),
        close_message(4003, "wsio says bye"),
    ];
    assert_seen(&seen[1], &second, 4003, "wsio says bye");
}

/// Runs one scenario under [`LIMIT`].
async fn within_limit(scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the test did not finish in time");
}

/// wsio client ↔ Python `websockets` server: text, binary and 16 MiB echoes, ping/pong, and
/// a client close with 4001 "done" (see [`wsio_client_echo`]).
#[tokio::test]
async fn python_server_echoes_wsio_client() {
    within_limit(wsio_client_echo(Peer::Python, false)).await;
}

/// wsio client ↔ Python `websockets` server: the server closes with 4002 and a reason, and
/// wsio reports it and ends cleanly (see [`wsio_client_sees_server_close`]).
#[tokio::test]
async fn python_server_close_reaches_wsio_client() {
    within_limit(wsio_client_sees_server_close(Peer::Python, false)).await;
}

/// Fragmented messages written as raw frames to a Python `websockets` server come back whole
/// (see [`raw_fragments_to_peer`]).
#[tokio::test]
async fn python_server_assembles_raw_fragments() {
    within_limit(raw_fragments_to_peer(Peer::Python)).await;
}

/// Python `websockets` client ↔ wsio server: the client's whole script, what wsio's server
/// receives, and closes from each side (see [`peer_client_against_wsio_server`]).
#[tokio::test]
async fn python_client_against_wsio_server() {
    within_limit(peer_client_against_wsio_server(Peer::Python, None)).await;
}

/// wsio client ↔ Node `ws` server: text, binary and 16 MiB echoes, ping/pong, and a client
/// close with 4001 "done" (see [`wsio_client_echo`]).
#[tokio::test]
async fn node_server_echoes_wsio_client() {
    within_limit(wsio_client_echo(Peer::Node, false)).await;
}

/// wsio client ↔ Node `ws` server: the server closes with 4002 and a reason, and wsio
/// reports it and ends cleanly (see [`wsio_client_sees_server_close`]).
#[tokio::test]
async fn node_server_close_reaches_wsio_client() {
    within_limit(wsio_client_sees_server_close(Peer::Node, false)).await;
}

/// Fragmented messages written as raw frames to a Node `ws` server come back whole (see
/// [`raw_fragments_to_peer`]).
#[tokio::test]
async fn node_server_assembles_raw_fragments() {
    within_limit(raw_fragments_to_peer(Peer::Node)).await;
}

/// Node `ws` client ↔ wsio server: the client's whole script, what wsio's server receives,
/// and closes from each side (see [`peer_client_against_wsio_server`]).
#[tokio::test]
async fn node_client_against_wsio_server() {
    within_limit(peer_client_against_wsio_server(Peer::Node, None)).await;
}

/// wsio client ↔ Python `websockets` server, permessage-deflate on at both ends: the echoes,
/// ping/pong and close of [`wsio_client_echo`], compressed both ways.
#[tokio::test]
async fn python_server_echoes_wsio_client_compressed() {
    within_limit(wsio_client_echo(Peer::Python, true)).await;
}

/// wsio client ↔ Python `websockets` server, compressed: the server's close.
#[tokio::test]
async fn python_server_close_reaches_wsio_client_compressed() {
    within_limit(wsio_client_sees_server_close(Peer::Python, true)).await;
}

/// Python `websockets` client ↔ wsio server, compressed: the client's whole script.
#[tokio::test]
async fn python_client_against_wsio_server_compressed() {
    within_limit(peer_client_against_wsio_server(Peer::Python, Some("on"))).await;
}

/// Python `websockets` client ↔ wsio server with a server window of 8 bits: Python inflates
/// what wsio compressed (with 9 bits) using a 256-byte window. (websockets compresses with 9
/// bits at least, so its own window is 9.)
#[tokio::test]
async fn python_client_against_wsio_server_with_8_bit_windows() {
    within_limit(peer_client_against_wsio_server(Peer::Python, Some("8"))).await;
}

/// wsio client ↔ Node `ws` server, perMessageDeflate on at both ends.
#[tokio::test]
async fn node_server_echoes_wsio_client_compressed() {
    within_limit(wsio_client_echo(Peer::Node, true)).await;
}

/// wsio client ↔ Node `ws` server, compressed: the server's close.
#[tokio::test]
async fn node_server_close_reaches_wsio_client_compressed() {
    within_limit(wsio_client_sees_server_close(Peer::Node, true)).await;
}

/// Node `ws` client ↔ wsio server, compressed: the client's whole script.
#[tokio::test]
async fn node_client_against_wsio_server_compressed() {
    within_limit(peer_client_against_wsio_server(Peer::Node, Some("on"))).await;
}
