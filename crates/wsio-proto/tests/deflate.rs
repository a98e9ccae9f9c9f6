//! permessage-deflate between a client and a server state machine: negotiation, compression
//! both ways, fragments, the threshold, the per-message choice, limits and errors.
#![cfg(feature = "deflate")]

mod support;

use std::time::Instant;

use support::{Pair, client_wire, close_code_in, decode_all};
use wsio_proto::deflate::{DeflateConfig, DeflateParams};
use wsio_proto::{
    Config, ConnectionError, Event, Frame, LimitExceeded, Message, OpCode, ProtocolError,
};

fn on(deflate: DeflateConfig) -> Config {
    Config::default().deflate(Some(deflate))
}

fn json(records: usize) -> String {
    (0..records)
        .map(|i| format!("{{\"id\":{i},\"user\":\"name{}\",\"active\":true}}", i % 7))
        .collect::<Vec<_>>()
        .join(",")
}

/// The frames `end` has written, decoded, without moving them to the peer.
fn written(end: &mut support::End) -> (Vec<u8>, Vec<Frame>) {
    let wire = end.take_output();
    let frames = decode_all(&wire).into_iter().map(|f| f.frame).collect();
    (wire, frames)
}

/// Feeds `wire` to `end` at `now` and returns the events that come out.
fn deliver(end: &mut support::End, now: Instant, wire: &[u8]) -> Vec<Event> {
    end.conn.receive(now, wire);
    std::iter::from_fn(|| end.conn.poll_event(now)).collect()
}

fn params(pair: &Pair) -> DeflateParams {
    pair.client
        .conn
        .negotiated()
        .deflate
        .expect("deflate agreed")
}

#[test]
fn agreed_only_when_both_ends_turn_it_on() {
    let default = DeflateConfig::default();
    for (client, server) in [
        (on(default.clone()), Config::default()),
        (Config::default(), on(default.clone())),
    ] {
        let mut pair = Pair::handshake(client, server);
        assert!(pair.client.conn.negotiated().is_empty());
        pair.client.conn.send_text(json(20)).unwrap();
        let (wire, frames) = written(&mut pair.client);
        assert!(!frames[0].rsv1);
        assert_eq!(
            deliver(&mut pair.server, pair.now, &wire),
            [Event::Message(Message::text(json(20)))]
        );
    }
    let pair = Pair::handshake(on(default.clone()), on(default));
    let agreed = params(&pair);
    assert_eq!(
        (
            agreed.server_no_context_takeover,
            agreed.client_no_context_takeover,
            agreed.server_max_window_bits,
            agreed.client_max_window_bits
        ),
        (false, false, 15, 15)
    );
    assert_eq!(pair.server.conn.negotiated(), pair.client.conn.negotiated());
}

#[test]
fn messages_are_compressed_both_ways_with_rsv1_on_the_first_frame_only() {
    let text = json(200);
    let binary: Vec<u8> = text.bytes().rev().collect();
    for (client_frame, server_frame) in [(usize::MAX, usize::MAX), (64, 64)] {
        let mut pair = Pair::handshake(
            on(DeflateConfig::default()).max_frame_size(client_frame),
            on(DeflateConfig::default()).max_frame_size(server_frame),
        );
        pair.client.conn.send_text(text.clone()).unwrap();
        let (wire, frames) = written(&mut pair.client);
        let sent: usize = frames.iter().map(|f| f.payload.len()).sum();
        assert!(sent < text.len() / 4, "{sent} of {}", text.len());
        assert!(frames[0].rsv1 && frames[1..].iter().all(|f| !f.rsv1));
        assert_eq!(frames.len() > 1, client_frame == 64);
        assert_eq!(
            deliver(&mut pair.server, pair.now, &wire),
            [Event::Message(Message::text(text.clone()))]
        );

        pair.server.conn.send_binary(binary.clone()).unwrap();
        let (wire, frames) = written(&mut pair.server);
        assert!(frames[0].rsv1 && frames[1..].iter().all(|f| !f.rsv1));
        assert_eq!(frames.len() > 1, server_frame == 64);
        assert_eq!(
            deliver(&mut pair.client, pair.now, &wire),
            [Event::Message(Message::binary(binary.clone()))]
        );
    }
}

#[test]
fn control_frames_between_fragments_and_one_byte_at_a_time() {
    let text = json(100);
    let mut pair = Pair::handshake(
        on(DeflateConfig::default()).max_frame_size(50),
        on(DeflateConfig::default()),
    );
    pair.client.conn.send_text(text.clone()).unwrap();
    let (wire, frames) = written(&mut pair.client);
    // Put a ping after the first fragment.
    let first_len = wire.len() - client_wire(&frames[1..]).len();
    let mut with_ping = wire[..first_len].to_vec();
    with_ping.extend(client_wire(&[Frame::new(true, OpCode::Ping, "p")]));
    with_ping.extend_from_slice(&wire[first_len..]);
    let mut events = Vec::new();
    for byte in &with_ping {
        events.extend(deliver(
            &mut pair.server,
            pair.now,
            std::slice::from_ref(byte),
        ));
    }
    assert_eq!(
        events,
        [
            Event::Message(Message::Ping("p".into())),
            Event::Message(Message::text(text))
        ]
    );
}

#[test]
fn context_takeover_shrinks_repeated_messages_unless_refused() {
    let text = json(50);
    let sizes = |client: DeflateConfig| {
        let mut pair = Pair::handshake(on(client), on(DeflateConfig::default()));
        (0..3)
            .map(|_| {
                pair.client.conn.send_text(text.clone()).unwrap();
                let (wire, frames) = written(&mut pair.client);
                assert_eq!(
                    deliver(&mut pair.server, pair.now, &wire),
                    [Event::Message(Message::text(text.clone()))]
                );
                frames[0].payload.len()
            })
            .collect::<Vec<_>>()
    };
    let takeover = sizes(DeflateConfig::default());
    assert!(takeover[1] < takeover[0] / 4, "{takeover:?}");
    let fresh = sizes(DeflateConfig::default().client_no_context_takeover(true));
    assert_eq!(fresh[0], fresh[1]);
    assert_eq!(fresh[1], fresh[2]);
}

#[test]
fn every_window_size_round_trips() {
    for bits in 8..=15 {
        let config = DeflateConfig::default()
            .server_max_window_bits(bits)
            .client_max_window_bits(bits);
        let mut pair = Pair::handshake(on(config.clone()), on(config));
        let agreed = params(&pair);
        assert_eq!(
            (agreed.server_max_window_bits, agreed.client_max_window_bits),
            (bits, bits)
        );
        for i in 0..5 {
            let text = json(30 + i * 40);
            pair.client.conn.send_text(text.clone()).unwrap();
            pair.server.conn.send_text(text.clone()).unwrap();
            pair.drive();
            let message = Event::Message(Message::text(text));
            assert_eq!(pair.server.take_events(), std::slice::from_ref(&message));
            assert_eq!(pair.client.take_events(), [message]);
        }
    }
}

#[test]
fn threshold_and_uncompressed_sends() {
    let mut pair = Pair::handshake(
        on(DeflateConfig::default().threshold(100)),
        on(DeflateConfig::default()),
    );
    let long = json(10);
    pair.client.conn.send_text("short").unwrap();
    pair.client.conn.send_text(long.clone()).unwrap();
    pair.client
        .conn
        .send_uncompressed(pair.now, Message::text(long.clone()))
        .unwrap();
    pair.client
        .conn
        .send_uncompressed(pair.now, Message::Ping("still a ping".into()))
        .unwrap();
    pair.client.conn.send_binary(vec![7; 100]).unwrap();
    let (wire, frames) = written(&mut pair.client);
    let rsv1: Vec<bool> = frames.iter().map(|f| f.rsv1).collect();
    assert_eq!(rsv1, [false, true, false, false, true]);
    assert_eq!(frames[2].payload.len(), long.len());
    assert_eq!(
        deliver(&mut pair.server, pair.now, &wire),
        [
            Event::Message(Message::text("short")),
            Event::Message(Message::text(long.clone())),
            Event::Message(Message::text(long)),
            Event::Message(Message::Ping("still a ping".into())),
            Event::Message(Message::binary(vec![7; 100])),
        ]
    );
}

#[test]
fn empty_messages() {
    let mut pair = Pair::handshake(on(DeflateConfig::default()), on(DeflateConfig::default()));
    pair.client.conn.send_text("").unwrap();
    pair.client.conn.send_binary(Vec::new()).unwrap();
    pair.drive();
    assert_eq!(
        pair.server.take_events(),
        [
            Event::Message(Message::text("")),
            Event::Message(Message::binary(Vec::new()))
        ]
    );
}

/// The server's error and close code after receiving `wire` on a connection that agreed
/// permessage-deflate (`deflate`) or not.
fn failure(deflate: bool, config: Config, wire: &[u8]) -> (ConnectionError, Option<u16>) {
    let server = if deflate {
        config.clone().deflate(Some(DeflateConfig::default()))
    } else {
        config.clone()
    };
    let client = on(DeflateConfig::default()).max_frame_size(20);
    let mut pair = Pair::handshake(client, server);
    assert_eq!(pair.server.conn.negotiated().is_empty(), !deflate);
    let events = deliver(&mut pair.server, pair.now, wire);
    let Some(Event::Closed(info)) = events.last() else {
        panic!("not closed: {events:?}")
    };
    let (_, frames) = written(&mut pair.server);
    let code = frames
        .iter()
        .find(|f| f.opcode == OpCode::Close)
        .map(|f| u16::from_be_bytes([f.payload[0], f.payload[1]]));
    (info.error.clone().expect("an error"), code)
}

/// A real compressed message from a client, as the wire carries it.
fn compressed_wire(message: Message, max_frame_size: usize) -> Vec<u8> {
    let mut pair = Pair::handshake(
        on(DeflateConfig::default()).max_frame_size(max_frame_size),
        on(DeflateConfig::default()),
    );
    pair.client.conn.send(pair.now, message).unwrap();
    pair.client.take_output()
}

#[test]
fn rsv1_where_the_extension_does_not_allow_it_is_a_protocol_error() {
    let mut continuation = Frame::new(true, OpCode::Continuation, "b");
    continuation.rsv1 = true;
    let mut ping = Frame::new(true, OpCode::Ping, "");
    ping.rsv1 = true;
    let mut compressed_text = Frame::new(true, OpCode::Text, "x");
    compressed_text.rsv1 = true;
    let cases = [
        (
            true,
            client_wire(&[Frame::new(false, OpCode::Text, "a"), continuation]),
        ),
        (true, client_wire(&[ping])),
        (false, client_wire(&[compressed_text])),
    ];
    for (deflate, wire) in cases {
        let (error, code) = failure(deflate, Config::default(), &wire);
        assert!(
            matches!(
                error,
                ConnectionError::Protocol(ProtocolError::ReservedBitsSet(0b100))
            ),
            "{error:?}"
        );
        assert_eq!(code, Some(1002));
    }
}

#[test]
fn data_that_does_not_inflate_fails_with_1007() {
    let mut bad = Frame::new(true, OpCode::Binary, vec![0xff, 0xff, 0xff]);
    bad.rsv1 = true;
    let (error, code) = failure(true, Config::default(), &client_wire(&[bad]));
    assert_eq!(
        error,
        ConnectionError::Protocol(ProtocolError::InvalidCompressedData)
    );
    assert_eq!(code, Some(1007));
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    // A compressed binary message whose first byte is turned into a text opcode: it inflates
    // to bytes that are not UTF-8.
    for max_frame_size in [usize::MAX, 8] {
        let mut wire = compressed_wire(
            Message::binary(b"ok so far \xff\xfe".to_vec()),
            max_frame_size,
        );
        assert_eq!(wire[0] & 0x0f, 0x2);
        wire[0] = wire[0] & 0xf0 | 0x1;
        let (error, code) = failure(true, Config::default(), &wire);
        assert_eq!(error, ConnectionError::Protocol(ProtocolError::InvalidUtf8));
        assert_eq!(code, Some(1007));
    }
}

#[test]
fn the_message_limit_applies_to_the_inflated_size() {
    let limit = 10_000;
    let config = Config::default().max_message_size(limit);
    // Exactly the limit inflated is fine, in one frame or in several.
    for max_frame_size in [usize::MAX, 16] {
        let mut pair = Pair::handshake(
            on(DeflateConfig::default()).max_frame_size(max_frame_size),
            config.clone().deflate(Some(DeflateConfig::default())),
        );
        pair.client.conn.send_binary(vec![1; limit]).unwrap();
        pair.drive();
        assert_eq!(
            pair.server.take_events(),
            [Event::Message(Message::binary(vec![1; limit]))]
        );
        // One byte more is 1009, although the compressed message is far smaller.
        let wire = compressed_wire(Message::binary(vec![1; limit + 1]), max_frame_size);
        assert!(wire.len() < limit / 10);
        let (error, code) = failure(true, config.clone(), &wire);
        assert_eq!(
            error,
            ConnectionError::Limit(LimitExceeded::MessageTooLarge {
                size: limit as u64 + 1,
                limit
            })
        );
        assert_eq!(code, Some(1009));
    }
}

#[test]
fn frame_mode_delivers_inflated_frames() {
    let text = json(40);
    let mut pair = Pair::handshake(
        on(DeflateConfig::default()).max_frame_size(30),
        on(DeflateConfig::default()),
    );
    pair.server.conn.set_frame_mode(true);
    pair.client.conn.send_text(text.clone()).unwrap();
    pair.drive();
    let mut inflated = Vec::new();
    let events = pair.server.take_events();
    assert!(events.len() > 1);
    for (i, event) in events.iter().enumerate() {
        let Event::Frame(frame) = event else {
            panic!("{event:?}")
        };
        assert!(!frame.rsv1);
        assert_eq!(frame.fin, i == events.len() - 1);
        inflated.extend_from_slice(&frame.payload);
    }
    assert_eq!(inflated, text.as_bytes());
}

#[test]
fn close_codes_are_read_from_uncompressed_close_frames() {
    let mut pair = Pair::handshake(on(DeflateConfig::default()), on(DeflateConfig::default()));
    pair.client
        .conn
        .close(pair.now, wsio_proto::CloseCode::NORMAL, "bye")
        .unwrap();
    let (wire, frames) = written(&mut pair.client);
    assert!(!frames[0].rsv1);
    assert_eq!(close_code_in(&wire), Some(1000));
}

/// Found by fuzzing (`receive_client` with deflate): with `max_message_size` at `usize::MAX`
/// (no limit), sizing the inflate buffer as one byte over the limit overflowed.
#[test]
fn inflating_without_a_message_size_limit() {
    let unlimited = on(DeflateConfig::default()).max_message_size(usize::MAX);
    let mut pair = Pair::handshake(on(DeflateConfig::default()), unlimited);
    pair.client.conn.send_text(json(200)).unwrap();
    let (wire, _) = written(&mut pair.client);
    assert_eq!(
        deliver(&mut pair.server, pair.now, &wire),
        [Event::Message(Message::text(json(200)))]
    );
}

/// Found by fuzzing (`receive_client` and `receive_server`, frame mode with deflate): a frame
/// is delivered inflated, so its payload may exceed `max_frame_size`, which bounds the
/// compressed frame on the wire; what frames inflate to is bounded by `max_message_size`.
#[test]
fn in_frame_mode_inflated_frames_are_bounded_by_the_message_limit() {
    let config = Config::default()
        .max_frame_size(1000)
        .max_message_size(100_000)
        .frame_mode(true);
    let mut pair = Pair::handshake(
        on(DeflateConfig::default()),
        config.clone().deflate(Some(DeflateConfig::default())),
    );
    pair.client.conn.send_binary(vec![0; 50_000]).unwrap();
    pair.drive();
    let events = pair.server.take_events();
    let [Event::Frame(frame)] = &events[..] else {
        panic!("{events:?}")
    };
    assert!(frame.fin && frame.payload.len() == 50_000);

    let wire = compressed_wire(Message::binary(vec![0; 100_001]), usize::MAX);
    assert!(wire.len() < 1000);
    let (error, code) = failure(true, config, &wire);
    assert_eq!(
        error,
        ConnectionError::Limit(LimitExceeded::MessageTooLarge {
            size: 100_001,
            limit: 100_000
        })
    );
    assert_eq!(code, Some(1009));
}
