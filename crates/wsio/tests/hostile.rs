//! Hostile peers against `wsio::Server` on loopback, one test per attack.
//!
//! Each test asserts the answer (HTTP status or close code), that the heap stays bounded (a
//! counting allocator measures the whole test binary, so the tests take turns), and that a
//! well-behaved client is served while the attack goes on. Timeouts are short so that the file
//! runs in seconds. SECURITY.md cites these tests by name.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsio::proto::{Decoded, OpCode, decode_frame};
use wsio::{Config, Message, Server, ServerHandle, ServerRequest, Transport, WebSocket};

#[path = "support/measure.rs"]
mod measure;
mod support;

use measure::Watch;
use support::LIMIT;

const MIB: usize = 1 << 20;

/// Runs one attack: alone (the heap figures are per binary), and bounded in time.
async fn attack<F: std::future::Future<Output = ()>>(test: F) {
    let _turn = measure::serial().await;
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took too long");
}

/// A server under attack, with an echo route (the fallback), `/size` (answers each message
/// with its length) and `/firehose` (sends 64 KiB messages until sending fails, counting the
/// bytes each completed send handed over).
struct Target {
    addr: SocketAddr,
    handle: ServerHandle,
    sent: Arc<AtomicUsize>,
}

impl Target {
    async fn start(mut config: Config) -> Self {
        // Keeps the tests' own shutdown short.
        config = config.close_timeout(Duration::from_millis(300));
        let sent = Arc::new(AtomicUsize::new(0));
        let firehose_sent = sent.clone();
        let server = Server::builder()
            .config(config)
            .route("/size", size)
            .route("/firehose", move |ws, _| {
                firehose(ws, firehose_sent.clone())
            })
            .fallback(|ws, _| support::echo(ws))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let (addr, handle, _) = support::serve(server);
        Target { addr, handle, sent }
    }

    /// A well-behaved client is served: connects, has a message echoed, closes cleanly.
    async fn serves_others(&self) {
        let url = format!("ws://{}/", self.addr);
        let (mut ws, _) = wsio::connect(&url).await.expect("a well-behaved client");
        ws.send_text("still served").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("still served")
        );
        ws.close(wsio::CloseCode::NORMAL, "").await.unwrap();
        while ws.next().await.is_some() {}
    }

    /// Waits until the server holds no connection at all (every attacker was let go), then
    /// stops it.
    async fn finish(self) {
        while self.handle.client_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.handle.close().await;
    }
}

async fn size(mut ws: WebSocket<Transport>, _: ServerRequest) {
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Binary(data) = message {
            if ws.send_text(data.len().to_string()).await.is_err() {
                return;
            }
        }
    }
}

async fn firehose(mut ws: WebSocket<Transport>, sent: Arc<AtomicUsize>) {
    // A new buffer for each message, as an application that builds them would have, so that
    // what waits to be written is on the heap.
    while ws.send_binary(vec![7u8; 64 << 10]).await.is_ok() {
        sent.fetch_add(64 << 10, Ordering::Relaxed);
    }
}

/// A raw TCP peer that completes the opening handshake for `path` and then does as the test
/// says. The head is read byte by byte so that no frame byte is taken with it.
async fn upgraded(addr: SocketAddr, path: &str) -> TcpStream {
    upgraded_with(addr, path, "").await
}

/// [`upgraded`], with more header lines (each ending in CRLF) in the request.
async fn upgraded_with(addr: SocketAddr, path: &str, headers: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A client frame as the wire carries it, masked with `key`.
fn masked(fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let frame = wsio::proto::Frame::new(fin, opcode, payload.to_vec());
    wsio::proto::encode_frame(&frame, Some(key)).to_vec()
}

/// What a raw peer read from the server: frames, until a close frame or the end.
#[derive(Default)]
struct Received {
    pongs: usize,
    last_pong: Option<bytes::Bytes>,
    close_code: Option<u16>,
}

/// Reads server frames until the close frame (or, with `until_pong`, until a pong carrying it).
async fn read_frames(stream: &mut (impl AsyncRead + Unpin), until_pong: Option<&[u8]>) -> Received {
    let mut received = Received::default();
    let mut buf = BytesMut::new();
    loop {
        while let Decoded::Complete { value, len } = decode_frame(&buf).unwrap() {
            buf.advance(len);
            let frame = value.frame;
            assert!(value.mask.is_none(), "server frames are not masked");
            match frame.opcode {
                OpCode::Close => {
                    let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                    received.close_code = Some(code);
                    return received;
                }
                OpCode::Pong => {
                    let last = until_pong.is_some_and(|p| frame.payload == p);
                    received.pongs += 1;
                    received.last_pong = Some(frame.payload);
                    if last {
                        return received;
                    }
                }
                _ => {}
            }
        }
        let mut chunk = [0u8; 64 << 10];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The close code a raw peer gets after sending `bytes`.
async fn close_code_after(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut stream = upgraded(addr, "/").await;
    stream.write_all(bytes).await.unwrap();
    read_frames(&mut stream, None).await.close_code
}

#[tokio::test]
async fn a_handshake_over_the_size_limit_gets_431() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let stream = TcpStream::connect(target.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        // 8 MiB of header lines: a thousand times the 8 KiB limit.
        let flood = tokio::spawn(async move {
            writer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
            let line = format!("X-Pad: {}\r\n", "a".repeat(1000));
            for _ in 0..(8 * MIB / line.len()) {
                writer.write_all(line.as_bytes()).await?;
            }
            writer.shutdown().await
        });
        target.serves_others().await;
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let _ = flood.await.unwrap();
        watch.assert_growth_below(MIB);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_malformed_handshake_gets_400() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        // An upgrade without Sec-WebSocket-Key.
        let mut stream = TcpStream::connect(target.addr).await.unwrap();
        stream
            .write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        target.serves_others().await;
        watch.assert_growth_below(MIB);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_handshake_sent_byte_by_byte_is_cut_off_at_the_handshake_timeout() {
    attack(async {
        let timeout = Duration::from_millis(500);
        let target = Target::start(Config::default().handshake_timeout(timeout)).await;
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            target.addr
        );
        let watch = Watch::start();
        let stream = TcpStream::connect(target.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        // One byte per 50 ms: the whole request would take ten seconds, twenty timeouts.
        let trickled = Arc::new(AtomicUsize::new(0));
        let trickle = tokio::spawn({
            let trickled = trickled.clone();
            async move {
                for byte in request.bytes() {
                    if writer.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    trickled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        target.serves_others().await;
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        // The timeout covers the whole head: each byte does not start it again.
        let sent = trickled.load(Ordering::Relaxed);
        assert!(sent < 150, "{sent} bytes trickled before the answer");
        trickle.abort();
        watch.assert_growth_below(MIB);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn thousands_of_silent_connections_are_dropped_at_the_handshake_timeout() {
    attack(async {
        // Two descriptors per connection (both ends live in this process), and some spare.
        let limit = measure::raise_fd_limit();
        let count = 2000.min((limit.saturating_sub(200) / 2) as usize);
        assert!(count >= 400, "only {limit} open files allowed");
        let target =
            Target::start(Config::default().handshake_timeout(Duration::from_secs(3))).await;
        let before = measure::live();
        let mut silent = Vec::with_capacity(count);
        for _ in 0..count {
            silent.push(TcpStream::connect(target.addr).await.unwrap());
        }
        while target.handle.client_count() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let per_connection = measure::live().saturating_sub(before) / count;
        eprintln!("{count} silent connections: {per_connection} bytes of heap each (both ends)");
        assert!(per_connection < 16 << 10, "{per_connection} bytes each");
        target.serves_others().await;
        // Served while every silent one was still held.
        assert!(target.handle.client_count() >= count);
        // Each is told why at the timeout, then its end of the connection is closed.
        for mut stream in silent.drain(..) {
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            assert!(
                answer.starts_with(b"HTTP/1.1 408"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_frame_header_announcing_2_63_bytes_fails_without_allocating() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let key = [1, 2, 3, 4];
        // 2^63: the length's top bit must be 0 (RFC 6455 section 5.2), so this is a protocol
        // error.
        let mut header = vec![0x82, 0xFF];
        header.extend_from_slice(&(1u64 << 63).to_be_bytes());
        header.extend_from_slice(&key);
        assert_eq!(close_code_after(target.addr, &header).await, Some(1002));
        // 2^63 - 1: a valid length, far over the frame size limit.
        let mut header = vec![0x82, 0xFF];
        header.extend_from_slice(&((1u64 << 63) - 1).to_be_bytes());
        header.extend_from_slice(&key);
        assert_eq!(close_code_after(target.addr, &header).await, Some(1009));
        target.serves_others().await;
        watch.assert_growth_below(MIB);
        target.finish().await;
    })
    .await;
}

/// Streams a binary message of `count` one-byte fragments, 64 KiB of wire at a time.
async fn write_fragments(mut writer: tokio::net::tcp::OwnedWriteHalf, count: usize) {
    let key = [9, 8, 7, 6];
    let first = masked(false, OpCode::Binary, b"x", key);
    let middle = masked(false, OpCode::Continuation, b"x", key);
    let last = masked(true, OpCode::Continuation, b"x", key);
    let per_chunk = (64 << 10) / middle.len();
    let mut chunk = Vec::with_capacity(per_chunk * middle.len());
    let mut written = 0;
    while written < count {
        chunk.clear();
        while chunk.len() < per_chunk * middle.len() && written < count {
            chunk.extend_from_slice(match written {
                0 => &first,
                n if n == count - 1 => &last,
                _ => &middle,
            });
            written += 1;
        }
        if writer.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_million_one_byte_fragments_are_bounded_by_the_message_size_limit() {
    attack(async {
        const FRAGMENTS: usize = 1_000_000;
        // Under the default limits (64 MiB) the message is assembled and delivered whole.
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let (mut reader, writer) = upgraded(target.addr, "/size").await.into_split();
        let flood = tokio::spawn(write_fragments(writer, FRAGMENTS));
        target.serves_others().await;
        let mut answer = [0u8; 9];
        reader.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"\x81\x071000000");
        flood.await.unwrap();
        // Seven bytes of wire per byte of message: the heap holds the message, not the wire.
        watch.assert_growth_below(2 * MIB);
        drop(reader);
        target.finish().await;

        // With a 256 KiB limit, the fragment that crosses it fails the connection with 1009.
        let config = Config::default().max_message_size(256 << 10);
        let target = Target::start(config).await;
        let watch = Watch::start();
        let (mut reader, writer) = upgraded(target.addr, "/size").await.into_split();
        let flood = tokio::spawn(write_fragments(writer, FRAGMENTS));
        assert_eq!(read_frames(&mut reader, None).await.close_code, Some(1009));
        target.serves_others().await;
        flood.await.unwrap();
        watch.assert_growth_below(2 * MIB);
        drop(reader);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_is_answered_with_coalesced_pongs() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let (mut reader, mut writer) = upgraded(target.addr, "/").await.into_split();
        // 32 MiB of 125-byte pings, more than the socket buffers of both ends hold, written
        // without reading a byte.
        const PINGS: usize = 32 * MIB / 131;
        let key = [5, 6, 7, 8];
        let payload = [b'p'; 125];
        let ping = masked(true, OpCode::Ping, &payload, key);
        let mut last_payload = payload;
        last_payload[..4].copy_from_slice(b"last");
        let last = masked(true, OpCode::Ping, &last_payload, key);
        let flood = tokio::spawn(async move {
            let chunk = ping.repeat(500);
            for _ in 0..PINGS / 500 {
                writer.write_all(&chunk).await.unwrap();
            }
            writer.write_all(&last).await.unwrap();
            writer
        });
        target.serves_others().await;
        let writer = flood.await.unwrap();
        // The server kept reading: every ping was taken. Its pongs wait for room, the newest
        // replacing an older one that has not gone out.
        let received = read_frames(&mut reader, Some(&last_payload)).await;
        assert_eq!(received.last_pong.as_deref(), Some(&last_payload[..]));
        assert!(
            received.pongs < PINGS,
            "{} pongs for {PINGS} pings",
            received.pongs
        );
        eprintln!("{PINGS} pings, {} pongs", received.pongs);
        watch.assert_growth_below(2 * MIB);
        drop((reader, writer));
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_reads_makes_sending_wait_instead_of_buffering() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let stream = upgraded(target.addr, "/firehose").await;
        // Sends go through until the socket buffers and the 1 MiB write buffer are full; then
        // `send` waits. Wait until the count stops moving.
        let mut seen = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = target.sent.load(Ordering::Relaxed);
            if now == seen && now > 0 {
                break;
            }
            seen = now;
        }
        target.serves_others().await;
        let sent = target.sent.load(Ordering::Relaxed);
        eprintln!("{sent} bytes sent before the sender waited");
        assert!(
            sent < 64 * MIB,
            "{sent} bytes accepted by a peer that never reads"
        );
        // The heap holds at most the write buffer and one message, whatever the kernel holds.
        watch.assert_growth_below(MIB + (64 << 10));
        drop(stream);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_gets_1007() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let key = [3, 1, 4, 1];
        // E2 82 starts a three-byte sequence; 28 cannot continue it.
        let mut bytes = masked(false, OpCode::Text, b"ok \xE2\x82", key);
        bytes.extend(masked(true, OpCode::Continuation, b"\x28", key));
        assert_eq!(close_code_after(target.addr, &bytes).await, Some(1007));
        // The same split of a valid sequence (E2 82 AC, the euro sign) is delivered.
        let mut stream = upgraded(target.addr, "/").await;
        let mut bytes = masked(false, OpCode::Text, b"ok \xE2\x82", key);
        bytes.extend(masked(true, OpCode::Continuation, b"\xAC", key));
        stream.write_all(&bytes).await.unwrap();
        let mut answer = [0u8; 8];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"\x81\x06ok \xE2\x82\xAC");
        target.serves_others().await;
        watch.assert_growth_below(MIB);
        drop(stream);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn an_unmasked_client_frame_gets_1002() {
    attack(async {
        let target = Target::start(Config::default()).await;
        let watch = Watch::start();
        let unmasked =
            wsio::proto::encode_frame(&wsio::proto::Frame::new(true, OpCode::Text, "bare"), None);
        assert_eq!(close_code_after(target.addr, &unmasked).await, Some(1002));
        target.serves_others().await;
        watch.assert_growth_below(MIB);
        target.finish().await;
    })
    .await;
}

/// A permessage-deflate payload that inflates to `mib` MiB of zeros: one compressed MiB,
/// ended with a sync flush, repeated (each copy starts without history, so they chain), less
/// the flush marker the receiver puts back (RFC 7692 section 7.2.1).
#[cfg(feature = "deflate")]
fn deflate_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new(Compression::best(), false);
    let mut one = Vec::with_capacity(64 << 10);
    compress
        .compress_vec(&vec![0u8; MIB], &mut one, FlushCompress::Sync)
        .unwrap();
    assert_eq!(
        compress.total_in(),
        MIB as u64,
        "the output buffer was too small"
    );
    let mut bomb = one.repeat(mib);
    bomb.truncate(bomb.len() - 4);
    bomb
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn a_decompression_bomb_stops_at_the_message_size_limit() {
    attack(async {
        let config = Config::default()
            .max_message_size(MIB)
            .deflate(wsio::DeflateConfig::default());
        let target = Target::start(config).await;
        // 256 MiB of zeros in a frame far below the limit, so that only inflating crosses it.
        let bomb = deflate_bomb(256);
        assert!(bomb.len() < 260 << 10, "{} bytes compressed", bomb.len());
        let mut frame = wsio::proto::Frame::new(true, OpCode::Binary, bomb);
        frame.rsv1 = true;
        let wire = wsio::proto::encode_frame(&frame, Some([2, 7, 1, 8]));
        let watch = Watch::start();
        let mut stream = upgraded_with(
            target.addr,
            "/size",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        )
        .await;
        stream.write_all(&wire).await.unwrap();
        assert_eq!(read_frames(&mut stream, None).await.close_code, Some(1009));
        target.serves_others().await;
        // The server held about the 1 MiB limit of inflated data, not 256 MiB.
        watch.assert_growth_below(4 * MIB);
        drop(stream);
        target.finish().await;
    })
    .await;
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_clients_that_stall_mid_handshake_are_dropped_at_the_handshake_timeout() {
    attack(async {
        let (cert, key) = support::tls::certificate();
        let config = Config::default()
            .handshake_timeout(Duration::from_millis(500))
            .close_timeout(Duration::from_millis(300));
        let server = Server::builder()
            .config(config)
            .tls_certificate(vec![cert.clone()], key)
            .unwrap()
            .fallback(|ws, _| support::echo(ws))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let (addr, handle, _) = support::serve(server);
        let watch = Watch::start();
        let started = std::time::Instant::now();
        // A hundred that connect and say nothing, a hundred that start a TLS record announcing
        // a 512-byte ClientHello and send only its first bytes.
        let mut stalled = Vec::new();
        for i in 0..200 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            if i % 2 == 1 {
                stream
                    .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
                    .await
                    .unwrap();
            }
            stalled.push(stream);
        }
        // Meanwhile a TLS client is served.
        let url = format!("wss://localhost:{}/", addr.port());
        let (mut ws, _) = wsio::ClientBuilder::new(&url)
            .unwrap()
            .tls_config(support::tls::trusting(&cert))
            .connect()
            .await
            .unwrap();
        ws.send_text("over TLS").await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over TLS"));
        ws.close(wsio::CloseCode::NORMAL, "").await.unwrap();
        while ws.next().await.is_some() {}
        // Each stalled connection is dropped by the server, not before the handshake timeout:
        // end of file or a reset, with nothing written to it.
        for mut stream in stalled {
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
            assert!(rest.is_empty(), "{} bytes answered", rest.len());
        }
        assert!(started.elapsed() >= Duration::from_millis(500));
        while handle.client_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // rustls keeps some 15 KiB for each connection in its handshake.
        watch.assert_growth_below(8 * MIB);
        handle.close().await;
    })
    .await;
}
