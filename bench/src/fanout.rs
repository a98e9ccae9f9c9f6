//! The generator's side of the fan-out scenario: one publisher and many subscribers on one
//! broadcast server, which sends every message to every connection, the publisher included.
//!
//! The publisher sends stamped, pre-masked frames and keeps `inflight` publications in
//! flight, counted by its own copies coming back. Each subscriber only reads: it finds frame
//! boundaries and the stamp of each frame, nothing more, and records the delivery's latency
//! (see [`crate::latency`]). Deliveries are the subscribers' receipts; the publisher's own
//! copies are not counted.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::frames::{FrameCounter, client_frame, stamp};
use crate::latency::{Clock, Recorder, percentile_us, receive};
use crate::{BoxError, handshake};

/// What one fan-out run measured.
#[derive(Debug)]
pub struct Report {
    /// Subscribers' receipts while measuring.
    pub deliveries: usize,
    /// How long it measured.
    pub seconds: f64,
    /// The median delivery latency, µs.
    pub p50_us: f64,
    /// Subscribers whose connection ended before the measurement did (the server closed it, or
    /// it failed).
    pub ended: usize,
    /// The 99th percentile of the delivery latency, µs.
    pub p99_us: f64,
}

/// Connects `subscribers` subscribers (a few hundred handshakes at a time), spread over
/// `addrs` in turn, then the publisher, to the first address; publishes for `warmup` seconds
/// and measures for `duration`.
pub async fn run(
    addrs: &[String],
    subscribers: usize,
    inflight: usize,
    size: usize,
    warmup: f64,
    duration: f64,
) -> Result<Report, BoxError> {
    let clock = Clock::start();
    let recorder = Arc::new(Recorder::default());
    let limit = Arc::new(Semaphore::new(200));
    let mut opening = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let permit = limit.clone().acquire_owned().await?;
        let addr = addrs[i % addrs.len()].clone();
        opening.push(tokio::spawn(async move {
            let stream = handshake::connect(&addr).await;
            drop(permit);
            stream
        }));
    }
    let mut readers = Vec::with_capacity(subscribers);
    for task in opening {
        let stream = task.await??;
        let recorder = recorder.clone();
        readers.push(tokio::spawn(async move {
            receive(stream, clock, &recorder).await
        }));
    }
    let publisher = handshake::connect(&addrs[0]).await?;
    tokio::spawn(publish(publisher, client_frame(size), inflight, clock));
    let (samples, seconds) = recorder.measure(warmup, duration).await;
    Ok(Report {
        deliveries: samples.len(),
        seconds,
        p50_us: percentile_us(&samples, 50.0),
        p99_us: percentile_us(&samples, 99.0),
        ended: readers.iter().filter(|reader| reader.is_finished()).count(),
    })
}

/// The publisher: a reader counts its own copies coming back and hands each to the writer as
/// a credit for another publication, stamped as it is written.
async fn publish(
    stream: TcpStream,
    frame: Vec<u8>,
    inflight: usize,
    clock: Clock,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let (credits_tx, mut credits_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(frame.len() * inflight);
        let mut credits = inflight;
        loop {
            batch.clear();
            for _ in 0..credits {
                batch.extend_from_slice(&frame);
            }
            let now = clock.now();
            for one in batch.chunks_mut(frame.len()) {
                stamp(one, now);
            }
            if writer.write_all(&batch).await.is_err() {
                return;
            }
            credits = match credits_rx.recv().await {
                Some(more) => more,
                None => return,
            };
            while let Ok(more) = credits_rx.try_recv() {
                credits += more;
            }
        }
    });
    let mut copies = FrameCounter::default();
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the publisher".into());
        }
        let done = copies.feed(&buf[..n]);
        if done > 0 {
            credits_tx.send(done).map_err(|e| e.to_string())?;
        }
    }
}
