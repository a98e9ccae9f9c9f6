//! The benchmark's load generator: many connections, each keeping messages in flight against
//! an echo server, counting the echoes.
//!
//! ```sh
//! wsio-bench-load --addr 127.0.0.1:9001 --connections 64 --inflight 16 --size 32 --duration 3
//! ```
//!
//! It prints `result messages=N seconds=S msgs_per_sec=X mb_per_sec=Y` (MB/s counts echoed
//! payload bytes, 10^6 to the MB). The default client is lean: it writes pre-masked frames,
//! counts the frames that come back without looking at their payload, and sends a new message
//! for every echo, so that it costs far less than any server it measures. `--client LIB` runs
//! that library's client instead (each connection sends `inflight` messages and reads as many
//! echoes), to compare clients against one server; `--mode` says how the messages go out:
//! `plain` (the default) sends each one (a write and a flush per message), `batched` queues
//! them all (`feed`) and flushes once, for the libraries that can (see `Lib::modes`).
//! `--idle` opens the connections, prints `ready N`, and holds them until its standard input
//! ends. `--tls DIR` connects the lean client through tokio-rustls (`wss://`).
//!
//! Two other loads print their own `result` lines: `--fanout N` (N subscribers and a
//! publisher on a broadcast server, or spread over the nodes of a cluster with `--also ADDR`:
//! `deliveries_per_sec`, `p50_us`, `p99_us`) and `--rate R`
//! (R messages/s in all, at a fixed rate: `msgs_per_sec`, `p50_us`, `p99_us` of the round
//! trips).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use wsio_bench::frames::{FrameCounter, client_frame, deflated_client_frame};
use wsio_bench::{BoxError, Lib, Mode, Received, fanout, handshake, paced, tls};

/// A load generator for echo servers.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: String,
    /// The client library; the default is the generator's own lean client.
    #[arg(long, value_enum)]
    client: Option<Lib>,
    /// How the client (`--client`) sends: one send per message, or all fed and flushed once.
    #[arg(long, value_enum, default_value_t = Mode::Plain)]
    mode: Mode,
    /// How many connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How many messages each connection keeps in flight.
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Seconds to measure, after the warm-up.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Skip the WebSocket handshake: for a plain TCP echo server (lean client only).
    #[arg(long)]
    no_handshake: bool,
    /// Open the connections, print `ready N`, and hold them idle until standard input ends.
    #[arg(long)]
    idle: bool,
    /// Agree permessage-deflate and send JSON-like text, compressed (lean client only); the
    /// echoes are counted, not inflated.
    #[arg(long)]
    deflate: bool,
    /// Connect through TLS (`wss://`), trusting the certificate the runner wrote into this
    /// directory (lean client only).
    #[arg(long)]
    tls: Option<PathBuf>,
    /// Fan-out against a broadcast server: this many subscribers and one publisher keeping
    /// `--inflight` stamped messages of `--size` bytes in flight (see `wsio_bench::fanout`).
    #[arg(long)]
    fanout: Option<usize>,
    /// More servers for `--fanout`, nodes of one cluster: the subscribers are spread over
    /// `--addr` and these in turn; the publisher connects to `--addr`.
    #[arg(long, value_name = "ADDR", requires = "fanout")]
    also: Vec<String>,
    /// Latency at a fixed rate: stamped messages of `--size` bytes at this many a second over
    /// `--connections` connections, and the round trip of each (see `wsio_bench::paced`).
    #[arg(long)]
    rate: Option<f64>,
}

impl Args {
    fn upgrade(&self) -> Upgrade {
        match (self.no_handshake, self.deflate) {
            (true, _) => Upgrade::No,
            (false, false) => Upgrade::Plain,
            (false, true) => Upgrade::Deflate,
        }
    }
}

/// Echoes counted so far, over every connection.
type Counter = Arc<AtomicU64>;

fn main() -> Result<(), BoxError> {
    wsio_bench::run_current_thread(run(Args::parse()))?
}

async fn run(args: Args) -> Result<(), BoxError> {
    if let Some(lib) = args.client
        && !lib.modes().contains(&args.mode)
    {
        return Err(format!("{} has no {} mode", lib.name(), args.mode.name()).into());
    }
    if args.tls.is_some() && (args.client.is_some() || args.idle || args.no_handshake) {
        return Err("--tls is for the lean client's echo load only".into());
    }
    if args.idle {
        return hold_idle(&args).await;
    }
    if (args.fanout.is_some() || args.rate.is_some()) && args.size < 8 {
        return Err("stamped messages need --size 8 or more".into());
    }
    if let Some(subscribers) = args.fanout {
        let addrs = [std::slice::from_ref(&args.addr), &args.also].concat();
        let report = fanout::run(
            &addrs,
            subscribers,
            args.inflight,
            args.size,
            args.warmup,
            args.duration,
        )
        .await?;
        if report.ended > 0 {
            eprintln!("{} subscribers ended early", report.ended);
        }
        let rate = report.deliveries as f64 / report.seconds;
        finish(format!(
            "result deliveries={} seconds={:.3} deliveries_per_sec={rate:.0} p50_us={:.1} \
             p99_us={:.1}",
            report.deliveries, report.seconds, report.p50_us, report.p99_us
        ));
    }
    if let Some(rate) = args.rate {
        let report = paced::run(
            &args.addr,
            args.connections,
            args.size,
            rate,
            args.warmup,
            args.duration,
        )
        .await?;
        if report.ended > 0 {
            eprintln!("{} connections ended early", report.ended);
        }
        let achieved = report.messages as f64 / report.seconds;
        if achieved < 0.9 * rate {
            eprintln!("the echoes came back at {achieved:.0}/s, below the rate of {rate:.0}/s");
        }
        finish(format!(
            "result messages={} seconds={:.3} msgs_per_sec={achieved:.0} mb_per_sec={:.1} \
             p50_us={:.1} p99_us={:.1}",
            report.messages,
            report.seconds,
            achieved * args.size as f64 / 1e6,
            report.p50_us,
            report.p99_us
        ));
    }
    let tls = match &args.tls {
        Some(dir) => Some(TlsConnector::from(tls::client_config(dir)?)),
        None => None,
    };
    let counter = Counter::default();
    let upgrade = args.upgrade();
    let frame = if args.deflate {
        deflated_client_frame(args.size)
    } else {
        client_frame(args.size)
    };
    let frame = Arc::new(frame.repeat(args.inflight));
    let payload = Bytes::from(vec![b'x'; args.size]);
    // Connect every connection before the clock starts.
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let task: tokio::task::JoinHandle<Result<(), String>> = match args.client {
            None => {
                let (frame, counter) = (frame.clone(), counter.clone());
                match &tls {
                    None => {
                        let (reader, writer) = open(&args.addr, upgrade).await?.into_split();
                        tokio::spawn(lean(reader, writer, frame, args.inflight, counter))
                    }
                    Some(connector) => {
                        let stream = open_tls(&args.addr, connector, upgrade).await?;
                        let (reader, writer) = tokio::io::split(stream);
                        tokio::spawn(lean(reader, writer, frame, args.inflight, counter))
                    }
                }
            }
            Some(lib) => {
                let client = Client::connect(lib, &args.addr).await?;
                let (payload, mode) = (payload.clone(), args.mode);
                tokio::spawn(client.run(payload, args.inflight, mode, counter.clone()))
            }
        };
        tasks.push(task);
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let (start, before) = (Instant::now(), counter.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let (seconds, messages) = (
        start.elapsed().as_secs_f64(),
        counter.load(Ordering::Relaxed) - before,
    );
    for task in &tasks {
        if task.is_finished() {
            eprintln!("a connection ended early");
        }
    }
    let rate = messages as f64 / seconds;
    finish(format!(
        "result messages={messages} seconds={seconds:.3} msgs_per_sec={rate:.0} mb_per_sec={:.1}",
        rate * args.size as f64 / 1e6
    ))
}

/// Prints the `result` line and exits, ending every connection with the process: the servers
/// must cope with that anyway.
fn finish(result: String) -> ! {
    println!("{result}");
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// How a lean connection starts.
#[derive(Clone, Copy)]
enum Upgrade {
    /// No handshake: plain TCP.
    No,
    /// A WebSocket handshake.
    Plain,
    /// A WebSocket handshake that agrees permessage-deflate.
    Deflate,
}

async fn open(addr: &str, upgrade: Upgrade) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    match upgrade {
        Upgrade::No => {}
        Upgrade::Plain => handshake::client(&mut stream, addr, false).await?,
        Upgrade::Deflate => handshake::client(&mut stream, addr, true).await?,
    }
    Ok(stream)
}

/// Opens a TLS connection (the certificate's name, `localhost`, at `addr`) and upgrades it.
async fn open_tls(
    addr: &str,
    connector: &TlsConnector,
    upgrade: Upgrade,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let stream = open(addr, Upgrade::No).await?;
    let mut stream = connector.connect(tls::server_name(), stream).await?;
    match upgrade {
        Upgrade::No => {}
        Upgrade::Plain => handshake::client(&mut stream, addr, false).await?,
        Upgrade::Deflate => handshake::client(&mut stream, addr, true).await?,
    }
    Ok(stream)
}

/// The lean client: a reader counts echoes and hands each back to the writer as a credit for
/// another message, so neither side ever waits on the other's socket buffer.
async fn lean<R, W>(
    mut reader: R,
    mut writer: W,
    frames: Arc<Vec<u8>>,
    inflight: usize,
    counter: Counter,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let frame_len = frames.len() / inflight;
    let (credits_tx, mut credits_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    tokio::spawn(async move {
        let mut credits = inflight;
        loop {
            while credits > 0 {
                let batch = credits.min(inflight);
                if writer
                    .write_all(&frames[..batch * frame_len])
                    .await
                    .is_err()
                {
                    return;
                }
                credits -= batch;
            }
            match credits_rx.recv().await {
                Some(more) => credits += more,
                None => return,
            }
            while let Ok(more) = credits_rx.try_recv() {
                credits += more;
            }
        }
    });
    let mut echoes = FrameCounter::default();
    let mut buf = vec![0; 256 << 10];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let done = echoes.feed(&buf[..n]);
        if done > 0 {
            counter.fetch_add(done as u64, Ordering::Relaxed);
            credits_tx.send(done).map_err(|e| e.to_string())?;
        }
    }
}

/// Opens `connections` upgraded connections, a few hundred at a time, and holds them.
async fn hold_idle(args: &Args) -> Result<(), BoxError> {
    let limit = Arc::new(Semaphore::new(200));
    let mut opening = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let permit = limit.clone().acquire_owned().await?;
        let addr = args.addr.clone();
        let upgrade = args.upgrade();
        opening.push(tokio::spawn(async move {
            let stream = open(&addr, upgrade).await;
            drop(permit);
            stream
        }));
    }
    let mut held = Vec::with_capacity(args.connections);
    for task in opening {
        held.push(task.await??);
    }
    println!("ready {}", held.len());
    std::io::stdout().flush()?;
    // Hold until the runner closes our standard input.
    let mut stdin = tokio::io::stdin();
    let mut sink = [0; 64];
    while stdin.read(&mut sink).await? > 0 {}
    Ok(())
}

/// A connection made with one library's client.
enum Client {
    Wsio(wsio::WebSocket<wsio::Transport>),
    Tungstenite(tokio_tungstenite::WebSocketStream<TcpStream>),
    Fastwebsockets(fastwebsockets::WebSocket<TcpStream>),
    TokioWebsockets(tokio_websockets::WebSocketStream<TcpStream>),
    Yawc(yawc::WebSocket<TcpStream>),
    SockudoWs(sockudo_ws::WebSocketStream<TcpStream>),
}

impl Client {
    async fn connect(lib: Lib, addr: &str) -> Result<Client, BoxError> {
        let url = format!("ws://{addr}/");
        Ok(match lib {
            Lib::Wsio => Client::Wsio(wsio::connect(&url).await?.0),
            Lib::Tungstenite => {
                let stream = open(addr, Upgrade::No).await?;
                Client::Tungstenite(tokio_tungstenite::client_async(url, stream).await?.0)
            }
            Lib::Fastwebsockets => {
                let stream = open(addr, Upgrade::Plain).await?;
                Client::Fastwebsockets(fastwebsockets::WebSocket::after_handshake(
                    stream,
                    fastwebsockets::Role::Client,
                ))
            }
            Lib::TokioWebsockets => {
                let stream = open(addr, Upgrade::No).await?;
                let (ws, _) = tokio_websockets::ClientBuilder::new()
                    .uri(&url)?
                    .connect_on(stream)
                    .await?;
                Client::TokioWebsockets(ws)
            }
            Lib::Yawc => {
                let stream = open(addr, Upgrade::No).await?;
                let options = yawc::Options::default().with_utf8();
                Client::Yawc(yawc::WebSocket::handshake(url.parse()?, stream, options).await?)
            }
            Lib::SockudoWs => {
                use sockudo_ws::{Config, Http1, client::WebSocketClient};
                let stream = open(addr, Upgrade::No).await?;
                let client = WebSocketClient::<Http1>::new(Config::default());
                Client::SockudoWs(client.connect_raw(stream, addr, "/", None).await?.0)
            }
            Lib::Tcp | Lib::Raw | Lib::NodeWs => return Err("no client for this".into()),
        })
    }

    /// Sends `inflight` messages as `mode` says, reads as many echoes; again and again.
    async fn run(
        mut self,
        payload: Bytes,
        inflight: usize,
        mode: Mode,
        counter: Counter,
    ) -> Result<(), String> {
        loop {
            self.round(&payload, inflight, mode)
                .await
                .map_err(|e| e.to_string())?;
            counter.fetch_add(inflight as u64, Ordering::Relaxed);
        }
    }

    async fn round(
        &mut self,
        payload: &Bytes,
        inflight: usize,
        mode: Mode,
    ) -> Result<(), BoxError> {
        match self {
            Client::Wsio(ws) => {
                let message = || wsio::Message::Binary(payload.clone());
                if mode == Mode::Plain {
                    // wsio's own `send`, which waits until the message is written.
                    for _ in 0..inflight {
                        ws.send(message()).await?;
                    }
                    for _ in 0..inflight {
                        ws.next().await.ok_or("ended")??;
                    }
                } else {
                    sink_round(ws, message, inflight, mode).await?;
                }
            }
            Client::Tungstenite(ws) => {
                use tokio_tungstenite::tungstenite::Message;
                sink_round(ws, || Message::Binary(payload.clone()), inflight, mode).await?;
            }
            Client::Fastwebsockets(ws) => {
                use fastwebsockets::{Frame, Payload};
                // Plain only: its writes go straight to the stream (see `Lib::modes`).
                for _ in 0..inflight {
                    ws.write_frame(Frame::binary(Payload::Borrowed(payload)))
                        .await?;
                }
                for _ in 0..inflight {
                    ws.read_frame().await?;
                }
            }
            Client::TokioWebsockets(ws) => {
                use tokio_websockets::Message;
                sink_round(ws, || Message::binary(payload.clone()), inflight, mode).await?;
            }
            Client::Yawc(ws) => {
                let message = || yawc::Frame::binary(payload.clone());
                sink_round(ws, message, inflight, mode).await?;
            }
            Client::SockudoWs(ws) => {
                use sockudo_ws::Message;
                sink_round(ws, || Message::Binary(payload.clone()), inflight, mode).await?;
            }
        }
        Ok(())
    }
}

/// One round through a library's `Sink` + `Stream`: send `inflight` messages (plain: each
/// with its own flush; batched: all fed, then one flush), and read as many echoes.
async fn sink_round<W, M, E>(
    ws: &mut W,
    message: impl Fn() -> M,
    inflight: usize,
    mode: Mode,
) -> Result<(), BoxError>
where
    W: futures_util::Sink<M, Error = E> + futures_util::Stream + Unpin,
    W::Item: Received,
    E: Into<BoxError>,
{
    for _ in 0..inflight {
        match mode {
            Mode::Plain => ws.send(message()).await,
            Mode::Batched => ws.feed(message()).await,
        }
        .map_err(Into::into)?;
    }
    if mode == Mode::Batched {
        ws.flush().await.map_err(Into::into)?;
    }
    for _ in 0..inflight {
        ws.next().await.ok_or("ended")?.into_message()?;
    }
    Ok(())
}
