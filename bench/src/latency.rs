//! Latency from stamped messages: the generator writes its clock's time into each message it
//! sends ([`crate::frames::stamp`]) and, when the message comes back (an echo, or a broadcast
//! to another of its connections), takes the difference. Both ends are in the generator's
//! process, so they share one clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::frames::StampReader;

/// Nanoseconds since the clock's start: the stamps and the receipts.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock that starts now.
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn now(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// The latencies of the receipts while measuring, over every connection.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Whether receipts are recorded now (after the warm-up, until the end).
    measuring: AtomicBool,
    /// Nanoseconds from stamp to receipt, one per message received while measuring.
    samples: Mutex<Vec<u64>>,
}

impl Recorder {
    /// Starts recording.
    pub fn start(&self) {
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Waits out a warm-up of `warmup` seconds, then records for `duration` seconds: the
    /// latencies recorded, sorted, and the seconds the recording lasted.
    pub async fn measure(&self, warmup: f64, duration: f64) -> (Vec<u64>, f64) {
        tokio::time::sleep(std::time::Duration::from_secs_f64(warmup)).await;
        self.start();
        let start = Instant::now();
        tokio::time::sleep(std::time::Duration::from_secs_f64(duration)).await;
        let samples = self.finish();
        (samples, start.elapsed().as_secs_f64())
    }

    /// Stops recording; returns the latencies recorded, sorted.
    pub fn finish(&self) -> Vec<u64> {
        self.measuring.store(false, Ordering::Relaxed);
        let mut samples = std::mem::take(&mut *self.samples.lock().expect("not poisoned"));
        samples.sort_unstable();
        samples
    }
}

/// Reads a connection's frames (unmasked, from a server) until it fails or ends, recording
/// the latency of each stamped frame while `recorder` measures. The time of receipt is taken
/// once per read.
pub async fn receive(
    mut reader: impl AsyncRead + Unpin,
    clock: Clock,
    recorder: &Recorder,
) -> Result<(), String> {
    let mut frames = StampReader::default();
    let mut buf = vec![0; 16 << 10];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let now = clock.now();
        if recorder.measuring.load(Ordering::Relaxed) {
            let mut samples = recorder.samples.lock().expect("not poisoned");
            frames.feed(&buf[..n], |stamp| samples.push(now.saturating_sub(stamp)));
        } else {
            frames.feed(&buf[..n], |_| {});
        }
    }
}

/// The `p`th percentile (0 to 100) of `sorted` nanoseconds, in microseconds; 0 if empty.
pub fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}
