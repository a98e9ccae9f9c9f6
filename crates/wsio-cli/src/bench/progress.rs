//! The progress bar shown while the benchmark runs, on a terminal only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use super::Args;
use crate::output;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// A bar over the message count (with `--count`) or the duration, fed from the count of
/// echoes the connections keep; nothing at all when stderr is not a terminal or with `--json`.
pub(super) struct Progress {
    running: Option<(ProgressBar, JoinHandle<()>)>,
}

impl Progress {
    pub(super) fn start(args: &Args, duration: Duration, done: Arc<AtomicU64>) -> Self {
        if args.json || !output::stderr_is_terminal() {
            return Progress { running: None };
        }
        let count = args.count;
        let (length, template) = match count {
            Some(count) => (count, "{bar:40} {pos}/{len} messages ({per_sec}) {msg}"),
            None => (duration.as_millis() as u64, "{bar:40} {elapsed} of {msg}"),
        };
        let bar = ProgressBar::new(length).with_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        if count.is_none() {
            bar.set_message(format!("{} s", duration.as_secs_f64()));
        }
        let ticking = bar.clone();
        let started = Instant::now();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                match count {
                    Some(_) => ticking.set_position(done.load(Ordering::Relaxed)),
                    None => ticking.set_position(started.elapsed().as_millis() as u64),
                }
            }
        });
        Progress {
            running: Some((bar, ticker)),
        }
    }

    /// Removes the bar before the summary is printed.
    pub(super) fn finish(self) {
        if let Some((bar, ticker)) = self.running {
            ticker.abort();
            bar.finish_and_clear();
        }
    }
}
