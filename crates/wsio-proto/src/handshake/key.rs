//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 sections 4.1 and 4.2.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID that RFC 6455 section 1.3 appends to the key before hashing it.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// How many random bytes a key encodes (RFC 6455 section 4.1, client step 7).
const KEY_BYTES: usize = 16;

/// A fresh `Sec-WebSocket-Key`: 16 bytes from the operating system's cryptographic random
/// source, in base64 (24 characters).
///
/// RFC 6455 section 4.1 asks for a nonce "randomly selected for each connection", so call this
/// once per handshake. [`ClientHandshake`](super::ClientHandshake) does.
///
/// ```
/// let key = wsio_proto::handshake::generate_key();
/// assert_eq!(key.len(), 24);
/// assert_ne!(key, wsio_proto::handshake::generate_key());
/// ```
pub fn generate_key() -> String {
    let mut nonce = [0u8; KEY_BYTES];
    crate::random::fill(&mut nonce);
    STANDARD.encode(nonce)
}

/// The `Sec-WebSocket-Accept` value that answers `key`: the base64 of the SHA-1 of `key`
/// followed by the protocol's GUID (RFC 6455 section 4.2.2, step 5.4).
///
/// ```
/// use wsio_proto::handshake::accept_key;
///
/// // The example of RFC 6455 section 1.3.
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let digest = Sha1::new().chain_update(key).chain_update(GUID).finalize();
    STANDARD.encode(&digest[..])
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 that decodes to exactly 16 bytes
/// (RFC 6455 section 4.2.1, item 5).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes take 24 characters; checking the length first bounds the work.
    key.len() == 24
        && STANDARD
            .decode(key)
            .is_ok_and(|bytes| bytes.len() == KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let keys: Vec<String> = (0..32).map(|_| generate_key()).collect();
        for key in &keys {
            assert!(is_valid_key(key.as_bytes()), "{key}");
        }
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        // 15 and 17 bytes.
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAA="));
        // Missing padding, bad characters, non-canonical trailing bits, URL-safe alphabet.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZ!=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(b"_____________________w=="));
        assert!(!is_valid_key(b""));
    }
}
