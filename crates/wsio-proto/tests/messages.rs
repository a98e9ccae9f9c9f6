//! Messages in both directions: whole, fragmented, interleaved with control frames, and in
//! frame mode.

mod support;

use std::time::Instant;

use bytes::Bytes;
use support::{Pair, client_wire, decode_all};
use wsio_proto::{Config, Connection, Event, Frame, Message, OpCode, Role, SendError};

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn text_and_binary_both_ways() {
    let mut pair = Pair::new();
    pair.client.conn.send_text("hello").unwrap();
    pair.client.conn.send_binary(vec![1, 2, 3]).unwrap();
    pair.client.conn.send_text("").unwrap();
    pair.server.conn.send_text("héllo ✓").unwrap();
    pair.server.conn.send_binary(Bytes::new()).unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server.events),
        [
            Message::text("hello"),
            Message::binary(vec![1, 2, 3]),
            Message::text("")
        ]
    );
    assert_eq!(
        messages(&pair.client.events),
        [Message::text("héllo ✓"), Message::binary(Bytes::new())]
    );
}

#[test]
fn every_length_encoding_and_one_byte_reads() {
    for chunk in [1, 7, usize::MAX] {
        let mut pair = Pair::new();
        pair.chunk = chunk;
        let sizes = [0usize, 125, 126, 65535, 65536, 300_000];
        for &size in &sizes {
            pair.client
                .conn
                .send_binary(vec![size as u8; size])
                .unwrap();
            pair.server
                .conn
                .send_binary(vec![size as u8; size])
                .unwrap();
        }
        pair.drive();
        for end in [&pair.client, &pair.server] {
            let got = messages(&end.events);
            assert_eq!(got.len(), sizes.len(), "chunk {chunk}");
            for (message, &size) in got.iter().zip(&sizes) {
                assert_eq!(message, &Message::binary(vec![size as u8; size]));
            }
        }
    }
}

#[test]
fn text_split_inside_a_code_point_is_reassembled() {
    let mut pair = Pair::new();
    pair.chunk = 1;
    let text = "€😀κόσμε".repeat(50);
    pair.client.conn.send_text(text.as_str()).unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server.events),
        [Message::text(text.as_str())]
    );
}

#[test]
fn fragmented_message_with_control_frames_between_fragments() {
    let mut pair = Pair::new();
    let c = &mut pair.client.conn;
    c.send_frame(pair.now, Frame::new(false, OpCode::Text, "fra"))
        .unwrap();
    c.ping("between").unwrap();
    c.send_frame(pair.now, Frame::new(false, OpCode::Continuation, "gmen"))
        .unwrap();
    c.pong("unsolicited").unwrap();
    c.send_frame(pair.now, Frame::new(true, OpCode::Continuation, "ted"))
        .unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server.events),
        [
            Message::Ping(Bytes::from_static(b"between")),
            Message::Pong(Bytes::from_static(b"unsolicited")),
            Message::text("fragmented"),
        ]
    );
    // The ping was answered, with its payload.
    assert_eq!(
        messages(&pair.client.events),
        [Message::Pong(Bytes::from_static(b"between"))]
    );
}

#[test]
fn a_fragmented_message_split_on_every_byte() {
    let mut server = Connection::new(Role::Server, Config::default());
    let wire = client_wire(&[
        Frame::new(false, OpCode::Binary, vec![1u8; 300]),
        Frame::new(true, OpCode::Ping, "p"),
        Frame::new(false, OpCode::Continuation, Bytes::new()),
        Frame::new(true, OpCode::Continuation, vec![2u8; 70_000]),
    ]);
    let now = Instant::now();
    for byte in wire.chunks(1) {
        server.receive(now, byte);
    }
    let mut expected = vec![1u8; 300];
    expected.extend(vec![2u8; 70_000]);
    assert_eq!(
        server.poll_event(now),
        Some(Event::Message(Message::Ping(Bytes::from_static(b"p"))))
    );
    assert_eq!(
        server.poll_event(now),
        Some(Event::Message(Message::binary(expected)))
    );
    assert_eq!(server.poll_event(now), None);
}

#[test]
fn sending_respects_fragmentation_order() {
    let mut pair = Pair::new();
    let c = &mut pair.client.conn;
    assert_eq!(
        c.send_frame(pair.now, Frame::new(true, OpCode::Continuation, "x")),
        Err(SendError::UnexpectedContinuation)
    );
    c.send_frame(pair.now, Frame::new(false, OpCode::Binary, "a"))
        .unwrap();
    assert_eq!(
        c.send_text("whole"),
        Err(SendError::FragmentedMessageInProgress)
    );
    assert_eq!(
        c.send_frame(pair.now, Frame::new(true, OpCode::Text, "b")),
        Err(SendError::FragmentedMessageInProgress)
    );
    assert_eq!(
        c.send_frame(pair.now, Frame::new(false, OpCode::Ping, "")),
        Err(SendError::FragmentedControlFrame)
    );
    assert_eq!(
        c.ping(vec![0u8; 126]),
        Err(SendError::ControlPayloadTooLong(126))
    );
    c.send_frame(pair.now, Frame::new(true, OpCode::Continuation, "b"))
        .unwrap();
    c.send_text("whole").unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server.events),
        [Message::binary(&b"ab"[..]), Message::text("whole")]
    );
}

#[test]
fn frame_mode_delivers_frames_as_they_arrived() {
    let config = Config::default().frame_mode(true);
    let mut pair = Pair::with_configs(Config::default(), config);
    let c = &mut pair.client.conn;
    c.send_frame(pair.now, Frame::new(false, OpCode::Text, "he"))
        .unwrap();
    c.ping("p").unwrap();
    c.send_frame(pair.now, Frame::new(true, OpCode::Continuation, "llo"))
        .unwrap();
    c.send_binary(vec![9]).unwrap();
    pair.drive();
    let frames: Vec<(bool, OpCode, Bytes)> = pair
        .server
        .events
        .iter()
        .map(|e| match e {
            Event::Frame(f) => (f.fin, f.opcode, f.payload.clone()),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        frames,
        [
            (false, OpCode::Text, Bytes::from_static(b"he")),
            (true, OpCode::Ping, Bytes::from_static(b"p")),
            (true, OpCode::Continuation, Bytes::from_static(b"llo")),
            (true, OpCode::Binary, Bytes::from_static(&[9])),
        ]
    );
    // Frame mode still answers pings.
    assert_eq!(
        messages(&pair.client.events),
        [Message::Pong(Bytes::from_static(b"p"))]
    );
}

#[test]
fn frame_mode_switch_applies_from_the_next_message() {
    let mut pair = Pair::new();
    pair.client
        .conn
        .send_frame(pair.now, Frame::new(false, OpCode::Text, "a"))
        .unwrap();
    pair.drive();
    pair.server.conn.set_frame_mode(true);
    pair.client
        .conn
        .send_frame(pair.now, Frame::new(true, OpCode::Continuation, "b"))
        .unwrap();
    pair.client.conn.send_text("c").unwrap();
    pair.drive();
    assert_eq!(pair.server.events.len(), 2);
    assert_eq!(pair.server.events[0], Event::Message(Message::text("ab")));
    assert!(matches!(&pair.server.events[1], Event::Frame(f) if f.payload == "c"));
}

#[test]
fn auto_pong_can_be_turned_off() {
    let mut pair = Pair::with_configs(Config::default(), Config::default().auto_pong(false));
    pair.client.conn.ping("anyone?").unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server.events),
        [Message::Ping(Bytes::from_static(b"anyone?"))]
    );
    assert!(pair.client.events.is_empty());
    // The application can answer by hand.
    pair.server.conn.pong("here").unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.client.events),
        [Message::Pong(Bytes::from_static(b"here"))]
    );
}

#[test]
fn every_ping_is_answered_while_output_flows() {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default());
    let pings: Vec<Frame> = (0..10u8)
        .map(|i| Frame::new(true, OpCode::Ping, vec![i]))
        .collect();
    server.receive(now, &client_wire(&pings));
    while server.poll_event(now).is_some() {}
    let out = server.poll_transmit();
    let wire = bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out));
    let pongs: Vec<Bytes> = decode_all(&wire)
        .into_iter()
        .map(|f| f.frame.payload)
        .collect();
    let expected: Vec<Bytes> = (0..10u8).map(|i| Bytes::from(vec![i])).collect();
    assert_eq!(pongs, expected);
}

#[test]
fn a_ping_flood_keeps_one_pong_while_output_is_backed_up() {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default());
    // Fill the output with more than the pong backlog; nobody reads it.
    server.send_binary(vec![0u8; 1 << 20]).unwrap();
    let before = server.buffered_amount();
    let pings: Vec<Frame> = (0..10_000u32)
        .map(|i| Frame::new(true, OpCode::Ping, i.to_be_bytes().to_vec()))
        .collect();
    server.receive(now, &client_wire(&pings));
    while server.poll_event(now).is_some() {}
    // At most one pong waits, the latest one.
    assert!(server.buffered_amount() <= before + 6 + 4);
    let out = server.poll_transmit();
    let wire = bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out));
    let pongs: Vec<_> = decode_all(&wire)
        .into_iter()
        .filter(|f| f.frame.opcode == OpCode::Pong)
        .collect();
    assert!(pongs.is_empty(), "the pong waits until the output has room");
    let pong = server.poll_transmit();
    let wire = bytes::Buf::copy_to_bytes(pong, bytes::Buf::remaining(pong));
    let frames = decode_all(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].frame.payload, &9999u32.to_be_bytes()[..]);
}

/// Pongs wait and replace each other only while more than 64 KiB wait to be written: with
/// 64 KiB of payload and its header waiting, ten pings get one pong; with 60 KiB, ten.
#[test]
fn pongs_are_coalesced_only_past_64_kib_of_waiting_output() {
    let now = Instant::now();
    for (waiting, expected) in [(60 << 10, 10), (64 << 10, 1)] {
        let mut server = Connection::new(Role::Server, Config::default());
        server.send_binary(vec![0u8; waiting]).unwrap();
        let pings: Vec<Frame> = (0..10u32)
            .map(|i| Frame::new(true, OpCode::Ping, i.to_be_bytes().to_vec()))
            .collect();
        server.receive(now, &client_wire(&pings));
        while server.poll_event(now).is_some() {}
        let mut wire = Vec::new();
        loop {
            let out = server.poll_transmit();
            if !bytes::Buf::has_remaining(out) {
                break;
            }
            wire.extend_from_slice(&bytes::Buf::copy_to_bytes(out, bytes::Buf::remaining(out)));
        }
        let pongs: Vec<_> = decode_all(&wire)
            .into_iter()
            .filter(|f| f.frame.opcode == OpCode::Pong)
            .map(|f| f.frame.payload)
            .collect();
        assert_eq!(pongs.len(), expected, "with {waiting} bytes waiting");
        assert_eq!(pongs.last().unwrap(), &9u32.to_be_bytes()[..]);
    }
}

#[test]
fn client_frames_are_masked_with_fresh_keys_and_server_frames_are_not() {
    let mut pair = Pair::new();
    for _ in 0..3 {
        pair.client.conn.send_text("same").unwrap();
        pair.server.conn.send_text("same").unwrap();
    }
    let client_frames = decode_all(&pair.client.take_output());
    let server_frames = decode_all(&pair.server.take_output());
    let keys: std::collections::HashSet<_> =
        client_frames.iter().map(|f| f.mask.unwrap()).collect();
    assert_eq!(keys.len(), 3);
    assert!(server_frames.iter().all(|f| f.mask.is_none()));
}

/// Feeds `wire` through `receive_with` in pieces of `piece` bytes, with a read that brings
/// nothing between pieces (as a front-end sees when the transport is not ready), and returns
/// the messages.
fn receive_in_place(wire: &[u8], piece: usize) -> Vec<Message> {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default());
    let mut events = Vec::new();
    for chunk in wire.chunks(piece) {
        server.receive_with(now, 16, |input| {
            assert!(input.capacity() - input.len() >= 16, "room for the read");
            input.extend_from_slice(chunk);
        });
        while let Some(event) = server.poll_event(now) {
            events.push(event);
        }
        server.receive_with(now, 16, |_| ());
    }
    messages(&events)
}

#[test]
fn reading_in_place_decodes_frames_split_anywhere() {
    let large = Bytes::from((0..300_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let frames = [
        Frame::new(true, OpCode::Text, Bytes::from_static(b"first")),
        Frame::new(true, OpCode::Binary, large.clone()),
        Frame::new(false, OpCode::Text, Bytes::from_static(b"frag")),
        Frame::new(true, OpCode::Continuation, Bytes::from_static(b"ment")),
    ];
    let wire = client_wire(&frames);
    for piece in [1, 7, 4096, 70_000, wire.len()] {
        assert_eq!(
            receive_in_place(&wire, piece),
            [
                Message::text("first"),
                Message::Binary(large.clone()),
                Message::text("fragment"),
            ],
            "pieces of {piece}"
        );
    }
}

#[test]
fn bytes_read_in_place_after_the_close_frame_are_ignored() {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default());
    let wire = client_wire(&[
        Frame::new(true, OpCode::Close, Bytes::from_static(&[0x03, 0xe8])),
        Frame::new(true, OpCode::Text, Bytes::from_static(b"late")),
    ]);
    server.receive_with(now, 64, |input| input.extend_from_slice(&wire));
    let mut events = Vec::new();
    while let Some(event) = server.poll_event(now) {
        events.push(event);
    }
    server.receive_with(now, 64, |input| input.extend_from_slice(&wire));
    assert_eq!(server.poll_event(now), None);
    assert!(messages(&events).is_empty());
    assert!(matches!(events.last(), Some(Event::Closed(info)) if info.was_clean));
}

#[test]
fn a_quiet_connection_gives_its_buffers_back_at_a_timer_and_a_busy_one_keeps_them() {
    let start = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default());
    let capacity =
        |server: &mut Connection| server.receive_with(start, 0, |input| input.capacity());

    // Nothing ever received: the read's room is given back at once, with no timer.
    server.receive_with(start, 4096, |_| ());
    assert_eq!(capacity(&mut server), 0);
    assert_eq!(server.poll_timeout(), None);

    // A message, then a read that finds nothing: the buffer stays, a timer is armed.
    let wire = client_wire(&[Frame::new(true, OpCode::Text, Bytes::from_static(b"hi"))]);
    server.receive_with(start, 4096, |input| input.extend_from_slice(&wire));
    assert_eq!(
        server.poll_event(start),
        Some(Event::Message(Message::text("hi")))
    );
    server.receive_with(start, 4096, |_| ());
    let due = server.poll_timeout().expect("a release timer");
    assert!(due > start);
    assert!(capacity(&mut server) >= 4096);

    // More traffic before the timer reuses the buffer and leaves the timer where it was.
    let later = start + (due - start) / 2;
    server.receive_with(later, 4096, |input| input.extend_from_slice(&wire));
    assert_eq!(
        server.poll_event(later),
        Some(Event::Message(Message::text("hi")))
    );
    server.receive_with(later, 4096, |_| ());
    assert_eq!(server.poll_timeout(), Some(due));

    // At the timer, empty buffers go.
    server.handle_timeout(due);
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(capacity(&mut server), 0);
}
