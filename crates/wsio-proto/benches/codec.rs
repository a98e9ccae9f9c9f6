//! Throughput of the codec's hot paths, each against a reference point.
//!
//! - `mask`: [`apply_mask`] against the RFC 6455 definition written as a plain byte loop (what a
//!   naive implementation costs) and against `fastwebsockets::unmask` (a word-at-a-time
//!   implementation in a widely used crate), on the same buffer and key. Masking touches every
//!   payload byte a client sends or a server receives, so it must not be the bottleneck.
//! - `utf8`: [`Utf8Validator`] fed a whole message at once, and fed the same message in 4 KiB
//!   pieces as a socket delivers it, against one `simdutf8` call on the whole buffer: the price
//!   of validating incrementally, split code points included.
//! - `header`: [`FrameHeader::decode`] and [`FrameHeader::encode`] for the three length
//!   encodings, per operation: paid once per frame, so it dominates for small messages.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use wsio_proto::{Decoded, FrameHeader, OpCode, Utf8Validator, apply_mask};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Payload sizes for masking, from a short chat message to a large upload.
const MASK_SIZES: [usize; 5] = [20, 64, KIB, 16 * KIB, MIB];

/// Piece size for the incremental UTF-8 case: a common socket read size.
const READ_SIZE: usize = 4 * KIB;

/// RFC 6455 section 5.3 as written: byte `i` is XORed with `key[i % 4]`.
#[inline(never)]
fn mask_bytewise(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// A human-readable size for benchmark ids: `64B`, `16KiB`, `1MiB`.
fn size_label(len: usize) -> String {
    match len {
        _ if len >= MIB && len % MIB == 0 => format!("{}MiB", len / MIB),
        _ if len >= KIB && len % KIB == 0 => format!("{}KiB", len / KIB),
        _ => format!("{len}B"),
    }
}

/// Benchmarks one masking function over a buffer of `len` bytes, masked in place repeatedly.
fn bench_masker(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    len: usize,
    mask: impl Fn(&mut [u8], [u8; 4]),
) {
    let mut buf: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut expected = buf.clone();
    mask_bytewise(&mut expected, KEY);
    let mut masked = buf.clone();
    mask(&mut masked, KEY);
    assert_eq!(masked, expected, "{name} disagrees with the RFC definition");
    group.bench_function(BenchmarkId::new(name, size_label(len)), |b| {
        b.iter(|| mask(black_box(&mut buf), black_box(KEY)));
    });
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for len in MASK_SIZES {
        group.throughput(Throughput::Bytes(len as u64));
        bench_masker(&mut group, "wsio", len, |buf, key| apply_mask(buf, key, 0));
        bench_masker(&mut group, "bytewise", len, mask_bytewise);
        bench_masker(&mut group, "fastwebsockets", len, fastwebsockets::unmask);
    }
    group.finish();
}

/// Text of at most `len` bytes made by repeating `sample`, cut at a character boundary.
fn text_of_len(sample: &str, len: usize) -> String {
    let mut text = sample.repeat(len / sample.len() + 1);
    let end = (0..=len)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text.truncate(end);
    text
}

/// Chat-like text: mostly ASCII, with Latin-1, Greek, CJK and emoji (2, 3 and 4-byte sequences).
const MIXED: &str = "Hello, world! Grüße aus Köln, καλημέρα κόσμε, 你好，世界。 \
                     Ship it 🚀 with a crab 🦀 and some plain ASCII to keep the ratio realistic.\n";

/// Plain ASCII, the common case for JSON messages.
const ASCII: &str =
    "{\"id\":12345,\"type\":\"update\",\"payload\":{\"name\":\"sensor-7\",\"value\":21.5}}\n";

/// Benchmarks the three ways of validating `text`.
fn bench_text(group: &mut BenchmarkGroup<'_, WallTime>, kind: &str, text: &str) {
    let bytes = text.as_bytes();
    let id = |name: &str| BenchmarkId::new(name, format!("{kind}/{}", size_label(bytes.len())));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(id("simdutf8"), |b| {
        b.iter(|| simdutf8::basic::from_utf8(black_box(bytes)).is_ok());
    });
    group.bench_function(id("validator_whole"), |b| {
        b.iter(|| {
            let mut validator = Utf8Validator::new();
            validator
                .feed(black_box(bytes))
                .and_then(|()| validator.finish())
        });
    });
    group.bench_function(id("validator_4KiB_pieces"), |b| {
        b.iter(|| {
            let mut validator = Utf8Validator::new();
            black_box(bytes)
                .chunks(READ_SIZE)
                .try_for_each(|piece| validator.feed(piece))
                .and_then(|()| validator.finish())
        });
    });
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for len in [16 * KIB, MIB] {
        bench_text(&mut group, "mixed", &text_of_len(MIXED, len));
    }
    bench_text(&mut group, "ascii", &text_of_len(ASCII, MIB));
    group.finish();
}

/// A header in each length encoding, with its wire form.
fn sample_headers() -> [(&'static str, FrameHeader, &'static [u8]); 3] {
    let masked_64 = FrameHeader {
        mask: Some(KEY),
        ..FrameHeader::new(OpCode::Binary, 65_536)
    };
    [
        ("2B", FrameHeader::new(OpCode::Text, 5), b"\x81\x05"),
        (
            "4B_len16",
            FrameHeader::new(OpCode::Binary, 256),
            b"\x82\x7e\x01\x00",
        ),
        (
            "14B_len64_masked",
            masked_64,
            b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d",
        ),
    ]
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    group.throughput(Throughput::Elements(1));
    for (label, header, wire) in sample_headers() {
        let mut out = Vec::with_capacity(wsio_proto::MAX_HEADER_LEN);
        header.encode(&mut out);
        assert_eq!(out, wire, "{label} encodes differently");
        assert_eq!(
            FrameHeader::decode(wire),
            Ok(Decoded::Complete {
                value: header,
                len: wire.len()
            }),
            "{label} decodes differently"
        );
        group.bench_function(BenchmarkId::new("decode", label), |b| {
            b.iter(|| FrameHeader::decode(black_box(wire)));
        });
        group.bench_function(BenchmarkId::new("encode", label), |b| {
            b.iter(|| {
                out.clear();
                black_box(&header).encode(&mut out);
                black_box(out.as_slice());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, mask, utf8, header);
criterion_main!(benches);
