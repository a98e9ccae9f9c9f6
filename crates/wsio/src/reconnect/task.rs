//! The background task: connect, restore, run the connection, wait, and again.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use wsio_proto::{CloseCode, CloseFrame, Message, Utf8Bytes};

use super::client::Builder;
use super::events::{Event, SessionInfo, Status};
use super::policy::{Disconnect, Policy};
use super::session::{RestoreHook, Session};
use super::shared::{Command, Shared};
use crate::client::{ClientBuilder, Response};
use crate::error::{Error, Phase};
use crate::transport::Transport;
use crate::websocket::WebSocket;

type Socket = WebSocket<Transport>;

/// The start of the payload of the pings that confirm delivery; a sequence number follows.
const ACK_PREFIX: &[u8] = b"wsio-ack:";

fn ack_payload(seq: u64) -> Bytes {
    let mut payload = Vec::with_capacity(ACK_PREFIX.len() + 8);
    payload.extend_from_slice(ACK_PREFIX);
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.into()
}

fn parse_ack(payload: &[u8]) -> Option<u64> {
    let seq = payload.strip_prefix(ACK_PREFIX)?;
    Some(u64::from_be_bytes(seq.try_into().ok()?))
}

pub(super) struct Task {
    shared: Arc<Shared>,
    client: ClientBuilder,
    policy: Policy,
    restore: Option<RestoreHook>,
    restore_timeout: Duration,
    /// Messages written to the current connection and not yet confirmed, oldest first, each
    /// with the sequence number of the confirmation ping that covers it.
    in_flight: VecDeque<(u64, Message)>,
    /// The sequence number of the next confirmation ping.
    next_ack: u64,
    stopped: bool,
}

/// How a connection that the handshake opened came to an end.
enum Outcome {
    /// It opened (the restore hook succeeded) and later ended.
    Ended(Disconnect),
    /// The restore hook failed or took too long.
    RestoreFailed(Disconnect),
    /// The application cancelled or closed the client.
    Stopped,
}

/// What an open connection's loop saw.
#[derive(Default)]
struct Open {
    /// The server's close frame, once it arrived: `Some(None)` for one without a code.
    peer_close: Option<Option<CloseFrame>>,
    /// The error that ended the connection.
    error: Option<Error>,
    /// Writing failed; the reader reports why.
    write_failed: bool,
    close_sent: bool,
}

impl Task {
    pub(super) fn new(shared: Arc<Shared>, builder: Builder) -> Self {
        Task {
            shared,
            client: builder.client,
            policy: builder.policy,
            restore: builder.restore,
            restore_timeout: builder.restore_timeout,
            in_flight: VecDeque::new(),
            next_ack: 0,
            stopped: false,
        }
    }

    pub(super) async fn run(mut self) {
        let mut delays = self.policy.backoff_policy().delays();
        let mut attempt = 0;
        let mut opened_before = false;
        let mut previous = None;
        loop {
            attempt += 1;
            if self.command().is_some() {
                break;
            }
            let result = tokio::select! {
                biased;
                () = wait_for_command(&self.shared) => break,
                result = self.client.clone().connect() => result,
            };
            let disconnect = match result {
                Err(error) => {
                    let error = Arc::new(error);
                    self.emit(Event::Error(error.clone())).await;
                    Disconnect {
                        attempt,
                        opened: false,
                        code: None,
                        reason: Utf8Bytes::default(),
                        error: Some(error),
                        was_clean: false,
                    }
                }
                Ok((ws, response)) => {
                    let info = SessionInfo {
                        attempt,
                        is_reconnect: opened_before,
                        previous: previous.take(),
                    };
                    match self.session(ws, response, info).await {
                        Outcome::Stopped => break,
                        Outcome::RestoreFailed(disconnect) => disconnect,
                        Outcome::Ended(disconnect) => {
                            opened_before = true;
                            attempt = 0;
                            delays = self.policy.backoff_policy().delays();
                            disconnect
                        }
                    }
                }
            };
            if self.command().is_some() || !self.policy.allows(&disconnect) {
                break;
            }
            let Some(delay) = delays.next() else {
                break;
            };
            self.shared.set_status(Status::Reconnecting);
            self.emit(Event::Reconnecting {
                attempt: attempt + 1,
                delay,
            })
            .await;
            previous = Some(disconnect);
            tokio::select! {
                biased;
                () = wait_for_command(&self.shared) => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.stop();
    }

    fn command(&self) -> Option<Command> {
        self.shared.lock().command.clone()
    }

    /// Adds an event once the application has room for it (see [`emit`]).
    fn emit(&self, event: Event) -> impl Future<Output = ()> + Send + 'static {
        emit(self.shared.clone(), event)
    }

    /// Restores the session on a fresh connection, then runs it until it ends.
    async fn session(&mut self, mut ws: Socket, response: Response, info: SessionInfo) -> Outcome {
        let response = Arc::new(response);
        let attempt = info.attempt;
        if let Some(restore) = &mut self.restore {
            let active = Arc::new(AtomicBool::new(true));
            let session = Session::new(ws.share(), info.clone(), response.clone(), active.clone());
            let hook = tokio::time::timeout(self.restore_timeout, restore(session));
            let result = tokio::select! {
                biased;
                () = wait_for_command(&self.shared) => None,
                result = hook => Some(result),
            };
            active.store(false, Ordering::Release);
            let error = match result {
                None => {
                    // Closed while restoring: the session was never ready for the queue.
                    if let Some(Command::Close(code, reason)) = self.command() {
                        ws.closer().close(code, &reason);
                    }
                    return Outcome::Stopped;
                }
                Some(Ok(Ok(()))) => None,
                Some(Ok(Err(error))) => Some(error),
                Some(Err(_)) => Some(Error::Timeout(Phase::Restore)),
            };
            if let Some(error) = error {
                // Tell the server, without waiting for its answer: this connection is done.
                ws.closer()
                    .close(CloseCode::NORMAL, "session restore failed");
                let error = Arc::new(error);
                self.emit(Event::Error(error.clone())).await;
                return Outcome::RestoreFailed(Disconnect {
                    attempt,
                    opened: true,
                    code: None,
                    reason: Utf8Bytes::default(),
                    error: Some(error),
                    was_clean: false,
                });
            }
        }
        if !matches!(self.command(), Some(Command::Cancel)) {
            self.shared.set_status(Status::Open);
        }
        self.emit(Event::Connected {
            response,
            session: info,
        })
        .await;

        let mut open = Open::default();
        let shared = self.shared.clone();
        let ended = loop {
            let wake = shared.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            tokio::select! {
                biased;
                () = &mut wake => {}
                ended = std::future::poll_fn(|cx| self.poll_open(&mut ws, &mut open, cx)) => {
                    break ended;
                }
            }
        };
        let stopping = self.command().is_some();
        // What was written but not confirmed may not have arrived: hand it back.
        let unconfirmed: Vec<Message> = self.in_flight.drain(..).map(|(_, m)| m).collect();
        self.shared.release(unconfirmed.len());
        if !ended {
            drop(ws);
            if !unconfirmed.is_empty() {
                self.shared.push_event(Event::Unsent(unconfirmed));
            }
            return Outcome::Stopped;
        }
        let info = ws.close_info();
        drop(ws);
        let error = open
            .error
            .or_else(|| {
                info.as_ref()
                    .and_then(|info| info.error.clone())
                    .map(Error::from)
            })
            .map(Arc::new);
        let (code, reason) = match open.peer_close {
            Some(Some(frame)) => (Some(frame.code), frame.reason),
            Some(None) => (Some(CloseCode::NO_STATUS), Utf8Bytes::default()),
            None => (None, Utf8Bytes::default()),
        };
        let disconnect = Disconnect {
            attempt,
            opened: true,
            code,
            reason,
            error: error.clone(),
            was_clean: info.is_some_and(|info| info.was_clean),
        };
        if !stopping {
            self.shared.set_status(Status::Reconnecting);
        }
        if !unconfirmed.is_empty() {
            self.emit(Event::Unsent(unconfirmed)).await;
        }
        if let Some(error) = error {
            self.emit(Event::Error(error)).await;
        }
        self.emit(Event::Closed(disconnect.clone())).await;
        if stopping {
            Outcome::Stopped
        } else {
            Outcome::Ended(disconnect)
        }
    }

    /// Moves queued messages into the connection, confirms them, closes when asked, and reads
    /// what arrives. Ready with `true` when the connection has ended, `false` when the
    /// application cancelled.
    fn poll_open(&mut self, ws: &mut Socket, open: &mut Open, cx: &mut Context<'_>) -> Poll<bool> {
        let command = self.command();
        if command == Some(Command::Cancel) {
            return Poll::Ready(false);
        }
        if !open.write_failed && !open.close_sent {
            self.write_queued(ws, open, cx);
            if let Some(Command::Close(code, reason)) = command {
                self.shared.set_status(Status::Closing);
                let queue_empty = self.shared.lock().queue.is_empty();
                if queue_empty && !self.uncovered() && ready(ws, open, cx) {
                    // Sent after the last confirmation ping: the server's close in answer
                    // comes after its pong.
                    if Pin::new(&mut *ws)
                        .start_send(close_message(code, &reason))
                        .is_err()
                    {
                        open.write_failed = true;
                    }
                    open.close_sent = true;
                }
            }
            if let Poll::Ready(Err(_)) = Pin::new(&mut *ws).poll_flush(cx) {
                open.write_failed = true;
            }
        }
        while self.shared.event_room() {
            let message = match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Ready(Some(Err(error))) => {
                    open.error.get_or_insert(error);
                    continue;
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            match message {
                Message::Pong(payload) => match parse_ack(&payload) {
                    Some(seq) => self.confirm(seq),
                    None => self.shared.push_event(Event::Pong(payload)),
                },
                Message::Ping(payload) => self.shared.push_event(Event::Ping(payload)),
                Message::Close(frame) => open.peer_close = Some(frame),
                message => self.shared.push_event(Event::Message(message)),
            }
        }
        Poll::Pending
    }

    /// Writes queued messages while the connection takes them, then a confirmation ping for
    /// those not yet covered by one.
    fn write_queued(&mut self, ws: &mut Socket, open: &mut Open, cx: &mut Context<'_>) {
        loop {
            let queue_empty = self.shared.lock().queue.is_empty();
            if queue_empty || !ready(ws, open, cx) {
                break;
            }
            let message = {
                let mut state = self.shared.lock();
                let Some(message) = state.queue.pop_front() else {
                    break;
                };
                state.in_flight += 1;
                message
            };
            if Pin::new(&mut *ws).start_send(message.clone()).is_err() {
                // The connection is closing: the message waits for the next one.
                let mut state = self.shared.lock();
                state.in_flight -= 1;
                state.queue.push_front(message);
                open.write_failed = true;
                return;
            }
            self.in_flight.push_back((self.next_ack, message));
        }
        if self.uncovered() && ready(ws, open, cx) {
            let ping = Message::Ping(ack_payload(self.next_ack));
            if Pin::new(&mut *ws).start_send(ping).is_err() {
                open.write_failed = true;
                return;
            }
            self.next_ack += 1;
        }
    }

    /// Whether a written message waits for a confirmation ping not yet sent.
    fn uncovered(&self) -> bool {
        self.in_flight
            .back()
            .is_some_and(|(seq, _)| *seq == self.next_ack)
    }

    /// The server answered confirmation ping `seq`: it has read every message written before.
    fn confirm(&mut self, seq: u64) {
        let mut confirmed = 0;
        while self.in_flight.front().is_some_and(|(s, _)| *s <= seq) {
            self.in_flight.pop_front();
            confirmed += 1;
        }
        self.shared.release(confirmed);
    }

    /// Stops for good: hands back what was not confirmed or never sent, and ends the events.
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let mut unsent: Vec<Message> = self.in_flight.drain(..).map(|(_, m)| m).collect();
        {
            let mut state = self.shared.lock();
            state.accepting = false;
            state.in_flight = 0;
            unsent.extend(state.queue.drain(..));
        }
        self.shared.room.notify_waiters();
        self.shared.set_status(Status::Closed);
        if !unsent.is_empty() {
            self.shared.push_event(Event::Unsent(unsent));
        }
        self.shared.push_event(Event::Stopped);
        self.shared.end_events();
    }
}

impl Drop for Task {
    /// A task dropped before it ended (its runtime shut down) still ends the event stream.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the connection takes another message now; a failure marks writing as failed.
fn ready(ws: &mut Socket, open: &mut Open, cx: &mut Context<'_>) -> bool {
    match Pin::new(&mut *ws).poll_ready(cx) {
        Poll::Ready(Ok(())) => true,
        Poll::Ready(Err(_)) => {
            open.write_failed = true;
            false
        }
        Poll::Pending => false,
    }
}

fn close_message(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    }))
}

/// Adds an event once the application has room for it, or at once if it is stopping the
/// client. Takes the shared state alone, not the task, whose restore hook is not `Sync`.
async fn emit(shared: Arc<Shared>, event: Event) {
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if shared.event_room() || shared.lock().command.is_some() {
            shared.push_event(event);
            return;
        }
        wake.await;
    }
}

/// Waits until the application gives a command (close or cancel).
async fn wait_for_command(shared: &Shared) {
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if shared.lock().command.is_some() {
            return;
        }
        wake.await;
    }
}
