//! The exit statuses of the `wsio` command, one meaning each.

/// How the command ended. `--help` of each subcommand lists the statuses it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Done: the connection closed with a completed close handshake, the server stopped on
    /// a signal, the benchmark ran without errors.
    Ok,
    /// Something failed after it started: the connection ended without a clean close, or the
    /// benchmark saw errors.
    Failed,
    /// The command line or its input was wrong (clap uses this status for its own errors).
    Usage,
    /// No connection could be made (refused, TLS, handshake, timeout), or the server could
    /// not listen.
    Unreachable,
    /// Interrupted by Ctrl-C (SIGINT), as a shell reports it: 128 + 2.
    Interrupted,
}

impl Exit {
    /// The process exit status.
    pub(crate) fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Interrupted => 130,
        }
    }

    /// The status for a failed connection attempt: a bad URL, header or subprotocol is the
    /// caller's mistake, the rest means the server could not be reached or refused.
    pub(crate) fn for_connect_error(error: &wsio::Error) -> Exit {
        match error {
            wsio::Error::Url(_) | wsio::Error::Build(_) => Exit::Usage,
            _ => Exit::Unreachable,
        }
    }
}
