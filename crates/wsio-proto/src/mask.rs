//! Masking (RFC 6455 section 5.3): XOR of the payload with a repeating 4-byte key.
//!
//! [`apply_mask`] works on 64-byte blocks against a pre-rotated copy of the key, a shape that
//! the compiler turns into vector instructions without `unsafe`. Masking is its own inverse, so
//! the same function masks and unmasks.

/// The block the fast path works on; a multiple of 4 so the key pattern repeats across blocks.
const BLOCK: usize = 64;

/// XORs `buf` with `key`, as if `buf` began `offset` bytes into a masked payload.
///
/// The offset lets a payload that arrives in pieces be unmasked piece by piece.
///
/// ```
/// use wsio_proto::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut whole = *b"Hello, world";
/// apply_mask(&mut whole, key, 0);
///
/// // The same bytes unmasked in two pieces, the second starting at offset 5.
/// let (a, b) = whole.split_at_mut(5);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 5);
/// assert_eq!(&whole, b"Hello, world");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let rotated = key_at(key, offset);
    // Short buffers go straight to the remainder loop below, which the compiler vectorizes
    // as well; a separate byte-wise path for them was three times slower.
    let mut pattern = [0u8; BLOCK];
    for quad in pattern.chunks_exact_mut(4) {
        quad.copy_from_slice(&rotated);
    }
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        for (byte, k) in block.iter_mut().zip(&pattern) {
            *byte ^= k;
        }
    }
    for (byte, k) in blocks.into_remainder().iter_mut().zip(&pattern) {
        *byte ^= k;
    }
}

/// The key rotated so that its first byte applies at `offset`.
fn key_at(key: [u8; 4], offset: usize) -> [u8; 4] {
    // A rotation of the little-endian word is a rotation of the bytes, without the call that
    // a slice rotation by a run-time amount compiles to.
    u32::from_le_bytes(key)
        .rotate_right(8 * (offset & 3) as u32)
        .to_le_bytes()
}

/// A fresh masking key from the operating system's cryptographic random source, the source a
/// client [`Connection`](crate::Connection) masks its own frames with. RFC 6455 section 5.3
/// asks for a new, unpredictable key for every frame a client sends: call it once per frame.
///
/// ```
/// use wsio_proto::{Decoded, Frame, OpCode, decode_frame, encode_frame, random_mask};
///
/// // A masked text frame, as a client sends it.
/// let key = random_mask();
/// let wire = encode_frame(&Frame::new(true, OpCode::Text, "Hello"), Some(key));
/// assert_eq!(wire[1], 0x80 | 5); // the mask bit and the length
/// assert_eq!(&wire[2..6], &key); // the key precedes the masked payload
///
/// // Decoding unmasks it again.
/// let Decoded::Complete { value, .. } = decode_frame(&wire)? else { unreachable!() };
/// assert_eq!(value.mask, Some(key));
/// assert_eq!(value.frame.payload, "Hello");
/// # Ok::<(), wsio_proto::ProtocolError>(())
/// ```
///
/// # Panics
///
/// If the operating system cannot provide random bytes at all: there is no safe fallback.
pub fn random_mask() -> [u8; 4] {
    let mut key = [0; 4];
    crate::random::fill(&mut key);
    key
}

/// Hands out masking keys drawn from the operating system's cryptographic random source
/// (RFC 6455 section 5.3 asks for keys that cannot be predicted).
///
/// Keys are drawn 256 at a time, so that a client sending small messages makes one system call
/// per 256 of them rather than one per write. The pool is allocated with the first key: a
/// server, which never masks, carries only an empty pointer.
#[derive(Debug)]
pub(crate) struct MaskGenerator {
    pool: Option<Box<[u8; KEY_POOL]>>,
    next: usize,
}

/// How many random bytes one draw takes: 256 keys.
const KEY_POOL: usize = 1024;

impl MaskGenerator {
    pub(crate) fn new() -> Self {
        MaskGenerator {
            pool: None,
            next: KEY_POOL,
        }
    }

    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        let pool = self.pool.get_or_insert_with(|| Box::new([0; KEY_POOL]));
        if self.next == KEY_POOL {
            crate::random::fill(&mut pool[..]);
            self.next = 0;
        }
        let at = self.next;
        self.next += 4;
        [pool[at], pool[at + 1], pool[at + 2], pool[at + 3]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition in RFC 6455 section 5.3, one byte at a time.
    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_the_reference_on_every_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=300 {
            for offset in 0..8 {
                let mut fast = data[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                reference(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unaligned_starts_match_the_reference() {
        // A slice that starts at every alignment within a larger buffer.
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..400u32).map(|i| (i * 13) as u8).collect();
        for start in 0..16 {
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast[start..start + 300], key, start);
            reference(&mut slow[start..start + 300], key, start);
            assert_eq!(fast, slow, "start {start}");
        }
    }

    #[test]
    fn random_masks_differ() {
        let drawn: Vec<[u8; 4]> = (0..100).map(|_| random_mask()).collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        // 100 random 32-bit keys collide with probability around 1e-6.
        assert!(distinct.len() >= 99, "keys repeat: {drawn:?}");
    }

    #[test]
    fn generated_keys_differ() {
        let mut keys = MaskGenerator::new();
        let drawn: Vec<[u8; 4]> = (0..100).map(|_| keys.next_key()).collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        // 100 random 32-bit keys collide with probability around 1e-6.
        assert!(distinct.len() >= 99, "keys repeat: {drawn:?}");
    }

    proptest! {
        #[test]
        fn masking_twice_restores_the_input(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            key: [u8; 4],
            offset in 0usize..1000,
        ) {
            let mut buf = data.clone();
            apply_mask(&mut buf, key, offset);
            let mut slow = data.clone();
            reference(&mut slow, key, offset);
            prop_assert_eq!(&buf, &slow);
            apply_mask(&mut buf, key, offset);
            prop_assert_eq!(buf, data);
        }

        #[test]
        fn split_anywhere_equals_whole(
            data in proptest::collection::vec(any::<u8>(), 0..500),
            key: [u8; 4],
            cut in 0usize..500,
        ) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut pieces = data;
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            prop_assert_eq!(whole, pieces);
        }
    }
}
