//! What permessage-deflate costs in memory, counted by a global allocator: the state one
//! compressing connection keeps between messages, and what a compressed bomb makes a
//! connection hold before it fails with 1009.
//!
//! `cargo test -p wsio-proto --features deflate --test deflate_memory -- --nocapture` prints the
//! figures the `deflate` module documentation states.
#![cfg(feature = "deflate")]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::Pair;
use wsio_proto::deflate::DeflateConfig;
use wsio_proto::{Config, ConnectionError, Event, LimitExceeded};

/// The system allocator, counting the bytes in use and the most ever in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only counters are updated besides.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    /// Counted as growth in place: what glibc does for blocks this large (mremap), so the
    /// peak is what the program holds, not a copy the allocator may make in passing.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = IN_USE.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            PEAK.fetch_max(now + new_size - layout.size(), Ordering::Relaxed);
        } else {
            IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests measure one at a time: the counters are global.
static MEASURING: Mutex<()> = Mutex::new(());

fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

fn json(records: usize) -> String {
    (0..records)
        .map(|i| format!("{{\"id\":{i},\"user\":\"name{}\",\"active\":true}}", i % 7))
        .collect::<Vec<_>>()
        .join(",")
}

/// The bytes a connected pair holds after exchanging a few messages each way, less what the
/// same pair holds without compression; both ends, so two compressors and two decompressors.
fn held_by_deflate(deflate: DeflateConfig) -> usize {
    let held = |config: Config| {
        let before = in_use();
        let mut pair = Pair::handshake(config.clone(), config);
        for _ in 0..3 {
            pair.client.conn.send_text(json(300)).unwrap();
            pair.server.conn.send_text(json(300)).unwrap();
            pair.drive();
            assert_eq!(pair.client.take_events().len(), 1);
            assert_eq!(pair.server.take_events().len(), 1);
        }
        let held = in_use() - before;
        drop(pair);
        held
    };
    let plain = held(Config::default());
    held(Config::default().deflate(Some(deflate))).saturating_sub(plain)
}

#[test]
fn memory_one_compressing_connection_holds() {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let cases = [
        ("15 bits, context takeover", DeflateConfig::default()),
        (
            "9 bits, context takeover",
            DeflateConfig::default()
                .server_max_window_bits(9)
                .client_max_window_bits(9),
        ),
        (
            "15 bits, no context takeover",
            DeflateConfig::default()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true),
        ),
    ];
    let mut held = Vec::new();
    for (name, deflate) in cases {
        // A pair is two connections.
        let per_connection = held_by_deflate(deflate) / 2;
        println!("one connection, {name}: {} KiB", per_connection / 1024);
        held.push(per_connection);
    }
    // Context takeover keeps a compressor and a decompressor; a smaller window keeps less;
    // without context takeover nothing is kept between messages.
    assert!(held[0] > 100 << 10 && held[0] < 1 << 20, "{held:?}");
    assert!(held[1] < held[0], "{held:?}");
    assert!(held[2] < 4 << 10, "{held:?}");
}

#[test]
fn a_compressed_bomb_ends_with_1009_holding_about_the_limit() {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let limit = 1 << 20;
    let inflated = 64 << 20;
    // The bomb: 64 MiB of zeros, compressed by a real client.
    let mut pair = Pair::handshake(
        Config::default()
            .deflate(Some(DeflateConfig::default().level(9)))
            .max_frame_size(inflated),
        Config::default()
            .deflate(Some(DeflateConfig::default()))
            .max_message_size(limit),
    );
    pair.client.conn.send_binary(vec![0u8; inflated]).unwrap();
    let wire = pair.client.take_output();
    println!(
        "bomb: {} KiB compressed, {} MiB inflated",
        wire.len() / 1024,
        inflated >> 20
    );
    assert!(wire.len() < 100 << 10);

    let before = in_use();
    PEAK.store(before, Ordering::Relaxed);
    let now = pair.now;
    pair.server.conn.receive(now, &wire);
    let events: Vec<Event> = std::iter::from_fn(|| pair.server.conn.poll_event(now)).collect();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "bomb: peak growth {} KiB with a limit of {} KiB",
        peak / 1024,
        limit / 1024
    );
    let [Event::Closed(info)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        info.error,
        Some(ConnectionError::Limit(LimitExceeded::MessageTooLarge {
            size: limit as u64 + 1,
            limit
        }))
    );
    let out = pair.server.take_output();
    assert_eq!(support::close_code_in(&out), Some(1009));
    // The input, the decompressor and the limit's worth of output, and no more.
    assert!(peak < wire.len() + limit + (400 << 10), "{peak}");
}
