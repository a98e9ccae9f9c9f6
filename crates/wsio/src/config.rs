//! Settings every front-end shares: the protocol's limits plus the I/O layer's buffers and
//! timeouts, with their defaults documented in one place.

use std::time::Duration;

/// Settings of a connection, for clients and servers, async and blocking alike.
///
/// ```
/// use std::time::Duration;
/// use wsio::Config;
///
/// let mut config = Config::default().handshake_timeout(Duration::from_secs(5));
/// config.protocol = config.protocol.max_message_size(1 << 20);
/// assert_eq!(config.max_write_buffer, 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The protocol's settings: size limits, auto-pong, keepalive, close timeout, frame mode.
    /// See [`wsio_proto::Config`] for each default.
    pub protocol: wsio_proto::Config,
    /// How many bytes may wait to be written before sending waits for the transport (the
    /// write side's backpressure). Default 1 MiB. A message is accepted whenever less than
    /// this is waiting, so the most ever buffered is this plus one message.
    pub max_write_buffer: usize,
    /// How many bytes one read from the transport may take while no large frame is arriving:
    /// reads start at 4 KiB and grow to this while they fill what they are given. While a
    /// frame's payload arrives, a read may take the rest of it, up to 1 MiB ahead, so that a
    /// large payload is read in place. Default 64 KiB.
    pub read_buffer_size: usize,
    /// How long a TCP connect (and TLS handshake) may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long the opening WebSocket handshake may take, for clients and servers. Default
    /// 10 s.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: wsio_proto::Config::default(),
            max_write_buffer: 1 << 20,
            read_buffer_size: 64 << 10,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Sets [`protocol`](Config#structfield.protocol).
    pub fn protocol(mut self, protocol: wsio_proto::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`max_write_buffer`](Config#structfield.max_write_buffer).
    pub fn max_write_buffer(mut self, bytes: usize) -> Self {
        self.max_write_buffer = bytes;
        self
    }

    /// Sets [`read_buffer_size`](Config#structfield.read_buffer_size).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(1);
        self
    }

    /// Sets [`connect_timeout`](Config#structfield.connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`handshake_timeout`](Config#structfield.handshake_timeout).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}
