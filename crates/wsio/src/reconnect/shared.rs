//! The state that the client's handles, its event stream and its background task share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use tokio::sync::{Notify, watch};
use wsio_proto::{CloseCode, Message};

use super::Error;
use super::events::Event;
use super::policy::Disconnect;
use crate::client::Response;
use crate::state::State;

/// What the application asked the background task to do, besides sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// Send what is queued, close with this code and reason, and stop.
    Close(CloseCode, String),
    /// Stop now, in whatever state.
    Cancel,
}

pub(super) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the background task: a message queued, a command given, room made in the event
    /// queue. A `Notify` keeps one permit, so a wake-up between two waits is not lost.
    pub(super) wake: Notify,
    /// Wakes callers of `ready` when the send queue has room or the client stops accepting.
    pub(super) room: Notify,
    /// Where the client is, for `state` and its watchers.
    pub(super) lifecycle: watch::Sender<State>,
}

pub(super) struct Inner {
    /// Messages accepted and not yet written, oldest first.
    pub(super) queue: VecDeque<Message>,
    /// Messages written to the current connection and not yet confirmed. The task owns the
    /// messages; the count is here so that senders see the whole load.
    pub(super) in_flight: usize,
    /// The most messages `queue` and `in_flight` hold together.
    pub(super) capacity: usize,
    pub(super) command: Option<Command>,
    /// Whether sends are accepted: false once `close` or `cancel` was called or the client
    /// stopped.
    pub(super) accepting: bool,
    pub(super) last_error: Option<Arc<Error>>,
    /// Events not yet taken by the application.
    pub(super) events: VecDeque<Event>,
    pub(super) event_capacity: usize,
    pub(super) events_waker: Option<Waker>,
    /// The event stream was dropped: events are discarded, but messages handed back are kept
    /// in `unsent`.
    pub(super) events_dropped: bool,
    /// No event will follow: the client has stopped.
    pub(super) events_ended: bool,
    pub(super) unsent: Vec<Message>,
    /// The number of the attempt under way, or of the last one (see the module documentation).
    pub(super) attempt: u32,
    /// The handshake response of the last connection that opened.
    pub(super) response: Option<Arc<Response>>,
    /// How the last connection that opened ended, and how many have ended so far.
    pub(super) last_disconnect: Option<Disconnect>,
    pub(super) disconnects: u64,
}

impl Shared {
    pub(super) fn new(capacity: usize, event_capacity: usize) -> Self {
        Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                in_flight: 0,
                capacity: capacity.max(1),
                command: None,
                accepting: true,
                last_error: None,
                events: VecDeque::new(),
                event_capacity: event_capacity.max(1),
                events_waker: None,
                events_dropped: false,
                events_ended: false,
                unsent: Vec::new(),
                attempt: 0,
                response: None,
                last_disconnect: None,
                disconnects: 0,
            }),
            wake: Notify::new(),
            room: Notify::new(),
            lifecycle: watch::Sender::new(State::Connecting),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock is a few field updates: a panic cannot leave it torn.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a command unless one is already given (a close never undoes a cancel), stops
    /// accepting sends and wakes the task. A close of an open connection makes the state
    /// [`State::Closing`](crate::State::Closing) at once.
    pub(super) fn command(&self, command: Command) {
        let closing = {
            let mut state = self.lock();
            state.accepting = false;
            match (&state.command, &command) {
                (None, _) | (Some(Command::Close(..)), Command::Cancel) => {
                    state.command = Some(command);
                }
                _ => {}
            }
            matches!(state.command, Some(Command::Close(..)))
        };
        if closing {
            // After `set_state` below, whichever runs first: the status is never left open.
            self.lifecycle.send_if_modified(|state| {
                let open = *state == State::Open;
                if open {
                    *state = State::Closing;
                }
                open
            });
        }
        self.wake.notify_one();
        self.room.notify_waiters();
    }

    /// Sets the state, as the application's command allows: a connection that opens while
    /// a close is asked for is [`State::Closing`](crate::State::Closing), and one that opens after a cancel does not
    /// show as open. The command is read under the state's own lock, which `command` takes
    /// after recording it, so that the two never cross. No lock is held while the state's
    /// watchers are woken.
    pub(super) fn set_state(&self, state: State) {
        self.lifecycle.send_if_modified(|current| {
            let state = match (state, &self.lock().command) {
                (State::Open, Some(Command::Close(..))) => State::Closing,
                (State::Open, Some(Command::Cancel)) => return false,
                _ => state,
            };
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// Whether the application has room for one more event (or no longer listens).
    pub(super) fn event_room(&self) -> bool {
        let state = self.lock();
        state.events_dropped || state.events.len() < state.event_capacity
    }

    /// Adds an event, whatever the event queue holds. Callers wait for [`event_room`] first,
    /// except for the last few events of a stopping client.
    ///
    /// [`event_room`]: Self::event_room
    pub(super) fn push_event(&self, event: Event) {
        let mut state = self.lock();
        if let Event::Error(error) = &event {
            state.last_error = Some(error.clone());
        }
        if state.events_dropped {
            if let Event::Unsent(messages) = event {
                state.unsent.extend(messages);
            }
            return;
        }
        state.events.push_back(event);
        if let Some(waker) = state.events_waker.take() {
            waker.wake();
        }
    }

    /// Ends the event stream after the events already queued.
    pub(super) fn end_events(&self) {
        let mut state = self.lock();
        state.events_ended = true;
        if let Some(waker) = state.events_waker.take() {
            waker.wake();
        }
    }

    /// Takes `count` messages off the in-flight count (confirmed or handed back).
    pub(super) fn release(&self, count: usize) {
        if count == 0 {
            return;
        }
        self.lock().in_flight -= count;
        self.room.notify_waiters();
    }
}
