//! [`State`]: where a connection is in its life, in the same words for every socket.

/// Where a connection is in its life. Every socket reports it with `state()`: the async
/// [`WebSocket`](crate::WebSocket), its halves and [`FrameSocket`](crate::FrameSocket), the
/// blocking [`WebSocket`](crate::blocking::WebSocket) and
/// [`FrameSocket`](crate::blocking::FrameSocket).
///
/// A socket exists once its opening handshake is done, so it reports [`Open`](Self::Open),
/// [`Closing`](Self::Closing) and [`Closed`](Self::Closed); [`Connecting`](Self::Connecting)
/// and [`Reconnecting`](Self::Reconnecting) belong to a client that opens connections itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// A connection is being opened: the transport, or the opening handshake.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// The connection ended, and another is about to be opened.
    Reconnecting,
    /// A close frame was sent; the peer's answer has not arrived yet.
    Closing,
    /// The connection has ended: the close handshake completed, or the connection failed.
    Closed,
}
