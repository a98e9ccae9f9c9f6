//! Close codes and close frame payloads (RFC 6455 sections 5.5.1 and 7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, SendError};
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::utf8::Utf8Bytes;

/// The longest close reason: a control payload of 125 bytes less the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// A close status code (RFC 6455 section 7.4).
///
/// Any `u16` can be held; [`kind`](Self::kind) says what the protocol thinks of it.
///
/// ```
/// use wsio_proto::{CloseCode, CloseCodeKind};
///
/// assert_eq!(CloseCode::NORMAL.kind(), CloseCodeKind::Defined);
/// assert_eq!(CloseCode(1005).kind(), CloseCodeKind::NotOnWire);
/// assert_eq!(CloseCode(4000).kind(), CloseCodeKind::Private);
/// assert!(!CloseCode(1004).is_sendable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

/// How the protocol classifies a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCodeKind {
    /// Defined by RFC 6455 or registered with IANA, and valid on the wire: 1000-1003 and
    /// 1007-1014.
    Defined,
    /// Reserved for future definition by the protocol: 1004 and 1016-2999. Never valid on the
    /// wire.
    Reserved,
    /// Defined as a status that an endpoint reports but never sends: 1005 (no status), 1006
    /// (abnormal closure) and 1015 (TLS failure).
    NotOnWire,
    /// For libraries, frameworks and applications, registered with IANA: 3000-3999.
    Registered,
    /// For private use: 4000-4999.
    Private,
    /// Outside the ranges RFC 6455 defines: 0-999 and 5000 and above.
    Invalid,
}

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported when a close frame had no status code. Never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported when the connection ended without a close frame. Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy received an invalid response (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reported when the TLS handshake failed. Never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// How RFC 6455 and the IANA registry classify this code.
    pub const fn kind(self) -> CloseCodeKind {
        match self.0 {
            1000..=1003 | 1007..=1014 => CloseCodeKind::Defined,
            1005 | 1006 | 1015 => CloseCodeKind::NotOnWire,
            1004 | 1016..=2999 => CloseCodeKind::Reserved,
            3000..=3999 => CloseCodeKind::Registered,
            4000..=4999 => CloseCodeKind::Private,
            _ => CloseCodeKind::Invalid,
        }
    }

    /// Whether this code may appear in a close frame, sent or received.
    pub const fn is_sendable(self) -> bool {
        matches!(
            self.kind(),
            CloseCodeKind::Defined | CloseCodeKind::Registered | CloseCodeKind::Private
        )
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The payload of a close frame that carries a status: a code and a UTF-8 reason.
///
/// A close frame with an empty payload is represented as `None` wherever an
/// `Option<CloseFrame>` appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// Why, for humans; at most 123 bytes.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with a code and a reason.
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Encodes a close payload: the code in two big-endian bytes, then the reason.
///
/// Fails if the code may not be sent or the reason is longer than 123 bytes.
///
/// ```
/// use wsio_proto::{encode_close_payload, parse_close_payload, CloseCode};
///
/// let payload = encode_close_payload(CloseCode::NORMAL, "bye")?;
/// assert_eq!(&payload[..], b"\x03\xe8bye");
/// let frame = parse_close_payload(&payload)?.expect("a code was sent");
/// assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::NORMAL, "bye"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_close_payload(code: CloseCode, reason: &str) -> Result<Bytes, SendError> {
    if !code.is_sendable() {
        return Err(SendError::InvalidCloseCode(code.0));
    }
    if reason.len() > MAX_CLOSE_REASON {
        return Err(SendError::ControlPayloadTooLong(2 + reason.len()));
    }
    let mut out = BytesMut::with_capacity(2 + reason.len());
    out.put_u16(code.0);
    out.put_slice(reason.as_bytes());
    Ok(out.freeze())
}

/// Parses a received close payload.
///
/// An empty payload is `Ok(None)` (status 1005 is reported for it). A one-byte payload, a code
/// that may not be sent, and a reason that is not UTF-8 are protocol errors (the last answered
/// with 1007).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = Utf8Bytes::try_from(Bytes::copy_from_slice(reason))
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classification_follows_rfc_6455_and_iana() {
        let cases = [
            (0, CloseCodeKind::Invalid),
            (999, CloseCodeKind::Invalid),
            (1000, CloseCodeKind::Defined),
            (1003, CloseCodeKind::Defined),
            (1004, CloseCodeKind::Reserved),
            (1005, CloseCodeKind::NotOnWire),
            (1006, CloseCodeKind::NotOnWire),
            (1007, CloseCodeKind::Defined),
            (1011, CloseCodeKind::Defined),
            (1014, CloseCodeKind::Defined),
            (1015, CloseCodeKind::NotOnWire),
            (1016, CloseCodeKind::Reserved),
            (2999, CloseCodeKind::Reserved),
            (3000, CloseCodeKind::Registered),
            (3999, CloseCodeKind::Registered),
            (4000, CloseCodeKind::Private),
            (4999, CloseCodeKind::Private),
            (5000, CloseCodeKind::Invalid),
            (65535, CloseCodeKind::Invalid),
        ];
        for (code, kind) in cases {
            assert_eq!(CloseCode(code).kind(), kind, "code {code}");
        }
    }

    #[test]
    fn parse_rejects_what_the_rfc_forbids() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(
            parse_close_payload(b"\x03"),
            Err(ProtocolError::CloseFrameTooShort)
        );
        assert_eq!(
            parse_close_payload(b"\x03\xed"),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xce\xba\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
        let frame = parse_close_payload(b"\x0f\xa0").unwrap().unwrap();
        assert_eq!(frame, CloseFrame::new(CloseCode(4000), ""));
    }

    #[test]
    fn encode_rejects_unsendable_codes_and_long_reasons() {
        assert_eq!(
            encode_close_payload(CloseCode::ABNORMAL, ""),
            Err(SendError::InvalidCloseCode(1006))
        );
        let long = "x".repeat(124);
        assert_eq!(
            encode_close_payload(CloseCode::NORMAL, &long),
            Err(SendError::ControlPayloadTooLong(126))
        );
        assert!(encode_close_payload(CloseCode::NORMAL, &long[..123]).is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(code in 0u16.., reason in "\\PC{0,40}") {
            let code = CloseCode(code);
            match encode_close_payload(code, &reason) {
                Ok(payload) => {
                    let frame = parse_close_payload(&payload).unwrap().unwrap();
                    prop_assert_eq!(frame, CloseFrame::new(code, reason.as_str()));
                }
                Err(_) => prop_assert!(!code.is_sendable() || reason.len() > MAX_CLOSE_REASON),
            }
        }
    }
}
