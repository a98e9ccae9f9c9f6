//! permessage-deflate (RFC 7692): negotiation and per-message compression, with `flate2`.
//!
//! Off unless asked for: set [`Config::deflate`](crate::Config::deflate) to a
//! [`DeflateConfig`] on the client, the server or both. The client then offers the extension,
//! the server accepts the first offer it can honour, and both compress every text and binary
//! message from [`DeflateConfig::threshold`] bytes up, each message as one compressed unit with
//! RSV1 on its first frame.
//!
//! ```
//! use wsio_proto::Config;
//! use wsio_proto::deflate::DeflateConfig;
//!
//! let config = Config::default().deflate(Some(DeflateConfig::default()));
//! # let _ = config;
//! ```
//!
//! # Negotiation
//!
//! All four parameters of RFC 7692 section 7.1 are understood in both roles. What a
//! [`DeflateConfig`] means depends on the role:
//!
//! | field | as a client | as a server |
//! | --- | --- | --- |
//! | `server_no_context_takeover` | asks the server to reset its compressor after each message | resets after each message (it always does when a client asks) |
//! | `client_no_context_takeover` | resets its compressor after each message | tells the client to reset after each message |
//! | `server_max_window_bits` | asks the server for at most this window | uses at most this window (less when a client asks) |
//! | `client_max_window_bits` | uses at most this window, and says it can be limited | requires the client to use at most this window |
//!
//! The client sends two offers in one header: its settings, then the same with
//! `client_no_context_takeover` (servers that only accept clients which reset their
//! compressor, as some test suites do, take the second). It fails the handshake with
//! [`HandshakeError::UnacceptableExtensions`] when the answer is malformed, repeats a
//! parameter, names one it does not know, or does not honour the offer; a server's answer must
//! fit one of the offers (RFC 7692 section 5.2).
//!
//! The server takes the first offer it can honour and declines the others, as section 5.1
//! requires: offers with a parameter RFC 7692 does not define, a repeated parameter or an
//! invalid value, and offers without `client_max_window_bits` when it requires a smaller
//! client window. When every offer is declined the connection goes on uncompressed. Only a
//! `Sec-WebSocket-Extensions` header that does not parse at all is a malformed request: the
//! handshake is refused with 400 ([`HandshakeError::MalformedExtensions`]).
//!
//! # Window bits 8
//!
//! zlib, which `flate2` wraps, cannot compress with a 256-byte window. Window bits 8 are
//! nevertheless negotiated in both roles: where 8 is agreed for this endpoint's compression,
//! it compresses with 9 bits, and zlib never refers further back than the window minus 262
//! bytes, that is 250 bytes with 9 bits, so the peer can inflate the result with a 256-byte
//! window (a test checks that with Python's zlib, which inflates with 8 bits). Where 8 is
//! agreed for the peer's compression, this endpoint inflates with 9 bits, which accepts every
//! stream an 8-bit window produces.
//!
//! # Limits and memory
//!
//! Inflating is bounded: an incoming message may inflate to
//! [`Config::max_message_size`](crate::Config::max_message_size), checked while inflating, so a
//! small compressed bomb ends the connection with 1009 having held about that limit and no
//! more. Data that does not inflate fails the connection with 1007.
//!
//! One compressing connection holds its compressor and decompressor between messages, unless
//! no context takeover is agreed for their direction, in which case each is freed after its
//! message. Measured with a counting allocator (`cargo test -p wsio-proto --features deflate
//! --test deflate_memory -- --nocapture`), after a few 13 KiB JSON messages each way: with
//! context takeover both ways one connection holds about 400 KiB at 15 window bits and 275 KiB
//! at 9; without context takeover, nothing between messages. A bomb of 63 KiB that inflates to
//! 64 MiB, against a limit of 1 MiB, ends with 1009 after the connection grew by 1.1 MiB at
//! most.

mod codec;
mod negotiate;

use std::fmt;

pub(crate) use codec::Deflate;
pub(crate) use negotiate::{client_accept, client_offer, server_select};

#[cfg(doc)]
use crate::handshake::HandshakeError;

/// The extension's name in `Sec-WebSocket-Extensions`.
pub(crate) const NAME: &str = "permessage-deflate";

/// What an endpoint offers, accepts and uses for permessage-deflate. See the
/// [module documentation](self) for what each field means in each role.
///
/// ```
/// use wsio_proto::deflate::DeflateConfig;
///
/// // Faster compression, smaller memory, and tiny messages left alone.
/// let config = DeflateConfig::default()
///     .level(1)
///     .server_max_window_bits(10)
///     .threshold(64);
/// assert_eq!(config.client_max_window_bits, 15);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The compression level, 0 (store only) to 9 (smallest). Default 6; larger values are
    /// taken as 9.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed. Default 0: every message is
    /// compressed.
    pub threshold: usize,
    /// See the [module documentation](self). Default false.
    pub server_no_context_takeover: bool,
    /// See the [module documentation](self). Default false.
    pub client_no_context_takeover: bool,
    /// See the [module documentation](self). 8 to 15, default 15; other values are taken as
    /// the nearest of those.
    pub server_max_window_bits: u8,
    /// See the [module documentation](self). 8 to 15, default 15; other values are taken as
    /// the nearest of those.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            threshold: 0,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

macro_rules! setters {
    ($($name:ident: $ty:ty;)*) => {
        impl DeflateConfig {
            $(
                #[doc = concat!("Sets [`", stringify!($name), "`](DeflateConfig#structfield.", stringify!($name), ").")]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    level: u32;
    threshold: usize;
    server_no_context_takeover: bool;
    client_no_context_takeover: bool;
    server_max_window_bits: u8;
    client_max_window_bits: u8;
}

impl DeflateConfig {
    fn server_bits(&self) -> u8 {
        self.server_max_window_bits.clamp(8, 15)
    }

    fn client_bits(&self) -> u8 {
        self.client_max_window_bits.clamp(8, 15)
    }
}

/// The parameters a handshake agreed for permessage-deflate, as both ends apply them.
///
/// Its `Display` is the server's answer, for example
/// `permessage-deflate; server_no_context_takeover; client_max_window_bits=10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with, 8 to 15.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with, 8 to 15.
    pub client_max_window_bits: u8,
    /// Whether the server's answer names `server_max_window_bits`, even at 15 (a server
    /// echoes a value the client asked for).
    answer_server_bits: bool,
    /// Whether the answer names `client_max_window_bits` even at 15.
    answer_client_bits: bool,
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if self.server_max_window_bits < 15 || self.answer_server_bits {
            write!(
                f,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            )?;
        }
        if self.client_max_window_bits < 15 || self.answer_client_bits {
            write!(
                f,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            )?;
        }
        Ok(())
    }
}
