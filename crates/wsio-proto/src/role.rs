//! Which end of the connection this is, and every rule that differs between the two.

/// The side of the connection an endpoint plays.
///
/// Client and server run the same state machine; the few rules that differ are methods here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection and sent the handshake request.
    Client,
    /// The end that accepted the connection and answered the handshake.
    Server,
}

impl Role {
    /// Whether frames this endpoint sends are masked. Clients mask every frame and servers
    /// never do (RFC 6455 section 5.1).
    pub const fn masks_outgoing(self) -> bool {
        matches!(self, Role::Client)
    }

    /// Whether frames this endpoint receives must be masked: a server requires masked frames,
    /// a client rejects them (RFC 6455 section 5.1).
    pub const fn expects_masked(self) -> bool {
        matches!(self, Role::Server)
    }

    /// Whether this endpoint closes the TCP connection first once the close handshake is done.
    /// The server does, so that the TIME_WAIT state stays on its side (RFC 6455 section 7.1.1);
    /// the client waits for it, up to the close timeout.
    pub const fn closes_transport_first(self) -> bool {
        matches!(self, Role::Server)
    }
}
