//! `close` on every socket runs the closing handshake to its end, within the close timeout,
//! and returns how the connection ended; `send_close` only starts it. Each test serves on
//! 127.0.0.1 and stops its own server.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wsio::blocking;
use wsio::proto::{ConnectionError, SendError};
use wsio::reconnect::ReconnectingClient;
use wsio::{ClientBuilder, CloseCode, CloseInfo, Error, Message, Server, ServerHandle, State};

mod support;

use support::LIMIT;

/// A server on 127.0.0.1 that answers "chatter" with three texts, echoes other data, and
/// reports how each connection ended.
async fn chatty_server() -> (String, ServerHandle, mpsc::UnboundedReceiver<CloseInfo>) {
    let (ends, ended) = mpsc::unbounded_channel();
    let server = Server::builder()
        .fallback(move |mut ws, _| {
            let ends = ends.clone();
            async move {
                while let Some(Ok(message)) = ws.recv().await {
                    if message == Message::text("chatter") {
                        for word in ["one", "two", "three"] {
                            let _ = ws.send_text(word).await;
                        }
                    } else if message.is_data() {
                        let _ = ws.send(message).await;
                    }
                }
                let _ = ends.send(ws.close_info().expect("ended"));
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, _) = support::serve(server);
    (format!("ws://{addr}/"), handle, ended)
}

/// The server saw a clean close with the client's code and reason, and saw the end of the
/// transport within 5 s: well before its close timeout (10 s), so the client ended its side
/// as soon as the handshake was done.
async fn assert_server_saw(
    ended: &mut mpsc::UnboundedReceiver<CloseInfo>,
    code: u16,
    reason: &str,
) {
    let info = tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .expect("the server sees the end at once")
        .unwrap();
    assert!(info.was_clean, "{info:?}");
    assert_eq!((info.code, info.reason.as_str()), (CloseCode(code), reason));
}

#[tokio::test]
async fn close_waits_for_the_handshake_and_drops_what_arrives_meanwhile() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (mut ws, _) = wsio::connect(&url).await.unwrap();
        ws.send_text("chatter").await.unwrap();
        let info = ws.close(CloseCode(4000), "bye").await.unwrap();
        assert!(info.was_clean, "{info:?}");
        assert_eq!((info.code, info.error.as_ref()), (CloseCode(4000), None));
        assert_eq!(ws.state(), State::Closed);
        assert!(ws.recv().await.is_none());
        assert_eq!(ws.close_info(), Some(info.clone()));
        // A second close has nothing left to do: the same details, at once.
        assert_eq!(ws.close(CloseCode::NORMAL, "").await.unwrap(), info);
        assert_server_saw(&mut ended, 4000, "bye").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_close_that_may_not_be_sent_fails_and_changes_nothing() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (mut ws, _) = wsio::connect(&url).await.unwrap();
        let error = ws.close(CloseCode::NO_STATUS, "").await.unwrap_err();
        assert!(
            matches!(error, Error::Send(SendError::InvalidCloseCode(_))),
            "{error:?}"
        );
        let error = ws
            .close(CloseCode::NORMAL, &"x".repeat(124))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Send(SendError::ControlPayloadTooLong(_))),
            "{error:?}"
        );
        assert_eq!(ws.state(), State::Open);
        ws.send_text("still open").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("still open")
        );
        assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().was_clean);
        assert_server_saw(&mut ended, 1000, "").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn send_close_only_starts_the_handshake() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (mut ws, _) = wsio::connect(&url).await.unwrap();
        ws.send_text("chatter").await.unwrap();
        ws.send_close(CloseCode::NORMAL, "done").await.unwrap();
        assert_eq!(ws.state(), State::Closing);
        // What the server sent before its answer still arrives, then its close.
        for word in ["one", "two", "three"] {
            assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(word));
        }
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
        assert!(ws.recv().await.is_none());
        assert_server_saw(&mut ended, 1000, "done").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_write_half_close_waits_for_the_read_half_to_see_the_end() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (ws, _) = wsio::connect(&url).await.unwrap();
        let (mut read, mut write) = ws.split();
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(message) = read.recv().await {
                seen.push(message.unwrap());
            }
            seen
        });
        write.send_text("chatter").await.unwrap();
        let info = write.close(CloseCode::GOING_AWAY, "leaving").await.unwrap();
        assert!(info.was_clean, "{info:?}");
        assert_eq!(write.state(), State::Closed);
        // The read half delivered everything, the server's close last.
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(matches!(seen[3], Message::Close(_)));
        assert_server_saw(&mut ended, 1001, "leaving").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_write_half_closes_alone_once_the_read_half_is_gone() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (ws, _) = wsio::connect(&url).await.unwrap();
        let (read, mut write) = ws.split();
        write.send_text("chatter").await.unwrap();
        drop(read);
        let info = write.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(info.was_clean, "{info:?}");
        assert_server_saw(&mut ended, 1000, "").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_write_half_whose_read_half_is_not_read_gives_up_at_the_close_timeout() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, _ended) = chatty_server().await;
        let (ws, _) = ClientBuilder::new(&url)
            .unwrap()
            .close_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let (mut read, mut write) = ws.split();
        let started = Instant::now();
        let info = write.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(!info.was_clean);
        assert_eq!(info.error, Some(ConnectionError::CloseTimeout));
        // The read half, read at last, ends the same way.
        let mut last = None;
        while let Some(item) = read.recv().await {
            last = Some(item);
        }
        assert!(
            matches!(
                last,
                Some(Err(Error::Connection(ConnectionError::CloseTimeout)))
            ),
            "{last:?}"
        );
        assert_eq!(read.close_info(), Some(info));
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_frame_socket_closes_as_a_websocket_does() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (ws, _) = wsio::connect(&url).await.unwrap();
        let mut frames = ws.into_frames();
        frames.send_text("chatter").await.unwrap();
        let info = frames.close(CloseCode(4001), "frames").await.unwrap();
        assert!(info.was_clean, "{info:?}");
        assert!(frames.recv_frame().await.is_none());
        assert_server_saw(&mut ended, 4001, "frames").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

/// The peer answered nothing and reset the connection: the close reports that in its
/// details, not as an error.
#[tokio::test]
async fn a_close_after_the_peer_reset_the_connection_reports_it() {
    tokio::time::timeout(LIMIT, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = wsio::accept(stream).await.unwrap();
            ws.get_ref().set_zero_linger().unwrap();
            drop(ws);
        });
        let (mut ws, _) = wsio::connect(&format!("ws://{addr}/")).await.unwrap();
        server.await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let info = ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(!info.was_clean, "{info:?}");
        assert_eq!(info.code, CloseCode::ABNORMAL);
        assert_eq!(ws.state(), State::Closed);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_blocking_sockets_close_and_return_the_details() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let client = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                let (mut ws, _) = blocking::connect(&url).unwrap();
                ws.send_text("chatter").unwrap();
                let info = ws.close(CloseCode(4002), "blocking").unwrap();
                assert!(ws.recv().unwrap_err().is_closed());
                assert_eq!(ws.close(CloseCode::NORMAL, "").unwrap(), info);

                let (ws, _) = blocking::connect(&url).unwrap();
                let mut frames = ws.into_frames();
                frames.send_text("chatter").unwrap();
                let frame_info = frames.close(CloseCode(4003), "frames").unwrap();
                (info, frame_info)
            })
        };
        let (info, frame_info) = client.await.unwrap();
        assert!(info.was_clean && frame_info.was_clean);
        assert_eq!(info.code, CloseCode(4002));
        assert_eq!(frame_info.code, CloseCode(4003));
        assert_server_saw(&mut ended, 4002, "blocking").await;
        assert_server_saw(&mut ended, 4003, "frames").await;
        handle.close().await;
    })
    .await
    .unwrap();
}

/// A blocking server's handler closes: the client's answer ends it cleanly.
#[test]
fn a_blocking_server_side_close_returns_the_details() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        ws.send_text("last words").unwrap();
        ws.close(CloseCode::NORMAL, "server done").unwrap()
    });
    let (ws, _) = blocking::connect(&format!("ws://{addr}/")).unwrap();
    let seen: Vec<Message> = ws.map(Result::unwrap).collect();
    assert_eq!(seen[0], Message::text("last words"));
    assert!(matches!(seen[1], Message::Close(_)));
    let info = server.join().unwrap();
    assert!(info.was_clean, "{info:?}");
    assert_eq!(info.code, CloseCode::NORMAL);
}

#[tokio::test]
async fn the_reconnecting_client_closes_and_returns_the_disconnect() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle, mut ended) = chatty_server().await;
        let (client, mut events) = ReconnectingClient::builder(&url).unwrap().start();
        let mut state = client.state_changes();
        state.wait_for(|state| *state == State::Open).await.unwrap();
        let end = client.close(CloseCode::NORMAL, "bye").await.unwrap();
        let end = end.expect("a connection was open");
        assert!(end.was_clean, "{end:?}");
        assert_eq!(client.state(), State::Closed);
        assert_server_saw(&mut ended, 1000, "bye").await;
        // Closing again: the client has stopped, no connection was open.
        assert!(client.close(CloseCode::NORMAL, "").await.unwrap().is_none());
        while events.recv().await.is_some() {}
        handle.close().await;
    })
    .await
    .unwrap();
}
