//! The benchmark's result: rates, latency percentiles and errors, for people or as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use super::{Args, Tally};

/// What a run measured, across its connections.
pub(super) struct Summary {
    url: String,
    connections: u32,
    opened: usize,
    /// The permessage-deflate parameters agreed, if compression was asked for and agreed.
    compression: Option<String>,
    size: usize,
    binary: bool,
    in_flight: u32,
    elapsed: Duration,
    sent: u64,
    received: u64,
    latency: Histogram<u64>,
    /// How many connections (or attempts) ended with each kind of error.
    pub(super) errors: BTreeMap<&'static str, u64>,
}

impl Summary {
    pub(super) fn new(
        args: &Args,
        opened: usize,
        compression: Option<String>,
        elapsed: Duration,
        tallies: Vec<Tally>,
        errors: BTreeMap<&'static str, u64>,
    ) -> Self {
        let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        let (mut sent, mut received) = (0, 0);
        for tally in tallies {
            sent += tally.sent;
            received += tally.received;
            // Same bounds on both sides: adding cannot fail.
            let _ = latency.add(&tally.latency);
        }
        Summary {
            url: args.url.clone(),
            connections: args.connections,
            opened,
            compression,
            size: args.size,
            binary: args.binary,
            in_flight: args.in_flight,
            elapsed,
            sent,
            received,
            latency,
            errors,
        }
    }

    fn per_second(&self, n: u64) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    }

    fn bytes(&self) -> u64 {
        self.received * self.size as u64
    }

    /// Prints the summary on stdout: lines for people, or one JSON object.
    pub(super) fn print(&self, as_json: bool) {
        if as_json {
            println!("{}", self.json());
        } else {
            print!("{}", self.text());
        }
    }

    fn json(&self) -> serde_json::Value {
        let quantile = |q: f64| self.latency.value_at_quantile(q);
        json!({
            "url": self.url,
            "connections": self.connections,
            "connections_opened": self.opened,
            "compression": self.compression,
            "message_size": self.size,
            "binary": self.binary,
            "in_flight": self.in_flight,
            "seconds": self.elapsed.as_secs_f64(),
            "messages_sent": self.sent,
            "messages_received": self.received,
            "bytes_received": self.bytes(),
            "messages_per_second": self.per_second(self.received),
            "bytes_per_second": self.per_second(self.bytes()),
            "latency_us": {
                "p50": quantile(0.5),
                "p90": quantile(0.9),
                "p99": quantile(0.99),
                "max": self.latency.max(),
            },
            "errors": self.errors,
        })
    }

    fn text(&self) -> String {
        let kind = if self.binary { "binary" } else { "text" };
        let quantile = |q: f64| micros(self.latency.value_at_quantile(q));
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            let kinds: Vec<_> = self
                .errors
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            kinds.join(", ")
        };
        format!(
            "target       {}\n\
             connections  {} of {} opened, {} messages in flight each, {}-byte {kind} messages\n\
             compression  {}\n\
             messages     {} sent, {} echoed in {:.2} s\n\
             rate         {:.0} messages/s, {}/s\n\
             latency      p50 {}, p90 {}, p99 {}, max {}\n\
             errors       {errors}\n",
            self.url,
            self.opened,
            self.connections,
            self.in_flight,
            self.size,
            self.compression.as_deref().unwrap_or("none"),
            self.sent,
            self.received,
            self.elapsed.as_secs_f64(),
            self.per_second(self.received),
            bytes(self.per_second(self.bytes())),
            quantile(0.5),
            quantile(0.9),
            quantile(0.99),
            micros(self.latency.max()),
        )
    }
}

/// A number of microseconds, in the unit that suits it.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// A number of bytes, in binary units.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_suit_the_numbers() {
        assert_eq!(micros(999), "999 µs");
        assert_eq!(micros(1_500), "1.50 ms");
        assert_eq!(micros(2_000_000), "2.00 s");
        assert_eq!(bytes(512.0), "512.0 B");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }
}
