//! When and how soon the reconnecting client tries again.

use std::fmt;
use std::sync::Arc;

use wsio_proto::{Backoff, CloseCode, Utf8Bytes};

use super::Error;

/// How an open connection or a connection attempt ended: what the
/// [`should_reconnect`](Policy::should_reconnect) predicate decides on.
#[derive(Debug, Clone)]
pub struct Disconnect {
    /// The attempt that made this connection: 0 for the client's first connection, N for the
    /// Nth retry since the start or since the last open connection (see
    /// [the module documentation](super#attempts)).
    pub attempt: u32,
    /// Whether the connection had opened (the handshake succeeded) before it ended.
    pub opened: bool,
    /// The code of the server's close frame: `None` if none arrived (a failed attempt, a
    /// dropped connection).
    pub code: Option<CloseCode>,
    /// The reason of the server's close frame; empty if there was none.
    pub reason: Utf8Bytes,
    /// Why it failed, if it did.
    pub error: Option<Arc<Error>>,
    /// Whether the close handshake completed without error.
    pub was_clean: bool,
}

type Predicate = Arc<dyn Fn(&Disconnect) -> bool + Send + Sync>;

/// The reconnection policy: whether to reconnect, the delays between attempts (a
/// [`Backoff`]: 1 s, doubling, at most 30 s, no jitter, unlimited attempts by default) and a
/// predicate that can refuse to reconnect after a given disconnect.
///
/// A connection that opens resets the backoff: the next disconnect waits the initial delay
/// again.
///
/// ```
/// use std::time::Duration;
/// use wsio::reconnect::Policy;
/// use wsio::reconnect::Backoff;
///
/// let policy = Policy::default()
///     .backoff(Backoff::default().jitter(Duration::from_millis(500)).max_attempts(Some(10)))
///     // Do not come back after the server refused the upgrade with 401 or 403.
///     .should_reconnect(|disconnect| match disconnect.error.as_deref() {
///         Some(wsio::reconnect::Error::Connection(wsio::Error::Rejected(response))) => {
///             !matches!(response.status().as_u16(), 401 | 403)
///         }
///         _ => true,
///     });
/// ```
#[derive(Clone)]
pub struct Policy {
    enabled: bool,
    backoff: Backoff,
    should_reconnect: Option<Predicate>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            backoff: Backoff::default(),
            should_reconnect: None,
        }
    }
}

impl Policy {
    /// Whether to reconnect at all (default `true`). Without it, the client makes one
    /// connection, with its queue and events, and stops when it ends.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The delays between attempts and how many attempts to make in a row.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Called after each disconnect and each failed attempt (unless the application closed
    /// the client), before the state changes: `false` stops the client, which then goes
    /// straight to [`State::Closed`](crate::State::Closed). By default every disconnect is
    /// followed by an attempt, within the backoff's attempt limit. A panic stops the client
    /// with [`Error::Panicked`].
    pub fn should_reconnect(
        mut self,
        predicate: impl Fn(&Disconnect) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.should_reconnect = Some(Arc::new(predicate));
        self
    }

    pub(super) fn allows(&self, disconnect: &Disconnect) -> bool {
        self.enabled
            && self
                .should_reconnect
                .as_ref()
                .is_none_or(|predicate| predicate(disconnect))
    }

    pub(super) fn backoff_policy(&self) -> &Backoff {
        &self.backoff
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("enabled", &self.enabled)
            .field("backoff", &self.backoff)
            .field("should_reconnect", &self.should_reconnect.is_some())
            .finish()
    }
}
