//! Settings every front-end shares: the protocol's limits plus the I/O layer's buffers and
//! timeouts, with their defaults documented in one place.

use std::time::Duration;

/// Settings of a connection, for clients and servers, async and blocking alike.
///
/// Every setting has a chained setter of its own name, here and on each builder
/// ([`ClientBuilder`](crate::ClientBuilder), [`ServerBuilder`](crate::ServerBuilder),
/// [`blocking::ServerBuilder`](crate::blocking::ServerBuilder)); the protocol core's
/// settings are set through it without reaching into [`protocol`](Config#structfield.protocol):
///
/// ```
/// use std::time::Duration;
/// use wsio::Config;
///
/// let config = Config::default()
///     .handshake_timeout(Duration::from_secs(5))
///     .max_message_size(1 << 20);
/// assert_eq!(config.protocol.max_message_size, 1 << 20);
/// assert_eq!(config.max_write_buffer, 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The protocol core's settings, those of the sans-I/O
    /// [`Connection`](wsio_proto::Connection): size limits, auto-pong, keepalive, close
    /// timeout, frame mode, permessage-deflate. Not the WebSocket subprotocol, which the
    /// builders call `subprotocol`. Each has a setter on `Config` itself (such as
    /// [`max_message_size`](Config::max_message_size)); see [`wsio_proto::Config`] for each
    /// default.
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
    /// Replaces every setting of the protocol core ([`protocol`](Config#structfield.protocol)).
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

/// Setters on [`Config`] for the protocol core's settings, each forwarding to the core's setter
/// of the same name, whose field documents the setting and its default.
macro_rules! core_setters {
    ($($name:ident: $ty:ty;)*) => {
        impl Config {
            $(
                #[doc = concat!(
                    "Sets [`", stringify!($name), "`](wsio_proto::Config#structfield.",
                    stringify!($name), ") of the protocol core: see there for its meaning and ",
                    "default."
                )]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.protocol = self.protocol.$name(value);
                    self
                }
            )*
        }
    };
}

core_setters! {
    max_frame_size: usize;
    max_message_size: usize;
    max_handshake_size: usize;
    auto_pong: bool;
    ping_interval: Option<Duration>;
    pong_timeout: Duration;
    heartbeat_interval: Option<Duration>;
    idle_timeout: Option<Duration>;
    close_timeout: Duration;
}

impl Config {
    /// Sets [`ping_payload`](wsio_proto::Config#structfield.ping_payload) of the protocol
    /// core: see there for its default and length limit.
    pub fn ping_payload(mut self, payload: impl Into<bytes::Bytes>) -> Self {
        self.protocol = self.protocol.ping_payload(payload.into());
        self
    }

    /// Sets [`deflate`](wsio_proto::Config#structfield.deflate) of the protocol core:
    /// permessage-deflate with these settings (see [`DeflateConfig`](crate::DeflateConfig)),
    /// offered by a client and accepted by a server when the client offers it; `None` turns
    /// it off (the default). A client learns whether the server agreed from
    /// [`Response::negotiated`](crate::Response::negotiated).
    ///
    /// ```no_run
    /// # async fn demo() -> wsio::Result<()> {
    /// let (ws, response) = wsio::ClientBuilder::new("ws://127.0.0.1:9001/")?
    ///     .deflate(wsio::DeflateConfig::default())
    ///     .connect()
    ///     .await?;
    /// println!("compressing: {}", !response.negotiated().is_empty());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: impl Into<Option<crate::DeflateConfig>>) -> Self {
        self.protocol = self.protocol.deflate(deflate.into());
        self
    }
}

/// Gives a builder with a `config: Config` field every setter of [`Config`], by the same
/// name, each forwarding to it: one list, so that no builder misses a setting or documents
/// it differently.
macro_rules! builder_setters {
    () => {
        $crate::config::builder_setters! {
            max_frame_size: usize;
            max_message_size: usize;
            max_handshake_size: usize;
            auto_pong: bool;
            ping_interval: Option<std::time::Duration>;
            ping_payload: impl Into<bytes::Bytes>;
            pong_timeout: std::time::Duration;
            heartbeat_interval: Option<std::time::Duration>;
            idle_timeout: Option<std::time::Duration>;
            close_timeout: std::time::Duration;
            #[cfg(feature = "deflate")]
            deflate: impl Into<Option<$crate::DeflateConfig>>;
            max_write_buffer: usize;
            read_buffer_size: usize;
            handshake_timeout: std::time::Duration;
        }
    };
    ($($(#[$attr:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$attr])*
            #[doc = concat!(
                "Sets [`Config::", stringify!($name), "`](crate::Config::", stringify!($name),
                ") for the connections this builds (a later [`config`](Self::config) replaces ",
                "it)."
            )]
            pub fn $name(mut self, value: $ty) -> Self {
                self.config = self.config.$name(value);
                self
            }
        )*
    };
}

pub(crate) use builder_setters;
