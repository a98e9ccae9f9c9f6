//! A minimal WebSocket frame codec for load generation: build one masked frame to send again
//! and again, count the frames that come back, echo masked frames as a server would, and
//! stamp frames with their send time and read the stamps back.
//!
//! It checks nothing beyond what it needs to find frame boundaries: the peers it talks to are
//! trusted, and the code under test is on the other side.

/// The length of the header that starts with the bytes `b0`, `b1`.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// The payload length from a complete header.
fn payload_len(header: &[u8]) -> usize {
    match header[1] & 0x7f {
        126 => u16::from_be_bytes([header[2], header[3]]) as usize,
        127 => {
            let mut len = [0; 8];
            len.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(len) as usize
        }
        n => n as usize,
    }
}

/// The key of every frame the generator sends: the server cannot tell, and the generator stays
/// cheap.
const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// One final binary frame of `size` bytes, masked as a client must send it.
pub fn client_frame(size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| i as u8 % 26 + b'a').collect();
    masked_frame(0x82, &payload)
}

/// Text of `size` bytes that compresses about as well as typical JSON traffic.
fn json_text(size: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(size + 64);
    let mut id = 0;
    while text.len() < size {
        text.extend_from_slice(
            format!(
                r#"{{"id":{id},"name":"user {id}","active":{},"score":{}}},"#,
                id % 3 == 0,
                id * 37 % 1000
            )
            .as_bytes(),
        );
        id += 1;
    }
    text.truncate(size);
    text
}

/// One final text frame carrying `size` bytes of JSON-like text compressed with
/// permessage-deflate (RSV1 set), as a client that promised `client_no_context_takeover` sends
/// it: each message is compressed on its own, so the same frame can be sent again and again.
pub fn deflated_client_frame(size: usize) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::default(), false);
    let mut compressed = Vec::with_capacity(size + 64);
    compress
        .compress_vec(
            &json_text(size),
            &mut compressed,
            flate2::FlushCompress::Sync,
        )
        .expect("compressing into a large enough buffer");
    // RFC 7692 section 7.2.1: the sync flush's empty block is not sent.
    compressed.truncate(compressed.len() - 4);
    masked_frame(0xc1, &compressed)
}

/// A final frame with the first header byte `b0` and `payload`, masked.
fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let size = payload.len();
    let mut frame = vec![b0];
    match size {
        0..=125 => frame.push(0x80 | size as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

/// Counts whole frames in a byte stream that arrives in pieces, without keeping payloads.
#[derive(Debug, Default)]
pub struct FrameCounter {
    /// Payload bytes still to skip in the current frame.
    skip: usize,
    /// Whether a frame's payload is being skipped.
    in_payload: bool,
    /// The part of a header that has arrived.
    header: Vec<u8>,
}

impl FrameCounter {
    /// Feeds the next bytes; returns how many frames they completed.
    pub fn feed(&mut self, mut data: &[u8]) -> usize {
        let mut done = 0;
        loop {
            if self.in_payload {
                let take = self.skip.min(data.len());
                self.skip -= take;
                data = &data[take..];
                if self.skip > 0 {
                    return done;
                }
                self.in_payload = false;
                done += 1;
                continue;
            }
            if data.is_empty() {
                return done;
            }
            let Some(len) = gather_header(&mut self.header, &mut data) else {
                continue;
            };
            self.skip = len;
            self.in_payload = true;
        }
    }
}

/// Takes from the front of `data` what is missing of a frame header that may be split between
/// reads, into `header`; once the header is whole, clears it and returns its payload length.
fn gather_header(header: &mut Vec<u8>, data: &mut &[u8]) -> Option<usize> {
    let need = if header.len() < 2 {
        2
    } else {
        header_len(header[1])
    };
    if header.len() < need {
        let take = (need - header.len()).min(data.len());
        header.extend_from_slice(&data[..take]);
        *data = &data[take..];
        return None;
    }
    let len = payload_len(header);
    header.clear();
    Some(len)
}

/// Echoes every whole masked frame at the start of `input` into `out`, unmasked, as a server
/// sends it; removes them from `input` and returns how many there were. A partial frame stays.
pub fn echo_frames(input: &mut bytes::BytesMut, out: &mut Vec<u8>) -> usize {
    let mut count = 0;
    loop {
        if input.len() < 2 {
            return count;
        }
        let head = header_len(input[1]);
        if input.len() < head {
            return count;
        }
        let len = payload_len(&input[..head]);
        if input.len() < head + len {
            return count;
        }
        let masked = input[1] & 0x80 != 0;
        // The header without the mask bit and key.
        out.push(input[0]);
        out.push(input[1] & 0x7f);
        let key_at = head - if masked { 4 } else { 0 };
        out.extend_from_slice(&input[2..key_at]);
        let start = out.len();
        out.extend_from_slice(&input[head..head + len]);
        if masked {
            let key = [
                input[key_at],
                input[key_at + 1],
                input[key_at + 2],
                input[key_at + 3],
            ];
            wsio::proto::apply_mask(&mut out[start..], key, 0);
        }
        let _ = input.split_to(head + len);
        count += 1;
    }
}

/// Writes `stamp` (little-endian) into the first 8 payload bytes of `frame`, a masked client
/// frame of at least 8 payload bytes such as [`client_frame`] makes, masking it as the rest.
pub fn stamp(frame: &mut [u8], stamp: u64) {
    let head = header_len(frame[1]);
    for (i, byte) in stamp.to_le_bytes().into_iter().enumerate() {
        frame[head + i] = byte ^ KEY[i % 4];
    }
}

/// Finds frame boundaries in a server's byte stream that arrives in pieces, like
/// [`FrameCounter`], and reads the stamp at the start of each frame's payload (see [`stamp`]);
/// the rest of the payload is skipped.
#[derive(Debug, Default)]
pub struct StampReader {
    /// Payload bytes still to take in the current frame.
    skip: usize,
    /// Whether a frame's payload is being read.
    in_payload: bool,
    /// The part of a header that has arrived.
    header: Vec<u8>,
    /// The current frame's stamp, as far as it has arrived.
    stamp: [u8; 8],
    /// How many of the stamp's bytes have arrived.
    stamp_len: usize,
}

impl StampReader {
    /// Feeds the next bytes, unmasked as a server sends them; calls `on_frame` with the stamp
    /// of each frame they complete.
    pub fn feed(&mut self, mut data: &[u8], mut on_frame: impl FnMut(u64)) {
        loop {
            if self.in_payload {
                let take = (8 - self.stamp_len).min(self.skip).min(data.len());
                self.stamp[self.stamp_len..self.stamp_len + take].copy_from_slice(&data[..take]);
                self.stamp_len += take;
                let rest = (self.skip - take).min(data.len() - take);
                self.skip -= take + rest;
                data = &data[take + rest..];
                if self.skip > 0 {
                    return;
                }
                self.in_payload = false;
                on_frame(u64::from_le_bytes(self.stamp));
                continue;
            }
            if data.is_empty() {
                return;
            }
            let Some(len) = gather_header(&mut self.header, &mut data) else {
                continue;
            };
            self.skip = len;
            self.stamp = [0; 8];
            self.stamp_len = 0;
            self.in_payload = true;
        }
    }
}
