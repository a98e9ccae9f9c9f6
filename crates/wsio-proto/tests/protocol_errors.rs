//! Every protocol error fails the connection with the close code RFC 6455 names for it.

mod support;

use std::time::Instant;

use bytes::Bytes;
use support::{client_wire, close_code_in, server_wire};
use wsio_proto::{
    CloseCode, Config, Connection, ConnectionError, Event, Frame, Message, OpCode, ProtocolError,
    Role, State, TransportAction,
};

/// Feeds `wire` to a fresh connection of `role` and returns what it reported and the close
/// code it sent.
fn fail(role: Role, wire: &[u8]) -> (Vec<Event>, Option<u16>) {
    let now = Instant::now();
    let mut conn = Connection::new(role, Config::default());
    conn.receive(now, wire);
    let mut events = Vec::new();
    while let Some(e) = conn.poll_event(now) {
        events.push(e);
    }
    let out = conn.poll_transmit();
    let sent = bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out));
    (events, close_code_in(&sent))
}

fn assert_fails(role: Role, wire: &[u8], error: ProtocolError, code: u16) {
    let (events, sent) = fail(role, wire);
    let Some(Event::Closed(info)) = events.last() else {
        panic!("no Closed event for {error:?}: {events:?}")
    };
    assert_eq!(info.error, Some(ConnectionError::Protocol(error.clone())));
    assert_eq!(info.code, CloseCode::ABNORMAL);
    assert!(!info.was_clean);
    assert_eq!(sent, Some(code), "close code for {error:?}");
    assert_eq!(error.close_code(), CloseCode(code));
}

fn frame(fin: bool, opcode: OpCode, payload: &'static [u8]) -> Frame {
    Frame::new(fin, opcode, Bytes::from_static(payload))
}

#[test]
fn reserved_opcodes() {
    for op in [0x3u8, 0x7, 0xB, 0xF] {
        assert_fails(
            Role::Server,
            &[0x80 | op, 0x80, 1, 2, 3, 4],
            ProtocolError::ReservedOpcode(op),
            1002,
        );
    }
}

#[test]
fn reserved_bits_without_an_extension() {
    for (bit, bits) in [(0x40u8, 0b100u8), (0x20, 0b010), (0x10, 0b001)] {
        let mut wire = client_wire(&[frame(true, OpCode::Text, b"x")]);
        wire[0] |= bit;
        assert_fails(
            Role::Server,
            &wire,
            ProtocolError::ReservedBitsSet(bits),
            1002,
        );
    }
}

#[test]
fn masking_by_role() {
    assert_fails(
        Role::Server,
        &server_wire(&[frame(true, OpCode::Text, b"x")]),
        ProtocolError::UnmaskedClientFrame,
        1002,
    );
    assert_fails(
        Role::Client,
        &client_wire(&[frame(true, OpCode::Text, b"x")]),
        ProtocolError::MaskedServerFrame,
        1002,
    );
}

#[test]
fn fragmentation_order() {
    assert_fails(
        Role::Server,
        &client_wire(&[frame(true, OpCode::Continuation, b"x")]),
        ProtocolError::UnexpectedContinuation,
        1002,
    );
    assert_fails(
        Role::Server,
        &client_wire(&[
            frame(false, OpCode::Text, b"a"),
            frame(true, OpCode::Binary, b"b"),
        ]),
        ProtocolError::ExpectedContinuation,
        1002,
    );
    // A message begun and finished, then a stray continuation.
    assert_fails(
        Role::Server,
        &client_wire(&[
            frame(false, OpCode::Text, b"a"),
            frame(true, OpCode::Continuation, b"b"),
            frame(true, OpCode::Continuation, b"c"),
        ]),
        ProtocolError::UnexpectedContinuation,
        1002,
    );
}

#[test]
fn control_frame_rules() {
    let mut fragmented_ping = client_wire(&[frame(true, OpCode::Ping, b"x")]);
    fragmented_ping[0] &= 0x7F;
    assert_fails(
        Role::Server,
        &fragmented_ping,
        ProtocolError::FragmentedControlFrame,
        1002,
    );
    assert_fails(
        Role::Server,
        &client_wire(&[Frame::new(true, OpCode::Ping, vec![0u8; 126])]),
        ProtocolError::ControlFrameTooLong(126),
        1002,
    );
}

#[test]
fn length_with_top_bit_set() {
    let wire = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_fails(
        Role::Server,
        &wire,
        ProtocolError::PayloadLengthOverflow,
        1002,
    );
}

#[test]
fn invalid_utf8_fails_fast_inside_a_frame() {
    let now = Instant::now();
    // A 1000-byte text frame whose 11th byte is invalid: the connection fails as soon as that
    // byte arrives, long before the frame is complete.
    let mut payload = vec![b'a'; 1000];
    payload[10] = 0xFF;
    let wire = client_wire(&[Frame::new(true, OpCode::Text, payload)]);
    // The header is 8 bytes: 2, a 16-bit length and the mask.
    let invalid_at = 8 + 10;
    let mut conn = Connection::new(Role::Server, Config::default());
    conn.receive(now, &wire[..invalid_at]);
    assert_eq!(conn.poll_event(now), None);
    assert_eq!(conn.state(), State::Open);
    conn.receive(now, &wire[invalid_at..=invalid_at]);
    assert!(matches!(conn.poll_event(now), Some(Event::Closed(_))));
    assert_eq!(conn.state(), State::Closed);
    assert_fails(
        Role::Server,
        &wire[..=invalid_at],
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn invalid_utf8_split_across_fragments() {
    // "κόσμε" then an invalid sequence whose first byte ends the first fragment.
    let wire = client_wire(&[
        frame(
            false,
            OpCode::Text,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed",
        ),
        frame(true, OpCode::Continuation, b"\xa0\x80edited"),
    ]);
    assert_fails(Role::Server, &wire, ProtocolError::InvalidUtf8, 1007);
    // An unfinished code point at the end of the message.
    let wire = client_wire(&[
        frame(false, OpCode::Text, b"ok"),
        frame(true, OpCode::Continuation, b"\xe2\x82"),
    ]);
    assert_fails(Role::Server, &wire, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default());
    conn.receive(
        now,
        &client_wire(&[frame(true, OpCode::Binary, b"\xff\xfe")]),
    );
    assert_eq!(
        conn.poll_event(now),
        Some(Event::Message(Message::binary(&b"\xff\xfe"[..])))
    );
}

#[test]
fn bad_close_frames() {
    assert_fails(
        Role::Server,
        &client_wire(&[frame(true, OpCode::Close, b"\x03")]),
        ProtocolError::CloseFrameTooShort,
        1002,
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let payload = code.to_be_bytes().to_vec();
        assert_fails(
            Role::Server,
            &client_wire(&[Frame::new(true, OpCode::Close, payload)]),
            ProtocolError::InvalidCloseCode(code),
            1002,
        );
    }
    assert_fails(
        Role::Server,
        &client_wire(&[frame(true, OpCode::Close, b"\x03\xe8\xff")]),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn valid_close_codes_are_accepted() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        let (events, sent) = fail(
            Role::Server,
            &client_wire(&[Frame::new(true, OpCode::Close, code.to_be_bytes().to_vec())]),
        );
        let Some(Event::Closed(info)) = events.last() else {
            panic!()
        };
        assert!(info.was_clean, "code {code}");
        assert_eq!(info.code, CloseCode(code));
        assert_eq!(sent, Some(code), "the echo carries the same code");
    }
}

#[test]
fn after_a_failure_input_is_ignored_and_the_transport_ends() {
    let now = Instant::now();
    for role in [Role::Server, Role::Client] {
        let wire = |frames: &[Frame]| match role {
            Role::Server => client_wire(frames),
            Role::Client => server_wire(frames),
        };
        let mut input = wire(&[frame(true, OpCode::Continuation, b"bad")]);
        input.extend(wire(&[frame(true, OpCode::Text, b"never seen")]));
        let mut conn = Connection::new(role, Config::default());
        conn.receive(now, &input);
        conn.receive(now, &wire(&[frame(true, OpCode::Text, b"nor this")]));
        conn.receive(now, &wire(&[frame(true, OpCode::Ping, b"nor this ping")]));
        // The application gets the error, and nothing else.
        let events: Vec<_> = std::iter::from_fn(|| conn.poll_event(now)).collect();
        let [Event::Closed(info)] = &events[..] else {
            panic!("{role:?}: only Closed: {events:?}")
        };
        assert_eq!(
            info.error,
            Some(ConnectionError::Protocol(
                ProtocolError::UnexpectedContinuation
            ))
        );
        // One close frame with the code went out, and no answer to what came after it.
        let out = conn.poll_transmit();
        let sent = bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out));
        let frames = support::decode_all(&sent);
        assert_eq!(frames.len(), 1, "{role:?}: {frames:?}");
        assert_eq!(close_code_in(&sent), Some(1002));
        // The server shuts its side down at once, the client waits for the server to; the
        // peer's end of the stream then closes the transport.
        let first = match role {
            Role::Server => TransportAction::ShutdownWrite,
            Role::Client => TransportAction::Keep,
        };
        assert_eq!(conn.transport_action(), first, "{role:?}");
        conn.receive_eof();
        assert_eq!(conn.poll_event(now), None);
        assert_eq!(conn.transport_action(), TransportAction::Close, "{role:?}");
    }
}

/// The rules of the table in SECURITY.md hold for a client receiving server frames too (the
/// tests above feed a server, except for masking).
#[test]
fn the_frame_rules_hold_for_the_client_too() {
    let mut reserved_bit = server_wire(&[frame(true, OpCode::Text, b"x")]);
    reserved_bit[0] |= 0x40;
    let mut fragmented_ping = server_wire(&[frame(true, OpCode::Ping, b"x")]);
    fragmented_ping[0] &= 0x7F;
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (vec![0x83, 0x00], ProtocolError::ReservedOpcode(3), 1002),
        (reserved_bit, ProtocolError::ReservedBitsSet(0b100), 1002),
        (
            vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0],
            ProtocolError::PayloadLengthOverflow,
            1002,
        ),
        (
            server_wire(&[frame(true, OpCode::Continuation, b"x")]),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        (
            server_wire(&[
                frame(false, OpCode::Text, b"a"),
                frame(true, OpCode::Binary, b"b"),
            ]),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        (fragmented_ping, ProtocolError::FragmentedControlFrame, 1002),
        (
            server_wire(&[Frame::new(true, OpCode::Ping, vec![0u8; 126])]),
            ProtocolError::ControlFrameTooLong(126),
            1002,
        ),
        (
            vec![0x89, 0x7E, 0x00, 0x05, b'H', b'e', b'l', b'l', b'o'],
            ProtocolError::ControlFrameTooLong(126),
            1002,
        ),
        (
            server_wire(&[frame(true, OpCode::Close, b"\x03")]),
            ProtocolError::CloseFrameTooShort,
            1002,
        ),
        (
            server_wire(&[frame(true, OpCode::Close, b"\x03\xed")]),
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        (
            server_wire(&[frame(true, OpCode::Close, b"\x03\xe8\xff")]),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            server_wire(&[
                frame(false, OpCode::Text, b"ok \xe2\x82"),
                frame(true, OpCode::Continuation, b"\x28"),
            ]),
            ProtocolError::InvalidUtf8,
            1007,
        ),
    ];
    for (wire, error, code) in cases {
        assert_fails(Role::Client, &wire, error, code);
    }
}

#[test]
fn messages_before_the_error_are_delivered_first() {
    let mut wire = client_wire(&[frame(true, OpCode::Text, b"good")]);
    wire.extend(client_wire(&[frame(true, OpCode::Continuation, b"bad")]));
    let (events, _) = fail(Role::Server, &wire);
    assert_eq!(events[0], Event::Message(Message::text("good")));
    assert!(matches!(events[1], Event::Closed(_)));
}

/// Autobahn 3.2, 4.1.3 and 5.15: a valid message and a bad frame arrive in one read. The
/// application's answer to the message must go out before the close frame the error causes.
#[test]
fn an_answer_to_a_message_before_an_error_is_sent_before_the_close() {
    let now = Instant::now();
    let mut wire = client_wire(&[frame(true, OpCode::Text, b"echo me")]);
    let mut bad = client_wire(&[frame(true, OpCode::Text, b"rsv")]);
    bad[0] |= 0x20;
    wire.extend(bad);
    let mut conn = Connection::new(Role::Server, Config::default());
    conn.receive(now, &wire);
    while let Some(event) = conn.poll_event(now) {
        if let Event::Message(message) = event {
            conn.send(now, message).unwrap();
        }
    }
    let out = conn.poll_transmit();
    let sent = support::decode_all(&bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out)));
    let opcodes: Vec<OpCode> = sent.iter().map(|f| f.frame.opcode).collect();
    assert_eq!(opcodes, [OpCode::Text, OpCode::Close]);
    assert_eq!(sent[0].frame.payload, "echo me");
}

/// An end of file right behind a close frame, in the same read, is the normal end.
#[test]
fn eof_behind_a_buffered_close_frame_is_clean() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Client, Config::default());
    conn.receive(
        now,
        &server_wire(&[frame(true, OpCode::Close, b"\x03\xe8")]),
    );
    conn.receive_eof();
    let Some(Event::Closed(info)) = conn.poll_event(now) else {
        panic!()
    };
    assert!(info.was_clean);
    assert_eq!(info.code, CloseCode::NORMAL);
    assert_eq!(conn.poll_event(now), None);
    assert_eq!(conn.transport_action(), TransportAction::Close);
}

/// Found by fuzzing (`receive_server`): in frame mode, a close frame with an invalid payload
/// was delivered as `Event::Frame` before the connection failed on it.
#[test]
fn frame_mode_does_not_deliver_an_invalid_close_frame() {
    let now = Instant::now();
    for (payload, error) in [
        (&b"\x03"[..], ProtocolError::CloseFrameTooShort),
        (&b"\x03\xed"[..], ProtocolError::InvalidCloseCode(1005)),
        (&b"\x03\xe8\xff"[..], ProtocolError::InvalidUtf8),
    ] {
        let mut conn = Connection::new(Role::Server, Config::default().frame_mode(true));
        let close = Frame::new(true, OpCode::Close, payload.to_vec());
        conn.receive(now, &client_wire(&[close]));
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event(now)).collect();
        let [Event::Closed(info)] = &events[..] else {
            panic!("{payload:?} gave {events:?}");
        };
        assert_eq!(info.error, Some(ConnectionError::Protocol(error)));
    }
}

/// Found by fuzzing (`frame_header`): a ping whose 5-byte length was written in the 16-bit form
/// failed with `ControlFrameTooLong(5)`, a length that is not too long. The frame is still
/// refused, since only lengths over 125 may use that form, and the error names the form.
#[test]
fn control_frame_length_in_the_16_bit_form() {
    let mut wire = vec![0x89, 0xFE, 0x00, 0x05, 1, 2, 3, 4];
    wire.extend([b'H' ^ 1, b'e' ^ 2, b'l' ^ 3, b'l' ^ 4, b'o' ^ 1]);
    assert_fails(
        Role::Server,
        &wire,
        ProtocolError::ControlFrameTooLong(126),
        1002,
    );
}
