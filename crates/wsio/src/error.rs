//! The error type of the I/O layer.

use std::io;

use bytes::Bytes;
use wsio_proto::{BuildError, ConnectionError, HandshakeError, SendError, UrlError};

/// What went wrong with a WebSocket connection, sorted by whose fault it was.
///
/// - The transport: [`Io`](Self::Io), [`Tls`](Self::Tls), and [`Timeout`](Self::Timeout); a
///   proxy on the way: [`Proxy`](Self::Proxy).
/// - The caller: [`Url`](Self::Url) and [`Build`](Self::Build) for what was given to a builder,
///   [`Send`](Self::Send) for a message that cannot be sent.
/// - The peer, during the opening handshake: [`Rejected`](Self::Rejected) when it refused,
///   [`Handshake`](Self::Handshake) when its answer broke RFC 6455.
/// - The connection, after the handshake: [`Connection`](Self::Connection) says why it ended
///   abnormally (the peer broke the protocol or a limit, went silent, or the transport ended
///   without a close handshake); [`Closed`](Self::Closed) that it has ended, or is closing.
///
/// A normal close is not an error: it arrives as [`Message::Close`](crate::Message::Close)
/// and ends the stream. Large variants are boxed so that `Result<Message, Error>` stays small.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed: connection refused, reset, or another I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The TLS handshake or TLS record layer failed: for example, the server's certificate is
    /// not trusted, has expired, or does not name the host.
    #[cfg(feature = "tls")]
    #[error("TLS error: {0}")]
    Tls(Box<rustls::Error>),
    /// An operation did not finish within its configured time.
    #[error("{0} timed out")]
    Timeout(Phase),
    /// The URL given could not be used.
    #[error("invalid URL: {0}")]
    Url(#[from] UrlError),
    /// A header, subprotocol or resource given to a builder is not valid in a handshake.
    #[error("invalid handshake request: {0}")]
    Build(#[from] BuildError),
    /// The message or frame cannot be sent as it is (a control payload over 125 bytes, a close
    /// code that may not be sent, a continuation without a message to continue). Nothing was
    /// queued; the connection is unchanged.
    #[error("cannot send: {0}")]
    Send(SendError),
    /// The handshake was refused: the server answered with a status other than 101, whose
    /// status, headers and body are here. A server's own handshake ends with this when its
    /// application refused the request.
    #[error("the WebSocket upgrade was refused with status {}", .0.status())]
    Rejected(Box<http::Response<Bytes>>),
    /// The opening handshake broke RFC 6455: a request the server could not accept (it
    /// answered with [`HandshakeError::status`]), or a response the client could not accept.
    #[error("handshake failed: {0}")]
    Handshake(Box<HandshakeError>),
    /// The connection failed after the handshake: see [`ConnectionError`]. It is also
    /// [`close_info`](crate::WebSocket::close_info)'s `error`.
    #[error("connection failed: {0}")]
    Connection(#[from] ConnectionError),
    /// The connection has ended, or is closing: nothing more arrives, or nothing more may be
    /// sent.
    #[error("the connection is closed")]
    Closed,
    /// A client asked for HTTP/2 and the server does not take WebSockets over it: its TLS did
    /// not agree `h2`, or it does not allow extended CONNECT (RFC 8441's
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`). Says which.
    #[error("the server does not take WebSockets over HTTP/2: {0}")]
    Http2Unavailable(&'static str),
    /// The proxy between the client and the server failed: it could not be reached, refused
    /// the tunnel or the credentials, or broke its protocol. See
    /// [`ProxyError`](crate::proxy::ProxyError); the server was never spoken to.
    #[error(transparent)]
    Proxy(Box<crate::proxy::ProxyError>),
}

impl From<crate::proxy::ProxyError> for Error {
    fn from(error: crate::proxy::ProxyError) -> Self {
        Error::Proxy(Box::new(error))
    }
}

/// Which step a [`Error::Timeout`] happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the transport (TCP or Unix connect, and the TLS handshake for `wss://`).
    #[error("connecting")]
    Connect,
    /// The opening handshake.
    #[error("the opening handshake")]
    Handshake,
    /// Waiting for a message (blocking API, with a read timeout set).
    #[error("reading")]
    Read,
    /// Writing to the transport (blocking API, with a write timeout set).
    #[error("writing")]
    Write,
}

impl From<HandshakeError> for Error {
    fn from(error: HandshakeError) -> Self {
        match error {
            HandshakeError::Rejected(response) => Error::Rejected(response),
            error => Error::Handshake(Box::new(error)),
        }
    }
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Closed => Error::Closed,
            error => Error::Send(error),
        }
    }
}

impl Error {
    /// Whether this error means the connection is over: it ended, or failed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed | Error::Connection(_))
    }
}

/// Whether an I/O error is a read or write timeout: the kinds a timed-out blocking call gives.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 32,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
