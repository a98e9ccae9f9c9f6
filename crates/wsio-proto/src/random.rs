//! The cryptographic random source behind masking keys and handshake keys.

/// Fills `buf` from the operating system's cryptographic random source.
///
/// # Panics
///
/// If the operating system cannot provide random bytes at all. RFC 6455 forbids predictable
/// masks and keys, so there is no safe fallback.
pub(crate) fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}
