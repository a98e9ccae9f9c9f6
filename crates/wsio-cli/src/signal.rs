//! The signals the command answers: Ctrl-C (SIGINT) and, for the server, SIGTERM.
//!
//! The handlers are installed when these values are made, not when they are first awaited,
//! so a signal that comes early (while connecting) is not missed nor left to kill the process.

use std::io;

/// Ctrl-C: SIGINT on Unix.
pub(crate) struct Interrupt {
    #[cfg(unix)]
    sigint: tokio::signal::unix::Signal,
}

impl Interrupt {
    /// Starts catching Ctrl-C.
    pub(crate) fn catch() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupt {
                sigint: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Interrupt {})
    }

    /// Waits for the next Ctrl-C.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        self.sigint.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Ctrl-C or, on Unix, SIGTERM: what stops a server.
pub(crate) struct Shutdown {
    interrupt: Interrupt,
    #[cfg(unix)]
    sigterm: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Starts catching both signals.
    pub(crate) fn catch() -> io::Result<Self> {
        Ok(Shutdown {
            interrupt: Interrupt::catch()?,
            #[cfg(unix)]
            sigterm: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// Waits for either signal.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            () = self.interrupt.recv() => {}
            _ = self.sigterm.recv() => {}
        }
        #[cfg(not(unix))]
        self.interrupt.recv().await;
    }
}
