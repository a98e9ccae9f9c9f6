//! Prepared messages: encoded once and shared where a server-side connection sends them
//! alike, sent as usual where it cannot (context takeover, the client's masking), and
//! received the same either way.

mod support;

use bytes::Buf;
use support::Pair;
use wsio_proto::{Config, Connection, Event, Message, PreparedMessage, Role, SendError};

/// What `pair`'s client receives after its server sent what it has queued.
fn client_receives(pair: &mut Pair) -> Vec<Message> {
    pair.drive();
    pair.client
        .take_events()
        .into_iter()
        .filter_map(|event| match event {
            Event::Message(message) => Some(message),
            _ => None,
        })
        .collect()
}

#[test]
fn server_connections_without_extensions_queue_the_same_bytes_as_a_plain_send() {
    for (message, max_frame_size) in [
        (PreparedMessage::text("hello, everyone"), 1 << 20),
        (PreparedMessage::binary(vec![7u8; 100_000]), 1 << 20),
        // Fragmented by the connection's frame limit.
        (PreparedMessage::binary(vec![9u8; 10_000]), 4096),
        (PreparedMessage::text(""), 1 << 20),
    ] {
        let config = Config::default().max_frame_size(max_frame_size);
        let mut prepared = Connection::new(Role::Server, config.clone());
        let mut plain = Connection::new(Role::Server, config);
        prepared.send_prepared(&message).unwrap();
        plain
            .send(std::time::Instant::now(), message.message())
            .unwrap();
        let (a, b) = (prepared.poll_transmit(), plain.poll_transmit());
        assert_eq!(
            a.copy_to_bytes(a.remaining()),
            b.copy_to_bytes(b.remaining())
        );
    }
}

#[test]
fn a_large_message_is_shared_not_copied() {
    let message = PreparedMessage::binary(vec![1u8; 64 << 10]);
    let mut first = Connection::new(Role::Server, Config::default());
    let mut second = Connection::new(Role::Server, Config::default());
    first.send_text("before").unwrap();
    first.send_prepared(&message).unwrap();
    second.send_prepared(&message).unwrap();
    let first = first.poll_transmit();
    first.advance(8); // the small frame before it
    // Both point at the one encoding.
    assert_eq!(
        first.chunk().as_ptr(),
        second.poll_transmit().chunk().as_ptr()
    );
}

#[test]
fn every_connection_receives_the_message_whatever_it_negotiated() {
    let messages = [
        PreparedMessage::text("{\"news\": \"the same for everyone\"}".repeat(20)),
        PreparedMessage::binary(vec![3u8; 20_000]),
        PreparedMessage::text("short"),
    ];
    let mut pairs = vec![Pair::handshake(Config::default(), Config::default())];
    #[cfg(feature = "deflate")]
    {
        use wsio_proto::deflate::DeflateConfig;
        let deflate = |config: DeflateConfig| Config::default().deflate(Some(config));
        // The server resets its compressor after each message: the compressed frames are shared.
        let reset = DeflateConfig::default().server_no_context_takeover(true);
        pairs.push(Pair::handshake(deflate(reset.clone()), deflate(reset)));
        // Context takeover: compressed for each connection, in its own context.
        pairs.push(Pair::handshake(
            deflate(DeflateConfig::default()),
            deflate(DeflateConfig::default()),
        ));
        // Fragmented as the connection's frame limit says.
        pairs.push(Pair::handshake(
            deflate(DeflateConfig::default().server_no_context_takeover(true)),
            deflate(DeflateConfig::default().server_no_context_takeover(true)).max_frame_size(1000),
        ));
    }
    for pair in &mut pairs {
        for message in &messages {
            // An ordinary send between prepared ones keeps the connection's context right.
            pair.server.conn.send_text("between").unwrap();
            pair.server.conn.send_prepared(message).unwrap();
        }
        let received = client_receives(pair);
        let expected: Vec<Message> = messages
            .iter()
            .flat_map(|m| [Message::text("between"), m.message()])
            .collect();
        assert_eq!(received, expected);
    }
}

#[cfg(feature = "deflate")]
#[test]
fn compressed_frames_are_shared_between_connections_that_reset_their_compressor() {
    use wsio_proto::deflate::DeflateConfig;
    let config = Config::default().deflate(Some(
        DeflateConfig::default().server_no_context_takeover(true),
    ));
    let message = PreparedMessage::text("x".repeat(100_000));
    let mut first = Pair::handshake(config.clone(), config.clone());
    let mut second = Pair::handshake(config.clone(), config);
    first.server.conn.send_prepared(&message).unwrap();
    second.server.conn.send_prepared(&message).unwrap();
    let a = first.server.take_output();
    let b = second.server.take_output();
    assert_eq!(a, b);
    assert!(a.len() < 1000, "compressed: {} bytes", a.len());
    assert_eq!(client_receives(&mut first), []);
    first.client.conn.receive(first.now, &a);
    assert_eq!(
        first.client.conn.poll_event(first.now),
        Some(Event::Message(message.message()))
    );
}

#[test]
fn a_client_masks_a_prepared_message_with_keys_of_its_own() {
    let message = PreparedMessage::binary(vec![5u8; 300]);
    let mut pair = Pair::new();
    pair.client.conn.send_prepared(&message).unwrap();
    let wire = pair.client.take_output();
    assert_eq!(wire[1] & 0x80, 0x80, "masked");
    pair.server.conn.receive(pair.now, &wire);
    assert_eq!(
        pair.server.conn.poll_event(pair.now),
        Some(Event::Message(message.message()))
    );
}

#[test]
fn a_closing_connection_refuses_a_prepared_message() {
    let mut server = Connection::new(Role::Server, Config::default());
    server
        .close(std::time::Instant::now(), wsio_proto::CloseCode::NORMAL, "")
        .unwrap();
    assert_eq!(
        server.send_prepared(&PreparedMessage::text("late")),
        Err(SendError::Closed)
    );
}
