//! Settings of a connection: limits, timeouts, keepalive, receive mode and compression.

use std::time::Duration;

use bytes::Bytes;

/// Settings of a [`Connection`](crate::Connection).
///
/// Every limit has a default that is safe on the open internet. Fields are public and each
/// has a chained setter of the same name:
///
/// ```
/// use std::time::Duration;
/// use wsio_proto::Config;
///
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .ping_interval(Some(Duration::from_secs(20)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// assert_eq!(config.max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted and sent, in bytes. Default 16 MiB. A larger frame
    /// fails the connection with 1009 as soon as its header arrives; a longer message is sent
    /// as fragments of this size. Many peers (browsers among them) send each message as one
    /// frame: to accept their messages up to `max_message_size`, raise this to match. With
    /// permessage-deflate it bounds the compressed payload on the wire.
    pub max_frame_size: usize,
    /// The largest message accepted, in bytes, summed over its fragments. Default 64 MiB. A
    /// larger message fails the connection with 1009 as soon as the frame that crosses the
    /// limit announces itself. With permessage-deflate it bounds the inflated size, checked
    /// while inflating.
    pub max_message_size: usize,
    /// The largest handshake (request or response head) accepted, in bytes. Default 8 KiB.
    pub max_handshake_size: usize,
    /// Whether pings are answered with pongs automatically. Default true. Pings are reported as
    /// events either way.
    pub auto_pong: bool,
    /// Whether received frames are delivered one by one as
    /// [`Event::Frame`](crate::Event::Frame) instead of assembled into messages. Default false.
    /// With permessage-deflate each frame is delivered inflated, so its payload may be larger
    /// than `max_frame_size`; the frames of one message inflate to at most `max_message_size`.
    pub frame_mode: bool,
    /// How long the peer may be silent before a keepalive ping is sent. Default `None` (no
    /// keepalive).
    ///
    /// This is the setting for finding out that a peer is gone: the ping goes out only when
    /// nothing was received for this long, and the connection fails if the peer stays silent
    /// for [`pong_timeout`](Config#structfield.pong_timeout) more. Traffic from the peer
    /// postpones it, so a busy connection sends no pings at all. For a ping at a fixed rate,
    /// see [`heartbeat_interval`](Config#structfield.heartbeat_interval).
    pub ping_interval: Option<Duration>,
    /// How long after a keepalive ping the peer may stay silent (sending nothing, not even the
    /// pong) before the connection is failed with
    /// [`ConnectionError::KeepaliveTimeout`](crate::ConnectionError::KeepaliveTimeout). Default 20 s.
    pub pong_timeout: Duration,
    /// How often a heartbeat ping is sent, whatever the traffic in either direction. Default
    /// `None` (no heartbeat).
    ///
    /// This is the setting for showing that this end is alive, to a peer or an intermediary
    /// (a proxy or load balancer) that expects a ping at a regular rate. Unlike
    /// [`ping_interval`](Config#structfield.ping_interval), no answer is awaited: a heartbeat
    /// never fails the connection. Combine it with
    /// [`idle_timeout`](Config#structfield.idle_timeout) to also drop a peer that stops
    /// answering. A heartbeat that falls due while bytes are still waiting to be written is
    /// skipped until the next interval: those bytes reach the peer anyway, and pings do not
    /// pile up behind a transport that does not drain. Heartbeat pings carry
    /// [`ping_payload`](Config#structfield.ping_payload). A zero interval, which would ping
    /// without end, turns the heartbeat off like `None`.
    pub heartbeat_interval: Option<Duration>,
    /// How long the connection may receive nothing at all before it ends. Default `None` (no
    /// limit).
    ///
    /// Any bytes from the peer restart it: data, pings, pongs, part of a frame. When it
    /// expires the connection sends a close frame with code 1001 (going away) and a reason
    /// that says why, reports [`Event::Closed`](crate::Event::Closed) with
    /// [`ConnectionError::IdleTimeout`](crate::ConnectionError::IdleTimeout) at once, and asks
    /// for the transport to be closed: a peer silent for so long is not waited for through a
    /// close handshake. With a keepalive ([`ping_interval`](Config#structfield.ping_interval))
    /// or a heartbeat running, a live peer's pongs keep the connection open.
    pub idle_timeout: Option<Duration>,
    /// The payload of keepalive and heartbeat pings. Default empty. At most 125 bytes; longer
    /// payloads are cut to 125.
    pub ping_payload: Bytes,
    /// How long to wait for the peer's part of the close handshake: its close frame after ours,
    /// then the end of the transport. Default 10 s.
    pub close_timeout: Duration,
    /// permessage-deflate (RFC 7692): what to offer as a client and accept as a server, and
    /// how to compress. Default `None`: not offered, offers declined. See
    /// [`deflate`](crate::deflate).
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_size: 8 << 10,
            auto_pong: true,
            frame_mode: false,
            ping_interval: None,
            heartbeat_interval: None,
            idle_timeout: None,
            pong_timeout: Duration::from_secs(20),
            ping_payload: Bytes::new(),
            close_timeout: Duration::from_secs(10),
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl Config {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`max_frame_size`](Config#structfield.max_frame_size).
    max_frame_size: usize;
    /// Sets [`max_message_size`](Config#structfield.max_message_size).
    max_message_size: usize;
    /// Sets [`max_handshake_size`](Config#structfield.max_handshake_size).
    max_handshake_size: usize;
    /// Sets [`auto_pong`](Config#structfield.auto_pong).
    auto_pong: bool;
    /// Sets [`frame_mode`](Config#structfield.frame_mode).
    frame_mode: bool;
    /// Sets [`ping_interval`](Config#structfield.ping_interval).
    ping_interval: Option<Duration>;
    /// Sets [`heartbeat_interval`](Config#structfield.heartbeat_interval).
    heartbeat_interval: Option<Duration>;
    /// Sets [`idle_timeout`](Config#structfield.idle_timeout).
    idle_timeout: Option<Duration>;
    /// Sets [`pong_timeout`](Config#structfield.pong_timeout).
    pong_timeout: Duration;
    /// Sets [`ping_payload`](Config#structfield.ping_payload).
    ping_payload: Bytes;
    /// Sets [`close_timeout`](Config#structfield.close_timeout).
    close_timeout: Duration;
}

#[cfg(feature = "deflate")]
impl Config {
    /// Sets [`deflate`](Config#structfield.deflate): `Some` turns permessage-deflate on.
    ///
    /// ```
    /// use wsio_proto::Config;
    /// use wsio_proto::deflate::DeflateConfig;
    ///
    /// let config = Config::default().deflate(Some(DeflateConfig::default().level(1)));
    /// assert_eq!(config.deflate.unwrap().level, 1);
    /// ```
    pub fn deflate(mut self, deflate: Option<crate::deflate::DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }
}
