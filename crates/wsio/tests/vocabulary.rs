//! Every socket speaks the same words: `state()`, `close_info()`, `get_ref()`/`get_mut()`,
//! the send helpers on frame sockets, a received close parsed into code and reason, and
//! receiving until the end (a `Stream` for the async sockets, an `Iterator` for the blocking
//! ones). Each test serves on 127.0.0.1 and stops its own server.

use std::net::TcpListener;
use std::thread;

use futures_util::StreamExt;
use wsio::blocking;
use wsio::{CloseCode, Error, Frame, Message, OpCode, Server, State, Transport};

mod support;

use support::LIMIT;

/// An async server on 127.0.0.1 that answers a text with the same text, then closes with
/// 4000 "done" and reads until the end.
async fn answer_then_close() -> (String, wsio::ServerHandle) {
    let server = Server::builder()
        .fallback(|mut ws, _| async move {
            while let Some(Ok(message)) = ws.recv().await {
                if let Message::Text(text) = message {
                    ws.send_text(text).await.unwrap();
                    ws.close(CloseCode::from(4000), "done").await.unwrap();
                }
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle, _) = support::serve(server);
    (format!("ws://{addr}/"), handle)
}

#[tokio::test]
async fn the_async_socket_reports_its_state_and_reaches_its_transport() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle) = answer_then_close().await;
        let (mut ws, _) = wsio::connect(&url).await.unwrap();
        assert_eq!(ws.state(), State::Open);
        let peer = ws.get_ref().peer_addr().expect("a TCP peer");
        assert_eq!(format!("ws://{peer}/"), url);
        match &mut *ws.get_mut() {
            Transport::Tcp(tcp) => tcp.set_nodelay(true).unwrap(),
            other => panic!("{other:?}"),
        }

        ws.send_text("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        let Message::Close(Some(close)) = ws.recv().await.unwrap().unwrap() else {
            panic!("the server's close")
        };
        assert_eq!((close.code, close.reason.as_str()), (4000.into(), "done"));
        assert!(ws.recv().await.is_none());
        assert_eq!(ws.state(), State::Closed);
        let info = ws.close_info().unwrap();
        assert!(info.was_clean);
        assert_eq!(info.code, CloseCode::from(4000));
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn closing_is_reported_by_every_half() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle) = answer_then_close().await;
        let (ws, _) = wsio::connect(&url).await.unwrap();
        let (mut read, mut write) = ws.split();
        assert_eq!((read.state(), write.state()), (State::Open, State::Open));
        write.send_close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(
            (read.state(), write.state()),
            (State::Closing, State::Closing)
        );
        assert!(matches!(read.recv().await, Some(Ok(Message::Close(_)))));
        assert!(read.recv().await.is_none());
        assert_eq!(
            (read.state(), write.state()),
            (State::Closed, State::Closed)
        );
        assert_eq!(read.close_info(), write.close_info());
        assert!(matches!(write.send_text("late").await, Err(Error::Closed)));
        handle.close().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_frame_socket_sends_as_a_websocket_does_and_parses_the_peers_close() {
    tokio::time::timeout(LIMIT, async {
        let (url, handle) = answer_then_close().await;
        let (ws, _) = wsio::connect(&url).await.unwrap();
        let (mut read, mut write) = ws.into_frames().split();
        assert!(read.negotiated().is_empty());
        write.ping("p").await.unwrap();
        write.send_text("hi").await.unwrap();
        let frames: Vec<Frame> = read.by_ref().map(Result::unwrap).collect().await;
        let kinds: Vec<_> = frames
            .iter()
            .map(|f| (f.opcode, f.payload.clone()))
            .collect();
        assert_eq!(kinds[0], (OpCode::Pong, "p".into()));
        assert_eq!(kinds[1], (OpCode::Text, "hi".into()));
        let close = frames[2].close_frame().expect("a close with a code");
        assert_eq!((close.code, close.reason.as_str()), (4000.into(), "done"));
        assert_eq!(frames.len(), 3);
        assert_eq!(read.state(), State::Closed);
        handle.close().await;
    })
    .await
    .unwrap();
}

/// A blocking server on 127.0.0.1 for one connection: sends "one" and "two", closes with
/// 1000 "bye", and reads until the end.
fn two_then_close() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        ws.send_text("one").unwrap();
        ws.send_text("two").unwrap();
        ws.close(CloseCode::NORMAL, "bye").unwrap();
        for message in &mut ws {
            if message.is_err() {
                break;
            }
        }
    });
    format!("ws://{addr}/")
}

#[test]
fn the_blocking_socket_is_an_iterator_of_messages() {
    let url = two_then_close();
    let (mut ws, _) = blocking::connect(&url).unwrap();
    ws.set_read_timeout(Some(LIMIT));
    assert_eq!(ws.state(), State::Open);
    assert_eq!(
        ws.get_ref().peer_addr().map(|a| format!("ws://{a}/")),
        Some(url)
    );
    let messages: Vec<Message> = ws.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(messages[..2], [Message::text("one"), Message::text("two")]);
    assert!(matches!(&messages[2], Message::Close(Some(c)) if c.reason == "bye"));
    assert_eq!(messages.len(), 3);
    assert!(ws.next().is_none());
    assert!(matches!(ws.recv(), Err(Error::Closed)));
    assert_eq!(ws.state(), State::Closed);
    assert!(ws.close_info().unwrap().was_clean);
}

#[test]
fn the_blocking_frame_socket_has_the_websockets_helpers() {
    let url = two_then_close();
    let (ws, _) = blocking::connect(&url).unwrap();
    let mut frames = ws.into_frames();
    frames.set_read_timeout(Some(LIMIT));
    frames.set_write_timeout(Some(LIMIT)).unwrap();
    match frames.get_mut() {
        blocking::Stream::Tcp(tcp) => tcp.set_nodelay(true).unwrap(),
        other => panic!("{other:?}"),
    }
    assert!(frames.get_ref().peer_addr().is_some());
    frames.ping("p").unwrap();
    let received: Vec<Frame> = frames.by_ref().collect::<Result<_, _>>().unwrap();
    let payloads: Vec<_> = received[..2].iter().map(|f| f.payload.clone()).collect();
    assert_eq!(payloads, ["one", "two"]);
    let close = received.last().unwrap().close_frame().unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::NORMAL, "bye")
    );
    assert_eq!(frames.state(), State::Closed);
    assert!(matches!(frames.send_text("late"), Err(Error::Closed)));
}
