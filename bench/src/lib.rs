//! Shared pieces of the benchmark binaries: the lean frame codec the load generator and the
//! reference server use, a bare HTTP upgrade for both sides, TLS for `wss://`, the file limit,
//! the broadcast servers of the fan-out scenario and the hub fan-out server, the generator's
//! sides of the fan-out and fixed-rate latency scenarios, and the runners' way of starting
//! processes.
//!
//! The binaries are `wsio-bench-server` (an echo server on one library), `wsio-bench-load`
//! (the load generator), `wsio-bench` (the runner that prints the comparison table) and
//! `wsio-bench-hub` (the runner of the hub's fan-out, on one node and across nodes).

pub mod broadcast;
pub mod fanout;
pub mod frames;
pub mod handshake;
pub mod hub;
pub mod latency;
pub mod paced;
pub mod processes;
pub mod tls;

/// The libraries a server or client can be built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Lib {
    /// wsio's `Server` and `connect`.
    Wsio,
    /// tokio-tungstenite.
    Tungstenite,
    /// fastwebsockets.
    Fastwebsockets,
    /// tokio-websockets.
    TokioWebsockets,
    /// yawc.
    Yawc,
    /// sockudo-ws.
    SockudoWs,
    /// Plain TCP echo without WebSocket framing: the ceiling for streaming.
    Tcp,
    /// The benchmark's own minimal WebSocket echo (unmask, echo every frame of one read in one
    /// write): the fixed server the clients are measured against.
    Raw,
    /// Node's `ws` with permessage-deflate, the peer for compression: `bench/ws_echo.js`, which
    /// the runner starts with `node`.
    NodeWs,
}

impl Lib {
    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Lib::Wsio => "wsio",
            Lib::Tungstenite => "tungstenite",
            Lib::Fastwebsockets => "fastwebsockets",
            Lib::TokioWebsockets => "tokio-websockets",
            Lib::Yawc => "yawc",
            Lib::SockudoWs => "sockudo-ws",
            Lib::Tcp => "tcp",
            Lib::Raw => "raw",
            Lib::NodeWs => "ws (Node)",
        }
    }

    /// The modes this library can be driven in: [`Mode::Plain`] always, and
    /// [`Mode::Batched`] for a WebSocket library that can queue writes and flush them at once.
    ///
    /// fastwebsockets 0.10 cannot batch: `write_frame` writes each frame straight to the
    /// stream (`write_all`, no write buffer of its own), and `read_frame` is not cancel-safe
    /// (a read cancelled after it consumed a frame header loses that header), so there is no
    /// sound way to ask whether another frame is already decoded before flushing. The other
    /// entries (`tcp`, `raw`, `ws (Node)`) are fixed references, not libraries driven here.
    ///
    /// tokio-websockets 0.13 batches what is fed with no read between (the client scenario),
    /// but its stream writes out the queued frames before every read, so its batched echo
    /// server still writes each echo on its own.
    pub fn modes(self) -> &'static [Mode] {
        match self {
            Lib::Wsio | Lib::Tungstenite | Lib::TokioWebsockets | Lib::Yawc | Lib::SockudoWs => {
                &[Mode::Plain, Mode::Batched]
            }
            Lib::Fastwebsockets | Lib::Tcp | Lib::Raw | Lib::NodeWs => &[Mode::Plain],
        }
    }

    /// Whether this library's echo server is built here with permessage-deflate (scenario 6):
    /// wsio, yawc and sockudo-ws (and Node's `ws`, run apart). tokio-tungstenite 0.30,
    /// fastwebsockets 0.10 and tokio-websockets 0.13 do not implement it.
    pub fn deflates(self) -> bool {
        matches!(self, Lib::Wsio | Lib::Yawc | Lib::SockudoWs | Lib::NodeWs)
    }
}

/// How a server echoes, or a client sends, through its library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Mode {
    /// Each message is sent as it comes: one send (a write and a flush) per message.
    Plain,
    /// Messages are queued (`feed`) while more are already at hand, and flushed once none is:
    /// each library at its best.
    Batched,
}

impl Mode {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Batched => "batched",
        }
    }
}

/// An item of a library's stream of messages: the message, or the error that ends the stream.
/// Most streams yield `Result`s; yawc's yields frames and ends at an error.
pub trait Received {
    /// The message itself.
    type Message;

    /// The message, or the error.
    fn into_message(self) -> Result<Self::Message, BoxError>;
}

impl<M, E: Into<BoxError>> Received for Result<M, E> {
    type Message = M;

    fn into_message(self) -> Result<M, BoxError> {
        self.map_err(Into::into)
    }
}

impl Received for yawc::Frame {
    type Message = yawc::Frame;

    fn into_message(self) -> Result<yawc::Frame, BoxError> {
        Ok(self)
    }
}

/// An error of any kind, for the benchmark binaries, which only report it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `future` on a tokio current-thread runtime, after raising the open-file limit: how
/// every benchmark process (server and generator) runs.
pub fn run_current_thread<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    raise_file_limit();
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future))
}

/// Raises this process's open-file limit as far as the hard limit allows, for thousands of
/// connections.
fn raise_file_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-file limit: {error}");
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
