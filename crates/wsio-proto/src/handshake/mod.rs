//! The opening handshake (RFC 6455 section 4), for both roles.
//!
//! The handshake is an HTTP/1.1 upgrade: the client sends a `GET` with `Upgrade: websocket` and
//! a random `Sec-WebSocket-Key`; the server answers `101 Switching Protocols` with the
//! `Sec-WebSocket-Accept` derived from that key. Everything after the two heads is WebSocket
//! frames.
//!
//! Requests and responses are [`http`] types, so callers can read and add headers freely;
//! bytes are parsed with `httparse` and written by [`encode_request`], [`encode_response`] and
//! [`encode_response_head`].
//!
//! - Client: [`ClientHandshake`] builds the request from a [`WsUrl`](crate::url::WsUrl) and
//!   reads and checks the response, which yields [`Accepted`]. The stateless helpers
//!   [`build_request`], [`parse_response`] and [`validate_response`] are the pieces it is made
//!   of, for callers who assemble their own client.
//! - Server: [`ServerHandshake`] reads the request; [`is_upgrade_request`] tells a WebSocket
//!   request from plain HTTP; [`validate_request`] checks it and yields an [`UpgradeOffer`];
//!   [`select_subprotocol`] and [`accept_response`] answer it; [`HandshakeError::response`]
//!   and [`reject`] refuse it.
//! - Keys: [`generate_key`] and [`accept_key`].
//!
//! Both readers take bytes as they arrive, keep at most [`DEFAULT_MAX_HEAD_SIZE`] bytes (or a
//! limit of the caller's choosing), and hand back the bytes that followed the head.
//!
//! ```
//! use wsio_proto::handshake::{ClientHandshake, ServerHandshake, encode_response_head};
//!
//! // The client writes its request...
//! let url = "ws://example.com/chat".parse()?;
//! let mut client = ClientHandshake::new(&url).protocols(["chat"])?;
//! let request = client.encode_request();
//!
//! // ...the server reads, checks and accepts it...
//! let incoming = ServerHandshake::new().receive(&request)?.expect("a whole request");
//! let offer = incoming.validate()?;
//! assert_eq!(offer.protocols, ["chat"]);
//! let mut response = encode_response_head(&offer.accept(Some("chat")));
//! response.extend_from_slice(b"\x81\x02hi"); // a first frame, sent right away
//!
//! // ...and the client checks the answer.
//! let accepted = client.receive(&response)?.expect("a whole response");
//! assert_eq!(accepted.protocol.as_deref(), Some("chat"));
//! assert_eq!(&accepted.leftover[..], b"\x81\x02hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod encode;
mod error;
mod head;
mod headers;
mod key;
mod server;

pub use client::{Accepted, ClientHandshake, build_request, validate_response};
pub use encode::{encode_request, encode_response, encode_response_head};
pub use error::HandshakeError;
pub use head::{parse_request, parse_response};
pub use key::{accept_key, generate_key};
pub use server::{
    IncomingRequest, ServerHandshake, UpgradeOffer, accept_response, is_upgrade_request, reject,
    select_subprotocol, validate_request,
};

/// The default limit on the size of a request or response head: 8 KiB, as in common HTTP
/// servers. Browsers' handshake requests take well under 2 KiB.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::WsUrl;
    use bytes::Bytes;
    use http::StatusCode;
    use proptest::prelude::*;

    /// A server that supports `supported` answers `client`'s request; returns the wire bytes
    /// of its answer.
    fn serve(request: &[u8], supported: &[&str]) -> Vec<u8> {
        let incoming = ServerHandshake::new().receive(request).unwrap().unwrap();
        match incoming.validate() {
            Ok(offer) => {
                let protocol = select_subprotocol(&offer.protocols, supported);
                encode_response_head(&offer.accept(protocol))
            }
            Err(error) => encode_response(&error.response()),
        }
    }

    #[test]
    fn round_trip() {
        let url: WsUrl = "ws://user:pw@[::1]:9001/feed?since=5".parse().unwrap();
        let mut client = ClientHandshake::new(&url)
            .protocols(["v2", "v1"])
            .unwrap()
            .origin("http://localhost")
            .unwrap();
        let request = client.encode_request();

        let incoming = ServerHandshake::new().receive(&request).unwrap().unwrap();
        assert_eq!(incoming.request.headers()["host"], "[::1]:9001");
        assert_eq!(
            incoming.request.headers()["authorization"],
            "Basic dXNlcjpwdw=="
        );
        assert_eq!(incoming.request.headers()["origin"], "http://localhost");
        let offer = incoming.validate().unwrap();
        assert_eq!(offer.key, client.key());
        assert_eq!(offer.resource, "/feed?since=5");
        assert_eq!(offer.protocols, ["v2", "v1"]);

        let response = serve(&request, &["v1", "v2"]);
        let accepted = client.receive(&response).unwrap().unwrap();
        assert_eq!(accepted.protocol.as_deref(), Some("v1"));
        assert_eq!(accepted.response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert!(accepted.leftover.is_empty());
    }

    #[test]
    fn round_trip_without_common_protocol() {
        let url: WsUrl = "ws://h/".parse().unwrap();
        let mut client = ClientHandshake::new(&url).protocols(["v9"]).unwrap();
        let response = serve(&client.encode_request(), &["v1"]);
        assert_eq!(client.receive(&response).unwrap().unwrap().protocol, None);
    }

    #[test]
    fn round_trip_with_extensions() {
        let url: WsUrl = "wss://h/".parse().unwrap();
        let mut client = ClientHandshake::new(&url)
            .extensions("permessage-deflate")
            .unwrap();
        let incoming = ServerHandshake::new()
            .receive(&client.encode_request())
            .unwrap()
            .unwrap();
        let offer = incoming.validate().unwrap();
        assert_eq!(offer.extensions.as_deref(), Some("permessage-deflate"));
        let mut response = offer.accept(None);
        response.headers_mut().insert(
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            "permessage-deflate".parse().unwrap(),
        );
        let accepted = client
            .receive(&encode_response_head(&response))
            .unwrap()
            .unwrap();
        assert_eq!(accepted.extensions.as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn refusal_with_status_and_body_reaches_the_client() {
        let url: WsUrl = "ws://h/private".parse().unwrap();
        let mut client = ClientHandshake::new(&url);
        let incoming = ServerHandshake::new()
            .receive(&client.encode_request())
            .unwrap()
            .unwrap();
        assert_eq!(incoming.validate().unwrap().resource, "/private");
        let mut refusal = reject(StatusCode::FORBIDDEN, "not for you");
        refusal
            .headers_mut()
            .insert("x-reason", "acl".parse().unwrap());
        let wire = encode_response(&refusal);

        // Fed in two pieces, cut inside the body.
        let (a, b) = wire.split_at(wire.len() - 4);
        assert!(client.receive(a).unwrap().is_none());
        let error = client.receive(b).unwrap_err();
        let HandshakeError::Rejected(response) = error else {
            panic!("{error:?}")
        };
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()["x-reason"], "acl");
        assert_eq!(response.body(), &Bytes::from_static(b"not for you"));
    }

    #[test]
    fn server_errors_reach_the_client_as_refusals() {
        let url: WsUrl = "ws://h/".parse().unwrap();
        let mut client = ClientHandshake::new(&url)
            .header("sec-websocket-version", "8")
            .unwrap();
        let response = serve(&client.encode_request(), &[]);
        let HandshakeError::Rejected(response) = client.receive(&response).unwrap_err() else {
            panic!()
        };
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert_eq!(
            &response.body()[..],
            b"unsupported Sec-WebSocket-Version; this server speaks version 13\n"
        );
    }

    proptest! {
        #[test]
        fn round_trip_any_offer_any_split(
            offered in proptest::collection::btree_set("[a-z][a-z0-9.]{0,6}", 0..4),
            supported in proptest::collection::vec("[a-z][a-z0-9.]{0,6}", 0..4),
            path in "(/[a-z0-9%]{0,5}){1,3}(\\?[a-z=&]{0,8})?",
            split in any::<prop::sample::Index>(),
            frames in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let offered: Vec<String> = offered.into_iter().collect();
            let url: WsUrl = format!("ws://example.com{path}").parse().unwrap();
            let mut client = ClientHandshake::new(&url).protocols(&offered).unwrap();
            let incoming = ServerHandshake::new().receive(&client.encode_request()).unwrap().unwrap();
            let offer = incoming.validate().unwrap();
            prop_assert_eq!(&offer.protocols, &offered);
            prop_assert_eq!(&offer.resource, url.resource());
            let chosen = select_subprotocol(&offer.protocols, &supported);
            prop_assert_eq!(
                chosen,
                supported.iter().find(|s| offered.contains(s)).map(String::as_str)
            );

            let mut wire = encode_response_head(&offer.accept(chosen));
            let head_len = wire.len();
            wire.extend_from_slice(&frames);
            let (a, b) = wire.split_at(split.index(wire.len() + 1).min(wire.len()));
            let (accepted, unread) = match client.receive(a).unwrap() {
                Some(accepted) => (accepted, b),
                None => (client.receive(b).unwrap().unwrap(), &[][..]),
            };
            prop_assert_eq!(accepted.protocol.as_deref(), chosen);
            prop_assert_eq!([&accepted.leftover[..], unread].concat(), &wire[head_len..]);
        }
    }
}
