//! WebSocket client and server for tokio, built on the sans-I/O [`wsio_proto`].
//!
//! - [`connect`] / [`ClientBuilder`] open a connection; [`accept`] / [`accept_with`] answer one;
//!   [`Server`] listens (TCP, TLS, Unix socket) and routes connections by path or subprotocol.
//! - With the `hyper` feature, `upgrade` / `upgrade_with` turn a request that a hyper 1.x
//!   server received (an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT) into a WebSocket,
//!   so that HTTP routes and WebSocket share one port; with the `axum` feature, the extractor
//!   `axum::WebSocketUpgrade` does the same in an axum handler.
//! - [`WebSocket`] is a [`Stream`](futures_core::Stream) of [`Message`]s and a
//!   [`Sink`](futures_sink::Sink) of them, with `send`/`recv` helpers and
//!   [`split`](WebSocket::split) into halves for two tasks.
//! - [`blocking`] has the same client, `accept` and server without an async runtime, over
//!   `std::net`, with read and write timeouts.
//! - [`reconnect::ReconnectingClient`] reconnects by itself (backoff, keepalive, session
//!   restore) and hands back what may not have arrived.
//! - [`proxy`]: clients reach servers through HTTP `CONNECT` and SOCKS proxies, chosen by the
//!   environment (as curl reads it) or by [`ClientBuilder::proxy`].
//! - [`Config`] holds every limit and timeout, with its default.
//!
//! Protocol rules live in [`wsio_proto::Connection`]; this crate moves bytes. The types users
//! meet most are at the root of this crate; the whole protocol core (frame and handshake
//! helpers, close payloads, masking, URL parsing) is re-exported as [`proto`], so that no
//! program needs a direct dependency on `wsio-proto` for anything `wsio` exposes.
//!
//! Features: `tls` (default) for `wss://` through rustls with the webpki roots;
//! `native-roots` for `ClientBuilder::native_roots`, which trusts the operating system's roots
//! instead; `socks` (default) for SOCKS proxies; `hyper` for upgrading requests of a hyper 1.x server; `axum` for the axum extractor; `deflate` (default)
//! for permessage-deflate (RFC 7692), which stays off until [`ClientBuilder::deflate`],
//! [`ServerBuilder::deflate`] (or `blocking::ServerBuilder::deflate`) or
//! [`wsio_proto::Config::deflate`] turns it on.

mod accept;
#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
mod client;
#[cfg(feature = "http2")]
mod client_http2;
mod closer;
mod config;
mod driver;
mod error;
mod handshake_io;
#[cfg(feature = "tls")]
pub mod pem;
pub mod proxy;
pub mod proxy_protocol;
pub mod reconnect;
mod server;
#[cfg(feature = "http2")]
mod server_http2;
mod state;
#[cfg(feature = "tls")]
mod tls;
mod transport;
#[cfg(feature = "hyper")]
mod upgrade;
mod websocket;

pub use accept::{Accept, Reject, UpgradeRequest, accept, accept_with};
pub use client::{ClientBuilder, Response, connect};
#[cfg(feature = "http2")]
pub use client_http2::Http2Connection;
pub use config::Config;
pub use error::{Error, Phase, Result};
#[cfg(feature = "tls")]
pub use rustls;
#[cfg(feature = "http2")]
pub use server::DEFAULT_HTTP2_MAX_STREAMS;
pub use server::{Server, ServerBuilder, ServerHandle, ServerRequest};
pub use state::State;
pub use transport::Transport;
#[cfg(feature = "hyper")]
pub use upgrade::{UpgradedWebSocket, Upgrading, is_upgrade_request, upgrade, upgrade_with};
pub use websocket::{FrameReadHalf, FrameSocket, ReadHalf, WebSocket, WriteHalf};
#[cfg(feature = "deflate")]
pub use wsio_proto::deflate::{DeflateConfig, DeflateParams};
pub use wsio_proto::{
    BuildError, CloseCode, CloseFrame, CloseInfo, ConnectionError, Frame, HandshakeError,
    LimitExceeded, Message, Negotiated, OpCode, PreparedMessage, ProtocolError, Role, SendError,
    UrlError, Utf8Bytes,
};

/// The protocol core, [`wsio_proto`], whole: what this crate builds on, for frame-level and
/// handshake-level work (encoding and decoding frames, building and checking handshakes,
/// close payloads, masking keys, URL parsing, the sans-I/O [`Connection`](proto::Connection)).
pub use wsio_proto as proto;

/// The README's Rust examples, compiled (and run where they can) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
