//! The bytes a connection wants written, kept as a queue of chunks for vectored writes.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::FrameHeader;
use crate::mask::apply_mask;

/// Payloads at least this long are queued as their own chunk instead of being copied.
const SHARE_THRESHOLD: usize = 4096;

/// What an empty packing buffer first takes: room for a burst of small frames at once, instead
/// of growing through many small allocations.
const FIRST_CAPACITY: usize = 4096;

/// Capacity above which an emptied buffer is released rather than kept for reuse.
const KEEP_CAPACITY: usize = 64 << 10;

/// Bytes waiting to be written to the transport, in order.
///
/// It is a [`bytes::Buf`]: write [`chunk`](Buf::chunk) (or the slices from
/// [`chunks_vectored`](Buf::chunks_vectored)) and [`advance`](Buf::advance) by what the
/// transport took. Small frames are packed together into one chunk so that a burst of frames
/// goes out in one write; large unmasked payloads are queued as they are, without a copy.
#[derive(Debug, Default)]
pub struct Transmit {
    /// Full chunks, oldest first; `tail` comes after all of them.
    chunks: VecDeque<Bytes>,
    /// Where headers and small payloads are packed.
    tail: BytesMut,
    len: usize,
}

impl Transmit {
    /// Appends one frame; masks the payload if the header carries a key.
    pub(crate) fn push_frame(&mut self, header: &FrameHeader, payload: &Bytes) {
        if self.tail.capacity() == 0 {
            self.tail.reserve(FIRST_CAPACITY);
        }
        let before = self.tail.len();
        header.encode(&mut self.tail);
        self.len += self.tail.len() - before + payload.len();
        if let Some(key) = header.mask {
            let start = self.tail.len();
            self.tail.extend_from_slice(payload);
            apply_mask(&mut self.tail[start..], key, 0);
        } else if payload.len() >= SHARE_THRESHOLD {
            self.push_shared(payload);
        } else {
            self.tail.extend_from_slice(payload);
        }
    }

    /// Appends frames already encoded (headers and payloads, unmasked), shared rather than
    /// copied when they are large.
    pub(crate) fn push_encoded(&mut self, frames: &Bytes) {
        self.len += frames.len();
        if frames.len() >= SHARE_THRESHOLD {
            self.push_shared(frames);
        } else {
            if self.tail.capacity() == 0 {
                self.tail.reserve(FIRST_CAPACITY);
            }
            self.tail.extend_from_slice(frames);
        }
    }

    /// Queues `bytes` as a chunk of its own, after what the tail holds (counted by the caller).
    fn push_shared(&mut self, bytes: &Bytes) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(bytes.clone());
    }
}

impl Buf for Transmit {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => chunk,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let slices = self
            .chunks
            .iter()
            .map(|chunk| &chunk[..])
            .chain(std::iter::once(&self.tail[..]))
            .filter(|slice| !slice.is_empty());
        let mut filled = 0;
        for (slot, slice) in dst.iter_mut().zip(slices) {
            *slot = IoSlice::new(slice);
            filled += 1;
        }
        filled
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.len,
            "advanced past the end of the transmit buffer"
        );
        self.len -= cnt;
        while cnt > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= cnt => {
                    cnt -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(cnt);
                    cnt = 0;
                }
                None => {
                    self.tail.advance(cnt);
                    cnt = 0;
                }
            }
        }
        if self.len == 0 && self.tail.capacity() > KEEP_CAPACITY {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    fn drain_vectored(t: &mut Transmit, max_write: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while t.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = t.chunks_vectored(&mut slices);
            let mut budget = max_write;
            let mut wrote = 0;
            for slice in &slices[..n] {
                let take = slice.len().min(budget);
                out.extend_from_slice(&slice[..take]);
                budget -= take;
                wrote += take;
            }
            t.advance(wrote);
        }
        out
    }

    #[test]
    fn small_and_large_frames_come_out_in_order() {
        let mut t = Transmit::default();
        let small = Bytes::from_static(b"tiny");
        let large = Bytes::from(vec![7u8; 10_000]);
        let mut expected = Vec::new();
        for payload in [&small, &large, &small, &large, &large, &small] {
            let header = FrameHeader::new(OpCode::Binary, payload.len() as u64);
            header.encode(&mut expected);
            expected.extend_from_slice(payload);
            t.push_frame(&header, payload);
        }
        assert_eq!(t.remaining(), expected.len());
        // Large unmasked payloads are shared, not copied.
        assert!(t.chunks.iter().any(|c| c.as_ptr() == large.as_ptr()));
        for max_write in [1, 3, 4096, usize::MAX] {
            let mut copy = Transmit::default();
            for payload in [&small, &large, &small, &large, &large, &small] {
                copy.push_frame(
                    &FrameHeader::new(OpCode::Binary, payload.len() as u64),
                    payload,
                );
            }
            assert_eq!(
                drain_vectored(&mut copy, max_write),
                expected,
                "writes of {max_write}"
            );
        }
        assert_eq!(drain_vectored(&mut t, usize::MAX), expected);
        assert_eq!(t.remaining(), 0);
    }

    #[test]
    fn masked_payloads_are_masked_in_the_buffer() {
        let mut t = Transmit::default();
        let mut header = FrameHeader::new(OpCode::Text, 5);
        header.mask = Some([0x37, 0xfa, 0x21, 0x3d]);
        t.push_frame(&header, &Bytes::from_static(b"Hello"));
        assert_eq!(
            t.copy_to_bytes(t.remaining()),
            &b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"[..]
        );
    }
}
