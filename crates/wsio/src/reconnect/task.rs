//! The background task: connect, restore, run the connection, wait, and again.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use tokio::time::Sleep;
use wsio_proto::{CloseCode, CloseFrame, ConnectionError, Message, Utf8Bytes};

use super::client::Builder;
use super::confirm::Confirmations;
use super::events::{Event, SessionInfo};
use super::policy::{Disconnect, Policy};
use super::session::{RestoreHook, Session};
use super::shared::{Command, Shared};
use super::{Callback, Error};
use crate::client::{ClientBuilder, Response};
use crate::state::State;
use crate::transport::Transport;
use crate::websocket::WebSocket;

type Socket = WebSocket<Transport>;

pub(super) struct Task {
    shared: Arc<Shared>,
    client: ClientBuilder,
    policy: Policy,
    restore: Option<RestoreHook>,
    restore_timeout: Duration,
    /// What was written to the current connection and not yet confirmed.
    confirmations: Confirmations,
    stopped: bool,
}

/// How a connection that the handshake opened came to an end.
enum Outcome {
    /// It opened (the restore hook succeeded) and later ended.
    Ended(Ended),
    /// The restore hook failed or took too long.
    RestoreFailed(Disconnect),
    /// The application cancelled or closed the client while the restore hook ran, or the
    /// hook panicked.
    Stopped,
}

/// An open connection that ended, and what to tell the application about it.
struct Ended {
    disconnect: Disconnect,
    /// Written and never confirmed, oldest first.
    unconfirmed: Vec<Message>,
}

/// Why the loop of an open connection stopped.
enum End {
    /// The connection ended.
    Ended,
    /// The application cancelled.
    Cancelled,
    /// The application's close did not complete within the close timeout.
    CloseTimedOut,
}

/// What an open connection's loop saw.
#[derive(Default)]
struct Open {
    /// The server's close frame, once it arrived: `Some(None)` for one without a code.
    peer_close: Option<Option<CloseFrame>>,
    /// The error that ended the connection.
    error: Option<crate::Error>,
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
            confirmations: Confirmations::new(),
            stopped: false,
        }
    }

    pub(super) async fn run(mut self) {
        let mut delays = self.policy.backoff_policy().delays();
        let mut attempt = 0;
        let mut opened_before = false;
        let mut previous = None;
        loop {
            if self.command().is_some() {
                break;
            }
            let result = tokio::select! {
                biased;
                () = wait_for_command(&self.shared) => break,
                result = self.client.clone().connect() => result,
            };
            let (disconnect, ended) = match result {
                Err(error) => {
                    let error = Arc::new(Error::from(error));
                    self.emit(Event::Error(error.clone())).await;
                    let disconnect = Disconnect {
                        attempt,
                        opened: false,
                        code: None,
                        reason: Utf8Bytes::default(),
                        error: Some(error),
                        was_clean: false,
                    };
                    (disconnect, None)
                }
                Ok((ws, response)) => {
                    let info = SessionInfo {
                        attempt,
                        is_reconnect: opened_before,
                        previous: previous.take(),
                    };
                    match self.session(ws, response, info).await {
                        Outcome::Stopped => break,
                        Outcome::RestoreFailed(disconnect) => (disconnect, None),
                        Outcome::Ended(ended) => {
                            // The next attempt is the first of a new run: 1.
                            opened_before = true;
                            attempt = 0;
                            delays = self.policy.backoff_policy().delays();
                            (ended.disconnect.clone(), Some(ended))
                        }
                    }
                }
            };
            // Decided before anything is said, so that the status says what follows.
            let next = self.next_delay(&disconnect, &mut delays);
            if let Ok(Some(_)) = next {
                self.shared.set_state(State::Reconnecting);
            }
            match ended {
                Some(ended) => self.report(ended).await,
                None => self.emit(Event::AttemptFailed(disconnect.clone())).await,
            }
            let delay = match next {
                Ok(Some(delay)) => delay,
                Ok(None) => break,
                Err(panicked) => {
                    self.emit(Event::Error(panicked)).await;
                    break;
                }
            };
            attempt += 1;
            self.shared.lock().attempt = attempt;
            self.emit(Event::Reconnecting {
                attempt,
                delay,
                previous: disconnect.clone(),
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

    /// How long to wait before the next attempt, `None` for no attempt: the application
    /// stopped the client, the policy refuses, or no attempt is left. A panic of the
    /// predicate is an error that stops the client.
    fn next_delay(
        &self,
        disconnect: &Disconnect,
        delays: &mut impl Iterator<Item = Duration>,
    ) -> Result<Option<Duration>, Arc<Error>> {
        if self.command().is_some() {
            return Ok(None);
        }
        match catch_unwind(AssertUnwindSafe(|| self.policy.allows(disconnect))) {
            Ok(true) => Ok(delays.next()),
            Ok(false) => Ok(None),
            Err(_) => Err(Arc::new(Error::Panicked(Callback::ShouldReconnect))),
        }
    }

    /// Tells the application how an open connection ended: what it hands back, the error,
    /// and the `Closed` event that follows every `Connected`.
    async fn report(&mut self, ended: Ended) {
        if !ended.unconfirmed.is_empty() {
            self.emit(Event::Unsent(ended.unconfirmed)).await;
        }
        {
            let mut state = self.shared.lock();
            state.last_disconnect = Some(ended.disconnect.clone());
            state.disconnects += 1;
        }
        if let Some(error) = ended.disconnect.error.clone() {
            self.emit(Event::Error(error)).await;
        }
        self.emit(Event::Closed(ended.disconnect)).await;
    }

    /// Adds an event once the application has room for it (see [`emit`]).
    fn emit(&self, event: Event) -> impl Future<Output = ()> + Send + 'static {
        emit(self.shared.clone(), event)
    }

    /// Runs the restore hook, if there is one, on a fresh connection: `Err` with the outcome if
    /// the session is not ready for the queue. The hook gets a second handle on `ws`.
    async fn restore(
        &mut self,
        ws: Socket,
        response: &Arc<Response>,
        info: &SessionInfo,
    ) -> (Socket, Result<(), Outcome>) {
        let Some(restore) = &mut self.restore else {
            return (ws, Ok(()));
        };
        let (mut ws, hooked) = ws.share();
        let active = Arc::new(AtomicBool::new(true));
        let session = Session::new(hooked, info.clone(), response.clone(), active.clone());
        let hook = unwind(async {
            let hook = restore(session);
            tokio::time::timeout(self.restore_timeout, hook).await
        });
        let result = tokio::select! {
            biased;
            () = wait_for_command(&self.shared) => None,
            result = hook => Some(result),
        };
        active.store(false, Ordering::Release);
        let error = match result {
            None => {
                // Closed or cancelled while restoring: the session was never ready for the
                // queue. The hook may keep a session, so the transport is shut down here.
                if let Some(Command::Close(code, reason)) = self.command() {
                    ws.close_now(code, &reason);
                }
                ws.abort();
                return (ws, Err(Outcome::Stopped));
            }
            Some(Ok(Ok(Ok(())))) => return (ws, Ok(())),
            Some(Ok(Ok(Err(error)))) => Error::Connection(error),
            Some(Ok(Err(_))) => Error::RestoreTimeout,
            Some(Err(_)) => {
                ws.abort();
                let error = Error::Panicked(Callback::Restore);
                self.emit(Event::Error(Arc::new(error))).await;
                return (ws, Err(Outcome::Stopped));
            }
        };
        // Tell the server, without waiting for its answer: this connection is done.
        ws.close_now(CloseCode::NORMAL, "session restore failed");
        ws.abort();
        let error = Arc::new(error);
        self.emit(Event::Error(error.clone())).await;
        let outcome = Outcome::RestoreFailed(Disconnect {
            attempt: info.attempt,
            opened: true,
            code: None,
            reason: Utf8Bytes::default(),
            error: Some(error),
            was_clean: false,
        });
        (ws, Err(outcome))
    }

    /// Restores the session on a fresh connection, then runs it until it ends.
    async fn session(&mut self, ws: Socket, response: Response, info: SessionInfo) -> Outcome {
        let response = Arc::new(response);
        let attempt = info.attempt;
        let (mut ws, restored) = self.restore(ws, &response, &info).await;
        if let Err(outcome) = restored {
            return outcome;
        }
        self.shared.lock().response = Some(response.clone());
        self.shared.set_state(State::Open);
        self.emit(Event::Connected {
            response,
            session: info,
        })
        .await;

        let mut open = Open::default();
        let close_timeout = self.client.config.protocol.close_timeout;
        // Armed when the application closes: the close, queued messages first, ends by then.
        let mut close_deadline: Option<Pin<Box<Sleep>>> = None;
        let shared = self.shared.clone();
        let end = loop {
            let wake = shared.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            if close_deadline.is_none() && matches!(self.command(), Some(Command::Close(..))) {
                close_deadline = Some(Box::pin(tokio::time::sleep(close_timeout)));
            }
            tokio::select! {
                biased;
                () = &mut wake => {}
                () = expiry(&mut close_deadline) => break End::CloseTimedOut,
                end = std::future::poll_fn(|cx| self.poll_open(&mut ws, &mut open, cx)) => {
                    break end;
                }
            }
        };
        // What was written but not confirmed may not have arrived: hand it back.
        let unconfirmed = self.confirmations.take();
        self.shared.release(unconfirmed.len());
        let mut error = open.error;
        match end {
            End::Ended => {}
            End::Cancelled => ws.abort(),
            End::CloseTimedOut => {
                ws.abort();
                error = Some(crate::Error::Connection(ConnectionError::CloseTimeout));
            }
        }
        let info = ws.close_info();
        let was_clean = matches!(end, End::Ended) && info.as_ref().is_some_and(|i| i.was_clean);
        if !was_clean {
            // What the kernel has not sent yet must not arrive after the messages that were
            // handed back, or after newer ones on the next connection: reset, not FIN.
            let _ = ws.with_transport(Transport::discard_unsent_on_close);
        }
        drop(ws);
        let error = error
            .or_else(|| {
                info.as_ref()
                    .and_then(|info| info.error.clone())
                    .map(crate::Error::from)
            })
            .map(|error| Arc::new(Error::Connection(error)));
        let (code, reason) = match open.peer_close {
            Some(Some(frame)) => (Some(frame.code), frame.reason),
            Some(None) => (Some(CloseCode::NO_STATUS), Utf8Bytes::default()),
            None => (None, Utf8Bytes::default()),
        };
        Outcome::Ended(Ended {
            disconnect: Disconnect {
                attempt,
                opened: true,
                code,
                reason,
                error,
                was_clean,
            },
            unconfirmed,
        })
    }

    /// Moves queued messages into the connection, confirms them, closes when asked, and reads
    /// what arrives, until the connection ends or the application cancels.
    fn poll_open(&mut self, ws: &mut Socket, open: &mut Open, cx: &mut Context<'_>) -> Poll<End> {
        let command = self.command();
        if command == Some(Command::Cancel) {
            return Poll::Ready(End::Cancelled);
        }
        self.write(ws, open, command.as_ref(), cx);
        while self.shared.event_room() {
            let message = match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => return Poll::Ready(End::Ended),
                Poll::Ready(Some(Err(error))) => {
                    open.error.get_or_insert(error);
                    continue;
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            match message {
                Message::Pong(payload) => match self.confirmations.pong(&payload) {
                    Some(confirmed) => self.shared.release(confirmed),
                    None => self.shared.push_event(Event::Pong(payload)),
                },
                Message::Ping(payload) => self.shared.push_event(Event::Ping(payload)),
                Message::Close(frame) => open.peer_close = Some(frame),
                message => self.shared.push_event(Event::Message(message)),
            }
        }
        // A pong read above may call for a confirmation ping, or allow the close frame.
        self.write(ws, open, command.as_ref(), cx);
        Poll::Pending
    }

    /// Writes queued messages while the connection takes them, the confirmation ping they
    /// call for, and the close frame once everything before it is written.
    fn write(
        &mut self,
        ws: &mut Socket,
        open: &mut Open,
        command: Option<&Command>,
        cx: &mut Context<'_>,
    ) {
        if open.write_failed || open.close_sent {
            return;
        }
        let closing = matches!(command, Some(Command::Close(..)));
        self.write_queued(ws, open, closing, cx);
        if let Some(Command::Close(code, reason)) = command {
            let queue_empty = self.shared.lock().queue.is_empty();
            if queue_empty && !self.confirmations.uncovered() && ready(ws, open, cx) {
                // Sent after the last confirmation ping: the server's close in answer
                // comes after its pong.
                if Pin::new(&mut *ws)
                    .start_send(close_message(*code, reason))
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

    /// Writes queued messages while the connection takes them, then a confirmation ping if
    /// one is due.
    fn write_queued(
        &mut self,
        ws: &mut Socket,
        open: &mut Open,
        closing: bool,
        cx: &mut Context<'_>,
    ) {
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
            self.confirmations.written(message);
        }
        if self.confirmations.ping_due(closing) && ready(ws, open, cx) {
            let ping = Message::Ping(self.confirmations.ping());
            if Pin::new(&mut *ws).start_send(ping).is_err() {
                open.write_failed = true;
            }
        }
    }

    /// Stops for good: hands back what was not confirmed or never sent, then says so.
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let mut unsent = self.confirmations.take();
        {
            let mut state = self.shared.lock();
            state.accepting = false;
            state.in_flight = 0;
            unsent.extend(state.queue.drain(..));
        }
        self.shared.room.notify_waiters();
        // Handed back before the status says closed: an application that stops watching
        // then has them already.
        if !unsent.is_empty() {
            self.shared.push_event(Event::Unsent(unsent));
        }
        self.shared.set_state(State::Closed);
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

/// Runs `future`, turning a panic in it into `Err`.
async fn unwind<T>(future: impl Future<Output = T>) -> std::thread::Result<T> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        },
    )
    .await
}

/// Completes when `deadline` passes; never without one.
async fn expiry(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(sleep) => sleep.await,
        None => std::future::pending().await,
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
