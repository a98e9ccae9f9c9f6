//! `wsio::Server`: routing by path and subprotocol, the fallback, shutdown with and without
//! clients, TLS and Unix sockets, on loopback.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsio::{
    ClientBuilder, CloseCode, CloseFrame, Config, Error, Message, Server, ServerBuilder,
    ServerHandle, ServerRequest, Transport, WebSocket,
};

mod support;

use support::LIMIT;

async fn echo(ws: WebSocket<Transport>, _: ServerRequest) {
    support::echo(ws).await;
}

/// Greets with `name`, then echoes.
fn greeter(
    name: &'static str,
) -> impl Fn(WebSocket<Transport>, ServerRequest) -> futures_util::future::BoxFuture<'static, ()> + Clone
{
    move |mut ws, request| {
        Box::pin(async move {
            let greeting = format!(
                "{name} {} {:?}",
                request.request.uri().path(),
                request.subprotocol
            );
            if ws.send_text(greeting).await.is_ok() {
                echo(ws, request).await;
            }
        })
    }
}

/// Binds on 127.0.0.1:0 and runs the server in a task.
async fn start(
    builder: ServerBuilder,
) -> (
    String,
    ServerHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let (addr, handle, serving) = support::serve(server);
    (format!("ws://{addr}"), handle, serving)
}

async fn greeting(url: &str, protocols: &[&str]) -> Result<(String, Option<String>), Error> {
    let (mut ws, response) = ClientBuilder::new(url)?
        .subprotocols(protocols.iter().copied())
        .connect()
        .await?;
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        panic!("no greeting")
    };
    Ok((text.to_string(), response.subprotocol().map(String::from)))
}

#[tokio::test]
async fn routes_by_path_then_subprotocol_then_fallback() {
    tokio::time::timeout(LIMIT, async {
        let builder = Server::builder()
            .route("/echo", greeter("path"))
            .subprotocol("chat.v1", greeter("v1"))
            .subprotocol("chat.v2", greeter("v2"))
            .fallback(greeter("fallback"));
        let (base, _handle, _task) = start(builder).await;
        // A path route wins, and chooses no subprotocol.
        assert_eq!(
            greeting(&format!("{base}/echo"), &["chat.v1"])
                .await
                .unwrap(),
            ("path /echo None".to_owned(), None)
        );
        // Otherwise the first subprotocol the server registered among those offered.
        assert_eq!(
            greeting(&format!("{base}/room"), &["other", "chat.v2", "chat.v1"])
                .await
                .unwrap(),
            (
                "v1 /room Some(\"chat.v1\")".to_owned(),
                Some("chat.v1".to_owned())
            )
        );
        // Otherwise the fallback.
        assert_eq!(
            greeting(&format!("{base}/room"), &["other"]).await.unwrap(),
            ("fallback /room None".to_owned(), None)
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn without_a_fallback_unmatched_connections_get_404() {
    tokio::time::timeout(LIMIT, async {
        let builder = Server::builder()
            .route("/echo", echo)
            .subprotocol("chat.v1", echo);
        let (base, _handle, _task) = start(builder).await;
        // A path no route takes, offering no subprotocol or only ones no route takes.
        for protocols in [&[][..], &["other", "chat.v2"][..]] {
            let error = ClientBuilder::new(&format!("{base}/elsewhere"))
                .unwrap()
                .subprotocols(protocols.iter().copied())
                .connect()
                .await
                .unwrap_err();
            let response = support::refusal(error);
            assert_eq!(response.status(), 404, "offering {protocols:?}");
        }
        // Either route still takes what it matches.
        assert!(wsio::connect(&format!("{base}/echo")).await.is_ok());
        let (_, response) = ClientBuilder::new(&format!("{base}/elsewhere"))
            .unwrap()
            .subprotocols(["chat.v1"])
            .connect()
            .await
            .unwrap();
        assert_eq!(response.subprotocol(), Some("chat.v1"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn close_sends_every_client_1001_and_stops() {
    tokio::time::timeout(LIMIT, async {
        let (base, handle, task) = start(Server::builder().fallback(echo)).await;
        let mut clients = Vec::new();
        for _ in 0..3 {
            let (mut ws, _) = wsio::connect(&base).await.unwrap();
            ws.send_text("hi").await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
            clients.push(ws);
        }
        assert_eq!(handle.client_count(), 3);
        let closing = tokio::spawn({
            let handle = handle.clone();
            async move { handle.close().await }
        });
        for ws in &mut clients {
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                Message::Close(Some(CloseFrame::new(
                    CloseCode::GOING_AWAY,
                    "server shutting down"
                )))
            );
            assert!(ws.next().await.is_none());
            assert!(ws.close_info().unwrap().was_clean);
        }
        closing.await.unwrap();
        task.await.unwrap().unwrap();
        assert_eq!(handle.client_count(), 0);
        // The listener is gone.
        assert!(wsio::connect(&base).await.is_err());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn stop_accepting_lets_connected_clients_finish() {
    tokio::time::timeout(LIMIT, async {
        let (base, handle, task) = start(Server::builder().fallback(echo)).await;
        let (mut ws, _) = wsio::connect(&base).await.unwrap();
        handle.stop_accepting();
        task.await.unwrap().unwrap();
        assert!(wsio::connect(&base).await.is_err());
        ws.send_text("still served").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("still served")
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn shutdown_waits_a_bounded_time_for_handlers_that_never_finish() {
    tokio::time::timeout(LIMIT, async {
        let config = Config::default().close_timeout(Duration::from_millis(200));
        // A handler that holds its connection and never reads.
        let stuck = |ws: WebSocket<Transport>, _| async move {
            std::future::pending::<()>().await;
            drop(ws);
        };
        let (base, handle, _task) = start(Server::builder().config(config).fallback(stuck)).await;
        let (mut ws, _) = wsio::connect(&base).await.unwrap();
        // Let the server register the client.
        while handle.client_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = std::time::Instant::now();
        handle.close().await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(handle.client_count(), 0);
        // The client still got the close frame, written without the handler's help.
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server shutting down"
            )))
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_clients() {
    tokio::time::timeout(LIMIT, async {
        let config = Config::default().handshake_timeout(Duration::from_millis(300));
        let (base, handle, _task) = start(Server::builder().config(config).fallback(echo)).await;
        let addr = base.trim_start_matches("ws://").to_owned();
        let mut stalled = TcpStream::connect(&addr).await.unwrap();
        stalled.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        for _ in 0..5 {
            let (mut ws, _) = wsio::connect(&base).await.unwrap();
            ws.send_text("served").await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("served"));
        }
        // The stalled client is told why after the handshake timeout, and the server stops
        // writing: the answer ends the stream...
        let mut answer = Vec::new();
        stalled.read_to_end(&mut answer).await.unwrap();
        let started = std::time::Instant::now();
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        // ...but it reads and drops what the client still sends: 16 MiB, four times what the
        // kernel takes on loopback for a reader that does not read (its receive buffer grows
        // only as the reader takes what arrives)...
        stalled
            .write_all(&vec![0u8; 16 << 20])
            .await
            .expect("the server reads what the client sends after the refusal");
        // ...and, as the client never closes its side, lets it go after at most a second of
        // draining: the client's writes then fail.
        let chunk = vec![0u8; 64 << 10];
        while stalled.write_all(&chunk).await.is_ok() {}
        while handle.client_count() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the stalled connection is kept"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn serves_wss_with_a_certificate() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = support::tls::certificate();
        let builder = Server::builder()
            .fallback(echo)
            .tls_certificate(vec![cert.clone()], key)
            .unwrap();
        let server = builder.bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(server.run());
        let (mut ws, _) = ClientBuilder::new(&format!("wss://localhost:{port}/"))
            .unwrap()
            .tls_config(support::tls::trusting(&cert))
            .connect()
            .await
            .unwrap();
        ws.send_text("secure").await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("secure"));
    })
    .await
    .unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn serves_a_unix_socket() {
    tokio::time::timeout(LIMIT, async {
        let socket = support::SocketPath::new("server");
        let path = &socket.path;
        let server = Server::builder()
            .route("/chat", greeter("unix"))
            .bind_unix(path)
            .unwrap();
        assert_eq!(server.local_addr(), None);
        tokio::spawn(server.run());
        let url = format!("ws+unix://{}:/chat", path.display());
        assert_eq!(greeting(&url, &[]).await.unwrap().0, "unix /chat None");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_oversized_handshake_gets_431_and_others_are_served() {
    tokio::time::timeout(LIMIT, async {
        let (base, _handle, _task) = start(Server::builder().fallback(echo)).await;
        let addr = base.trim_start_matches("ws://").to_owned();
        let mut big = TcpStream::connect(&addr).await.unwrap();
        let filler = format!("X-Filler: {}\r\n", "a".repeat(100)).repeat(100);
        big.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{filler}\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        big.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        let (mut ws, _) = wsio::connect(&base).await.unwrap();
        ws.send_text("fine").await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("fine"));
    })
    .await
    .unwrap();
}

/// Sends `request` on a fresh connection and reads the whole answer (the server closes after it).
async fn http_exchange(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(LIMIT, tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    answer
}

#[tokio::test]
async fn the_http_handler_answers_plain_requests_beside_websocket_routes() {
    let builder = Server::builder()
        .http(|request| {
            let body = format!("page {}", request.uri().path());
            http::Response::builder()
                .header("content-type", "text/plain")
                .body(body.into())
                .unwrap()
        })
        .route("/echo", echo);
    let (base, handle, task) = start(builder).await;
    let addr = base.trim_start_matches("ws://").to_owned();

    let answer = http_exchange(&addr, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-length: 16\r\n"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert_eq!(body, "page /index.html");

    // HEAD: the same head, no body.
    let answer = http_exchange(&addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-length: 6\r\n")
    );
    assert!(answer.ends_with("\r\n\r\n"), "{answer:?}");

    // WebSocket routes still work on the same port.
    let (mut ws, _) = wsio::connect(&format!("{base}/echo")).await.unwrap();
    ws.send_text("hi").await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
    drop(ws);
    handle.close().await;
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_an_http_handler_plain_requests_are_refused() {
    let (base, handle, task) = start(Server::builder().fallback(echo)).await;
    let addr = base.trim_start_matches("ws://").to_owned();
    let answer = http_exchange(&addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    handle.close().await;
    task.await.unwrap().unwrap();
}
