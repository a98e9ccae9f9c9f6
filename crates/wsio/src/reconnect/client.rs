//! The application's handle on a reconnecting client, and the builder that starts one.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use wsio_proto::{CloseCode, Message, Utf8Bytes, WsUrl};

use super::Error;
use super::events::Events;
use super::policy::{Disconnect, Policy};
use super::session::{RestoreHook, Session};
use super::shared::{Command, Shared};
use super::task::Task;
use crate::client::{ClientBuilder, Response};
use crate::error::Result;
use crate::state::State;

/// Why a message was not accepted. Each variant gives the message back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The send queue holds `queue_capacity` messages (queued and unconfirmed together).
    /// Wait with [`ReconnectingClient::ready`] and try again.
    #[error("the send queue is full")]
    Full(Message),
    /// [`close`](ReconnectingClient::close) or [`cancel`](ReconnectingClient::cancel) was
    /// called, or the client has stopped.
    #[error("the client is closed")]
    Closed(Message),
    /// A ping payload over 125 bytes, or a close frame (use
    /// [`ReconnectingClient::close`]).
    #[error("this message cannot be queued")]
    Invalid(Message),
}

impl QueueError {
    /// The message that was not accepted.
    pub fn into_message(self) -> Message {
        match self {
            QueueError::Full(message)
            | QueueError::Closed(message)
            | QueueError::Invalid(message) => message,
        }
    }
}

/// Options for a [`ReconnectingClient`], then [`start`](Self::start).
pub struct Builder {
    pub(super) client: ClientBuilder,
    pub(super) policy: Policy,
    pub(super) queue_capacity: usize,
    pub(super) event_capacity: usize,
    pub(super) restore: Option<RestoreHook>,
    pub(super) restore_timeout: Duration,
}

impl Builder {
    /// A client that connects with `client`'s options: URL, TLS, headers, subprotocols,
    /// timeouts, limits and keepalive (see [`ClientBuilder::ping_interval`] and
    /// [`ClientBuilder::pong_timeout`]; a silent server then counts as a disconnect).
    pub fn new(client: ClientBuilder) -> Self {
        Builder {
            client,
            policy: Policy::default(),
            queue_capacity: 1024,
            event_capacity: 256,
            restore: None,
            restore_timeout: Duration::from_secs(10),
        }
    }

    /// The reconnection policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The most messages the client holds for the application, queued and written but not
    /// yet confirmed together (default 1024). Beyond it, sending fails with
    /// [`QueueError::Full`].
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages;
        self
    }

    /// The most events that wait unread before the client stops reading from the server
    /// (default 256).
    ///
    /// An application that does not read its [`Events`] stalls the client once this many
    /// are unread: confirmations are no longer read, so the send queue fills up and sending
    /// fails with [`QueueError::Full`] ([`ReconnectingClient::ready`] waits); the server's
    /// pings go unanswered; and after a disconnect, the client waits for room before it
    /// reports it and reconnects. Drop the [`Events`] to not receive events at all.
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events;
        self
    }

    /// Runs `restore` on each fresh connection (the first one too; see
    /// [`SessionInfo::is_reconnect`](super::SessionInfo::is_reconnect)) before anything
    /// queued is sent and before [`Event::Connected`](super::Event::Connected). An error, or
    /// taking longer than the restore timeout, counts as a failed connection. A panic stops
    /// the client with [`Error::Panicked`](super::Error::Panicked) (see
    /// [the module documentation](super)).
    ///
    /// ```no_run
    /// # async fn demo() -> wsio::Result<()> {
    /// use wsio::reconnect::ReconnectingClient;
    ///
    /// let (client, mut events) = ReconnectingClient::builder("ws://127.0.0.1:9001/feed")?
    ///     .on_restore(|mut session| async move {
    ///         session.send_text(r#"{"login":"me"}"#).await?;
    ///         let _welcome = session.recv().await;
    ///         session.send_text(r#"{"subscribe":"prices"}"#).await
    ///     })
    ///     .start();
    /// # Ok(()) }
    /// ```
    pub fn on_restore<F, Fut>(mut self, mut restore: F) -> Self
    where
        F: FnMut(Session) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.restore = Some(Box::new(move |session| Box::pin(restore(session))));
        self
    }

    /// How long the restore hook may take (default 10 s).
    pub fn restore_timeout(mut self, timeout: Duration) -> Self {
        self.restore_timeout = timeout;
        self
    }

    /// Starts connecting in a task of the current tokio runtime, and returns the handle and
    /// the event stream.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self) -> (ReconnectingClient, Events) {
        let shared = Arc::new(Shared::new(self.queue_capacity, self.event_capacity));
        let url = self.client.url.clone();
        tokio::spawn(Task::new(shared.clone(), self).run());
        let client = ReconnectingClient {
            handle: Arc::new(Handle {
                shared: shared.clone(),
                url,
            }),
        };
        (client, Events { shared })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("client", &self.client)
            .field("policy", &self.policy)
            .field("queue_capacity", &self.queue_capacity)
            .field("event_capacity", &self.event_capacity)
            .field("restore", &self.restore.is_some())
            .field("restore_timeout", &self.restore_timeout)
            .finish()
    }
}

/// A WebSocket client that reconnects by itself and keeps what it was given to send. See
/// [the module documentation](super) for how it behaves and what it guarantees.
///
/// Cloning gives another handle on the same client. When the last handle is dropped, the
/// client closes as [`close`](Self::close) with 1001 (Going Away) would.
#[derive(Clone)]
pub struct ReconnectingClient {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    url: WsUrl,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared
            .command(Command::Close(CloseCode::GOING_AWAY, String::new()));
    }
}

/// The keepalive interval of [`ReconnectingClient::builder`]: without keepalive, a connection
/// whose server went silent (a dead path, a suspended peer) would never be noticed.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);

impl ReconnectingClient {
    /// Options for a client of `url`, with a keepalive ping every
    /// [`DEFAULT_PING_INTERVAL`] (30 s) so that a dead connection is noticed (a server silent
    /// for 20 s more after a ping is given up).
    pub fn builder(url: &str) -> Result<Builder> {
        let client = ClientBuilder::new(url)?.ping_interval(Some(DEFAULT_PING_INTERVAL));
        Ok(Builder::new(client))
    }

    /// Queues a message. It is written as soon as a connection is open and everything
    /// queued before it is written. Fails at once, giving the message back, when the queue is
    /// full or the client is closed.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), QueueError> {
        let message = message.into();
        let valid = match &message {
            Message::Text(_) | Message::Binary(_) => true,
            Message::Ping(payload) | Message::Pong(payload) => payload.len() <= 125,
            Message::Close(_) => false,
        };
        if !valid {
            return Err(QueueError::Invalid(message));
        }
        let shared = &self.handle.shared;
        {
            let mut state = shared.lock();
            if !state.accepting {
                return Err(QueueError::Closed(message));
            }
            if state.queue.len() + state.in_flight >= state.capacity {
                return Err(QueueError::Full(message));
            }
            state.queue.push_back(message);
        }
        shared.wake.notify_one();
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), QueueError> {
        self.send(Message::Text(text.into()))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), QueueError> {
        self.send(Message::Binary(data.into()))
    }

    /// Queues a ping (payload at most 125 bytes). Its pong arrives as
    /// [`Event::Pong`](super::Event::Pong), whatever the payload: the client's own
    /// confirmation pings carry a random token that no application ping can match.
    pub fn ping(&self, payload: impl Into<Bytes>) -> Result<(), QueueError> {
        self.send(Message::Ping(payload.into()))
    }

    /// Waits until the send queue has room, or fails with [`Error`] `Send(Closed)` once the
    /// client no longer accepts messages.
    ///
    /// The queue makes room as the server confirms what was written, and the client reads
    /// confirmations only while the application reads its events (see
    /// [`Builder::event_capacity`]): with a full event queue, this waits until events are
    /// read.
    pub async fn ready(&self) -> Result<()> {
        let shared = &self.handle.shared;
        loop {
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let state = shared.lock();
                if !state.accepting {
                    return Err(crate::Error::Closed);
                }
                if state.queue.len() + state.in_flight < state.capacity {
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// Writes what is queued, closes the connection with `code` and `reason`, stops (no
    /// reconnection follows), and returns how the connection ended, as the
    /// [`Event::Closed`] that reports it says; `None` if no connection was open, in which case
    /// it stops at once, handing queued messages back. From the call on, the state is
    /// [`State::Closing`](crate::State::Closing) (if a connection is open) and sending fails
    /// with [`QueueError::Closed`]. Dropping the returned future does not undo the close.
    ///
    /// It all takes at most the close timeout
    /// ([`ClientBuilder::close_timeout`](crate::ClientBuilder::close_timeout)), even if the
    /// server stops reading: then the connection is dropped, the [`Disconnect`] is not clean
    /// and carries [`ConnectionError::CloseTimeout`](crate::ConnectionError::CloseTimeout),
    /// and what was not confirmed is handed back.
    ///
    /// Fails at once, changing nothing, with [`Error::Send`](crate::Error::Send) if the close
    /// frame could not be sent: a code that may not be sent ([`SendError::InvalidCloseCode`]:
    /// reserved, or outside 1000-4999, see [`CloseCode::is_sendable`]) or a reason over 123
    /// bytes ([`SendError::ControlPayloadTooLong`]). Once the client is closing or stopped, a
    /// valid call waits for it to stop and changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(client: wsio::reconnect::ReconnectingClient) -> wsio::Result<()> {
    /// use wsio::CloseCode;
    ///
    /// if let Some(end) = client.close(CloseCode::NORMAL, "bye").await? {
    ///     println!("closed (clean: {})", end.was_clean);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Event::Closed`]: super::Event::Closed
    /// [`SendError::InvalidCloseCode`]: wsio_proto::SendError::InvalidCloseCode
    /// [`SendError::ControlPayloadTooLong`]: wsio_proto::SendError::ControlPayloadTooLong
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<Option<Disconnect>> {
        // A connection that ends from now on is the one this closes (or one that opened while
        // the close was on its way, which the close then ends).
        let before = self.handle.shared.lock().disconnects;
        self.send_close(code, reason)?;
        self.stopped().await;
        let state = self.handle.shared.lock();
        Ok((state.disconnects != before)
            .then(|| state.last_disconnect.clone())
            .flatten())
    }

    /// Starts closing as [`close`](Self::close) does, without waiting: the client stops
    /// within the close timeout, which [`stopped`](Self::stopped), the state and the events
    /// tell. For code that cannot wait, such as an event loop that goes on reading the events
    /// until [`Event::Stopped`](super::Event::Stopped). Fails as `close` does.
    pub fn send_close(&self, code: CloseCode, reason: &str) -> Result<()> {
        wsio_proto::encode_close_payload(code, reason)?;
        self.handle
            .shared
            .command(Command::Close(code, reason.to_owned()));
        Ok(())
    }

    /// Stops now, in any state, during a backoff wait or a restore hook too: the connection,
    /// if any, is shut down without a close handshake (even if the restore hook keeps its
    /// [`Session`]), and everything queued or unconfirmed is handed back. An open connection
    /// is reported as [`Event::Closed`](super::Event::Closed) with no error and `was_clean`
    /// false (and no code, unless the server's close frame had already arrived); then comes
    /// [`Event::Stopped`](super::Event::Stopped).
    pub fn cancel(&self) {
        self.handle.shared.command(Command::Cancel);
    }

    /// Where the client is, in the words every socket uses:
    ///
    /// - [`Connecting`](State::Connecting): the first connection attempt is under way.
    /// - [`Open`](State::Open): a connection is open and its session restored; queued
    ///   messages flow.
    /// - [`Reconnecting`](State::Reconnecting): a connection ended or an attempt failed, and
    ///   another attempt follows (waiting out the backoff delay, or attempting again). When no
    ///   attempt follows (the policy is off or refuses, no attempt is left), the state goes
    ///   straight to `Closed`.
    /// - [`Closing`](State::Closing): [`close`](Self::close) was called on an open connection
    ///   (the state changes as the call is made); queued messages are written, then the close
    ///   handshake runs, within the close timeout. Sending is refused.
    /// - [`Closed`](State::Closed): stopped for good (closed, cancelled, or no further attempt
    ///   allowed). No event follows [`Event::Stopped`](super::Event::Stopped).
    pub fn state(&self) -> State {
        *self.handle.shared.lifecycle.borrow()
    }

    /// A receiver that sees each change of [`state`](Self::state). Changes in quick
    /// succession may be seen as the last one only; the event stream is the complete record.
    ///
    /// ```no_run
    /// # async fn demo(client: wsio::reconnect::ReconnectingClient) {
    /// use wsio::State;
    ///
    /// let mut state = client.state_changes();
    /// while state.changed().await.is_ok() {
    ///     if *state.borrow() == State::Open {
    ///         println!("online");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn state_changes(&self) -> watch::Receiver<State> {
        self.handle.shared.lifecycle.subscribe()
    }

    /// Waits until the client has stopped ([`State::Closed`](crate::State::Closed)).
    pub async fn stopped(&self) {
        let mut state = self.state_changes();
        // The sender lives in `Shared`, which this handle keeps: `wait_for` cannot fail.
        let _ = state.wait_for(|state| *state == State::Closed).await;
    }

    /// The last error: of a connection attempt, an open connection or the restore hook.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.handle.shared.lock().last_error.clone()
    }

    /// The URL the client connects to.
    pub fn url(&self) -> &WsUrl {
        &self.handle.url
    }

    /// The number of the connection attempt under way or announced (by the last
    /// [`Event::Reconnecting`](super::Event::Reconnecting)), or, while a connection is open,
    /// of the attempt that opened it: 0 for the client's first connection, N for the Nth retry
    /// since the start or since the last open connection (see
    /// [the module documentation](super#attempts)).
    pub fn attempt(&self) -> u32 {
        self.handle.shared.lock().attempt
    }

    /// The server's handshake response for the last connection that opened (reached
    /// [`Event::Connected`](super::Event::Connected)); kept after it ends, until the next one
    /// opens. `None` before the first.
    pub fn response(&self) -> Option<Arc<Response>> {
        self.handle.shared.lock().response.clone()
    }

    /// The subprotocol the server chose for the last connection that opened, if any (from
    /// [`response`](Self::response)).
    pub fn subprotocol(&self) -> Option<String> {
        self.handle
            .shared
            .lock()
            .response
            .as_ref()
            .and_then(|response| response.subprotocol().map(str::to_owned))
    }

    /// How many messages are queued or unconfirmed.
    pub fn pending(&self) -> usize {
        let state = self.handle.shared.lock();
        state.queue.len() + state.in_flight
    }

    /// Takes the messages handed back while the event stream was dropped (with the stream,
    /// they arrive as [`Event::Unsent`](super::Event::Unsent) instead).
    pub fn take_unsent(&self) -> Vec<Message> {
        std::mem::take(&mut self.handle.shared.lock().unsent)
    }
}

impl fmt::Debug for ReconnectingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectingClient")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
