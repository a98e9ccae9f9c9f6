//! The WebSocket protocol (RFC 6455) without I/O.
//!
//! This crate never touches a socket, reads a clock or needs an async runtime. It gives you:
//!
//! - the wire format: [`FrameHeader`], [`Frame`], [`OpCode`], [`apply_mask`], and the stateless
//!   helpers [`encode_frame`] and [`decode_frame`], with [`random_mask`] for the key of a
//!   client's frame;
//! - text: [`Utf8Validator`] for UTF-8 that arrives in pieces, and [`Utf8Bytes`];
//! - closing: [`CloseCode`], [`CloseFrame`], [`encode_close_payload`], [`parse_close_payload`];
//! - the opening handshake, both roles: [`ClientHandshake`] and [`ServerHandshake`] end in a
//!   [`Connection`] ([`Accepted::connection`], [`UpgradeOffer::accept_connection`]); the
//!   [`handshake`] module also has the stateless pieces (`generate_key`, `accept_key`, request
//!   and response builders, parsers and validators);
//! - reconnecting: [`Backoff`], the delay policy between attempts, as a pure iterator;
//! - extensions: the handshake agrees them ([`Negotiated`]) and the connection runs them; with
//!   the feature `deflate`, permessage-deflate (RFC 7692) is one, off unless
//!   `Config::deflate` turns it on (see the `deflate` module);
//! - URLs: [`parse_url`] reads `ws://`, `wss://` and `ws+unix://` targets into a [`WsUrl`];
//! - the connection: [`Connection`], a state machine for either [`Role`] that takes bytes and
//!   time in and gives [`Event`]s and bytes out. Its documentation is the contract a front-end
//!   needs.
//!
//! Errors say whose fault they are: see the [`error`] module.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod close;
pub mod config;
pub mod connection;
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub mod deflate;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod prepared;
mod random;
pub mod role;
pub mod transmit;
pub mod url;
pub mod utf8;

pub use backoff::{Backoff, Delays};
pub use close::{
    CloseCode, CloseCodeKind, CloseFrame, MAX_CLOSE_REASON, encode_close_payload,
    parse_close_payload,
};
pub use config::Config;
pub use connection::{CloseInfo, Connection, Event, State, TransportAction};
pub use error::{ConnectionError, LimitExceeded, ProtocolError, SendError};
pub use extension::Negotiated;
pub use frame::{
    Decoded, DecodedFrame, Frame, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode,
    decode_frame, encode_frame,
};
pub use handshake::{
    Accepted, BuildError, ClientHandshake, HandshakeError, IncomingRequest, ServerHandshake,
    UpgradeOffer,
};
pub use mask::{apply_mask, random_mask};
pub use message::Message;
pub use prepared::PreparedMessage;
pub use role::Role;
pub use transmit::Transmit;
pub use url::{Credentials, UrlError, WsUrl, parse_url};
pub use utf8::{InvalidUtf8, Utf8Bytes, Utf8Validator};
