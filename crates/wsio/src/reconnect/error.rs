//! The errors the reconnecting client reports: those of its connections, and those only it
//! can produce.

/// What went wrong, as [`Event::Error`](super::Event::Error),
/// [`Disconnect::error`](super::Disconnect::error) and
/// [`last_error`](super::ReconnectingClient::last_error) report it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection attempt failed, an open connection failed, or the restore hook returned
    /// this error.
    #[error(transparent)]
    Connection(#[from] crate::Error),
    /// The restore hook did not finish within
    /// [`restore_timeout`](super::Builder::restore_timeout).
    #[error("restoring the session timed out")]
    RestoreTimeout,
    /// An application callback panicked. The client stopped: retrying would only repeat it.
    #[error("{0} panicked")]
    Panicked(Callback),
}

/// Which application callback an [`Error::Panicked`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Callback {
    /// The restore hook ([`Builder::on_restore`](super::Builder::on_restore)).
    #[error("the restore hook")]
    Restore,
    /// The predicate of [`Policy::should_reconnect`](super::Policy::should_reconnect).
    #[error("the should_reconnect predicate")]
    ShouldReconnect,
}
