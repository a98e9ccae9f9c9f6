//! Closing a connection from a handle that does not own it: a server shutting down while its
//! handlers own their connections.
//!
//! The request is a signal, not a lock on the connection: the connection checks it (one
//! atomic load) each time it is read or written, and the request wakes its reader. A
//! connection with one handle so never shares its state behind a lock because a server might
//! one day close it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;

use wsio_proto::CloseCode;

/// Asked: start the close handshake.
const CLOSE: u8 = 1;
/// Asked: end the connection at once.
const ABORT: u8 = 2;

/// What was asked of one connection, shared by the connection and its [`Closer`].
#[derive(Default)]
pub(crate) struct Requests {
    /// The [`CLOSE`] and [`ABORT`] bits asked so far; they are never cleared.
    asked: AtomicU8,
    /// The close frame's code and reason, set before [`CLOSE`].
    close: Mutex<Option<(CloseCode, String)>>,
    /// The connection's reader, woken by a request.
    reader: Mutex<Option<Waker>>,
}

/// What a connection is asked to do now, by [`Requests::take_new`]: the close first, then the
/// end, when both are new.
pub(crate) struct Asked {
    /// Start the close handshake with this code and reason.
    pub(crate) close: Option<(CloseCode, String)>,
    /// End at once.
    pub(crate) abort: bool,
}

impl Requests {
    /// A new signal for a connection, and the closer that raises it.
    pub(crate) fn new() -> (Arc<Requests>, Closer) {
        let requests = Arc::new(Requests::default());
        let closer = Closer {
            requests: Arc::downgrade(&requests),
        };
        (requests, closer)
    }

    /// The requests made since `seen` (which this updates).
    pub(crate) fn take_new(&self, seen: &mut u8) -> Option<Asked> {
        let asked = self.asked.load(Ordering::Acquire);
        let new = asked & !*seen;
        if new == 0 {
            return None;
        }
        *seen = asked;
        let close = (new & CLOSE != 0).then(|| {
            lock(&self.close)
                .take()
                .unwrap_or((CloseCode::GOING_AWAY, String::new()))
        });
        Some(Asked {
            close,
            abort: new & ABORT != 0,
        })
    }

    /// Whether anything was asked beyond `seen`.
    #[inline]
    pub(crate) fn has_new(&self, seen: u8) -> bool {
        self.asked.load(Ordering::Acquire) & !seen != 0
    }

    /// Wakes `waker` at the next request.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut reader = lock(&self.reader);
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }

    fn ask(&self, what: u8) {
        self.asked.fetch_or(what, Ordering::AcqRel);
        // Woken without the lock held: waking may drop the connection.
        let reader = lock(&self.reader).take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// Starts the close handshake of a connection owned by someone else, or ends it. Holds the
/// connection's signal weakly: it never keeps a connection alive, and does nothing once the
/// connection is gone.
#[derive(Clone)]
pub(crate) struct Closer {
    requests: Weak<Requests>,
}

impl Closer {
    /// Asks the connection to send a close frame with `code` and `reason` (unless it is
    /// closing already) and to finish the close handshake as its reader reads on.
    pub(crate) fn close(&self, code: CloseCode, reason: &str) {
        if let Some(requests) = self.requests.upgrade() {
            lock(&requests.close).get_or_insert_with(|| (code, reason.to_owned()));
            requests.ask(CLOSE);
        }
    }

    /// Asks the connection to end at once, without waiting for the peer: its transport is
    /// shut down and its stream ends.
    pub(crate) fn abort(&self) {
        if let Some(requests) = self.requests.upgrade() {
            requests.ask(ABORT);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change under these locks is one assignment: a panic cannot leave one torn.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
