//! Errors of the protocol layer, sorted by whose fault they are.
//!
//! - [`ProtocolError`]: the peer broke RFC 6455. Each variant knows the close code that answers
//!   it ([`ProtocolError::close_code`]).
//! - [`LimitExceeded`]: the peer sent something valid but larger than this endpoint accepts
//!   (close code 1009).
//! - [`SendError`]: the caller asked for something the protocol or the connection's state does
//!   not allow; nothing was queued.
//! - [`ConnectionError`]: why a connection ended abnormally, as reported in
//!   [`CloseInfo::error`](crate::CloseInfo::error).
//!
//! Handshake and URL failures have their own types:
//! [`HandshakeError`](crate::handshake::HandshakeError) and [`UrlError`](crate::url::UrlError).

use crate::close::CloseCode;

/// The peer broke a rule of RFC 6455.
///
/// Receiving one of these fails the connection: the state machine sends a close frame with
/// [`close_code`](Self::close_code) and stops reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode that RFC 6455 reserves (0x3-0x7, 0xB-0xF). Section 5.2.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// The most significant bit of a 64-bit payload length was set. Section 5.2.
    #[error("64-bit payload length has its most significant bit set")]
    PayloadLengthOverflow,
    /// A control frame announces a payload over 125 bytes (section 5.5) by using the 16- or
    /// 64-bit length, which only lengths over 125 may use (section 5.2). Holds that length if
    /// it arrived and is over 125, otherwise the 7-bit length field (126 or 127).
    #[error("control frame announces a payload over 125 bytes (length {0})")]
    ControlFrameTooLong(u64),
    /// A control frame without the FIN bit. Section 5.5.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// An RSV bit set that no negotiated extension defines, or on a frame where the extension
    /// does not use it (RFC 6455 section 5.2; RFC 7692 section 6: RSV1 only on the first
    /// frame of a data message).
    #[error("reserved bits {0:#05b} set without an extension that defines them")]
    ReservedBitsSet(u8),
    /// A client sent a frame without a mask. Section 5.1.
    #[error("client frame is not masked")]
    UnmaskedClientFrame,
    /// A server sent a masked frame. Section 5.1.
    #[error("server frame is masked")]
    MaskedServerFrame,
    /// A continuation frame arrived with no fragmented message in progress. Section 5.4.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was unfinished. Section 5.4.
    #[error("new data frame while a fragmented message is unfinished")]
    ExpectedContinuation,
    /// A text message, or the reason of a close frame, is not valid UTF-8. Sections 5.6 and 8.1.
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// A close frame with a one-byte payload. Section 5.5.1.
    #[error("close frame payload of one byte")]
    CloseFrameTooShort,
    /// A close frame carried a code that may not be sent on the wire. Section 7.4.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A compressed message does not inflate: it is not valid DEFLATE data (RFC 7692
    /// section 7.2.2).
    #[error("compressed message data is not valid DEFLATE data")]
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code that answers this error (RFC 6455 section 7.4.1): 1007 for invalid
    /// UTF-8 and for compressed data that does not inflate, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The peer sent more than a configured limit allows.
///
/// Limits are checked from the frame header, before any of the payload is buffered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// One frame's payload is larger than [`Config::max_frame_size`](crate::Config::max_frame_size).
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The size the frame header announced.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message is larger than [`Config::max_message_size`](crate::Config::max_message_size).
    #[error("message of at least {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The size of the message so far, including the frame that broke the limit.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
}

impl LimitExceeded {
    /// The close code that answers this error: 1009 (message too big).
    pub fn close_code(&self) -> CloseCode {
        CloseCode::MESSAGE_TOO_BIG
    }
}

/// The caller asked the connection for something it cannot do. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame has already been sent, or the connection has ended: no more frames may be
    /// sent (RFC 6455 section 5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// A ping, pong or close payload over 125 bytes (RFC 6455 section 5.5).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent (see [`CloseCode::is_sendable`]).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// A control frame without FIN was passed to
    /// [`Connection::send_frame`](crate::Connection::send_frame).
    #[error("control frames cannot be fragmented")]
    FragmentedControlFrame,
    /// A continuation frame was sent with no fragmented message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new message was sent while a fragmented message sent through
    /// [`Connection::send_frame`](crate::Connection::send_frame) is unfinished.
    #[error("a fragmented message is unfinished")]
    FragmentedMessageInProgress,
}

/// Why a connection ended abnormally.
///
/// Found in [`CloseInfo::error`](crate::CloseInfo::error). A normal close handshake, whatever
/// its code, is not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol; we sent a close frame with the matching code.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The peer exceeded a limit; we sent a close frame with code 1009.
    #[error("limit exceeded: {0}")]
    Limit(#[from] LimitExceeded),
    /// The transport ended (EOF) before the close handshake completed.
    #[error("the transport closed without a close handshake")]
    UnexpectedEof,
    /// The peer sent nothing, not even a pong, within the keepalive timeout after a ping.
    #[error("no answer to a keepalive ping within the pong timeout")]
    KeepaliveTimeout,
    /// Nothing at all was received for [`Config::idle_timeout`](crate::Config::idle_timeout);
    /// we sent a close frame with code 1001 (going away) and closed the transport.
    #[error("nothing received within the idle timeout")]
    IdleTimeout,
    /// The peer did not answer our close frame within the close timeout.
    #[error("the peer did not complete the close handshake in time")]
    CloseTimeout,
}

impl ConnectionError {
    /// The close code this endpoint sends for this error, if it sends one.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            ConnectionError::Protocol(e) => Some(e.close_code()),
            ConnectionError::Limit(e) => Some(e.close_code()),
            ConnectionError::KeepaliveTimeout => Some(CloseCode::INTERNAL_ERROR),
            ConnectionError::IdleTimeout => Some(CloseCode::GOING_AWAY),
            ConnectionError::UnexpectedEof | ConnectionError::CloseTimeout => None,
        }
    }
}
