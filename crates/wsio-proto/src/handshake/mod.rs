//! The opening handshake (RFC 6455 section 4), for both roles.
//!
//! The handshake is an HTTP/1.1 upgrade: the client sends a `GET` with `Upgrade: websocket` and
//! a random `Sec-WebSocket-Key`; the server answers `101 Switching Protocols` with the
//! `Sec-WebSocket-Accept` derived from that key. Everything after the two heads is WebSocket
//! frames. Over HTTP/2 (RFC 8441) a WebSocket is one stream instead: the client sends an
//! extended CONNECT with `:protocol` `websocket` and no key, the server answers `200`;
//! [`validate_connect_request`] checks such a request and [`connect_response`] answers it (the
//! HTTP/2 framing itself is the HTTP library's).
//!
//! Requests and responses are [`http`] types, so callers can read and add headers freely;
//! bytes are parsed with `httparse` and written by [`encode_request`], [`encode_response`] and
//! [`encode_response_head`].
//!
//! A handshake that succeeds ends in a [`Connection`], on either side, that runs the [`Config`]
//! given to the handshake with the extensions both sides agreed, and has already been fed the
//! bytes that arrived after the head:
//!
//! - Client: [`ClientHandshake`] builds the request from a [`WsUrl`](crate::url::WsUrl), reads
//!   and checks the response, and yields [`Accepted`], which holds the connection. The
//!   stateless helpers [`build_request`], [`parse_response`] and [`validate_response`] are the
//!   pieces it is made of, for callers who assemble their own client.
//! - Server: [`ServerHandshake`] reads the request; [`is_upgrade_request`] tells a WebSocket
//!   request from plain HTTP; [`validate_request`] checks it and yields an [`UpgradeOffer`];
//!   [`select_subprotocol`] picks the subprotocol, and
//!   [`UpgradeOffer::accept_connection`] answers with the `101` response and the connection.
//!   [`HandshakeError::response`] and [`reject`] refuse it. The stateless pieces
//!   ([`UpgradeOffer::negotiate`], [`UpgradeOffer::accept_negotiated`], [`accept_response`])
//!   remain for callers who build the connection themselves.
//! - Keys: [`generate_key`] and [`accept_key`].
//!
//! Both readers take bytes as they arrive, keep at most [`DEFAULT_MAX_HEAD_SIZE`] bytes (or a
//! limit of the caller's choosing), and hand the bytes that followed the head to what comes
//! next. Once a reader has returned a result or an error it is finished: calling it again is
//! [`HandshakeError::AlreadyFinished`].
//!
//! ```
//! use bytes::Buf;
//! use wsio_proto::handshake::{ClientHandshake, ServerHandshake, encode_response_head};
//! use wsio_proto::{Config, Event, Message};
//!
//! // The client writes its request...
//! let url = "ws://example.com/chat".parse()?;
//! let mut client = ClientHandshake::new(&url).subprotocols(["chat"])?;
//! let request = client.encode_request();
//!
//! // ...the server reads, checks and accepts it...
//! let incoming = ServerHandshake::new().receive(&request)?.expect("a whole request");
//! let offer = incoming.validate()?;
//! assert_eq!(offer.subprotocols, ["chat"]);
//! let (response, mut server) =
//!     offer.accept_connection(Some("chat"), Config::default(), &incoming.leftover)?;
//! let mut wire = encode_response_head(&response);
//! server.send_text("hi")?; // a first message, sent right away
//! let out = server.poll_transmit();
//! wire.extend_from_slice(&out.copy_to_bytes(out.remaining()));
//!
//! // ...and the client checks the answer; its connection already holds the message.
//! let mut accepted = client.receive(&wire)?.expect("a whole response");
//! assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
//! assert_eq!(
//!     accepted.connection.poll_event(std::time::Instant::now()),
//!     Some(Event::Message(Message::text("hi")))
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod encode;
mod error;
mod head;
mod headers;
mod key;
mod server;

use crate::config::Config;
use crate::connection::Connection;
use crate::extension::Negotiated;
use crate::role::Role;

pub use client::{Accepted, ClientHandshake, build_request, validate_response};
pub use encode::{encode_request, encode_response, encode_response_head};
pub use error::{BuildError, HandshakeError};
pub use head::{ReasonPhrase, parse_request, parse_response};
pub use key::{accept_key, generate_key};
pub use server::{
    IncomingRequest, ServerHandshake, UpgradeOffer, accept_response, connect_response,
    is_upgrade_request, reject, select_subprotocol, validate_connect_request, validate_request,
};

/// The default limit on the size of a request or response head: 8 KiB, as in common HTTP
/// servers. Browsers' handshake requests take well under 2 KiB.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;

/// The connection a successful handshake ends in: `role`, `config` and the extensions
/// `negotiated`, with `leftover`, the bytes that followed the head, as its first input. Both
/// roles make their connection here and nowhere else.
fn start_connection(
    role: Role,
    config: Config,
    negotiated: &Negotiated,
    leftover: &[u8],
) -> Connection {
    let mut connection = Connection::with_extensions(role, config, negotiated);
    connection.receive_early(leftover);
    connection
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::WsUrl;
    use crate::{Event, Message};
    use bytes::{Buf, Bytes};
    use http::StatusCode;
    use proptest::prelude::*;

    /// Every event `connection` gives for the input it holds.
    pub(super) fn events(connection: &mut Connection) -> Vec<Event> {
        let now = std::time::Instant::now();
        std::iter::from_fn(|| connection.poll_event(now)).collect()
    }

    /// Checks that `connection` holds `input` and nothing else: it gives the same events as a
    /// new connection with its role, settings and extensions that is fed `input`, both before
    /// and after the end of the transport.
    pub(super) fn assert_holds(connection: &mut Connection, input: &[u8]) {
        let mut fresh = Connection::with_extensions(
            connection.role(),
            connection.config().clone(),
            connection.negotiated(),
        );
        fresh.receive(std::time::Instant::now(), input);
        assert_eq!(events(connection), events(&mut fresh));
        connection.receive_eof();
        fresh.receive_eof();
        assert_eq!(events(connection), events(&mut fresh));
    }

    /// A server that supports `supported` answers `client`'s request; returns the wire bytes
    /// of its answer.
    fn serve(request: &[u8], supported: &[&str]) -> Vec<u8> {
        let incoming = ServerHandshake::new().receive(request).unwrap().unwrap();
        match incoming.validate() {
            Ok(offer) => {
                let subprotocol = select_subprotocol(&offer.subprotocols, supported);
                encode_response_head(&offer.accept(subprotocol))
            }
            Err(error) => encode_response(&error.response()),
        }
    }

    #[test]
    fn round_trip() {
        let url: WsUrl = "ws://user:pw@[::1]:9001/feed?since=5".parse().unwrap();
        let mut client = ClientHandshake::new(&url)
            .subprotocols(["v2", "v1"])
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
        assert_eq!(offer.key.as_deref(), Some(client.key()));
        assert_eq!(offer.resource, "/feed?since=5");
        assert_eq!(offer.subprotocols, ["v2", "v1"]);

        let response = serve(&request, &["v1", "v2"]);
        let mut accepted = client.receive(&response).unwrap().unwrap();
        assert_eq!(accepted.subprotocol.as_deref(), Some("v1"));
        assert_eq!(accepted.response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_holds(&mut accepted.connection, b"");
    }

    /// Both sides end in connections that talk to each other, and each has what its peer sent
    /// before the other had read the handshake.
    #[test]
    fn handshakes_end_in_connected_connections() {
        let url: WsUrl = "ws://h/".parse().unwrap();
        let mut client = ClientHandshake::new(&url).config(Config::default().max_frame_size(100));
        let mut request = client.encode_request();
        request.extend_from_slice(b"\x89\x80\x00\x00\x00\x00"); // an early masked ping
        let incoming = ServerHandshake::new().receive(&request).unwrap().unwrap();
        let offer = incoming.validate().unwrap();
        let config = Config::default().auto_pong(false);
        let (response, mut server) = offer
            .accept_connection(None, config, &incoming.leftover)
            .unwrap();
        assert_eq!(server.role(), Role::Server);
        assert!(!server.config().auto_pong);
        assert_eq!(
            events(&mut server),
            [Event::Message(crate::Message::Ping(Bytes::new()))]
        );

        server.send_text("early").unwrap();
        let mut wire = encode_response_head(&response);
        let out = server.poll_transmit();
        wire.extend_from_slice(&out.copy_to_bytes(out.remaining()));
        let mut accepted = client.receive(&wire).unwrap().unwrap();
        let client = &mut accepted.connection;
        assert_eq!(client.config().max_frame_size, 100);
        assert_eq!(events(client), [Event::Message(Message::text("early"))]);

        client.send_binary(&b"reply"[..]).unwrap();
        let out = client.poll_transmit();
        server.receive(
            std::time::Instant::now(),
            &out.copy_to_bytes(out.remaining()),
        );
        assert_eq!(
            events(&mut server),
            [Event::Message(Message::binary(&b"reply"[..]))]
        );
    }

    #[test]
    fn round_trip_without_common_subprotocol() {
        let url: WsUrl = "ws://h/".parse().unwrap();
        let mut client = ClientHandshake::new(&url).subprotocols(["v9"]).unwrap();
        let response = serve(&client.encode_request(), &["v1"]);
        assert_eq!(
            client.receive(&response).unwrap().unwrap().subprotocol,
            None
        );
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
            let mut client = ClientHandshake::new(&url).subprotocols(&offered).unwrap();
            let incoming = ServerHandshake::new().receive(&client.encode_request()).unwrap().unwrap();
            let offer = incoming.validate().unwrap();
            prop_assert_eq!(&offer.subprotocols, &offered);
            prop_assert_eq!(&offer.resource, url.resource());
            let chosen = select_subprotocol(&offer.subprotocols, &supported);
            prop_assert_eq!(
                chosen,
                supported.iter().find(|s| offered.contains(s)).map(String::as_str)
            );

            let mut wire = encode_response_head(&offer.accept(chosen));
            let head_len = wire.len();
            wire.extend_from_slice(&frames);
            let (a, b) = wire.split_at(split.index(wire.len() + 1).min(wire.len()));
            let (mut accepted, unread) = match client.receive(a).unwrap() {
                Some(accepted) => (accepted, b),
                None => (client.receive(b).unwrap().unwrap(), &[][..]),
            };
            prop_assert_eq!(accepted.subprotocol.as_deref(), chosen);
            // The connection has what followed the head in the call that completed it; with
            // the rest, it has all the frames.
            accepted.connection.receive(std::time::Instant::now(), unread);
            assert_holds(&mut accepted.connection, &wire[head_len..]);
        }
    }
}
