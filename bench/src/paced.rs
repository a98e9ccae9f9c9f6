//! The generator's side of the fixed-rate latency scenario: stamped, pre-masked messages sent
//! at a fixed total rate over several connections, and the round-trip latency of each echo.
//!
//! One task writes for every connection: every millisecond (tokio's timer granularity) it
//! sends the messages the rate has made due since the last tick, dealt round-robin over the
//! connections, each connection's share in one write, stamped just before it. A reader per
//! connection records each echo's latency (see [`crate::latency`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::frames::{client_frame, stamp};
use crate::latency::{Clock, Recorder, percentile_us, receive};
use crate::{BoxError, handshake};

/// What one fixed-rate run measured.
#[derive(Debug)]
pub struct Report {
    /// Echoes received while measuring.
    pub messages: usize,
    /// How long it measured.
    pub seconds: f64,
    /// The median round-trip latency, µs.
    pub p50_us: f64,
    /// Connections whose connection ended before the measurement did (the server closed it, or
    /// it failed).
    pub ended: usize,
    /// The 99th percentile of the round-trip latency, µs.
    pub p99_us: f64,
}

/// Opens `connections` connections and sends `size`-byte messages at `rate` messages/s in
/// all; sends for `warmup` seconds, then measures for `duration`.
pub async fn run(
    addr: &str,
    connections: usize,
    size: usize,
    rate: f64,
    warmup: f64,
    duration: f64,
) -> Result<Report, BoxError> {
    let clock = Clock::start();
    let recorder = Arc::new(Recorder::default());
    let (mut readers, mut writers) = (Vec::new(), Vec::new());
    for _ in 0..connections {
        let (reader, writer) = handshake::connect(addr).await?.into_split();
        let recorder = recorder.clone();
        readers.push(tokio::spawn(async move {
            receive(reader, clock, &recorder).await
        }));
        writers.push(writer);
    }
    tokio::spawn(pace(writers, client_frame(size), rate, clock));
    let (samples, seconds) = recorder.measure(warmup, duration).await;
    Ok(Report {
        messages: samples.len(),
        seconds,
        p50_us: percentile_us(&samples, 50.0),
        p99_us: percentile_us(&samples, 99.0),
        ended: readers.iter().filter(|reader| reader.is_finished()).count(),
    })
}

/// Sends `frame`, stamped, at `rate` frames/s over `writers`, round-robin.
async fn pace(
    mut writers: Vec<OwnedWriteHalf>,
    frame: Vec<u8>,
    rate: f64,
    clock: Clock,
) -> std::io::Result<()> {
    let mut shares = vec![Vec::new(); writers.len()];
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (start, mut sent, mut next) = (Instant::now(), 0u64, 0);
    loop {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        for _ in sent..due {
            shares[next].extend_from_slice(&frame);
            next = (next + 1) % writers.len();
        }
        sent = due;
        for (writer, share) in writers.iter_mut().zip(&mut shares) {
            if share.is_empty() {
                continue;
            }
            let now = clock.now();
            for one in share.chunks_mut(frame.len()) {
                stamp(one, now);
            }
            writer.write_all(share).await?;
            share.clear();
        }
    }
}
