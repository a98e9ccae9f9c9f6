//! `parse_close_payload` against its whole specification: which payloads are accepted, which
//! error each rejected one gets, and that an accepted payload encodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_proto::{
    CloseCode, MAX_CLOSE_REASON, ProtocolError, encode_close_payload, parse_close_payload,
};

fuzz_target!(|payload: &[u8]| {
    let result = parse_close_payload(payload);
    match (payload, result) {
        ([], Ok(None)) => {}
        ([_], Err(ProtocolError::CloseFrameTooShort)) => {}
        ([hi, lo, reason @ ..], result) => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            match result {
                Ok(Some(frame)) => {
                    assert!(code.is_sendable(), "accepted unsendable code {code:?}");
                    assert_eq!(frame.code, code);
                    assert_eq!(frame.reason.as_bytes(), reason);
                    if reason.len() <= MAX_CLOSE_REASON {
                        let again = encode_close_payload(frame.code, frame.reason.as_str())
                            .expect("an accepted close payload encodes again");
                        assert_eq!(&again[..], payload);
                    }
                }
                Err(ProtocolError::InvalidCloseCode(c)) => {
                    assert_eq!(c, code.0);
                    assert!(!code.is_sendable());
                }
                Err(ProtocolError::InvalidUtf8) => {
                    assert!(code.is_sendable());
                    assert!(std::str::from_utf8(reason).is_err());
                }
                other => panic!("undocumented result {other:?} for {payload:?}"),
            }
        }
        (_, other) => panic!("undocumented result {other:?} for {payload:?}"),
    }
});
