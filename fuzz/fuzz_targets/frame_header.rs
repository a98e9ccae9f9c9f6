//! `FrameHeader::decode` and `decode_frame`: only the documented errors, each for the reason it
//! names; a decoded header re-encodes to the same bytes when the input used the shortest length
//! encoding; every shorter prefix is `Incomplete` with an honest `needed`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_proto::{
    Decoded, DecodedFrame, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, ProtocolError,
    apply_mask, decode_frame, encode_frame,
};

fuzz_target!(|data: &[u8]| {
    let header = FrameHeader::decode(data);
    match &header {
        Ok(Decoded::Complete { value, len }) => check_header(data, value, *len),
        Ok(Decoded::Incomplete { needed }) => {
            assert!(*needed >= 1 && data.len() + needed <= MAX_HEADER_LEN);
        }
        Err(error) => check_error(data, error),
    }
    match decode_frame(data) {
        Ok(Decoded::Complete {
            value: DecodedFrame { frame, mask },
            len,
        }) => {
            let Ok(Decoded::Complete {
                value: header,
                len: header_len,
            }) = header
            else {
                panic!("frame decoded but its header did not: {header:?}");
            };
            assert_eq!(len as u64, header_len as u64 + header.payload_len);
            assert_eq!(frame.header(mask), header);
            let mut payload = data[header_len..len].to_vec();
            if let Some(key) = mask {
                apply_mask(&mut payload, key, 0);
            }
            assert_eq!(frame.payload, payload);
            if header.encoded_len() == header_len {
                assert_eq!(&encode_frame(&frame, mask)[..], &data[..len]);
            }
        }
        Ok(Decoded::Incomplete { needed }) => {
            assert!(needed >= 1);
            if let Ok(Decoded::Complete { value, len }) = header {
                assert_eq!(
                    data.len() as u64 + needed as u64,
                    len as u64 + value.payload_len
                );
            }
        }
        Err(error) => assert_eq!(header, Err(error), "frame and header disagree"),
    }
});

fn check_header(data: &[u8], header: &FrameHeader, len: usize) {
    assert!((2..=MAX_HEADER_LEN).contains(&len) && len <= data.len());
    assert!(header.payload_len >> 63 == 0);
    assert_eq!(header.mask.is_some(), data[1] & 0x80 != 0);
    if header.opcode.is_control() {
        assert!(header.fin && header.payload_len <= MAX_CONTROL_PAYLOAD as u64);
    }
    let mut encoded = Vec::new();
    header.encode(&mut encoded);
    assert_eq!(encoded.len(), header.encoded_len());
    assert!(
        encoded.len() <= len,
        "the encoding is never longer than what was read"
    );
    if encoded.len() == len {
        assert_eq!(encoded, data[..len], "shortest encoding round-trips");
    }
    assert_eq!(
        FrameHeader::decode(&encoded),
        Ok(Decoded::Complete {
            value: *header,
            len: encoded.len()
        })
    );
    for cut in 0..len {
        match FrameHeader::decode(&data[..cut]) {
            Ok(Decoded::Incomplete { needed }) => assert!(needed >= 1 && cut + needed <= len),
            other => panic!("prefix of {cut} bytes gave {other:?}"),
        }
    }
}

fn check_error(data: &[u8], error: &ProtocolError) {
    let opcode = data[0] & 0x0F;
    let control = opcode >= 8;
    let short_len = data[1] & 0x7F;
    match *error {
        ProtocolError::ReservedOpcode(op) => {
            assert_eq!(op, opcode);
            assert!(OpCode::try_from(op).is_err());
        }
        ProtocolError::FragmentedControlFrame => assert!(control && data[0] & 0x80 == 0),
        ProtocolError::ControlFrameTooLong(len) => {
            assert!(control && short_len > 125 && len > MAX_CONTROL_PAYLOAD as u64);
        }
        ProtocolError::PayloadLengthOverflow => {
            assert!(short_len == 127 && data.len() >= 10 && data[2] & 0x80 != 0);
        }
        ref other => panic!("undocumented error {other:?}"),
    }
}
