//! Keepalive: pings after silence, the pong timeout, and what counts as hearing from the peer.

mod support;

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use support::{Pair, close_code_in, server_wire};
use wsio_proto::{
    CloseCode, Config, Connection, ConnectionError, Event, Frame, Message, OpCode, Role,
    TransportAction,
};

fn keepalive() -> Config {
    Config::default()
        .ping_interval(Some(Duration::from_secs(5)))
        .pong_timeout(Duration::from_secs(2))
        .ping_payload(Bytes::from_static(b"ka"))
}

#[test]
fn pings_after_silence_and_the_pong_keeps_the_connection() {
    let mut pair = Pair::with_configs(keepalive(), Config::default());
    let start = pair.now;
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(start + Duration::from_secs(5))
    );
    pair.advance(Duration::from_secs(5));
    // The server saw the ping and the client the pong.
    assert_eq!(
        pair.server.take_events(),
        [Event::Message(Message::Ping(Bytes::from_static(b"ka")))]
    );
    assert_eq!(
        pair.client.take_events(),
        [Event::Message(Message::Pong(Bytes::from_static(b"ka")))]
    );
    // Still alive long after, pinging every interval of silence.
    for _ in 0..10 {
        pair.advance(Duration::from_secs(5));
    }
    assert_eq!(pair.server.take_events().len(), 10);
    assert!(pair.client.closed().is_none());

    // Off by default: no timer, and no ping however long the silence.
    let mut pair = Pair::new();
    assert_eq!(pair.client.conn.poll_timeout(), None);
    pair.advance(Duration::from_secs(3600));
    assert_eq!(pair.server.take_events(), []);
}

/// No timer runs before the connection is first given the time; the keepalive interval then
/// starts, whether the first time comes with `handle_timeout` or with received bytes.
#[test]
fn the_keepalive_starts_at_the_first_time_given() {
    let start = Instant::now();
    let mut client = Connection::new(Role::Client, keepalive());
    assert_eq!(client.poll_timeout(), None);
    client.handle_timeout(start);
    assert_eq!(client.poll_timeout(), Some(start + Duration::from_secs(5)));

    let later = start + Duration::from_secs(1);
    let mut client = Connection::new(Role::Client, keepalive());
    client.receive(later, &server_wire(&[Frame::new(true, OpCode::Text, "hi")]));
    assert_eq!(client.poll_timeout(), Some(later + Duration::from_secs(5)));

    // A front-end that drains its events before any input arrived (a peer silent from the
    // start) starts the interval too.
    let mut server = Connection::new(Role::Server, keepalive());
    assert_eq!(server.poll_event(later), None);
    assert_eq!(server.poll_timeout(), Some(later + Duration::from_secs(5)));
}

#[test]
fn traffic_from_the_peer_postpones_the_ping() {
    let mut pair = Pair::with_configs(keepalive(), Config::default());
    for _ in 0..5 {
        pair.advance(Duration::from_secs(4));
        pair.server.conn.send_text("busy").unwrap();
        pair.drive();
    }
    assert!(
        pair.server
            .events
            .iter()
            .all(|e| !matches!(e, Event::Message(Message::Ping(_))))
    );
}

#[test]
fn a_silent_peer_fails_the_connection_after_the_pong_timeout() {
    let mut pair = Pair::with_configs(keepalive(), Config::default().auto_pong(false));
    pair.advance(Duration::from_secs(5));
    // The ping went out at 5 s; nothing comes back.
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(pair.now + Duration::from_secs(2))
    );
    pair.advance(Duration::from_millis(1999));
    assert!(pair.client.closed().is_none());
    pair.now += Duration::from_millis(1);
    pair.client.conn.handle_timeout(pair.now);
    let out = pair.client.take_output();
    assert_eq!(close_code_in(&out), Some(1011));
    while let Some(e) = pair.client.conn.poll_event(pair.now) {
        pair.client.events.push(e);
    }
    let info = pair.client.closed().unwrap();
    assert_eq!(info.error, Some(ConnectionError::KeepaliveTimeout));
    assert_eq!(info.code, CloseCode::ABNORMAL);
    // The peer is presumed dead: no waiting for a close handshake.
    assert_eq!(pair.client.conn.transport_action(), TransportAction::Close);
    assert_eq!(pair.client.conn.poll_timeout(), None);
}

#[test]
fn any_data_counts_as_an_answer() {
    let mut pair = Pair::with_configs(keepalive(), Config::default().auto_pong(false));
    pair.advance(Duration::from_secs(5));
    pair.advance(Duration::from_secs(1));
    pair.server.conn.send_binary(vec![1]).unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(1));
    pair.advance(Duration::from_secs(1));
    assert!(pair.client.closed().is_none());
}

#[test]
fn the_server_can_keep_clients_alive_too() {
    let mut pair = Pair::with_configs(Config::default(), keepalive());
    pair.advance(Duration::from_secs(5));
    let pings = pair
        .client
        .events
        .iter()
        .filter(|e| matches!(e, Event::Message(Message::Ping(_))))
        .count();
    assert_eq!(pings, 1);
    // The pong answered the ping: the server wrote nothing after its ping (no answer to the
    // pong, no second ping), so the ping is all the client received, and the server's next
    // timer is the next ping, an interval after the pong, not the pong timeout.
    assert_eq!(
        pair.client.take_events(),
        [Event::Message(Message::Ping(Bytes::from_static(b"ka")))]
    );
    assert_eq!(
        pair.server.conn.poll_timeout(),
        Some(pair.now + Duration::from_secs(5))
    );
    assert!(pair.server.closed().is_none());
}

fn heartbeat() -> Config {
    Config::default()
        .heartbeat_interval(Some(Duration::from_secs(5)))
        .ping_payload(Bytes::from_static(b"hb"))
}

fn pings(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Message(Message::Ping(_))))
        .count()
}

/// Unlike the keepalive, the heartbeat pings at its own rate while messages flow both ways.
#[test]
fn the_heartbeat_pings_during_constant_traffic() {
    let mut pair = Pair::with_configs(heartbeat(), Config::default());
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(pair.now + Duration::from_secs(5))
    );
    // A message each way every second for 30 s.
    for _ in 0..30 {
        pair.advance(Duration::from_secs(1));
        pair.client.conn.send_text("up").unwrap();
        pair.server.conn.send_text("down").unwrap();
        pair.drive();
    }
    let server = pair.server.take_events();
    assert_eq!(pings(&server), 6, "one ping every 5 s: {server:?}");
    assert!(server.contains(&Event::Message(Message::Ping(Bytes::from_static(b"hb")))));
    assert!(pair.client.closed().is_none());

    // The keepalive, for comparison, sends nothing while the peer talks.
    let mut pair = Pair::with_configs(keepalive(), Config::default());
    for _ in 0..30 {
        pair.advance(Duration::from_secs(1));
        pair.server.conn.send_text("down").unwrap();
        pair.drive();
    }
    assert_eq!(pings(&pair.server.take_events()), 0);
}

/// No answer is awaited: a peer that never pongs is not failed by the heartbeat.
#[test]
fn the_heartbeat_awaits_no_answer() {
    let mut pair = Pair::with_configs(heartbeat(), Config::default().auto_pong(false));
    for _ in 0..20 {
        pair.advance(Duration::from_secs(5));
    }
    assert_eq!(pings(&pair.server.take_events()), 20);
    assert!(pair.client.closed().is_none());

    // A zero interval is no heartbeat, not a ping at every call.
    let config = Config::default().heartbeat_interval(Some(Duration::ZERO));
    let mut pair = Pair::with_configs(config, Config::default());
    assert_eq!(pair.client.conn.poll_timeout(), None);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pings(&pair.server.take_events()), 0);
}

/// Behind a transport that does not drain, due heartbeats are skipped rather than queued.
#[test]
fn heartbeats_do_not_pile_up_behind_unwritten_output() {
    let start = Instant::now();
    let mut client = Connection::new(Role::Client, heartbeat());
    client.handle_timeout(start);
    let mut at = start;
    for _ in 0..100 {
        at += Duration::from_secs(5);
        assert_eq!(client.poll_timeout(), Some(at));
        client.handle_timeout(at);
    }
    let out = client.poll_transmit();
    let wire = out.copy_to_bytes(out.remaining());
    let frames = support::decode_all(&wire);
    assert_eq!(frames.len(), 1, "one ping waits, the others were skipped");
    assert_eq!(frames[0].frame.opcode, OpCode::Ping);
    // Once written, the next one goes out.
    at += Duration::from_secs(5);
    client.handle_timeout(at);
    assert!(client.poll_transmit().has_remaining());
}

fn idle() -> Config {
    Config::default().idle_timeout(Some(Duration::from_secs(10)))
}

#[test]
fn a_silent_peer_ends_the_connection_after_the_idle_timeout() {
    let mut pair = Pair::with_configs(idle(), Config::default());
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(pair.now + Duration::from_secs(10))
    );
    pair.now += Duration::from_millis(9999);
    pair.client.conn.handle_timeout(pair.now);
    assert!(pair.client.take_output().is_empty());
    pair.now += Duration::from_millis(1);
    pair.client.conn.handle_timeout(pair.now);
    // A close frame going away, whose reason says why.
    let out = pair.client.take_output();
    let frames = support::decode_all(&out);
    assert_eq!(frames.len(), 1);
    let close = wsio_proto::parse_close_payload(&frames[0].frame.payload)
        .unwrap()
        .unwrap();
    assert_eq!(close.code, CloseCode::GOING_AWAY);
    assert_eq!(
        close.reason.as_str(),
        "nothing received within the idle timeout"
    );
    while let Some(e) = pair.client.conn.poll_event(pair.now) {
        pair.client.events.push(e);
    }
    let info = pair.client.closed().unwrap();
    assert_eq!(info.error, Some(ConnectionError::IdleTimeout));
    assert_eq!(
        ConnectionError::IdleTimeout.close_code(),
        Some(CloseCode::GOING_AWAY)
    );
    assert!(!info.was_clean);
    assert_eq!(pair.client.conn.transport_action(), TransportAction::Close);
    assert_eq!(pair.client.conn.poll_timeout(), None);
}

/// Any bytes received restart the idle timeout, even part of a frame; bytes sent do not.
#[test]
fn reception_restarts_the_idle_timeout() {
    let mut pair = Pair::with_configs(idle(), Config::default());
    for _ in 0..5 {
        pair.advance(Duration::from_secs(9));
        pair.server.conn.send_text("still here").unwrap();
        pair.drive();
    }
    assert!(pair.client.closed().is_none());
    let half = server_wire(&[Frame::new(true, OpCode::Text, "partial")]);
    pair.now += Duration::from_secs(9);
    pair.client.conn.receive(pair.now, &half[..3]);
    pair.advance(Duration::from_secs(9));
    assert!(pair.client.closed().is_none());

    // Sending does not count: the client talks, the server is silent.
    let mut pair = Pair::with_configs(idle(), Config::default());
    for _ in 0..2 {
        pair.advance(Duration::from_secs(4));
        pair.client.conn.send_text("anyone?").unwrap();
        pair.drive();
    }
    pair.advance(Duration::from_secs(4));
    // The server's echo of the close reached the client, but the client had already ended.
    let info = pair.client.closed().unwrap();
    assert_eq!(info.error, Some(ConnectionError::IdleTimeout));
    let info = pair.server.closed().unwrap();
    assert_eq!(info.code, CloseCode::GOING_AWAY);
}

/// With a heartbeat or a keepalive, a live peer's pongs keep an idle timeout from firing.
#[test]
fn pongs_to_the_heartbeat_keep_an_idle_connection_open() {
    let config = heartbeat().idle_timeout(Some(Duration::from_secs(12)));
    let mut pair = Pair::with_configs(config.clone(), Config::default());
    for _ in 0..20 {
        pair.advance(Duration::from_secs(5));
    }
    assert!(pair.client.closed().is_none());
    // Without pongs, it ends.
    let mut pair = Pair::with_configs(config, Config::default().auto_pong(false));
    pair.advance(Duration::from_secs(5));
    pair.advance(Duration::from_secs(5));
    assert!(pair.client.closed().is_none());
    pair.advance(Duration::from_secs(2));
    let info = pair.client.closed().unwrap();
    assert_eq!(info.error, Some(ConnectionError::IdleTimeout));
}
