//! Compressing and inflating messages (RFC 7692 section 7.2), with bounded output.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{DeflateConfig, DeflateParams};
use crate::extension::{DecodeError, EncodingKey, Extension};
use crate::role::Role;

/// What a sync flush ends with; removed from each sent message and put back before inflating
/// each received one (section 7.2.1 and 7.2.2).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The least an output buffer grows by.
const MIN_GROWTH: usize = 4096;

/// permessage-deflate on one connection: a compressor for what this end sends and a
/// decompressor for what it receives, each kept between messages only with context takeover.
pub(crate) struct Deflate {
    level: Compression,
    threshold: usize,
    /// Window bits for compressing, 9 to 15 (8 agreed is compressed with 9).
    compress_bits: u8,
    /// Whether the compressor is dropped after each message.
    compress_reset: bool,
    compressor: Option<Compress>,
    /// Window bits for inflating, 9 to 15 (9 inflates what an 8-bit window produced).
    inflate_bits: u8,
    inflate_reset: bool,
    decompressor: Option<Decompress>,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("level", &self.level.level())
            .field("threshold", &self.threshold)
            .field("compress_bits", &self.compress_bits)
            .field("compress_reset", &self.compress_reset)
            .field("inflate_bits", &self.inflate_bits)
            .field("inflate_reset", &self.inflate_reset)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    /// The codec for `role` on a connection that agreed `params`.
    pub(crate) fn new(role: Role, params: &DeflateParams, config: &DeflateConfig) -> Self {
        let (own_bits, own_reset, peer_bits, peer_reset) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        Deflate {
            level: Compression::new(config.level.min(9)),
            threshold: config.threshold,
            compress_bits: own_bits.clamp(9, 15),
            compress_reset: own_reset,
            compressor: None,
            inflate_bits: peer_bits.clamp(9, 15),
            inflate_reset: peer_reset,
            decompressor: None,
        }
    }
}

impl Deflate {
    /// Compresses `payload` as one message with `compressor` (a sync flush, without its
    /// trailer); `None` if the compressor failed.
    fn compress(compressor: &mut Compress, payload: &[u8]) -> Option<Bytes> {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let mut input = payload;
        loop {
            let before = compressor.total_in();
            compressor
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .ok()?;
            input = &input[(compressor.total_in() - before) as usize..];
            // The flush is complete once all input is taken and the output has room left.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(MIN_GROWTH));
        }
        debug_assert!(
            out.ends_with(&TRAILER),
            "a sync flush ends with an empty block"
        );
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        Some(out.into())
    }

    /// What `encode` sends for a payload below the threshold or empty, before compressing:
    /// `Some(None)` for "unchanged", `Some(Some(block))` for the empty block, `None` to go on.
    fn without_compressing(&self, payload: &[u8]) -> Option<Option<Bytes>> {
        if payload.len() < self.threshold {
            return Some(None);
        }
        if payload.is_empty() {
            // One empty block with no compression (section 7.2.3.6), without touching the
            // compressor, which would have nothing to flush.
            return Some(Some(Bytes::from_static(&[0x00])));
        }
        None
    }
}

impl Extension for Deflate {
    fn encode(&mut self, payload: &[u8]) -> Option<Bytes> {
        if let Some(early) = self.without_compressing(payload) {
            return early;
        }
        let (level, bits) = (self.level, self.compress_bits);
        let compressor = self
            .compressor
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let out = Self::compress(compressor, payload);
        if out.is_none() || self.compress_reset {
            // A failure cannot happen with a valid compressor; that message goes out as it is
            // and the next starts afresh, which the peer can inflate either way.
            self.compressor = None;
        }
        out
    }

    fn encoding_key(&self) -> Option<EncodingKey> {
        // With context takeover, a message's bytes depend on every message before it.
        self.compress_reset.then(|| EncodingKey {
            level: self.level.level(),
            window_bits: self.compress_bits,
            threshold: self.threshold,
        })
    }

    fn encode_detached(&self, payload: &[u8]) -> Option<Bytes> {
        if let Some(early) = self.without_compressing(payload) {
            return early;
        }
        let mut compressor = Compress::new_with_window_bits(self.level, false, self.compress_bits);
        Self::compress(&mut compressor, payload)
    }

    fn decode(&mut self, payload: &[u8], fin: bool, limit: usize) -> Result<Bytes, DecodeError> {
        let bits = self.inflate_bits;
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut out = Vec::new();
        let mut result = inflate(decompressor, payload, &mut out, limit);
        // The trailer completes the empty block a sync flush ends with; a stream that ended
        // with a final block has no such block to complete.
        if fin && result == Ok(End::Open) {
            result = inflate(decompressor, &TRAILER, &mut out, limit);
        }
        if result.is_err() || (fin && self.inflate_reset) {
            self.decompressor = None;
        }
        result.map(|_| out.into())
    }
}

/// Where the input given to [`inflate`] left the stream.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// In the middle: more may follow.
    Open,
    /// Just after a block with BFINAL set; the decompressor is reset.
    Final,
}

/// Inflates all of `input` onto `out`, which never grows beyond `limit + 1` bytes.
fn inflate(
    decompressor: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<End, DecodeError> {
    loop {
        if out.len() == out.capacity() {
            // Grow by the output so far (doubling), at least by a few pages, and never beyond
            // one byte over the limit, which is how exceeding it shows.
            let want = out.len().max(input.len() * 2).max(MIN_GROWTH);
            // `limit` may be usize::MAX (no limit), hence the saturation.
            out.reserve_exact(want.min(limit.saturating_add(1) - out.len()));
        }
        let (in_before, input_before, out_before) =
            (decompressor.total_in(), input.len(), out.len());
        let status = decompressor
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| DecodeError::Invalid)?;
        input = &input[(decompressor.total_in() - in_before) as usize..];
        if out.len() > limit {
            return Err(DecodeError::TooLarge { size: out.len() });
        }
        if status == Status::StreamEnd {
            // A block with BFINAL set ends the stream; whatever follows starts a new one
            // (section 7.2.3.4), with nothing to refer back to.
            decompressor.reset(false);
            if input.is_empty() {
                return Ok(End::Final);
            }
            continue;
        }
        let room = out.len() < out.capacity();
        let stalled = input.len() == input_before && out.len() == out_before;
        if input.is_empty() && (room || stalled) {
            return Ok(End::Open);
        }
        if stalled && room {
            return Err(DecodeError::Invalid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(params: DeflateParams, config: &DeflateConfig) -> (Deflate, Deflate) {
        (
            Deflate::new(Role::Client, &params, config),
            Deflate::new(Role::Server, &params, config),
        )
    }

    fn params(takeover: bool, bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: !takeover,
            client_no_context_takeover: !takeover,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
            answer_server_bits: false,
            answer_client_bits: false,
        }
    }

    fn json(i: usize) -> Vec<u8> {
        format!("{{\"id\":{i},\"name\":\"user{i}\",\"tags\":[\"a\",\"b\"],\"ok\":true}}")
            .repeat(20)
            .into_bytes()
    }

    #[test]
    fn round_trips_with_and_without_context_takeover() {
        for takeover in [true, false] {
            for bits in [8, 9, 12, 15] {
                let (mut client, mut server) = pair(params(takeover, bits), &Default::default());
                let mut sizes = Vec::new();
                for i in 0..20 {
                    let message = json(i % 3);
                    let wire = client.encode(&message).unwrap();
                    sizes.push(wire.len());
                    assert!(!wire.ends_with(&TRAILER));
                    assert_eq!(server.decode(&wire, true, 1 << 20).unwrap(), message);
                    // And back, split into three frames.
                    let wire = server.encode(&message).unwrap();
                    let (a, rest) = wire.split_at(wire.len() / 3);
                    let (b, c) = rest.split_at(rest.len() / 2);
                    let mut got = client.decode(a, false, 1 << 20).unwrap().to_vec();
                    got.extend_from_slice(&client.decode(b, false, 1 << 20).unwrap());
                    got.extend_from_slice(&client.decode(c, true, 1 << 20).unwrap());
                    assert_eq!(got, message);
                }
                // With context takeover and a window that holds a message, repeated messages
                // shrink to references.
                if bits >= 12 {
                    assert_eq!(
                        takeover,
                        sizes[5] < sizes[0] / 2,
                        "{takeover} {bits} {sizes:?}"
                    );
                }
                assert_eq!(client.compressor.is_some(), takeover);
                assert_eq!(server.decompressor.is_some(), takeover);
            }
        }
    }

    #[test]
    fn empty_and_tiny_messages() {
        let (mut client, mut server) = pair(params(true, 15), &Default::default());
        let wire = client.encode(b"").unwrap();
        assert_eq!(&wire[..], [0x00]);
        assert!(server.decode(&wire, true, 0).unwrap().is_empty());
        let config = DeflateConfig::default().threshold(10);
        let (mut client, _) = pair(params(true, 15), &config);
        assert!(client.encode(b"short").is_none());
        assert!(client.encode(b"long enough").is_some());
    }

    #[test]
    fn inflation_stops_at_the_limit() {
        let (mut client, mut server) = pair(params(false, 15), &Default::default());
        let wire = client.encode(&vec![b'a'; 1 << 20]).unwrap();
        assert!(wire.len() < 2048);
        let error = server.decode(&wire, true, 100_000).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge { size: 100_001 }));
        // Exactly the limit is fine.
        let wire = client.encode(&vec![b'a'; 100_000]).unwrap();
        assert_eq!(server.decode(&wire, true, 100_000).unwrap().len(), 100_000);
    }

    #[test]
    fn invalid_streams_fail() {
        let (_, mut server) = pair(params(true, 15), &Default::default());
        // BTYPE 11 is reserved.
        assert!(matches!(
            server.decode(&[0xff, 0xff, 0xff], true, 1 << 20),
            Err(DecodeError::Invalid)
        ));
        // The decompressor starts afresh after a failure.
        assert!(server.decompressor.is_none());
    }

    #[test]
    fn a_final_block_ends_the_stream_and_a_new_one_may_follow() {
        // What an endpoint that flushes with BFINAL sends (section 7.2.3.4): two messages,
        // each a whole raw deflate stream.
        let mut raw = Compress::new(Compression::default(), false);
        let mut first = Vec::with_capacity(256);
        raw.compress_vec(b"hello hello", &mut first, FlushCompress::Finish)
            .unwrap();
        raw.reset();
        let mut second = Vec::with_capacity(256);
        raw.compress_vec(b"world", &mut second, FlushCompress::Finish)
            .unwrap();
        let (_, mut server) = pair(params(true, 15), &Default::default());
        assert_eq!(
            &server.decode(&first, true, 100).unwrap()[..],
            b"hello hello"
        );
        assert_eq!(&server.decode(&second, true, 100).unwrap()[..], b"world");
    }
}
