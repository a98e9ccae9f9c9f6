//! One setter per setting: the same limit set on `ServerBuilder`, `blocking::ServerBuilder`,
//! `ClientBuilder` or `Config` (for `accept_with`) reaches the connection; the blocking server's
//! `tls_certificate` and `stop_accepting`.

use std::net::TcpListener as StdListener;
use std::thread;

mod support;

use futures_util::StreamExt;
use support::LIMIT;
use tokio::net::TcpListener;
use wsio::{Accept, ClientBuilder, CloseCode, Config, Message, Server, UpgradeRequest, blocking};

/// The message size limit the tests set: far below the default, so that only the setting makes
/// a message of one byte more fail.
const MAX_MESSAGE: usize = 64 << 10;

/// Echoes data messages on a blocking connection until it ends.
fn blocking_echo<S: blocking::BlockingStream>(mut ws: blocking::WebSocket<S>) {
    while let Ok(message) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}

/// Against an echo server limited to `MAX_MESSAGE`: a message of exactly the limit comes back,
/// one byte more must not. Gives the code of the close frame the server then sent.
async fn close_code_after_an_oversized_message(url: &str) -> CloseCode {
    let (mut ws, _) = wsio::connect(url).await.unwrap();
    let at_limit = vec![1u8; MAX_MESSAGE];
    ws.send_binary(at_limit.clone()).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(at_limit));
    ws.send_binary(vec![2u8; MAX_MESSAGE + 1]).await.unwrap();
    while let Some(Ok(message)) = ws.next().await {
        assert!(!message.is_data(), "the oversized message was echoed");
    }
    ws.close_info().unwrap().code
}

#[tokio::test]
async fn max_message_size_on_server_builder_reaches_its_connections() {
    tokio::time::timeout(LIMIT, async {
        let server = Server::builder()
            .max_message_size(MAX_MESSAGE)
            .fallback(|ws, _| support::echo(ws))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let (addr, handle, task) = support::serve(server);
        let code = close_code_after_an_oversized_message(&format!("ws://{addr}/")).await;
        assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
        handle.close().await;
        task.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn max_message_size_on_blocking_server_builder_reaches_its_connections() {
    tokio::time::timeout(LIMIT, async {
        let server = blocking::Server::builder()
            .max_message_size(MAX_MESSAGE)
            .fallback(|ws, _| blocking_echo(ws))
            .bind("127.0.0.1:0")
            .unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let task = thread::spawn(move || server.run());
        let code = close_code_after_an_oversized_message(&format!("ws://{addr}/")).await;
        assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
        tokio::task::spawn_blocking(move || handle.close())
            .await
            .unwrap();
        task.join().unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn max_message_size_on_config_reaches_accept_with() {
    tokio::time::timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let config = Config::default().max_message_size(MAX_MESSAGE);
            let ws = wsio::accept_with(stream, &config, |_: &UpgradeRequest<'_>| Ok(Accept::new()))
                .await
                .unwrap();
            support::echo(ws).await;
        });
        let code = close_code_after_an_oversized_message(&format!("ws://{addr}/")).await;
        assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn max_message_size_on_config_reaches_blocking_accept_with() {
    tokio::time::timeout(LIMIT, async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let config = Config::default().max_message_size(MAX_MESSAGE);
            let ws =
                blocking::accept_with(stream, &config, |_: &UpgradeRequest<'_>| Ok(Accept::new()))
                    .unwrap();
            blocking_echo(ws);
        });
        let code = close_code_after_an_oversized_message(&format!("ws://{addr}/")).await;
        assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
        tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn max_message_size_on_client_builder_reaches_its_connection() {
    tokio::time::timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A server that sends a message of exactly the limit, then one byte more, and reports
        // the code of the client's close frame.
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = wsio::accept(stream).await.unwrap();
            ws.send_binary(vec![1u8; MAX_MESSAGE]).await.unwrap();
            ws.send_binary(vec![2u8; MAX_MESSAGE + 1]).await.unwrap();
            while let Some(Ok(_)) = ws.next().await {}
            ws.close_info().unwrap().code
        });
        let (mut ws, _) = ClientBuilder::new(&format!("ws://{addr}/"))
            .unwrap()
            .max_message_size(MAX_MESSAGE)
            .connect()
            .await
            .unwrap();
        let first = ws.next().await.unwrap().unwrap();
        assert_eq!(first, Message::binary(vec![1u8; MAX_MESSAGE]));
        // The client fails the connection, and ends it when polled on to the end.
        while let Some(item) = ws.next().await {
            assert!(
                !item.is_ok_and(|message| message.is_data()),
                "the oversized message was delivered"
            );
        }
        assert_eq!(server.await.unwrap(), CloseCode::MESSAGE_TOO_BIG);
    })
    .await
    .unwrap();
}

#[test]
fn blocking_stop_accepting_lets_connected_clients_finish() {
    let server = blocking::Server::builder()
        .fallback(|ws, _| blocking_echo(ws))
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let handle = server.handle();
    let task = thread::spawn(move || server.run());
    let (mut ws, _) = blocking::connect(&url).unwrap();
    ws.set_read_timeout(Some(LIMIT));
    handle.stop_accepting();
    task.join().unwrap().unwrap();
    assert!(blocking::connect(&url).is_err());
    ws.send_text("still served").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("still served"));
    assert_eq!(handle.client_count(), 1);
    ws.close(CloseCode::NORMAL, "done").unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn blocking_server_serves_wss_with_a_certificate() {
    let (cert, key) = support::tls::certificate();
    let server = blocking::Server::builder()
        .tls_certificate(vec![cert.clone()], key)
        .unwrap()
        .fallback(|ws, _| blocking_echo(ws))
        .bind("127.0.0.1:0")
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let handle = server.handle();
    let task = thread::spawn(move || server.run());
    let (mut ws, response) = ClientBuilder::new(&format!("wss://localhost:{port}/secure"))
        .unwrap()
        .tls_config(support::tls::trusting(&cert))
        .connect_blocking()
        .unwrap();
    assert_eq!(response.status(), 101);
    ws.set_read_timeout(Some(LIMIT));
    ws.send_text("over TLS").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("over TLS"));
    // Plain WebSocket is not served on a TLS port.
    let plain = ClientBuilder::new(&format!("ws://localhost:{port}/"))
        .unwrap()
        .handshake_timeout(std::time::Duration::from_secs(2))
        .connect_blocking();
    assert!(plain.is_err());
    // Closed from another thread: `close` waits for this client's answer.
    let closer = thread::spawn(move || handle.close());
    assert_eq!(
        ws.recv().unwrap(),
        Message::Close(Some(wsio::CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down"
        )))
    );
    assert!(ws.recv().unwrap_err().is_closed());
    closer.join().unwrap();
    task.join().unwrap().unwrap();
}
