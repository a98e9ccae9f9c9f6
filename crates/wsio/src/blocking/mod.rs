//! The same WebSocket without an async runtime, over `std::net`, as `reqwest::blocking` does
//! for HTTP.
//!
//! - [`connect`] and [`ClientBuilder::connect_blocking`](crate::ClientBuilder::connect_blocking)
//!   open a connection with every option of the async client; [`accept`] and [`accept_with`]
//!   answer one; [`Server`] serves each connection on a thread of its own, with the same
//!   routing (path, subprotocol, fallback) and shutdown as the async server.
//! - [`WebSocket`] sends and receives with blocking calls, with optional read and write
//!   timeouts; [`FrameSocket`] does the same frame by frame.
//! - Any stream works that implements [`BlockingStream`]: `TcpStream`, `UnixStream`,
//!   `TlsStream` (rustls over TCP, stepped so that the timeouts hold however the peer cuts
//!   its records) and [`Stream`] (TCP, TLS or Unix, what [`connect`] opens) do, and [`Plain`]
//!   wraps any other `Read + Write` stream.
//!
//! It shares the driver with the async front-end: both feed the same protocol core, and the
//! keepalive and close timers the core decides are reached here through read timeouts.

mod accept;
mod client;
mod server;
mod stream;
#[cfg(feature = "tls")]
mod tls_stream;
mod tunnel;
mod websocket;

pub use accept::{accept, accept_with};
pub use client::connect;
pub use server::{Server, ServerBuilder, ServerHandle};
pub use stream::{BlockingStream, Plain, Stream};
#[cfg(feature = "tls")]
pub use tls_stream::TlsStream;
pub use websocket::{FrameSocket, WebSocket};
