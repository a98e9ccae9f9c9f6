//! The client's side of the opening handshake: `ClientHandshake::receive` reading a response
//! in pieces, for a request with a fixed key that offers subprotocols and permessage-deflate or
//! not.
//! Only client-side errors come out; a refusal's body stays within the limit; cutting the
//! input into pieces changes no result, only how soon a malformed head is noticed; an accepted
//! response answers the key and picks only what was offered, and its connection holds exactly
//! the bytes its reader was given after the head.
#![no_main]

use http::header::SEC_WEBSOCKET_ACCEPT;
use libfuzzer_sys::fuzz_target;
use wsio_fuzz::Pieces;
use wsio_proto::deflate::DeflateConfig;
use wsio_proto::handshake::{
    Accepted, ClientHandshake, DEFAULT_MAX_HEAD_SIZE, HandshakeError, accept_key, parse_response,
};
use wsio_proto::{Config, Connection, Decoded, Event};

/// The key of RFC 6455 section 1.3, so that seeds can carry a matching `Sec-WebSocket-Accept`.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const PROTOCOLS: [&str; 2] = ["chat", "superchat"];

fuzz_target!(|data: &[u8]| {
    let Some((pieces, wire)) = Pieces::split(data) else {
        return;
    };
    let limit = pieces.limit().unwrap_or(DEFAULT_MAX_HEAD_SIZE);
    let offers_protocols = pieces.flags & 1 != 0;
    let offers_extensions = pieces.flags & 2 != 0;
    let handshake = || {
        let mut config = Config::default().max_handshake_size(limit);
        if offers_extensions {
            // The offer of a client with permessage-deflate on, whose answer is checked.
            let deflate =
                DeflateConfig::default().client_no_context_takeover(pieces.flags & 4 != 0);
            config = config.deflate(Some(deflate));
        }
        let mut handshake = ClientHandshake::from_parts("example.com", "/chat")
            .and_then(|h| h.header("sec-websocket-key", KEY))
            .expect("a valid request")
            .config(config);
        if offers_protocols {
            handshake = handshake
                .subprotocols(PROTOCOLS)
                .expect("valid subprotocols");
        }
        handshake
    };
    let mut read = pieces.read(
        wire,
        handshake,
        |reader, piece| reader.receive(piece),
        summary,
    );
    match &mut read.pieces {
        Ok(None) => assert!(read.fed < limit, "{} bytes buffered, no answer", read.fed),
        Ok(Some(accepted)) => {
            let response = &accepted.response;
            assert_eq!(response.status(), 101);
            assert_eq!(
                response.headers()[SEC_WEBSOCKET_ACCEPT]
                    .as_bytes()
                    .trim_ascii(),
                accept_key(KEY).as_bytes()
            );
            if let Some(protocol) = &accepted.subprotocol {
                assert!(offers_protocols && PROTOCOLS.contains(&protocol.as_str()));
            }
            assert!(offers_extensions || accepted.extensions.is_none());
            assert_eq!(
                accepted.negotiated.is_empty(),
                accepted.extensions.is_none()
            );
            assert_eq!(accepted.connection.negotiated(), &accepted.negotiated);
            let Ok(Decoded::Complete { len: head_len, .. }) = parse_response(wire) else {
                panic!("an accepted head that does not parse on its own")
            };
            assert!(
                head_len <= limit,
                "head of {head_len} bytes accepted, limit {limit}"
            );
            assert_holds(&mut accepted.connection, &wire[head_len..read.fed]);
            let Ok(Some(whole)) = &mut read.whole else {
                unreachable!("the results were compared")
            };
            assert_holds(&mut whole.connection, &wire[head_len..]);
        }
        Err(HandshakeError::Rejected(response)) => {
            assert_ne!(response.status(), 101);
            assert!(
                response.body().len() <= limit,
                "a body of {} bytes",
                response.body().len()
            );
            // Without a usable Content-Length the body is what came with the head, so pieces
            // may shorten it.
            let Err(HandshakeError::Rejected(at_once)) = &read.whole else {
                unreachable!()
            };
            assert!(at_once.body().starts_with(response.body()));
        }
        Err(
            HandshakeError::TooLarge { .. }
            | HandshakeError::Malformed(_)
            | HandshakeError::MissingUpgrade
            | HandshakeError::MissingConnectionUpgrade
            | HandshakeError::MissingAccept
            | HandshakeError::AcceptMismatch
            | HandshakeError::UnexpectedProtocol(_)
            | HandshakeError::UnexpectedExtensions
            | HandshakeError::UnacceptableExtensions(_)
            | HandshakeError::InvalidHeader(_),
        ) => {}
        Err(other) => panic!("a response refused with a server-side error: {other:?}"),
    }
});

/// Checks that `connection` holds `input` and nothing else: it gives the events of a new
/// connection with its settings and extensions fed `input`, before and after the end of input.
fn assert_holds(connection: &mut Connection, input: &[u8]) {
    let mut fresh = Connection::with_extensions(
        connection.role(),
        connection.config().clone(),
        connection.negotiated(),
    );
    fresh.receive(std::time::Instant::now(), input);
    assert_eq!(events(connection), events(&mut fresh), "before the end");
    connection.receive_eof();
    fresh.receive_eof();
    assert_eq!(events(connection), events(&mut fresh), "after the end");
}

/// Every event `connection` gives for the input it holds.
fn events(connection: &mut Connection) -> Vec<Event> {
    let now = std::time::Instant::now();
    std::iter::from_fn(|| connection.poll_event(now)).collect()
}

/// What a reader's result says, comparable across ways of feeding it. The bytes after the head
/// and a refusal's body are left out: they may end where the input given so far ends.
fn summary(result: &Result<Option<Accepted>, HandshakeError>) -> String {
    match result {
        Ok(Some(accepted)) => format!(
            "{:?} {:?} {:?}",
            accepted.response, accepted.subprotocol, accepted.extensions
        ),
        Err(HandshakeError::Rejected(response)) => {
            format!("rejected {:?} {:?}", response.status(), response.headers())
        }
        other => format!("{other:?}"),
    }
}
