//! The close handshake: either side first, both at once, without a status, timeouts, EOF.

mod support;

use std::time::{Duration, Instant};

use support::{Pair, close_code_in, decode_all, server_wire};
use wsio_proto::{
    CloseCode, CloseFrame, Config, Connection, ConnectionError, Event, Frame, Message, OpCode,
    Role, SendError, State, TransportAction,
};

#[test]
fn client_closes_first() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .close(pair.now, CloseCode::NORMAL, "done")
        .unwrap();
    assert_eq!(pair.client.conn.state(), State::Closing);
    pair.drive();
    let server = pair.server.closed().unwrap();
    assert_eq!(
        (server.code, server.reason.as_str()),
        (CloseCode::NORMAL, "done")
    );
    assert!(server.was_clean && server.error.is_none());
    let client = pair.client.closed().unwrap();
    assert_eq!(client.code, CloseCode::NORMAL);
    assert!(client.was_clean);
    // The server shuts down its side first; the client closes on seeing it.
    assert!(pair.server.write_closed);
    assert_eq!(pair.client.conn.transport_action(), TransportAction::Close);
    assert_eq!(pair.server.conn.transport_action(), TransportAction::Close);
    assert_eq!(pair.client.conn.state(), State::Closed);
    assert_eq!(pair.server.conn.poll_timeout(), None);
    assert_eq!(pair.client.conn.poll_timeout(), None);
}

#[test]
fn server_closes_first() {
    let mut pair = Pair::new();
    pair.server
        .conn
        .close(pair.now, CloseCode::GOING_AWAY, "restart")
        .unwrap();
    pair.drive();
    let client = pair.client.closed().unwrap();
    assert_eq!(
        (client.code, client.reason.as_str()),
        (CloseCode::GOING_AWAY, "restart")
    );
    assert!(client.was_clean);
    let server = pair.server.closed().unwrap();
    assert_eq!(server.code, CloseCode::GOING_AWAY);
    assert!(server.was_clean);
    assert_eq!(pair.client.conn.transport_action(), TransportAction::Close);
}

#[test]
fn simultaneous_close() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .close(pair.now, CloseCode(4001), "client")
        .unwrap();
    pair.server
        .conn
        .close(pair.now, CloseCode(4002), "server")
        .unwrap();
    pair.drive();
    // Each reports the code the other sent, and neither answers a second time.
    let client = pair.client.closed().unwrap();
    let server = pair.server.closed().unwrap();
    assert_eq!((client.code, client.was_clean), (CloseCode(4002), true));
    assert_eq!((server.code, server.was_clean), (CloseCode(4001), true));
}

#[test]
fn close_without_status_is_reported_as_1005() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .send(pair.now, Message::Close(None))
        .unwrap();
    pair.drive();
    let server = pair.server.closed().unwrap();
    assert_eq!(server.code, CloseCode::NO_STATUS);
    assert!(server.was_clean);
    // The echo carries no status either.
    assert_eq!(pair.client.closed().unwrap().code, CloseCode::NO_STATUS);
}

#[test]
fn messages_sent_before_the_close_still_arrive() {
    let mut pair = Pair::new();
    pair.server.conn.send_text("last words").unwrap();
    pair.server
        .conn
        .close(pair.now, CloseCode::NORMAL, "")
        .unwrap();
    // The client sends data before it learns of the close; the server still delivers it.
    pair.client.conn.send_text("in flight").unwrap();
    pair.drive();
    assert_eq!(
        pair.client.events[0],
        Event::Message(Message::text("last words"))
    );
    assert_eq!(
        pair.server.events[0],
        Event::Message(Message::text("in flight"))
    );
    assert!(pair.client.closed().unwrap().was_clean);
}

#[test]
fn nothing_is_sent_after_close() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .close(pair.now, CloseCode::NORMAL, "")
        .unwrap();
    let c = &mut pair.client.conn;
    assert_eq!(c.send_text("late"), Err(SendError::Closed));
    assert_eq!(c.ping(""), Err(SendError::Closed));
    assert_eq!(
        c.close(pair.now, CloseCode::NORMAL, ""),
        Err(SendError::Closed)
    );
    assert_eq!(
        c.send_frame(pair.now, Frame::new(true, OpCode::Binary, "x")),
        Err(SendError::Closed)
    );
}

#[test]
fn invalid_close_requests_queue_nothing() {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, Config::default());
    assert_eq!(
        c.close(now, CloseCode::ABNORMAL, ""),
        Err(SendError::InvalidCloseCode(1006))
    );
    assert_eq!(
        c.close(now, CloseCode(999), ""),
        Err(SendError::InvalidCloseCode(999))
    );
    assert_eq!(
        c.close(now, CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(c.buffered_amount(), 0);
    assert_eq!(c.state(), State::Open);
    let frame = CloseFrame::new(CloseCode::NORMAL, "fine");
    c.send(now, Message::Close(Some(frame))).unwrap();
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn close_timeout_when_the_peer_never_answers() {
    let mut client = Connection::new(Role::Client, Config::default());
    let start = Instant::now();
    client.handle_timeout(start);
    client.close(start, CloseCode::NORMAL, "").unwrap();
    client.handle_timeout(start);
    assert_eq!(client.poll_timeout(), Some(start + Duration::from_secs(10)));
    client.handle_timeout(start + Duration::from_secs(9));
    assert_eq!(client.poll_event(start + Duration::from_secs(9)), None);
    client.handle_timeout(start + Duration::from_secs(10));
    let Some(Event::Closed(info)) = client.poll_event(start + Duration::from_secs(10)) else {
        panic!("expected Closed")
    };
    assert_eq!(info.code, CloseCode::ABNORMAL);
    assert!(!info.was_clean);
    assert_eq!(info.error, Some(ConnectionError::CloseTimeout));
    assert_eq!(client.transport_action(), TransportAction::Close);
    assert_eq!(client.poll_timeout(), None);
}

/// The close timer counts from the `now` of the call that starts it, not from the last time the
/// connection was given: the close command's, or that of the `poll_event` that decodes the
/// peer's close frame.
#[test]
fn the_close_timer_counts_from_the_call_that_starts_it() {
    let start = Instant::now();
    let later = start + Duration::from_secs(4);
    let mut client = Connection::new(Role::Client, Config::default());
    client.handle_timeout(start);
    client.close(later, CloseCode::NORMAL, "").unwrap();
    assert_eq!(client.poll_timeout(), Some(later + Duration::from_secs(10)));
    client.handle_timeout(start + Duration::from_secs(10));
    assert_eq!(client.poll_event(start + Duration::from_secs(10)), None);
    assert_eq!(client.state(), State::Closing);
    client.handle_timeout(later + Duration::from_secs(10));
    assert!(matches!(
        client.poll_event(later + Duration::from_secs(10)),
        Some(Event::Closed(info)) if info.error == Some(ConnectionError::CloseTimeout)
    ));

    let mut client = Connection::new(Role::Client, Config::default());
    client.handle_timeout(start);
    let close = server_wire(&[Frame::new(true, OpCode::Close, &b"\x03\xe8"[..])]);
    client.receive(later, &close);
    assert!(matches!(client.poll_event(later), Some(Event::Closed(info)) if info.was_clean));
    assert_eq!(client.poll_timeout(), Some(later + Duration::from_secs(10)));
}

#[test]
fn client_waits_a_bounded_time_for_the_server_to_close_tcp() {
    let config = Config::default().close_timeout(Duration::from_secs(3));
    let mut client = Connection::new(Role::Client, config);
    let start = Instant::now();
    client.handle_timeout(start);
    // The server closes; the client answers and then waits for the end of the transport.
    client.receive(
        start,
        &server_wire(&[Frame::new(true, OpCode::Close, &b"\x03\xe8"[..])]),
    );
    assert!(matches!(client.poll_event(start), Some(Event::Closed(info)) if info.was_clean));
    assert_eq!(close_code_in(&support_output(&mut client)), Some(1000));
    assert_eq!(client.transport_action(), TransportAction::Keep);
    assert_eq!(client.poll_timeout(), Some(start + Duration::from_secs(3)));
    client.handle_timeout(start + Duration::from_secs(3));
    assert_eq!(client.transport_action(), TransportAction::Close);
}

#[test]
fn server_shuts_down_then_closes_after_eof_or_timeout() {
    let mut pair = Pair::new();
    // Keep the client from reacting, to watch the server alone.
    pair.server
        .conn
        .close(pair.now, CloseCode::NORMAL, "")
        .unwrap();
    let close = pair.server.take_output();
    pair.client.conn.receive(pair.now, &close);
    assert!(pair.client.conn.poll_event(pair.now).is_some());
    let reply = pair.client.take_output();
    pair.server.conn.receive(pair.now, &reply);
    assert!(pair.server.conn.poll_event(pair.now).is_some());
    assert_eq!(
        pair.server.conn.transport_action(),
        TransportAction::ShutdownWrite
    );
    assert!(pair.server.conn.poll_timeout().is_some());
    pair.now += Duration::from_secs(10);
    pair.server.conn.handle_timeout(pair.now);
    assert_eq!(pair.server.conn.transport_action(), TransportAction::Close);
}

#[test]
fn eof_before_the_close_handshake_is_abnormal() {
    let now = Instant::now();
    for role in [Role::Client, Role::Server] {
        let mut conn = Connection::new(role, Config::default());
        conn.receive_eof();
        let Some(Event::Closed(info)) = conn.poll_event(now) else {
            panic!()
        };
        assert_eq!(info.code, CloseCode::ABNORMAL);
        assert_eq!(info.error, Some(ConnectionError::UnexpectedEof));
        assert!(!info.was_clean);
        assert_eq!(conn.transport_action(), TransportAction::Close);
        assert_eq!(conn.send_text("x"), Err(SendError::Closed));
    }
}

#[test]
fn eof_while_waiting_for_the_close_reply_is_abnormal() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .close(pair.now, CloseCode::NORMAL, "")
        .unwrap();
    pair.client.conn.receive_eof();
    let info = {
        let mut events = Vec::new();
        while let Some(e) = pair.client.conn.poll_event(pair.now) {
            events.push(e);
        }
        match events.pop() {
            Some(Event::Closed(info)) => info,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!((info.code, info.was_clean), (CloseCode::ABNORMAL, false));
}

#[test]
fn data_after_the_peers_close_frame_is_ignored() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default());
    client.receive(
        now,
        &server_wire(&[
            Frame::new(true, OpCode::Close, &b"\x03\xe8"[..]),
            Frame::new(true, OpCode::Text, "after close"),
            Frame::new(true, OpCode::Ping, "after close"),
        ]),
    );
    assert!(matches!(client.poll_event(now), Some(Event::Closed(_))));
    assert_eq!(client.poll_event(now), None);
    let frames = decode_all(&support_output(&mut client));
    assert_eq!(frames.len(), 1, "only the close reply, no pong");
}

fn support_output(conn: &mut Connection) -> Vec<u8> {
    let out = conn.poll_transmit();
    bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out)).to_vec()
}
