//! The tokio client and server against each other on loopback: messages, split halves,
//! refusals, subprotocols, the close handshake, timeouts, backpressure and cancel safety.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsio::{
    Accept, ClientBuilder, CloseCode, CloseFrame, Config, Error, Message, Reject, UpgradeRequest,
    WebSocket,
};

mod support;

use support::LIMIT;

/// Starts a server on 127.0.0.1 that runs `handle` on each accepted connection.
async fn serve<F, Fut>(config: Config, handle: F) -> SocketAddr
where
    F: Fn(WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::sync::Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let accepted = wsio::accept_with(stream, &config, |r: &UpgradeRequest<'_>| {
                    Ok(Accept::new().subprotocol(r.select_subprotocol(&["chat.v2", "chat.v1"])))
                })
                .await;
                if let Ok(ws) = accepted {
                    handle(ws).await;
                }
            });
        }
    });
    addr
}

async fn echo(ws: WebSocket<TcpStream>) {
    support::echo(ws).await;
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

#[tokio::test]
async fn text_binary_and_a_16_mib_message_echo() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let (mut ws, response) = wsio::connect(&url(addr, "/")).await.unwrap();
        assert_eq!(response.status(), 101);
        let big = Bytes::from(vec![7u8; 16 << 20]);
        let messages = [
            Message::text("hello"),
            Message::text(""),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::Binary(big),
            Message::text("κόσμε 😀"),
        ];
        for message in &messages {
            ws.send(message.clone()).await.unwrap();
        }
        for message in &messages {
            assert_eq!(&ws.next().await.unwrap().unwrap(), message);
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn pings_are_answered_and_reported() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let (mut ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        ws.ping(Bytes::from_static(b"are you there")).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"are you there"))
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn split_halves_work_from_two_tasks_at_once() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let (ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        let (mut read, mut write) = ws.split();
        const COUNT: usize = 2000;
        let writer = tokio::spawn(async move {
            for i in 0..COUNT {
                write.send_text(format!("message {i}")).await.unwrap();
            }
            write
        });
        // The reader receives while the writer is still sending.
        for i in 0..COUNT {
            let message = read.recv().await.unwrap().unwrap();
            assert_eq!(message, Message::text(format!("message {i}")));
        }
        let mut write = writer.await.unwrap();
        write.send_close(CloseCode::NORMAL, "done").await.unwrap();
        assert_eq!(
            read.recv().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        assert!(read.recv().await.is_none());
        assert!(read.close_info().unwrap().was_clean);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refused_handshake_carries_status_headers_and_body() {
    tokio::time::timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let result = wsio::accept_with(
                stream,
                &Config::default(),
                |request: &UpgradeRequest<'_>| {
                    assert_eq!(request.path(), "/private");
                    assert_eq!(request.query(), Some("token=wrong"));
                    Err(Reject::new(http::StatusCode::FORBIDDEN, "go away"))
                },
            )
            .await;
            assert!(matches!(result, Err(Error::Rejected(_))));
        });
        let error = wsio::connect(&url(addr, "/private?token=wrong"))
            .await
            .unwrap_err();
        let response = support::refusal(error);
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.body(), "go away");
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_server_chooses_among_offered_subprotocols() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let (_, response) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .subprotocols(["chat.v1", "chat.v2"])
            .connect()
            .await
            .unwrap();
        // The server's preference wins among what the client offered.
        assert_eq!(response.subprotocol(), Some("chat.v2"));
        let (_, response) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .subprotocol("other")
            .connect()
            .await
            .unwrap();
        assert_eq!(response.subprotocol(), None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_close_handshake_reports_code_reason_and_cleanliness() {
    tokio::time::timeout(LIMIT, async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let addr = serve(Config::default(), move |mut ws| {
            let tx = tx.lock().unwrap().take();
            async move {
                let mut seen = Vec::new();
                while let Some(item) = ws.next().await {
                    seen.push(item.unwrap());
                }
                let _ = tx.unwrap().send((seen, ws.close_info()));
            }
        })
        .await;
        let (mut ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        ws.send_close(CloseCode(4000), "bye").await.unwrap();
        assert!(ws.send_text("too late").await.unwrap_err().is_closed());
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode(4000), "")))
        );
        assert!(ws.next().await.is_none());
        let info = ws.close_info().unwrap();
        assert!(info.was_clean);
        let (seen, server_info) = rx.await.unwrap();
        assert_eq!(
            seen,
            [Message::Close(Some(CloseFrame::new(
                CloseCode(4000),
                "bye"
            )))]
        );
        let server_info = server_info.unwrap();
        assert!(server_info.was_clean);
        assert_eq!(
            (server_info.code, server_info.reason.as_str()),
            (CloseCode(4000), "bye")
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn receiving_is_cancel_safe_under_load() {
    tokio::time::timeout(LIMIT, async {
        const BATCH: u32 = 100;
        const COUNT: u32 = 200 * BATCH;
        // Batches with pauses between them, so that receives often wait, and are cancelled
        // while waiting.
        let addr = serve(Config::default(), |mut ws| async move {
            for i in 0..COUNT {
                let payload = i.to_be_bytes().to_vec();
                ws.feed(Message::binary(payload)).await.unwrap();
                if i % BATCH == BATCH - 1 {
                    ws.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            while ws.next().await.is_some() {}
        })
        .await;
        let (mut ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        let mut next = 0u32;
        let mut cancelled = 0u32;
        while next < COUNT {
            // A receive raced against a short timer, which wins whenever the receive waits for
            // the next batch: the receive's future is then dropped mid-wait.
            tokio::select! {
                message = ws.recv() => {
                    let payload = match message.unwrap().unwrap() {
                        Message::Binary(payload) => payload,
                        other => panic!("unexpected {other:?}"),
                    };
                    assert_eq!(payload, &next.to_be_bytes()[..], "message lost or reordered");
                    next += 1;
                }
                _ = tokio::time::sleep(Duration::from_micros(100)) => cancelled += 1,
            }
        }
        assert!(cancelled >= 100, "only {cancelled} receives were cancelled");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sending_waits_when_the_peer_does_not_read() {
    tokio::time::timeout(LIMIT, async {
        let config = Config::default().max_write_buffer(64 << 10);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws =
                wsio::accept_with(stream, &config, |_: &UpgradeRequest<'_>| Ok(Accept::new()))
                    .await
                    .unwrap();
            let chunk = Bytes::from(vec![0u8; 256 << 10]);
            let mut sent = 0usize;
            // The peer never reads: sends complete until the socket buffers and the write
            // buffer are full, then one waits.
            loop {
                match tokio::time::timeout(
                    Duration::from_millis(500),
                    ws.send_binary(chunk.clone()),
                )
                .await
                {
                    Ok(result) => {
                        result.unwrap();
                        sent += chunk.len();
                    }
                    Err(_) => return sent,
                }
                assert!(sent < 512 << 20, "sending never waited");
            }
        });
        let (ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        let sent = sender.await.unwrap();
        // Sends completed though the peer read nothing: completing means handed to the
        // transport, not read by the peer.
        assert!(sent > 0, "no send completed");
        // What was accepted is bounded by the kernel's socket buffers plus our write buffer.
        assert!(
            sent < 64 << 20,
            "{sent} bytes accepted without the peer reading"
        );
        drop(ws);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_silent_peer_is_caught_by_the_pong_timeout() {
    tokio::time::timeout(LIMIT, async {
        let server = Config::default().auto_pong(false);
        let addr = serve(server, |mut ws| async move {
            while ws.next().await.is_some() {}
        })
        .await;
        let (mut ws, _) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .ping_interval(Some(Duration::from_millis(100)))
            .pong_timeout(Duration::from_millis(200))
            .connect()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let error = ws.next().await.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                Error::Connection(wsio::proto::ConnectionError::KeepaliveTimeout)
            ),
            "{error:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(ws.next().await.is_none());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_close_timeout_drops_a_peer_that_never_answers() {
    tokio::time::timeout(LIMIT, async {
        // A server that completes the handshake, then reads and never writes again.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8(head).unwrap();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .to_owned();
            let response = wsio::proto::handshake::accept_response(&key, None);
            stream
                .write_all(&wsio::proto::handshake::encode_response_head(&response))
                .await
                .unwrap();
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        let (mut ws, _) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .close_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        // The close waits for the server's answer, which never comes, for the close timeout.
        let info = ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(info.error, Some(wsio::proto::ConnectionError::CloseTimeout));
        assert!(!info.was_clean);
        assert_eq!(info.code, CloseCode::ABNORMAL);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(ws.next().await.is_none());
        assert_eq!(ws.close_info(), Some(info));
    })
    .await
    .unwrap();
}

/// A listener whose accept queue is full: the kernel drops the client's SYN, so the TCP
/// connect itself never completes, and the connect timeout ends it.
#[tokio::test]
async fn a_tcp_connect_that_never_completes_hits_the_connect_timeout() {
    tokio::time::timeout(LIMIT, async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        // A backlog of 0 holds one connection that nobody accepts.
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        let mut full = false;
        // Fill the queue: the first connect that does not complete shows it is full.
        for _ in 0..8 {
            let connecting = TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(200), connecting).await {
                Ok(stream) => held.push(stream.unwrap()),
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "the accept queue never filled");
        let started = std::time::Instant::now();
        support::connect_timing_out(&url(addr, "/")).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(listener);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_slow_handshake_times_out_and_other_clients_are_served() {
    tokio::time::timeout(LIMIT, async {
        let config = Config::default().handshake_timeout(Duration::from_millis(300));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let config = config.clone();
                results.push(tokio::spawn(async move {
                    match wsio::accept_with(stream, &config, |_: &UpgradeRequest<'_>| {
                        Ok(Accept::new())
                    })
                    .await
                    {
                        Ok(ws) => {
                            echo(ws).await;
                            None
                        }
                        Err(error) => Some(error),
                    }
                }));
            }
            results
        });
        // A client that sends half a request and stalls.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // Meanwhile a normal client is served.
        let (mut ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        ws.send_text("still here").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("still here")
        );
        drop(ws);
        let results = server.await.unwrap();
        let slow_result = results.into_iter().next().unwrap().await.unwrap();
        assert!(
            matches!(slow_result, Some(Error::Timeout(wsio::Phase::Handshake))),
            "{slow_result:?}"
        );
        // The slow client was told why, and its connection closed.
        let mut answer = String::new();
        slow.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_malformed_handshake_gets_its_http_error() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 426"), "{response}");
        assert!(response.contains("Sec-WebSocket-Version: 13"), "{response}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stream_opened_by_the_caller_can_carry_the_connection() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), echo).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = ClientBuilder::new("ws://example.test/room")
            .unwrap()
            .connect_on(stream)
            .await
            .unwrap();
        ws.send_text("over my own stream").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("over my own stream")
        );
    })
    .await
    .unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_urls_connect() {
    tokio::time::timeout(LIMIT, async {
        let socket = support::SocketPath::new("client");
        let path = socket.path.clone();
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let ws = wsio::accept(stream).await.unwrap();
            support::echo(ws).await;
        });
        let (mut ws, _) = wsio::connect(&format!("ws+unix://{}:/chat", path.display()))
            .await
            .unwrap();
        ws.send_text("through a socket file").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("through a socket file")
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn frame_mode_delivers_and_sends_single_frames() {
    use wsio::{Frame, OpCode};
    tokio::time::timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut frames = wsio::accept(stream).await.unwrap().into_frames();
            let mut seen = Vec::new();
            while let Some(frame) = frames.recv_frame().await {
                let frame = frame.unwrap();
                seen.push((frame.fin, frame.opcode, frame.payload.clone()));
                if frame.opcode == OpCode::Continuation && frame.fin {
                    // Answer with a fragmented message of our own.
                    frames
                        .send_frame(Frame::new(false, OpCode::Binary, "ab"))
                        .await
                        .unwrap();
                    frames
                        .send_frame(Frame::new(true, OpCode::Continuation, "cd"))
                        .await
                        .unwrap();
                }
            }
            (seen, frames.close_info().unwrap())
        });
        let (mut ws, _) = wsio::connect(&url(addr, "/")).await.unwrap();
        ws.send_frame(Frame::new(false, OpCode::Text, "he"))
            .await
            .unwrap();
        ws.ping(Bytes::from_static(b"p")).await.unwrap();
        ws.send_frame(Frame::new(true, OpCode::Continuation, "llo"))
            .await
            .unwrap();
        // The client, in message mode, gets the pong and the reassembled answer.
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(&b"abcd"[..])
        );
        ws.send_close(CloseCode::NORMAL, "bye").await.unwrap();
        assert!(matches!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
        // Reading on to the end lets the client see the server's end of the transport.
        assert!(ws.next().await.is_none());
        let (seen, info) = server.await.unwrap();
        let close_payload = Bytes::from_static(b"\x03\xe8bye");
        assert_eq!(
            seen,
            [
                (false, OpCode::Text, Bytes::from_static(b"he")),
                (true, OpCode::Ping, Bytes::from_static(b"p")),
                (true, OpCode::Continuation, Bytes::from_static(b"llo")),
                (true, OpCode::Close, close_payload),
            ]
        );
        assert!(info.was_clean);
    })
    .await
    .unwrap();
}

/// A transport that counts the writes made to it.
struct CountWrites {
    inner: tokio::io::DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for CountWrites {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountWrites {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Corking: messages that arrived in one read and were fed back without a flush go out in one
/// write, made when the reader has nothing more decoded and is about to wait.
#[tokio::test]
async fn echoes_of_one_read_go_out_in_one_write() {
    use futures_util::FutureExt;
    use wsio::proto::Role;
    use wsio::{Frame, OpCode};

    let (client, server) = tokio::io::duplex(1 << 20);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let transport = CountWrites {
        inner: server,
        writes: writes.clone(),
    };
    let mut ws = WebSocket::from_raw(transport, Role::Server, &Config::default(), Bytes::new());
    let payloads: Vec<Bytes> = (0..16u8).map(|i| Bytes::from(vec![i; 32])).collect();
    let wire: Vec<u8> = payloads
        .iter()
        .flat_map(|p| {
            let frame = Frame::new(true, OpCode::Binary, p.clone());
            wsio::proto::encode_frame(&frame, Some([1, 2, 3, 4])).to_vec()
        })
        .collect();
    let (mut client_read, mut client_write) = tokio::io::split(client);
    client_write.write_all(&wire).await.unwrap();

    for _ in 0..payloads.len() {
        let message = ws.next().await.unwrap().unwrap();
        ws.feed(message).await.unwrap();
    }
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Nothing more is decoded: the reader writes what was queued, then waits.
    assert!(ws.next().now_or_never().is_none());
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);

    let expected: Vec<u8> = payloads
        .iter()
        .flat_map(|p| {
            let frame = Frame::new(true, OpCode::Binary, p.clone());
            wsio::proto::encode_frame(&frame, None).to_vec()
        })
        .collect();
    let mut echoed = vec![0; expected.len()];
    client_read.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, expected);
}

/// A handshake run by hand with `wsio::proto` on both sides ends in two connections that
/// `WebSocket::from_connection` drives; each side reads first the message its peer sent right
/// behind its handshake, which the handshake had already given to the connection.
#[tokio::test]
async fn sockets_from_handshake_connections_read_what_came_with_the_handshake() {
    use wsio::proto::encode_frame;
    use wsio::proto::handshake::{ClientHandshake, ServerHandshake, encode_response_head};
    use wsio::{Frame, OpCode};

    let (mut client_io, mut server_io) = tokio::io::duplex(1 << 16);
    let url = "ws://localhost/chat".parse().unwrap();
    let mut handshake = ClientHandshake::new(&url).subprotocols(["chat"]).unwrap();
    let mut request = handshake.encode_request();
    let early = Frame::new(true, OpCode::Text, &b"from the client"[..]);
    request.extend_from_slice(&encode_frame(&early, Some([1, 2, 3, 4])));
    client_io.write_all(&request).await.unwrap();

    // Each side reads the other's whole handshake, and the frame behind it, in one read.
    let mut buf = vec![0; 4096];
    let n = server_io.read(&mut buf).await.unwrap();
    let incoming = ServerHandshake::new().receive(&buf[..n]).unwrap().unwrap();
    assert!(!incoming.leftover.is_empty());
    let offer = incoming.validate().unwrap();
    let protocol_config = wsio::proto::Config::default();
    let (response, connection) = offer
        .accept_connection(Some("chat"), protocol_config, &incoming.leftover)
        .unwrap();
    let mut answer = encode_response_head(&response);
    let early = Frame::new(true, OpCode::Text, &b"from the server"[..]);
    answer.extend_from_slice(&encode_frame(&early, None));
    server_io.write_all(&answer).await.unwrap();
    let mut server = WebSocket::from_connection(server_io, connection, &Config::default());

    let n = client_io.read(&mut buf).await.unwrap();
    let accepted = handshake.receive(&buf[..n]).unwrap().unwrap();
    assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
    let mut client = WebSocket::from_connection(client_io, accepted.connection, &Config::default());

    let received = server.recv().await.unwrap().unwrap();
    assert_eq!(received, Message::text("from the client"));
    let received = client.recv().await.unwrap().unwrap();
    assert_eq!(received, Message::text("from the server"));
    client.send_text("and then").await.unwrap();
    let received = server.recv().await.unwrap().unwrap();
    assert_eq!(received, Message::text("and then"));
}

/// A server on 127.0.0.1 that answers each handshake by hand with the reason phrase `reason`,
/// then holds the connection until the client goes.
async fn raw_server(reason: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8];
                while !head.ends_with(b"\r\n\r\n") {
                    if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                let key = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap();
                let accept = wsio::proto::handshake::accept_key(&key);
                let response = format!(
                    "HTTP/1.1 101 {reason}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                tcp.write_all(response.as_bytes()).await.unwrap();
                let mut rest = Vec::new();
                let _ = tcp.read_to_end(&mut rest).await;
            });
        }
    });
    addr
}

/// The response keeps the reason phrase as the server sent it, and the URL connected to, for
/// the async and the blocking client alike.
#[tokio::test]
async fn the_response_tells_its_reason_phrase_and_url() {
    tokio::time::timeout(LIMIT, async {
        let addr = raw_server("Welcome, Do Come In").await;
        let target = url(addr, "/room?id=7");
        let (ws, response) = wsio::connect(&target).await.unwrap();
        assert_eq!(response.reason(), Some("Welcome, Do Come In"));
        assert_eq!(response.url().to_string(), target);
        assert_eq!(response.url().resource(), "/room?id=7");
        drop(ws);

        let blocking_target = target.clone();
        let response = tokio::task::spawn_blocking(move || {
            let (ws, response) = wsio::blocking::connect(&blocking_target).unwrap();
            drop(ws);
            response
        })
        .await
        .unwrap();
        assert_eq!(response.reason(), Some("Welcome, Do Come In"));
        assert_eq!(response.url().to_string(), target);

        // wsio's own server sends the standard phrase.
        let addr = serve(Config::default(), echo).await;
        let (_ws, response) = wsio::connect(&url(addr, "/")).await.unwrap();
        assert_eq!(response.reason(), Some("Switching Protocols"));
        assert_eq!(response.url().port(), addr.port());
    })
    .await
    .unwrap();
}

/// The core's idle timeout and heartbeat, set through `Config`, run in the async socket: a
/// silent server is dropped, and the heartbeat's pongs keep a connection that has one open.
#[tokio::test]
async fn the_idle_timeout_ends_a_silent_connection_unless_a_heartbeat_keeps_it() {
    tokio::time::timeout(LIMIT, async {
        let addr = serve(Config::default(), |mut ws| async move {
            while ws.next().await.is_some() {}
        })
        .await;
        let idle = Some(Duration::from_millis(300));
        let (mut ws, _) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .idle_timeout(idle)
            .connect()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let error = ws.next().await.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                Error::Connection(wsio::proto::ConnectionError::IdleTimeout)
            ),
            "{error:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(ws.next().await.is_none());

        let (mut ws, _) = ClientBuilder::new(&url(addr, "/"))
            .unwrap()
            .idle_timeout(idle)
            .heartbeat_interval(Some(Duration::from_millis(100)))
            .connect()
            .await
            .unwrap();
        let until = tokio::time::Instant::now() + Duration::from_millis(900);
        let mut pongs = 0;
        while let Ok(message) = tokio::time::timeout_at(until, ws.next()).await {
            match message {
                Some(Ok(Message::Pong(_))) => pongs += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(pongs >= 5, "{pongs} pongs");
    })
    .await
    .unwrap();
}
