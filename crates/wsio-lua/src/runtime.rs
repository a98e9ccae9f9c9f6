//! The background tokio runtime: one thread that drives every connection's sockets and
//! timers. Futures the module polls on the Lua thread enter it, so that their sockets and
//! timers belong to it; its wake-ups reach the Lua thread only through the scheduler's queue.

use std::sync::OnceLock;

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
