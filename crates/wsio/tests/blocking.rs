//! `wsio::blocking` on loopback, without a runtime: messages, read timeouts that leave the
//! connection usable, ready states, close details, keepalive and close timeouts through read
//! timeouts, refusals, frame mode, TLS and Unix sockets.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsio::State;
use wsio::blocking::{self, Stream};
use wsio::{
    Accept, ClientBuilder, CloseCode, CloseFrame, Config, Error, Frame, Message, OpCode, Phase,
    Reject, UpgradeRequest,
};

mod support;

/// Echoes on one blocking connection until it ends.
fn echo<S: blocking::BlockingStream>(mut ws: blocking::WebSocket<S>) {
    while let Ok(message) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}

/// A blocking echo server on 127.0.0.1 serving `connections` connections with `config`.
fn echo_server(config: Config, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let config = config.clone();
            let stream = stream.unwrap();
            thread::spawn(move || {
                let accepted = blocking::accept_with(stream, &config, |r: &UpgradeRequest<'_>| {
                    Ok(Accept::new().subprotocol(r.select_subprotocol(&["chat"])))
                });
                if let Ok(ws) = accepted {
                    echo(ws);
                }
            });
        }
    });
    format!("ws://{addr}")
}

#[test]
fn messages_echo_and_the_close_reports_its_details() {
    let url = echo_server(Config::default(), 1);
    let (mut ws, response) = ClientBuilder::new(&url)
        .unwrap()
        .subprotocol("chat")
        .connect_blocking()
        .unwrap();
    assert_eq!(response.subprotocol(), Some("chat"));
    assert_eq!(ws.state(), State::Open);
    let big = Bytes::from(vec![9u8; 4 << 20]);
    for message in [
        Message::text("hello"),
        Message::binary(big.clone()),
        Message::text("κόσμε"),
    ] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap(), message);
    }
    ws.ping("p").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Pong(Bytes::from_static(b"p")));
    ws.send_close(CloseCode(4000), "bye").unwrap();
    assert_eq!(ws.state(), State::Closing);
    assert!(ws.send_text("late").unwrap_err().is_closed());
    assert_eq!(
        ws.recv().unwrap(),
        Message::Close(Some(CloseFrame::new(CloseCode(4000), "")))
    );
    // After the close, recv says the connection is over, and close_info tells how.
    assert!(ws.recv().unwrap_err().is_closed());
    assert_eq!(ws.state(), State::Closed);
    let info = ws.close_info().unwrap();
    assert!(info.was_clean);
    assert_eq!(info.code, CloseCode(4000));
}

#[test]
fn a_timed_out_read_leaves_the_connection_usable() {
    let url = echo_server(Config::default(), 1);
    let (mut ws, _) = blocking::connect(&url).unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(100)));
    let started = Instant::now();
    assert!(matches!(ws.recv(), Err(Error::Timeout(Phase::Read))));
    assert!(started.elapsed() >= Duration::from_millis(100));
    ws.send_text("after the timeout").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("after the timeout"));
    assert_eq!(ws.state(), State::Open);
}

#[test]
fn keepalive_runs_through_read_timeouts() {
    // A server that never answers pings: the client's keepalive finds it silent.
    let server = Config::default().auto_pong(false);
    let url = echo_server(server, 1);
    let (mut ws, _) = ClientBuilder::new(&url)
        .unwrap()
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(200))
        .connect_blocking()
        .unwrap();
    let started = Instant::now();
    // No read timeout set: the core's own timers bound the wait.
    let error = ws.recv().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Connection(wsio::proto::ConnectionError::KeepaliveTimeout)
        ),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(ws.state(), State::Closed);
}

#[test]
fn the_close_timeout_ends_a_handshake_the_peer_never_answers() {
    // A server that completes the handshake and then never writes again.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let ws = blocking::accept(stream).unwrap();
        // Hold the connection without reading.
        thread::sleep(Duration::from_secs(5));
        drop(ws);
    });
    let (mut ws, _) = ClientBuilder::new(&format!("ws://{addr}"))
        .unwrap()
        .close_timeout(Duration::from_millis(200))
        .connect_blocking()
        .unwrap();
    let started = Instant::now();
    // The close waits for the server's answer, which never comes, for the close timeout.
    let info = ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(info.error, Some(wsio::proto::ConnectionError::CloseTimeout));
    assert!(!info.was_clean);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(ws.recv().unwrap_err().is_closed());
    assert_eq!(ws.close_info(), Some(info));
}

#[test]
fn refusals_and_slow_handshakes_get_their_http_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().handshake_timeout(Duration::from_millis(200));
    let server = thread::spawn(move || {
        let mut results = Vec::new();
        for stream in listener.incoming().take(2) {
            let result =
                blocking::accept_with(stream.unwrap(), &config, |_: &UpgradeRequest<'_>| {
                    Err(Reject::new(http::StatusCode::FORBIDDEN, "not you"))
                });
            results.push(result.map(|_| ()));
        }
        results
    });
    let error = blocking::connect(&format!("ws://{addr}/")).unwrap_err();
    let response = support::refusal(error);
    assert_eq!(
        (response.status().as_u16(), &response.body()[..]),
        (403, &b"not you"[..])
    );
    // A client that stalls mid-request gets 408.
    let mut slow = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut slow, b"GET / HTTP/1.1\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut slow, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let results = server.join().unwrap();
    assert!(matches!(results[1], Err(Error::Timeout(Phase::Handshake))));
}

#[test]
fn frame_mode_receives_frames_as_they_arrived() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut frames = blocking::accept(stream).unwrap().into_frames();
        let mut seen = Vec::new();
        while let Ok(frame) = frames.recv_frame() {
            seen.push((frame.fin, frame.opcode, frame.payload));
        }
        seen
    });
    let (mut ws, _) = blocking::connect(&format!("ws://{addr}")).unwrap();
    let started = Instant::now();
    ws.send_frame(Frame::new(false, OpCode::Binary, "ab"))
        .unwrap();
    ws.send_frame(Frame::new(true, OpCode::Continuation, "cd"))
        .unwrap();
    ws.send_close(CloseCode::NORMAL, "").unwrap();
    assert!(matches!(ws.recv().unwrap(), Message::Close(_)));
    // Reading on to the end lets the client see the server's end of the transport.
    assert!(ws.recv().unwrap_err().is_closed());
    let seen = server.join().unwrap();
    // The server saw the client's end of the transport at once, not after its close timeout
    // (10 s): a finished connection shuts its stream down without waiting to be dropped.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        seen,
        [
            (false, OpCode::Binary, Bytes::from_static(b"ab")),
            (true, OpCode::Continuation, Bytes::from_static(b"cd")),
            (true, OpCode::Close, Bytes::from_static(b"\x03\xe8")),
        ]
    );
}

#[cfg(unix)]
#[test]
fn unix_sockets() {
    let socket = support::SocketPath::new("blocking");
    let listener = std::os::unix::net::UnixListener::bind(&socket.path).unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        echo(blocking::accept(stream).unwrap());
    });
    let url = format!("ws+unix://{}:/chat", socket.path.display());
    let (mut ws, _) = blocking::connect(&url).unwrap();
    ws.send_text("over a socket file").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("over a socket file"));
}

#[cfg(feature = "tls")]
#[test]
fn wss_with_a_certificate_made_in_the_test() {
    use std::sync::Arc;

    let (cert, key) = support::tls::certificate();
    let server_config = wsio::rustls::ServerConfig::builder_with_provider(support::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let server_config = Arc::new(server_config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let conn = wsio::rustls::ServerConnection::new(server_config.clone()).unwrap();
            let tls = blocking::TlsStream::new(conn, stream.unwrap());
            if let Ok(ws) = blocking::accept(Stream::ServerTls(Box::new(tls))) {
                echo(ws);
            }
        }
    });
    let url = format!("wss://localhost:{port}/");
    // Refused by default: the certificate is self-signed.
    let error = blocking::connect(&url).unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    let (mut ws, _) = ClientBuilder::new(&url)
        .unwrap()
        .tls_config(support::tls::trusting(&cert))
        .connect_blocking()
        .unwrap();
    ws.send_text("secure").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("secure"));
}

/// Starts a blocking server on 127.0.0.1:0 in a thread of its own.
fn start(
    builder: blocking::ServerBuilder,
) -> (
    String,
    blocking::ServerHandle,
    thread::JoinHandle<std::io::Result<()>>,
) {
    let server = builder.bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let handle = server.handle();
    (url, handle, thread::spawn(move || server.run()))
}

fn greeter(
    name: &'static str,
) -> impl Fn(blocking::WebSocket<Stream>, wsio::ServerRequest) + Send + Sync + Clone {
    move |mut ws, request| {
        let greeting = format!(
            "{name} {} {:?}",
            request.request.uri().path(),
            request.subprotocol
        );
        if ws.send_text(greeting).is_ok() {
            echo(ws);
        }
    }
}

fn greeting(url: &str, protocols: &[&str]) -> String {
    let (mut ws, _) = ClientBuilder::new(url)
        .unwrap()
        .subprotocols(protocols.iter().copied())
        .connect_blocking()
        .unwrap();
    match ws.recv().unwrap() {
        Message::Text(text) => text.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_server_routes_like_the_async_one() {
    let builder = blocking::Server::builder()
        .route("/echo", greeter("path"))
        .subprotocol("chat.v1", greeter("v1"))
        .fallback(greeter("fallback"));
    let (base, handle, task) = start(builder);
    assert_eq!(
        greeting(&format!("{base}/echo"), &["chat.v1"]),
        "path /echo None"
    );
    assert_eq!(
        greeting(&format!("{base}/room"), &["x", "chat.v1"]),
        "v1 /room Some(\"chat.v1\")"
    );
    assert_eq!(
        greeting(&format!("{base}/room"), &[]),
        "fallback /room None"
    );
    handle.stop_accepting();
    task.join().unwrap().unwrap();
    assert!(blocking::connect(&base).is_err());
}

#[test]
fn closing_the_server_sends_its_clients_1001() {
    let (base, handle, task) = start(blocking::Server::builder().fallback(|ws, _| echo(ws)));
    let mut clients: Vec<_> = (0..3)
        .map(|_| blocking::connect(&base).unwrap().0)
        .collect();
    for ws in &mut clients {
        ws.send_text("hi").unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text("hi"));
    }
    let closer = thread::spawn(move || {
        handle.close();
        handle
    });
    for ws in &mut clients {
        assert_eq!(
            ws.recv().unwrap(),
            Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server shutting down"
            )))
        );
        assert!(ws.recv().unwrap_err().is_closed());
        assert!(ws.close_info().unwrap().was_clean);
    }
    let handle = closer.join().unwrap();
    task.join().unwrap().unwrap();
    assert_eq!(handle.client_count(), 0);
}

#[test]
fn a_handler_that_never_returns_is_cut_off_after_a_bounded_wait() {
    let config = Config::default().close_timeout(Duration::from_millis(200));
    // A handler that holds its connection and never reads.
    let stuck = |ws: blocking::WebSocket<Stream>, _| {
        let mut ws = ws;
        let _ = ws.send_text("stuck");
        thread::sleep(Duration::from_secs(30));
    };
    let (base, handle, _task) = start(blocking::Server::builder().config(config).fallback(stuck));
    let (mut ws, _) = blocking::connect(&base).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("stuck"));
    let started = Instant::now();
    let closer = thread::spawn(move || handle.close());
    // The handler never reads, so no 1001; after the grace its socket is shut down.
    let error = ws.recv().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Connection(wsio::proto::ConnectionError::UnexpectedEof)
        ),
        "{error:?}"
    );
    closer.join().unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn a_timed_out_write_leaves_the_connection_usable() {
    // A peer that does not read until told to.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        wait.recv().unwrap();
        let mut received = 0usize;
        while let Ok(Message::Binary(data)) = ws.recv() {
            received += data.len();
        }
        received
    });
    let (mut ws, _) = blocking::connect(&format!("ws://{addr}")).unwrap();
    ws.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = Bytes::from(vec![1u8; 1 << 20]);
    let mut accepted = 0usize;
    let error = loop {
        match ws.send_binary(chunk.clone()) {
            Ok(()) => accepted += chunk.len(),
            Err(error) => break error,
        }
        assert!(accepted < 1 << 30, "writes never blocked");
    };
    assert!(matches!(error, Error::Timeout(Phase::Write)), "{error:?}");
    // The peer starts reading: the rest of the interrupted frame and more messages go out.
    go.send(()).unwrap();
    ws.set_write_timeout(None).unwrap();
    ws.send_binary(chunk.clone()).unwrap();
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.recv().is_ok() {}
    // Everything sent arrived, the message cut by the timeout included.
    assert_eq!(reader.join().unwrap(), accepted + 2 * chunk.len());
}

#[cfg(feature = "tls")]
#[test]
fn the_server_serves_wss() {
    let (cert, key) = support::tls::certificate();
    let tls = wsio::rustls::ServerConfig::builder_with_provider(support::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let builder = blocking::Server::builder()
        .tls(std::sync::Arc::new(tls))
        .fallback(|ws, _| echo(ws));
    let server = builder.bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let handle = server.handle();
    let task = thread::spawn(move || server.run());
    let (mut ws, _) = ClientBuilder::new(&format!("wss://localhost:{port}/"))
        .unwrap()
        .tls_config(support::tls::trusting(&cert))
        .connect_blocking()
        .unwrap();
    ws.send_text("secure and blocking").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("secure and blocking"));
    // close() waits for the client to finish its part, so the client reads meanwhile.
    let closer = thread::spawn(move || handle.close());
    assert!(matches!(ws.recv().unwrap(), Message::Close(Some(_))));
    assert!(ws.recv().unwrap_err().is_closed());
    closer.join().unwrap();
    task.join().unwrap().unwrap();
}

#[test]
fn any_read_write_stream_carries_a_connection() {
    let url = echo_server(Config::default(), 1);
    let tcp = TcpStream::connect(url.trim_start_matches("ws://")).unwrap();
    let (mut ws, _) = ClientBuilder::new("ws://example.test/room")
        .unwrap()
        .connect_blocking_on(blocking::Plain(tcp))
        .unwrap();
    ws.send_text("over a plain stream").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("over a plain stream"));
}

#[test]
fn the_blocking_server_answers_plain_http_requests() {
    use std::io::{Read, Write};
    let builder = blocking::Server::builder()
        .http(|request| http::Response::new(format!("page {}", request.uri().path()).into()))
        .route("/echo", |ws, _| echo(ws));
    let (base, handle, task) = start(builder);
    let addr = base.trim_start_matches("ws://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-length: 7\r\n")
    );
    assert!(answer.ends_with("\r\n\r\npage /a"), "{answer}");
    assert_eq!(greeting_echo(&format!("{base}/echo")), "hi");
    handle.close();
    task.join().unwrap().unwrap();
}

fn greeting_echo(url: &str) -> String {
    let (mut ws, _) = blocking::connect(url).unwrap();
    ws.send_text("hi").unwrap();
    match ws.recv().unwrap() {
        Message::Text(text) => text.to_string(),
        other => panic!("{other:?}"),
    }
}

/// A handshake run by hand with `wsio::proto` on both sides ends in two connections that
/// `blocking::WebSocket::from_connection` drives, each reading first the message its peer sent
/// right behind its handshake.
#[test]
fn sockets_from_handshake_connections_read_what_came_with_the_handshake() {
    use std::io::{Read, Write};
    use wsio::proto::encode_frame;
    use wsio::proto::handshake::{ClientHandshake, ServerHandshake, encode_response_head};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client_io = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server_io, _) = listener.accept().unwrap();
    let mut buf = vec![0; 4096];

    let url = "ws://localhost/".parse().unwrap();
    let mut handshake = ClientHandshake::new(&url);
    let mut request = handshake.encode_request();
    let early = Frame::new(true, OpCode::Text, &b"from the client"[..]);
    request.extend_from_slice(&encode_frame(&early, Some([1, 2, 3, 4])));
    client_io.write_all(&request).unwrap();

    let mut reader = ServerHandshake::new();
    let incoming = loop {
        let n = server_io.read(&mut buf).unwrap();
        if let Some(incoming) = reader.receive(&buf[..n]).unwrap() {
            break incoming;
        }
    };
    let offer = incoming.validate().unwrap();
    let (response, connection) = offer
        .accept_connection(None, wsio::proto::Config::default(), &incoming.leftover)
        .unwrap();
    let mut answer = encode_response_head(&response);
    let early = Frame::new(true, OpCode::Text, &b"from the server"[..]);
    answer.extend_from_slice(&encode_frame(&early, None));
    server_io.write_all(&answer).unwrap();
    let mut server =
        blocking::WebSocket::from_connection(server_io, connection, &Config::default());

    let accepted = loop {
        let n = client_io.read(&mut buf).unwrap();
        if let Some(accepted) = handshake.receive(&buf[..n]).unwrap() {
            break accepted;
        }
    };
    let mut client =
        blocking::WebSocket::from_connection(client_io, accepted.connection, &Config::default());

    assert_eq!(server.recv().unwrap(), Message::text("from the client"));
    assert_eq!(client.recv().unwrap(), Message::text("from the server"));
    client.send_text("and then").unwrap();
    assert_eq!(server.recv().unwrap(), Message::text("and then"));
}

#[test]
fn the_idle_timeout_ends_a_silent_connection() {
    // The echo server says nothing unless spoken to.
    let url = echo_server(Config::default(), 1);
    let (mut ws, _) = ClientBuilder::new(&url)
        .unwrap()
        .idle_timeout(Some(Duration::from_millis(300)))
        .connect_blocking()
        .unwrap();
    let started = Instant::now();
    // No read timeout set: the core's own timer bounds the wait.
    let error = ws.recv().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Connection(wsio::proto::ConnectionError::IdleTimeout)
        ),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(ws.state(), State::Closed);
}
