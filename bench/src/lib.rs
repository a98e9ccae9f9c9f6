//! Shared pieces of the benchmark binaries: the lean frame codec the load generator and the
//! reference server use, a bare HTTP upgrade for both sides, and the file limit.
//!
//! The binaries are `wsio-bench-server` (an echo server on one library), `wsio-bench-load`
//! (the load generator) and `wsio-bench` (the runner that prints the comparison table).

pub mod frames;
pub mod handshake;

/// The libraries a server or client can be built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lib {
    /// wsio's `Server` and `connect`.
    Wsio,
    /// tokio-tungstenite.
    Tungstenite,
    /// fastwebsockets.
    Fastwebsockets,
    /// tokio-websockets.
    TokioWebsockets,
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
            Lib::Tcp => "tcp",
            Lib::Raw => "raw",
            Lib::NodeWs => "ws (Node)",
        }
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
