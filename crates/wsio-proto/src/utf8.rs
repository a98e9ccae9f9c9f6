//! UTF-8: incremental validation across fragment boundaries, and [`Utf8Bytes`], text that is
//! known to be valid.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// Validates UTF-8 that arrives in pieces, failing as soon as the bytes seen so far cannot be
/// the start of valid UTF-8 (RFC 6455 section 8.1 allows failing fast; Autobahn's 6.x cases
/// expect it).
///
/// The bulk of each piece goes through one fast `simdutf8` call; only a code point split across
/// two pieces (at most three bytes held back) is checked on its own.
///
/// ```
/// use wsio_proto::Utf8Validator;
///
/// let euro = "€".as_bytes(); // E2 82 AC
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&euro[..1]).is_ok()); // may still become valid
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.finish().is_ok());
///
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&[0xE2, 0x28]).is_err()); // 0x28 cannot continue E2: fails at once
/// ```
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    pending_len: u8,
}

/// The bytes are not valid UTF-8 and no continuation can make them so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece of the text.
    ///
    /// After an error the validator's state is unspecified; start a new one.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let width = sequence_width(self.pending[0]);
            let take = (width - have).min(bytes.len());
            self.pending[have..have + take].copy_from_slice(&bytes[..take]);
            let candidate = &self.pending[..have + take];
            // At most four bytes: std's check has no set-up cost, and reports an unfinished
            // sequence (no error length) apart from an invalid one.
            match std::str::from_utf8(candidate) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; every byte of this piece was used.
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            bytes = &bytes[take..];
        }
        // The body goes through the fast validator; a code point cut off at the end is held
        // back, after checking that it can still become valid.
        let (body, tail) = bytes.split_at(unfinished_tail_start(bytes));
        if simdutf8::basic::from_utf8(body).is_err() {
            return Err(InvalidUtf8);
        }
        if !tail.is_empty() {
            match std::str::from_utf8(tail) {
                Err(e) if e.error_len().is_none() => {
                    self.pending[..tail.len()].copy_from_slice(tail);
                    self.pending_len = tail.len() as u8;
                }
                _ => return Err(InvalidUtf8),
            }
        }
        Ok(())
    }

    /// Whether the text seen so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Ends the text: an unfinished code point at the end is an error. Resets the validator.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.is_complete();
        self.pending_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

/// Where a code point that runs past the end of `bytes` starts, or `bytes.len()` if the last
/// code point looks complete. Only the last three bytes are looked at: a longer unfinished
/// sequence is invalid anyway, and the full check finds it.
fn unfinished_tail_start(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if byte & 0xC0 != 0x80 {
            // A lead byte (or ASCII): its sequence is unfinished if it needs more than is left.
            return if sequence_width(byte) > back {
                len - back
            } else {
                len
            };
        }
    }
    len
}

/// The length of the sequence that `lead` starts; 1 for a byte that cannot lead (the check that
/// follows rejects it).
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Bytes that are known to be valid UTF-8: the payload of a text message, shared without copying.
///
/// Derefs to `str`.
///
/// ```
/// use wsio_proto::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.len(), 6);
/// assert!(text.starts_with("hé"));
/// assert_eq!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).ok(), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text from a static string, without allocating.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes the caller has already validated.
    ///
    /// Only for bytes that have passed a [`Utf8Validator`] or an equal check: `as_str` relies
    /// on it.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The text.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Utf8Bytes` either validates its bytes or takes them from
        // a `str`/`String`, and the bytes are never mutated afterwards (`Bytes` is immutable).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Gives up the UTF-8 guarantee and returns the bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;

    /// Validates the bytes.
    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        match simdutf8::basic::from_utf8(&bytes) {
            Ok(_) => Ok(Utf8Bytes(bytes)),
            Err(_) => Err(InvalidUtf8),
        }
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `bytes` one byte at a time, returning how many bytes were accepted before failure.
    fn fails_after(bytes: &[u8]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        bytes
            .iter()
            .position(|b| v.feed(std::slice::from_ref(b)).is_err())
    }

    #[test]
    fn fails_on_the_first_byte_that_rules_out_valid_text() {
        // Autobahn 6.3.1: the lead bytes of a valid prefix pass, the first impossible byte fails.
        // "κόσμε" followed by ED A0 80 (a UTF-16 surrogate, invalid in UTF-8).
        let mut text = "κόσμε".as_bytes().to_vec();
        let valid_len = text.len();
        text.extend_from_slice(&[0xED, 0xA0, 0x80, 0x65, 0x64]);
        assert_eq!(fails_after(&text), Some(valid_len + 1));

        // F4 90: above U+10FFFF, known at the second byte.
        assert_eq!(fails_after(&[0xF4, 0x90, 0x80, 0x80]), Some(1));
        // Overlong encodings are invalid at the lead byte or the first continuation.
        assert_eq!(fails_after(&[0xC0, 0x80]), Some(0));
        assert_eq!(fails_after(&[0xE0, 0x80, 0x80]), Some(1));
        // A lone continuation byte.
        assert_eq!(fails_after(&[0x80]), Some(0));
        // Bytes that never occur.
        assert_eq!(fails_after(&[0xFF]), Some(0));
        assert_eq!(fails_after(&[0xF8, 0x88, 0x80, 0x80, 0x80]), Some(0));
    }

    #[test]
    fn an_unfinished_code_point_fails_at_the_end() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0, 0x9F, 0x98]).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // finish resets the validator.
        assert!(v.feed(b"ok").is_ok() && v.finish().is_ok());
    }

    #[test]
    fn a_code_point_split_across_three_pieces() {
        let smile = "😀".as_bytes();
        let mut v = Utf8Validator::new();
        v.feed(&smile[..1]).unwrap();
        v.feed(&smile[1..2]).unwrap();
        v.feed(&smile[2..]).unwrap();
        v.feed(b"").unwrap();
        assert!(v.finish().is_ok());
    }

    proptest! {
        #[test]
        fn any_split_of_valid_text_is_accepted(
            text in "\\PC{0,200}",
            cuts in proptest::collection::vec(0usize..1000, 0..6),
        ) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut v = Utf8Validator::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                prop_assert!(v.feed(&bytes[start..cut]).is_ok());
                start = cut;
            }
            prop_assert!(v.finish().is_ok());
        }

        #[test]
        fn agrees_with_std_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            cut in 0usize..64,
        ) {
            let cut = cut.min(bytes.len());
            let mut v = Utf8Validator::new();
            let ours = v.feed(&bytes[..cut]).and_then(|()| v.feed(&bytes[cut..])).and_then(|()| v.finish());
            prop_assert_eq!(ours.is_ok(), std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn fails_exactly_where_no_continuation_can_help(bytes in proptest::collection::vec(any::<u8>(), 1..32)) {
            // Byte by byte, the validator fails at the first prefix that std says is invalid
            // with a known error length (not merely unfinished).
            let expected = (1..=bytes.len()).find(|&n| {
                matches!(std::str::from_utf8(&bytes[..n]), Err(e) if e.error_len().is_some())
            });
            prop_assert_eq!(fails_after(&bytes).map(|i| i + 1), expected);
        }
    }
}
