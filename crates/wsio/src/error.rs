//! The error type of the I/O layer.

use std::io;

use wsio_proto::{HandshakeError, SendError, UrlError};

/// What went wrong with a WebSocket connection.
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
    /// The URL could not be used.
    #[error("invalid URL: {0}")]
    Url(#[from] UrlError),
    /// The opening handshake failed. For a client whose request the server refused, the
    /// error carries the status, headers and body the server sent
    /// ([`HandshakeError::Rejected`]).
    #[error("handshake failed: {0}")]
    Handshake(Box<HandshakeError>),
    /// The connection failed after the handshake: the peer broke the protocol or a limit, the
    /// keepalive found it silent, or the transport ended without a close handshake.
    #[error("connection failed: {0}")]
    Protocol(#[from] wsio_proto::Error),
    /// The caller asked for something the connection cannot do, such as sending after close.
    #[error("cannot send: {0}")]
    Send(#[from] SendError),
    /// An operation did not finish within its configured time.
    #[error("{0} timed out")]
    Timeout(Phase),
    /// A callback that the application gave the reconnecting client panicked. The client
    /// reported it as an [`Event::Error`](crate::reconnect::Event::Error) and stopped.
    #[error("{0} panicked")]
    Panicked(Callback),
}

/// Which application callback a [`Error::Panicked`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Callback {
    /// The restore hook ([`Builder::on_restore`](crate::reconnect::Builder::on_restore)).
    #[error("the restore hook")]
    Restore,
    /// The predicate of [`Policy::should_reconnect`](crate::reconnect::Policy::should_reconnect).
    #[error("the should_reconnect predicate")]
    ShouldReconnect,
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
    /// The reconnecting client's session restore hook.
    #[error("restoring the session")]
    Restore,
}

impl From<HandshakeError> for Error {
    fn from(error: HandshakeError) -> Self {
        Error::Handshake(Box::new(error))
    }
}

impl Error {
    /// Whether this error means the connection is closed: sending after close, or a failed
    /// connection.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Send(SendError::Closed) | Error::Protocol(_))
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
