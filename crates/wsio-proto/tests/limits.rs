//! Size limits: checked from headers, before payloads are buffered, and answered with 1009.

mod support;

use std::time::Instant;

use support::{Pair, client_wire, close_code_in, server_wire};
use wsio_proto::{
    Config, Connection, ConnectionError, Event, Frame, LimitExceeded, Message, OpCode, Role,
};

fn server(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

fn closed_error(conn: &mut Connection, now: Instant) -> Option<ConnectionError> {
    while let Some(event) = conn.poll_event(now) {
        if let Event::Closed(info) = event {
            return info.error;
        }
    }
    None
}

/// The connection failed with `exceeded`, decoding at `now`, and sent close code 1009.
fn assert_over_limit(conn: &mut Connection, now: Instant, exceeded: LimitExceeded) {
    assert_eq!(
        closed_error(conn, now),
        Some(ConnectionError::Limit(exceeded))
    );
    assert_eq!(close_code_in(&output(conn)), Some(1009));
}

fn output(conn: &mut Connection) -> Vec<u8> {
    let out = conn.poll_transmit();
    bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out)).to_vec()
}

#[test]
fn a_frame_at_the_limit_passes_and_one_byte_more_fails() {
    let now = Instant::now();
    let config = Config::default().max_frame_size(1000);
    let mut pair = Pair::with_configs(Config::default(), config.clone());
    pair.client.conn.send_binary(vec![0u8; 1000]).unwrap();
    pair.drive();
    assert_eq!(
        pair.server.events,
        [Event::Message(Message::binary(vec![0u8; 1000]))]
    );

    let mut s = server(config);
    s.receive(
        now,
        &client_wire(&[Frame::new(true, OpCode::Binary, vec![0u8; 1001])]),
    );
    assert_over_limit(
        &mut s,
        now,
        LimitExceeded::FrameTooLarge {
            size: 1001,
            limit: 1000,
        },
    );
}

#[test]
fn an_oversized_frame_fails_from_its_header_alone() {
    let now = Instant::now();
    let mut s = server(Config::default());
    // A header announcing 2^62 bytes, and no payload: refused at once, nothing buffered.
    s.receive(now, &[0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert_over_limit(
        &mut s,
        now,
        LimitExceeded::FrameTooLarge {
            size: 1 << 62,
            limit: 16 << 20,
        },
    );

    // Just over a small limit: the header alone (8 bytes with the mask) fails the connection,
    // and the payload that follows it is not taken.
    let mut s = server(Config::default().max_frame_size(1000));
    let wire = client_wire(&[Frame::new(true, OpCode::Binary, vec![7u8; 1001])]);
    s.receive(now, &wire[..8]);
    assert_over_limit(
        &mut s,
        now,
        LimitExceeded::FrameTooLarge {
            size: 1001,
            limit: 1000,
        },
    );
    s.receive(now, &wire[8..]);
    assert_eq!(s.poll_event(now), None);
    assert!(output(&mut s).is_empty());
}

#[test]
fn the_message_limit_counts_all_fragments() {
    let now = Instant::now();
    let config = Config::default().max_message_size(10);
    let mut s = server(config.clone());
    s.receive(
        now,
        &client_wire(&[
            Frame::new(false, OpCode::Text, "12345"),
            Frame::new(false, OpCode::Continuation, "12345"),
        ]),
    );
    assert_eq!(s.poll_event(now), None);
    // The next fragment's header alone crosses the limit.
    s.receive(
        now,
        &client_wire(&[Frame::new(true, OpCode::Continuation, "1")])[..6],
    );
    assert_over_limit(
        &mut s,
        now,
        LimitExceeded::MessageTooLarge {
            size: 11,
            limit: 10,
        },
    );

    // Exactly at the limit is fine.
    let mut pair = Pair::with_configs(Config::default(), config);
    let c = &mut pair.client.conn;
    c.send_frame(pair.now, Frame::new(false, OpCode::Binary, vec![1u8; 4]))
        .unwrap();
    c.send_frame(
        pair.now,
        Frame::new(true, OpCode::Continuation, vec![2u8; 6]),
    )
    .unwrap();
    pair.drive();
    assert_eq!(pair.server.events.len(), 1);
}

#[test]
fn a_single_frame_message_over_the_message_limit_fails() {
    let now = Instant::now();
    let mut s = server(Config::default().max_message_size(100));
    s.receive(
        now,
        &client_wire(&[Frame::new(true, OpCode::Text, vec![b'a'; 101])]),
    );
    assert_over_limit(
        &mut s,
        now,
        LimitExceeded::MessageTooLarge {
            size: 101,
            limit: 100,
        },
    );
}

#[test]
fn many_tiny_fragments_stay_within_the_message_limit() {
    let now = Instant::now();
    let mut s = server(Config::default().max_message_size(1000));
    let mut frames = vec![Frame::new(false, OpCode::Binary, vec![0u8])];
    frames.extend((0..2000).map(|_| Frame::new(false, OpCode::Continuation, vec![0u8])));
    s.receive(now, &client_wire(&frames));
    assert!(matches!(
        closed_error(&mut s, now),
        Some(ConnectionError::Limit(LimitExceeded::MessageTooLarge {
            size: 1001,
            ..
        }))
    ));
}

#[test]
fn control_frames_do_not_count_toward_the_message_limit() {
    let now = Instant::now();
    let mut s = server(Config::default().max_message_size(4));
    s.receive(
        now,
        &client_wire(&[
            Frame::new(false, OpCode::Binary, vec![0u8; 2]),
            Frame::new(true, OpCode::Ping, vec![0u8; 100]),
            Frame::new(true, OpCode::Continuation, vec![0u8; 2]),
        ]),
    );
    assert!(matches!(
        s.poll_event(now),
        Some(Event::Message(Message::Ping(_)))
    ));
    assert_eq!(
        s.poll_event(now),
        Some(Event::Message(Message::binary(vec![0u8; 4])))
    );
}

#[test]
fn messages_longer_than_the_frame_limit_are_sent_in_fragments_the_peer_accepts() {
    let config = Config::default().max_frame_size(30).max_message_size(1000);
    let mut pair = Pair::with_configs(config.clone(), config);
    let text = "κόσμε ".repeat(10); // 110 bytes, with code points cut between fragments
    pair.client.conn.send_text(text.as_str()).unwrap();
    let wire = pair.client.take_output();
    let frames = support::decode_all(&wire);
    let sizes: Vec<(bool, OpCode, usize)> = frames
        .iter()
        .map(|f| (f.frame.fin, f.frame.opcode, f.frame.payload.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            (false, OpCode::Text, 30),
            (false, OpCode::Continuation, 30),
            (false, OpCode::Continuation, 30),
            (true, OpCode::Continuation, 20),
        ]
    );
    pair.server.conn.receive(pair.now, &wire);
    assert_eq!(
        pair.server.conn.poll_event(pair.now),
        Some(Event::Message(Message::text(text.as_str())))
    );
    // A message that fits is one frame, and an empty one is one empty frame.
    pair.server.conn.send_binary(vec![0u8; 30]).unwrap();
    pair.server.conn.send_binary(Vec::new()).unwrap();
    assert_eq!(support::decode_all(&pair.server.take_output()).len(), 2);
}

#[test]
fn the_limits_hold_for_the_client_too() {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, Config::default().max_frame_size(1000));
    let wire = server_wire(&[Frame::new(true, OpCode::Binary, vec![7u8; 1001])]);
    // The header is 4 bytes: 2 and a 16-bit length.
    c.receive(now, &wire[..4]);
    assert_over_limit(
        &mut c,
        now,
        LimitExceeded::FrameTooLarge {
            size: 1001,
            limit: 1000,
        },
    );

    let mut c = Connection::new(Role::Client, Config::default().max_message_size(10));
    c.receive(
        now,
        &server_wire(&[
            Frame::new(false, OpCode::Binary, vec![1u8; 6]),
            Frame::new(true, OpCode::Continuation, vec![2u8; 5]),
        ]),
    );
    assert_over_limit(
        &mut c,
        now,
        LimitExceeded::MessageTooLarge {
            size: 11,
            limit: 10,
        },
    );
}
