//! `wsio bench`: a load generator for echo servers. Each connection keeps a window of messages
//! in flight and times each echo; the summary gives rates, latency percentiles and errors.
//!
//! It is written to cost little per message, so that the server, not the generator, is what
//! runs out of CPU: messages share one payload buffer, echoes that are already there are taken
//! in a batch, and each refill of the window is written with one flush.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use wsio::{ClientBuilder, CloseCode, Message, Transport, WebSocket};

use crate::client_options::{ClientOptions, parse_positive_seconds};
use crate::exit::Exit;
use crate::output;

mod progress;
mod summary;

use progress::Progress;
use summary::Summary;

const EXIT_STATUS: &str = "\
The server must echo each message back (as `wsio serve` does on /echo). Latency is the time
from writing a message to reading its echo. bytes/s counts the payload bytes echoed back,
before any compression. The payload repeats the alphabet, so it compresses well.

With --deflate, the summary's compression line (\"compression\" in JSON, null without)
gives the permessage-deflate parameters the server agreed. A connection on which the server
declines compression is closed at once and counted as a `deflate_declined` error: a run
never measures uncompressed traffic when compression was asked for.

Exit status:
  0  every message was echoed
  1  some connection failed or some echo was wrong or late (see errors)
  2  bad arguments
  3  no connection could be made (with --deflate: none that compresses)";

/// The most bytes a message may have.
const MAX_SIZE: usize = 64 << 20;

/// Load an echo server: N connections, each with messages in flight, for a time or a count;
/// then print messages/s, bytes/s, latency percentiles and errors by kind.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS)]
pub(crate) struct Args {
    /// The URL of an echo endpoint, for example ws://127.0.0.1:8080/echo.
    url: String,
    #[command(flatten)]
    client: ClientOptions,
    /// How many connections to open (with --http2, how many WebSockets, all streams of one
    /// HTTP/2 connection).
    #[arg(short = 'c', long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Payload bytes per message.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 32, value_parser = parse_size)]
    size: usize,
    /// Messages each connection sends ahead before it waits for an echo.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    in_flight: u32,
    /// How long to send, in seconds (10 unless --count is given).
    #[arg(short = 'd', long, value_name = "SECONDS", value_parser = parse_positive_seconds,
          conflicts_with = "count")]
    duration: Option<Duration>,
    /// How many messages to send in all, shared among the connections, instead of a duration.
    #[arg(short = 'n', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// How long to wait for each echo (and to connect) before counting an error, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_positive_seconds)]
    timeout: Duration,
    /// Print the summary as one JSON object, for machines.
    #[arg(long)]
    json: bool,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let size: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of bytes"))?;
    if size > MAX_SIZE {
        return Err(format!("at most {MAX_SIZE} bytes"));
    }
    Ok(size)
}

/// What one connection is to send: a share of the count, or until the deadline.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quota: Option<u64>,
    deadline: Option<Instant>,
    in_flight: usize,
    timeout: Duration,
}

/// What one connection measured.
struct Tally {
    /// Microseconds from writing a message to reading its echo.
    latency: Histogram<u64>,
    sent: u64,
    received: u64,
    /// What ended the connection early, if anything did.
    error: Option<&'static str>,
}

/// Runs `wsio bench`.
pub(crate) async fn run(args: Args) -> Exit {
    let builder = match args.client.builder(&args.url) {
        Ok(builder) => builder.connect_timeout(args.timeout),
        Err(exit) => return exit,
    };
    let message = payload(args.size, args.binary);

    let mut errors = BTreeMap::new();
    let Opened {
        connections: opened,
        compression,
    } = connect_all(&builder, &args, &mut errors).await;
    if opened.is_empty() {
        let summary = Summary::new(&args, 0, compression, Duration::ZERO, Vec::new(), errors);
        summary.print(args.json);
        return Exit::Unreachable;
    }

    let duration = args.duration.unwrap_or(Duration::from_secs(10));
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(&args, duration, done.clone());
    let quotas = args.count.map(|count| split(count, opened.len()));
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let plan = Plan {
                quota: quotas.as_ref().map(|quotas| quotas[i]),
                deadline: args.count.is_none().then(|| started + duration),
                in_flight: args.in_flight as usize,
                timeout: args.timeout,
            };
            tokio::spawn(drive(ws, plan, message.clone(), done.clone()))
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(tally) => tallies.push(tally),
            Err(error) => output::error(format_args!("a connection's task failed: {error}")),
        }
    }
    let elapsed = started.elapsed();
    progress.finish();
    for error in tallies.iter().filter_map(|tally| tally.error) {
        *errors.entry(error).or_insert(0) += 1;
    }
    let opened = tallies.len();
    let summary = Summary::new(&args, opened, compression, elapsed, tallies, errors);
    summary.print(args.json);
    if summary.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// The message every connection sends: `size` bytes of printable ASCII.
fn payload(size: usize, binary: bool) -> Message {
    let data: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    if binary {
        Message::Binary(Bytes::from(data))
    } else {
        Message::text(String::from_utf8(data).expect("ASCII"))
    }
}

/// `count` split into `parts` shares that differ by one at most.
fn split(count: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|i| count / parts_u64 + u64::from(i < count % parts_u64))
        .collect()
}

/// The connections a run uses, and the compression agreed on them.
struct Opened {
    connections: Vec<WebSocket<Transport>>,
    /// The permessage-deflate parameters the server agreed on the first connection; `None`
    /// without `--deflate`, or when no connection agreed.
    compression: Option<String>,
}

/// Opens the connections at once; the failures are counted in `errors` by kind. With
/// `--deflate`, a connection the server does not compress is closed and counted as
/// `deflate_declined`.
async fn connect_all(
    builder: &ClientBuilder,
    args: &Args,
    errors: &mut BTreeMap<&'static str, u64>,
) -> Opened {
    let n = args.connections as usize;
    let mut opened = Opened {
        connections: Vec::with_capacity(n),
        compression: None,
    };
    let results = if args.client.http2 {
        // Every WebSocket is a stream of one HTTP/2 connection.
        match wsio::Http2Connection::connect(builder).await {
            Ok(shared) => {
                let attempts = (0..n).map(|_| shared.open(builder.clone()));
                futures_util::future::join_all(attempts).await
            }
            Err(error) => {
                output::error(format_args!("cannot connect: {error}"));
                errors.insert(error_kind(&error), n as u64);
                return opened;
            }
        }
    } else {
        let attempts = (0..n).map(|_| builder.clone().connect());
        futures_util::future::join_all(attempts).await
    };
    let mut declined = Vec::new();
    for result in results {
        match result {
            Ok((ws, response)) => match output::compression(response.negotiated()) {
                Some(params) => {
                    opened.compression.get_or_insert(params);
                    opened.connections.push(ws);
                }
                None if args.client.deflate => declined.push(ws),
                None => opened.connections.push(ws),
            },
            Err(error) => {
                if errors.is_empty() {
                    output::error(format_args!("cannot connect: {error}"));
                }
                *errors.entry(error_kind(&error)).or_insert(0) += 1;
            }
        }
    }
    if !declined.is_empty() {
        output::error(format_args!(
            "the server declined permessage-deflate on {} of {n} connections",
            declined.len()
        ));
        errors.insert("deflate_declined", declined.len() as u64);
        let closing = declined.into_iter().map(|ws| close(ws, args.timeout));
        futures_util::future::join_all(closing).await;
    }
    opened
}

/// The kind of an error, as the summary counts it.
fn error_kind(error: &wsio::Error) -> &'static str {
    match error {
        wsio::Error::Io(_) => "io",
        wsio::Error::Tls(_) => "tls",
        wsio::Error::Url(_) => "url",
        wsio::Error::Rejected(_) => "rejected",
        wsio::Error::Handshake(_) => "handshake",
        wsio::Error::Connection(_) => "protocol",
        wsio::Error::Closed => "closed",
        wsio::Error::Timeout(_) => "timeout",
        wsio::Error::Http2Unavailable(_) => "no_http2",
        wsio::Error::Proxy(_) => "proxy",
        _ => "other",
    }
}

/// Runs one connection's share, then closes it.
async fn drive(
    mut ws: WebSocket<Transport>,
    plan: Plan,
    message: Message,
    done: Arc<AtomicU64>,
) -> Tally {
    let mut tally = Tally {
        latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        sent: 0,
        received: 0,
        error: None,
    };
    tally.error = exchange(&mut ws, plan, &message, &done, &mut tally)
        .await
        .err();
    close(ws, plan.timeout).await;
    tally
}

/// Keeps `in_flight` messages out and times each echo until the share is sent and echoed;
/// the error says what ended it early.
async fn exchange(
    ws: &mut WebSocket<Transport>,
    plan: Plan,
    message: &Message,
    done: &AtomicU64,
    tally: &mut Tally,
) -> Result<(), &'static str> {
    let expected = match message {
        Message::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
        Message::Binary(data) => data.clone(),
        _ => unreachable!("the payload is text or binary"),
    };
    let mut pending: VecDeque<Instant> = VecDeque::with_capacity(plan.in_flight);
    let more = |sent: u64| {
        plan.quota.is_none_or(|quota| sent < quota)
            && plan
                .deadline
                .is_none_or(|deadline| Instant::now() < deadline)
    };
    loop {
        let mut fed = false;
        while pending.len() < plan.in_flight && more(tally.sent) {
            ws.feed(message.clone()).await.map_err(|e| error_kind(&e))?;
            pending.push_back(Instant::now());
            tally.sent += 1;
            fed = true;
        }
        if pending.is_empty() {
            return Ok(());
        }
        if fed {
            ws.flush().await.map_err(|e| error_kind(&e))?;
        }
        let before = tally.received;
        // Wait for one echo, then take those already there without waiting.
        let first = tokio::time::timeout(plan.timeout, ws.next())
            .await
            .map_err(|_| "timeout")?;
        take_echo(first, &expected, &mut pending, tally)?;
        while !pending.is_empty() {
            let Some(item) = ws.next().now_or_never() else {
                break;
            };
            take_echo(item, &expected, &mut pending, tally)?;
        }
        done.fetch_add(tally.received - before, Ordering::Relaxed);
    }
}

/// Accounts for one item read: an echo is checked and timed; pings and pongs are skipped.
fn take_echo(
    item: Option<wsio::Result<Message>>,
    expected: &Bytes,
    pending: &mut VecDeque<Instant>,
    tally: &mut Tally,
) -> Result<(), &'static str> {
    let data = match item {
        None | Some(Ok(Message::Close(_))) => return Err("closed"),
        Some(Err(error)) => return Err(error_kind(&error)),
        Some(Ok(Message::Text(text))) => text.as_bytes() == &expected[..],
        Some(Ok(Message::Binary(data))) => data == expected,
        Some(Ok(_)) => return Ok(()),
    };
    if !data {
        return Err("mismatch");
    }
    let sent = pending.pop_front().ok_or("mismatch")?;
    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
    tally.latency.saturating_record(micros.max(1));
    tally.received += 1;
    Ok(())
}

/// Closes with 1000 and waits for the server's answer, at most `timeout`.
async fn close(mut ws: WebSocket<Transport>, timeout: Duration) {
    match tokio::time::timeout(timeout, ws.close(CloseCode::NORMAL, "")).await {
        Ok(Ok(info)) if !info.was_clean => tracing::debug!(?info, "close not clean"),
        Ok(Err(error)) => tracing::debug!(%error, "close failed"),
        _ => {}
    }
}
