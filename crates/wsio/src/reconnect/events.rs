//! What the reconnecting client tells the application: its state and a stream of events.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use wsio_proto::Message;

use super::Error;
use super::policy::Disconnect;
use super::shared::Shared;
use crate::client::Response;

/// What is known about a connection when it opens.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Which attempt succeeded: 0 for the client's first connection, N for the Nth attempt
    /// after a failure or a disconnect (see [the module documentation](super#attempts)).
    pub attempt: u32,
    /// Whether an earlier connection of this client had opened.
    pub is_reconnect: bool,
    /// How the previous connection, or the last failed attempt, ended: its close code and
    /// reason, its error, whether it was clean.
    pub previous: Option<Disconnect>,
}

/// Something that happened to a [`ReconnectingClient`](super::ReconnectingClient), in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A connection opened and the restore hook, if any, succeeded. Messages queued while no
    /// connection was open are written next.
    Connected {
        /// The server's handshake response.
        response: Arc<Response>,
        /// The attempt that succeeded and how the previous connection ended.
        session: SessionInfo,
    },
    /// A text or binary message arrived.
    Message(Message),
    /// A ping arrived (it has been answered).
    Ping(Bytes),
    /// A pong arrived: in answer to a ping of the application's or a keepalive ping, or
    /// unsolicited. Pongs that answer the client's own confirmation pings are not reported.
    Pong(Bytes),
    /// An open connection ended: by a close handshake, or abnormally (`was_clean` false, with
    /// the error). Follows each [`Connected`](Self::Connected) exactly once; a
    /// [`cancel`](super::ReconnectingClient::cancel) reports no error and `was_clean` false,
    /// and a code only if the server's close frame had already arrived.
    Closed(Disconnect),
    /// Something failed: a connection attempt, an open connection, the restore hook, or an
    /// application callback that panicked ([`Error::Panicked`], after which the client
    /// stops). Also kept as [`last_error`](super::ReconnectingClient::last_error).
    Error(Arc<Error>),
    /// A connection attempt failed: the server could not be reached, refused the handshake,
    /// or the restore hook failed (then `opened` is true). Follows the attempt's
    /// [`Error`](Self::Error); a [`Reconnecting`](Self::Reconnecting) follows it if the
    /// client tries again.
    AttemptFailed(Disconnect),
    /// The next attempt starts after `delay`.
    Reconnecting {
        /// The attempt about to be made: 1 for the first after a failure or a disconnect
        /// (see [the module documentation](super#attempts)).
        attempt: u32,
        /// How long the client waits first.
        delay: Duration,
        /// What ended the previous connection or attempt: the same
        /// [`Disconnect`] as the [`Closed`](Self::Closed) or
        /// [`AttemptFailed`](Self::AttemptFailed) before this event.
        previous: Disconnect,
    },
    /// Messages handed back, oldest first: written to a connection that then ended before the
    /// server confirmed them (they may or may not have arrived), or still queued when the
    /// client stopped (they were never sent). See [the module documentation](super) for what
    /// counts as confirmed.
    Unsent(Vec<Message>),
    /// The client has stopped; the stream ends after this event.
    Stopped,
}

/// The events of a [`ReconnectingClient`](super::ReconnectingClient): a [`Stream`] of
/// [`Event`]s, also read with [`recv`](Self::recv). It ends after [`Event::Stopped`].
///
/// Reading events is how the client learns that the application keeps up: while
/// [`event_capacity`](super::Builder::event_capacity) events wait unread, it stops reading
/// from the server (TCP applies the backpressure), which also stalls confirmations, and so
/// sending, and reconnection (see there). Dropping the stream means the application wants no events: they are then
/// discarded, except that messages handed back are kept for
/// [`take_unsent`](super::ReconnectingClient::take_unsent).
pub struct Events {
    pub(super) shared: Arc<Shared>,
}

impl Events {
    /// The next event; `None` once the client has stopped and every event was taken.
    pub async fn recv(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut state = self.shared.lock();
        if let Some(event) = state.events.pop_front() {
            if state.events.len() + 1 == state.event_capacity {
                // The task may be waiting for room.
                drop(state);
                self.shared.wake.notify_one();
            }
            return Poll::Ready(Some(event));
        }
        if state.events_ended {
            return Poll::Ready(None);
        }
        state.events_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.poll_event(cx)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.events_dropped = true;
        let mut unsent = Vec::new();
        for event in state.events.drain(..) {
            if let Event::Unsent(messages) = event {
                unsent.extend(messages);
            }
        }
        state.unsent.extend(unsent);
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}
