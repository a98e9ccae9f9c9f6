//! The server's side of the opening handshake: `ServerHandshake` reading a request in pieces,
//! then `validate_request`. Only server-side errors come out, each with a 4xx status; the
//! buffered head never exceeds the limit; cutting the input into pieces changes no result, only
//! how soon a malformed head is noticed; an accepted request yields a key, resource,
//! subprotocols and permessage-deflate agreement that make a valid response.
#![no_main]

use http::header::SEC_WEBSOCKET_ACCEPT;
use libfuzzer_sys::fuzz_target;
use wsio_fuzz::Pieces;
use wsio_proto::deflate::DeflateConfig;
use wsio_proto::handshake::{
    DEFAULT_MAX_HEAD_SIZE, HandshakeError, IncomingRequest, accept_key, encode_response,
    encode_response_head, is_upgrade_request,
};
use wsio_proto::{Config, Decoded, ServerHandshake};

fuzz_target!(|data: &[u8]| {
    let Some((pieces, wire)) = Pieces::split(data) else {
        return;
    };
    let limit = pieces.limit().unwrap_or(DEFAULT_MAX_HEAD_SIZE);
    let read = pieces.read(
        wire,
        || ServerHandshake::with_max_head_size(limit),
        |reader, piece| reader.receive(piece),
        summary,
    );
    match &read.pieces {
        Ok(None) => assert!(read.fed < limit, "{} bytes buffered, no answer", read.fed),
        Ok(Some(incoming)) => {
            let head_len =
                read.check_leftover(wire, limit, &incoming.leftover, |whole| &whole.leftover);
            check_request(incoming, &wire[..head_len]);
        }
        Err(error) => check_refusal(error),
    }
});

fn check_request(incoming: &IncomingRequest, head: &[u8]) {
    assert_eq!(
        wsio_proto::handshake::parse_request(head)
            .map(|d| matches!(d, Decoded::Complete { .. }))
            .ok(),
        Some(true),
        "the head parses on its own"
    );
    match incoming.validate() {
        Ok(offer) => {
            assert!(is_upgrade_request(&incoming.request));
            assert!(offer.resource.starts_with('/'));
            // permessage-deflate offers, read by a server that takes them and by one that
            // requires a small client window: agreed, declined, or refused as malformed.
            for deflate in [
                DeflateConfig::default(),
                DeflateConfig::default().client_max_window_bits(9),
            ] {
                match offer.negotiate(&Config::default().deflate(Some(deflate))) {
                    Ok(negotiated) => {
                        encode_response_head(&offer.accept_negotiated(None, &negotiated));
                    }
                    Err(error @ HandshakeError::MalformedExtensions(_)) => check_refusal(&error),
                    Err(other) => panic!("negotiation failed with {other:?}"),
                }
            }
            for protocol in offer
                .subprotocols
                .iter()
                .map(|p| Some(p.as_str()))
                .chain([None])
            {
                // Panics if an offered subprotocol cannot be answered.
                let response = offer.accept(protocol);
                assert_eq!(response.status(), 101);
                assert_eq!(
                    response.headers()[SEC_WEBSOCKET_ACCEPT],
                    accept_key(offer.key.as_deref().expect("an HTTP/1.1 upgrade has a key"))
                );
                encode_response_head(&response);
            }
        }
        Err(error) => check_refusal(&error),
    }
}

/// A request is refused only for what the server checks, with a 4xx status and a response
/// that encodes.
fn check_refusal(error: &HandshakeError) {
    use HandshakeError::*;
    match error {
        TooLarge { .. }
        | Malformed(_)
        | InvalidTarget
        | NotGet
        | UnsupportedHttpVersion
        | MissingHost
        | DuplicateHost
        | MissingUpgrade
        | MissingConnectionUpgrade
        | MissingKey
        | DuplicateKey
        | InvalidKey
        | MissingVersion
        | UnsupportedVersion
        | InvalidHeader(_)
        | MalformedExtensions(_) => {}
        other => panic!("a request refused with a client-side error: {other:?}"),
    }
    let status = error.status().as_u16();
    assert!(
        [400, 405, 426, 431].contains(&status),
        "{error:?} has status {status}"
    );
    let response = error.response();
    assert_eq!(response.status(), error.status());
    encode_response(&response);
}

/// What a reader's result says, comparable across ways of feeding it. The bytes after the head
/// are left out: they end where the input given so far ends.
fn summary(result: &Result<Option<IncomingRequest>, HandshakeError>) -> String {
    match result {
        Ok(Some(incoming)) => format!("{:?}", incoming.request),
        other => format!("{other:?}"),
    }
}
