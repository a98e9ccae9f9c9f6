//! Frames: opcodes, headers and their wire encoding (RFC 6455 section 5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               | Masking-key, if MASK set to 1 |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! [`FrameHeader::decode`] checks every rule that does not depend on the role or on negotiated
//! extensions: reserved opcodes, the 64-bit length's top bit, and the size and FIN bit of
//! control frames. The [`Connection`](crate::Connection) adds the rest (masking by role, RSV
//! bits, size limits, fragmentation order).
//!
//! [`encode_frame`] and [`decode_frame`] are stateless helpers for raw protocol work over the
//! same code the connection uses.

use bytes::{BufMut, Bytes, BytesMut};

use crate::close::{CloseFrame, parse_close_payload};
use crate::error::ProtocolError;
use crate::mask::apply_mask;

/// The largest encoded header: 2 bytes, 8 of extended length, 4 of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 section 5.2). Reserved opcodes are not representable: decoding
/// one is [`ProtocolError::ReservedOpcode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Whether this is a control opcode (close, ping, pong).
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }

    /// The 4-bit value on the wire.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }
}

impl TryFrom<u8> for OpCode {
    type Error = ProtocolError;

    /// Reads a 4-bit opcode; values RFC 6455 reserves are an error.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Ok(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }
}

/// The result of decoding from a buffer that may hold only part of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The value, and how many bytes of the buffer it took.
    Complete {
        /// What was decoded.
        value: T,
        /// Bytes of the buffer it took.
        len: usize,
    },
    /// The buffer is too short: at least `needed` more bytes must arrive.
    Incomplete {
        /// The least number of bytes still missing.
        needed: usize,
    },
}

/// The header of one frame.
///
/// ```
/// use wsio_proto::{Decoded, FrameHeader, OpCode};
///
/// // RFC 6455 section 5.7: a masked "Hello" from a client.
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let Decoded::Complete { value: header, len } = FrameHeader::decode(&wire)? else {
///     unreachable!("the buffer holds a whole header")
/// };
/// assert_eq!(len, 6);
/// assert_eq!(header.opcode, OpCode::Text);
/// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(header.payload_len, 5);
/// # Ok::<(), wsio_proto::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// RSV1 (used by permessage-deflate).
    pub rsv1: bool,
    /// RSV2.
    pub rsv2: bool,
    /// RSV3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked header with no RSV bits set.
    pub const fn new(opcode: OpCode, payload_len: u64) -> Self {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// The RSV bits as a 3-bit number: RSV1 is 0b100, RSV3 is 0b001.
    pub const fn rsv_bits(&self) -> u8 {
        (self.rsv1 as u8) << 2 | (self.rsv2 as u8) << 1 | self.rsv3 as u8
    }

    /// How many bytes [`encode`](Self::encode) writes: 2 to 14.
    pub const fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        if self.mask.is_some() { len + 4 } else { len }
    }

    /// Writes the header, using the shortest length encoding as RFC 6455 requires.
    ///
    /// The caller keeps the payload length below 2^63.
    pub fn encode(&self, dst: &mut impl BufMut) {
        // Put together on the stack and appended at once: a separate append for each field
        // was most of the cost of sending a small message.
        let mut header = [0; MAX_HEADER_LEN];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        header[0] = (self.fin as u8) << 7 | self.rsv_bits() << 4 | self.opcode.as_u8();
        let mut len = match self.payload_len {
            len @ 0..=125 => {
                header[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                header[1] = mask_bit | 126;
                header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                header[1] = mask_bit | 127;
                header[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            header[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        dst.put_slice(&header[..len]);
    }

    /// Reads a header from the start of `src`.
    ///
    /// Returns [`Decoded::Incomplete`] with the number of missing bytes when `src` is too short.
    /// Fails on a reserved opcode, a 64-bit length with its top bit set, and a control frame that
    /// is fragmented or longer than 125 bytes. Nothing is allocated.
    pub fn decode(src: &[u8]) -> Result<Decoded<FrameHeader>, ProtocolError> {
        let [first, second, ..] = *src else {
            return Ok(Decoded::Incomplete {
                needed: 2 - src.len(),
            });
        };
        let opcode = OpCode::try_from(first & 0x0F)?;
        let fin = first & 0x80 != 0;
        let masked = second & 0x80 != 0;
        let short_len = second & 0x7F;
        let length_bytes = match short_len {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if short_len > 125 {
                // The 16- and 64-bit forms are only for lengths over 125 (section 5.2), so the
                // first two bytes suffice. Report the length if it is here and over 125; a
                // smaller one is written in a form it may not use, so report the form.
                let len = read_length(&src[2..], length_bytes)
                    .filter(|&len| len > MAX_CONTROL_PAYLOAD as u64)
                    .unwrap_or(u64::from(short_len));
                return Err(ProtocolError::ControlFrameTooLong(len));
            }
        }
        let header_len = 2 + length_bytes + if masked { 4 } else { 0 };
        if src.len() < header_len {
            return Ok(Decoded::Incomplete {
                needed: header_len - src.len(),
            });
        }
        let payload_len = match short_len {
            126 | 127 => read_length(&src[2..], length_bytes).expect("length bytes are present"),
            len => u64::from(len),
        };
        if payload_len >> 63 != 0 {
            return Err(ProtocolError::PayloadLengthOverflow);
        }
        let mask = masked.then(|| {
            let at = 2 + length_bytes;
            [src[at], src[at + 1], src[at + 2], src[at + 3]]
        });
        Ok(Decoded::Complete {
            value: FrameHeader {
                fin,
                rsv1: first & 0x40 != 0,
                rsv2: first & 0x20 != 0,
                rsv3: first & 0x10 != 0,
                opcode,
                mask,
                payload_len,
            },
            len: header_len,
        })
    }
}

/// Reads a big-endian extended length of 2 or 8 bytes, if `src` holds it.
fn read_length(src: &[u8], length_bytes: usize) -> Option<u64> {
    let bytes = src.get(..length_bytes)?;
    Some(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
}

/// A whole frame with its payload unmasked.
///
/// This is what frame mode delivers ([`Event::Frame`](crate::Event::Frame)) and what
/// [`Connection::send_frame`](crate::Connection::send_frame) takes. Masking is a matter of the
/// wire and the role, so it is not part of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// RSV1.
    pub rsv1: bool,
    /// RSV2.
    pub rsv2: bool,
    /// RSV3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl Frame {
    /// A frame with no RSV bits set.
    pub fn new(fin: bool, opcode: OpCode, payload: impl Into<Bytes>) -> Self {
        Frame {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            payload: payload.into(),
        }
    }

    /// The header for this frame, with the given masking key.
    pub fn header(&self, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: self.fin,
            rsv1: self.rsv1,
            rsv2: self.rsv2,
            rsv3: self.rsv3,
            opcode: self.opcode,
            mask,
            payload_len: self.payload.len() as u64,
        }
    }

    /// For a close frame, the code and reason it carries; `None` for any other frame, and for
    /// a close frame without a code or whose payload is not a valid close payload (a
    /// connection never delivers one of those: it fails with 1002 or 1007 instead).
    ///
    /// ```
    /// use wsio_proto::{CloseCode, Frame, OpCode, encode_close_payload};
    ///
    /// let payload = encode_close_payload(CloseCode::NORMAL, "bye")?;
    /// let close = Frame::new(true, OpCode::Close, payload).close_frame().expect("a code");
    /// assert_eq!((close.code, close.reason.as_str()), (CloseCode::NORMAL, "bye"));
    /// assert_eq!(Frame::new(true, OpCode::Text, "bye").close_frame(), None);
    /// # Ok::<(), wsio_proto::SendError>(())
    /// ```
    pub fn close_frame(&self) -> Option<CloseFrame> {
        if self.opcode != OpCode::Close {
            return None;
        }
        parse_close_payload(&self.payload).ok().flatten()
    }
}

/// Encodes a whole frame, masking its payload with `mask` if one is given.
///
/// Clients must mask every frame with a fresh random key (RFC 6455 section 5.3), such as one
/// from [`random_mask`](crate::random_mask); servers must not mask. This helper does what it is
/// told, so it can also build frames that break the rules.
///
/// ```
/// use wsio_proto::{encode_frame, Frame, OpCode};
///
/// // RFC 6455 section 5.7: an unmasked "Hello".
/// let wire = encode_frame(&Frame::new(true, OpCode::Text, "Hello"), None);
/// assert_eq!(&wire[..], b"\x81\x05Hello");
/// ```
pub fn encode_frame(frame: &Frame, mask: Option<[u8; 4]>) -> BytesMut {
    let header = frame.header(mask);
    let mut out = BytesMut::with_capacity(header.encoded_len() + frame.payload.len());
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(&frame.payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// Decodes one whole frame from the start of `src`, unmasking its payload.
///
/// Returns the frame, the masking key it carried (if any), and how many bytes it took; or
/// [`Decoded::Incomplete`] when `src` does not yet hold the whole frame, in which case nothing
/// is allocated. Checks the same rules as [`FrameHeader::decode`].
///
/// ```
/// use wsio_proto::{decode_frame, Decoded, DecodedFrame, OpCode};
///
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let Decoded::Complete { value: DecodedFrame { frame, mask }, len } = decode_frame(&wire)? else {
///     unreachable!()
/// };
/// assert_eq!((frame.opcode, &frame.payload[..], len), (OpCode::Text, &b"Hello"[..], 11));
/// assert_eq!(mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(decode_frame(&wire[..8])?, Decoded::Incomplete { needed: 3 });
/// # Ok::<(), wsio_proto::ProtocolError>(())
/// ```
pub fn decode_frame(src: &[u8]) -> Result<Decoded<DecodedFrame>, ProtocolError> {
    let (header, header_len) = match FrameHeader::decode(src)? {
        Decoded::Complete { value, len } => (value, len),
        Decoded::Incomplete { needed } => return Ok(Decoded::Incomplete { needed }),
    };
    let available = (src.len() - header_len) as u64;
    if available < header.payload_len {
        // The shortfall fits in usize whenever the frame could fit in memory at all.
        let needed = usize::try_from(header.payload_len - available).unwrap_or(usize::MAX);
        return Ok(Decoded::Incomplete { needed });
    }
    let end = header_len + header.payload_len as usize;
    let mut payload = BytesMut::from(&src[header_len..end]);
    if let Some(key) = header.mask {
        apply_mask(&mut payload, key, 0);
    }
    let frame = Frame {
        fin: header.fin,
        rsv1: header.rsv1,
        rsv2: header.rsv2,
        rsv3: header.rsv3,
        opcode: header.opcode,
        payload: payload.freeze(),
    };
    Ok(Decoded::Complete {
        value: DecodedFrame {
            frame,
            mask: header.mask,
        },
        len: end,
    })
}

/// A frame read by [`decode_frame`], with the masking key it carried on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// The frame, its payload unmasked.
    pub frame: Frame,
    /// The masking key, if the frame was masked.
    pub mask: Option<[u8; 4]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_complete(src: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::decode(src).unwrap() {
            Decoded::Complete { value, len } => (value, len),
            other => panic!("expected a complete header, got {other:?}"),
        }
    }

    /// RFC 6455 section 5.7, every example, byte for byte in both directions.
    #[test]
    fn rfc_6455_section_5_7_examples() {
        let hello = Bytes::from_static(b"Hello");
        // A single-frame unmasked text message.
        let wire = b"\x81\x05\x48\x65\x6c\x6c\x6f";
        assert_eq!(
            &encode_frame(&Frame::new(true, OpCode::Text, hello.clone()), None)[..],
            wire
        );
        let Decoded::Complete {
            value: DecodedFrame { frame, mask: None },
            len: 7,
        } = decode_frame(wire).unwrap()
        else {
            panic!()
        };
        assert_eq!(frame.payload, hello);

        // A single-frame masked text message.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let wire = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        assert_eq!(
            &encode_frame(&Frame::new(true, OpCode::Text, hello.clone()), Some(key))[..],
            wire
        );
        let Decoded::Complete {
            value:
                DecodedFrame {
                    frame,
                    mask: Some(k),
                },
            ..
        } = decode_frame(wire).unwrap()
        else {
            panic!()
        };
        assert_eq!((frame.payload, k), (hello.clone(), key));

        // A fragmented unmasked text message.
        let first = b"\x01\x03\x48\x65\x6c";
        let second = b"\x80\x02\x6c\x6f";
        assert_eq!(
            &encode_frame(&Frame::new(false, OpCode::Text, "Hel"), None)[..],
            first
        );
        assert_eq!(
            &encode_frame(&Frame::new(true, OpCode::Continuation, "lo"), None)[..],
            second
        );
        let (h, _) = decode_complete(first);
        assert!(!h.fin && h.opcode == OpCode::Text && h.payload_len == 3);
        let (h, _) = decode_complete(second);
        assert!(h.fin && h.opcode == OpCode::Continuation && h.payload_len == 2);

        // Unmasked ping, and masked pong, each carrying "Hello".
        let ping = b"\x89\x05\x48\x65\x6c\x6c\x6f";
        assert_eq!(
            &encode_frame(&Frame::new(true, OpCode::Ping, hello.clone()), None)[..],
            ping
        );
        let pong = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        assert_eq!(
            &encode_frame(&Frame::new(true, OpCode::Pong, hello), Some(key))[..],
            pong
        );

        // 256 bytes binary in a single unmasked frame: 16-bit length.
        let header = FrameHeader::new(OpCode::Binary, 256);
        let mut out = Vec::new();
        header.encode(&mut out);
        assert_eq!(out, b"\x82\x7E\x01\x00");
        assert_eq!(decode_complete(&out), (header, 4));

        // 64 KiB binary in a single unmasked frame: 64-bit length.
        let header = FrameHeader::new(OpCode::Binary, 65536);
        let mut out = Vec::new();
        header.encode(&mut out);
        assert_eq!(out, b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00");
        assert_eq!(decode_complete(&out), (header, 10));
    }

    #[test]
    fn partial_headers_say_how_many_bytes_are_missing() {
        let wire = b"\x82\xFF\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04";
        assert_eq!(
            FrameHeader::decode(&[]),
            Ok(Decoded::Incomplete { needed: 2 })
        );
        assert_eq!(
            FrameHeader::decode(&wire[..1]),
            Ok(Decoded::Incomplete { needed: 1 })
        );
        for cut in 2..wire.len() {
            assert_eq!(
                FrameHeader::decode(&wire[..cut]),
                Ok(Decoded::Incomplete {
                    needed: wire.len() - cut
                }),
                "cut at {cut}"
            );
        }
        assert_eq!(decode_complete(wire).1, 14);
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn top_bit_of_64_bit_length_is_rejected() {
        let wire = b"\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(
            FrameHeader::decode(wire),
            Err(ProtocolError::PayloadLengthOverflow)
        );
        let wire = b"\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF";
        assert_eq!(decode_complete(wire).0.payload_len, (1 << 63) - 1);
    }

    #[test]
    fn control_frame_rules() {
        assert_eq!(
            FrameHeader::decode(b"\x09\x00"),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::decode(b"\x89\x7E\x00\x7E"),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        // Too long is known from the first two bytes, before the extended length arrives.
        assert_eq!(
            FrameHeader::decode(b"\x88\x7E"),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert_eq!(decode_complete(b"\x88\x7D").0.payload_len, 125);
    }

    #[test]
    fn incomplete_frame_allocates_nothing_and_reports_the_shortfall() {
        // A header announcing 2^62 bytes decodes without allocating anything.
        let wire = b"\x82\x7F\x40\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(
            decode_frame(wire),
            Ok(Decoded::Incomplete { needed: 1 << 62 })
        );
    }

    fn arb_opcode() -> impl Strategy<Value = OpCode> {
        prop_oneof![
            Just(OpCode::Continuation),
            Just(OpCode::Text),
            Just(OpCode::Binary),
            Just(OpCode::Close),
            Just(OpCode::Ping),
            Just(OpCode::Pong),
        ]
    }

    proptest! {
        #[test]
        fn header_round_trip(
            fin: bool, rsv1: bool, rsv2: bool, rsv3: bool,
            opcode in arb_opcode(),
            mask: Option<[u8; 4]>,
            len in prop_oneof![0u64..=125, 126u64..=0xFFFF, 0x1_0000u64..(1 << 63)],
        ) {
            let control = opcode.is_control();
            let header = FrameHeader {
                fin: fin || control, rsv1, rsv2, rsv3, opcode, mask,
                payload_len: if control { len % 126 } else { len },
            };
            let mut out = Vec::new();
            header.encode(&mut out);
            prop_assert_eq!(out.len(), header.encoded_len());
            prop_assert_eq!(decode_complete(&out), (header, out.len()));
        }

        #[test]
        fn frame_round_trip(
            fin: bool, opcode in arb_opcode(), mask: Option<[u8; 4]>,
            payload in proptest::collection::vec(any::<u8>(), 0..70_000),
        ) {
            let control = opcode.is_control();
            let mut payload = payload;
            if control { payload.truncate(125) }
            let frame = Frame::new(fin || control, opcode, payload);
            let wire = encode_frame(&frame, mask);
            let Decoded::Complete { value, len } = decode_frame(&wire).unwrap() else { panic!() };
            prop_assert_eq!(value, DecodedFrame { frame, mask });
            prop_assert_eq!(len, wire.len());
        }
    }
}
