//! The background tokio runtime: one thread that drives every connection's sockets and
//! timers. Futures the module polls on the Lua thread enter it, so that their sockets and
//! timers belong to it; its wake-ups reach the Lua thread only through the scheduler's queue.

use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Starts the runtime, once per process.
pub(crate) fn start() -> std::io::Result<()> {
    if RUNTIME.get().is_some() {
        return Ok(());
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wsio-lua-io")
        .enable_all()
        .build()?;
    // Another state may have started one meanwhile; the spare one is dropped.
    let _ = RUNTIME.set(runtime);
    Ok(())
}

/// The runtime's handle.
pub(crate) fn handle() -> &'static Handle {
    RUNTIME
        .get()
        .expect("the runtime starts when the module is loaded")
        .handle()
}

/// How long a server's `close` waits for its listening socket to be closed.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `accepting`, a server's accept loop, which owns its listening socket, on the runtime.
/// The [`Released`] it returns tells when the loop has ended, and the socket with it.
pub(crate) fn spawn_listener(accepting: impl Future<Output = ()> + Send + 'static) -> Released {
    let (ended, released) = mpsc::channel::<()>();
    handle().spawn(async move {
        accepting.await;
        drop(ended);
    });
    Released(released)
}

/// The end of a server's accept loop (see [`spawn_listener`]).
pub(crate) struct Released(mpsc::Receiver<()>);

impl Released {
    /// Waits (up to a second) for the accept loop, told to stop, to end: once `close`
    /// returns, the port is free for a new server.
    pub(crate) fn wait(&self) {
        let _ = self.0.recv_timeout(RELEASE_TIMEOUT);
    }
}
