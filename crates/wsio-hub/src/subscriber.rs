//! One connection's subscriptions, its bounded queue, and the writer that empties it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use wsio::{CloseCode, PreparedMessage, WriteHalf};

use crate::hub::{Hub, Inner, SlowSubscribers};

/// The subscriber fell more than the hub's backlog behind and was closed
/// ([`SlowSubscribers::Close`]): the messages it held were freed and it gets no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged {
    /// How many messages it was sent that it did not take: those it held, and those that
    /// came after.
    pub missed: u64,
}

impl std::fmt::Display for Lagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fell too far behind: {} messages missed", self.missed)
    }
}

impl std::error::Error for Lagged {}

/// What the hub queues for one subscriber.
pub(crate) struct Queue {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    items: VecDeque<PreparedMessage>,
    /// Dropped under [`SlowSubscribers::DropOldest`].
    dropped: u64,
    /// Set once closed under [`SlowSubscribers::Close`]: how many it missed.
    lagged: Option<u64>,
}

impl Queue {
    /// Queues `message` under the hub's policy: whether it was queued.
    pub(crate) fn push(&self, message: &PreparedMessage, hub: &Inner) -> bool {
        let mut state = self.state();
        if let Some(missed) = state.lagged.as_mut() {
            *missed += 1;
            return false;
        }
        if state.items.len() >= hub.backlog {
            match hub.slow {
                SlowSubscribers::Close => {
                    let missed = state.items.len() as u64 + 1;
                    state.items = VecDeque::new();
                    state.lagged = Some(missed);
                    hub.counts.closed.fetch_add(1, Ordering::Relaxed);
                    drop(state);
                    self.ready.notify_one();
                    return false;
                }
                SlowSubscribers::DropOldest => {
                    state.items.pop_front();
                    state.dropped += 1;
                    hub.counts.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        state.items.push_back(message.clone());
        drop(state);
        self.ready.notify_one();
        true
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Option<Result<PreparedMessage, Lagged>> {
        let mut state = self.state();
        if let Some(missed) = state.lagged {
            return Some(Err(Lagged { missed }));
        }
        state.items.pop_front().map(Ok)
    }
}

/// One connection's subscriptions to a [`Hub`]'s topics, and the messages published to them
/// that it has not taken yet (at most the hub's backlog). Dropping it unsubscribes it from
/// every topic.
pub struct Subscriber {
    hub: Hub,
    id: u64,
    queue: Arc<Queue>,
    topics: BTreeSet<String>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    pub(crate) fn new(hub: Hub, id: u64) -> Self {
        Subscriber {
            hub,
            id,
            queue: Arc::new(Queue {
                state: Mutex::new(State::default()),
                ready: Notify::new(),
            }),
            topics: BTreeSet::new(),
        }
    }

    /// Subscribes to `topic`: what is published to it from now on comes here. Whether it was
    /// not subscribed already.
    pub fn subscribe(&mut self, topic: &str) -> bool {
        if !self.topics.insert(topic.to_owned()) {
            return false;
        }
        self.hub.join(topic, self.id, &self.queue);
        true
    }

    /// Unsubscribes from `topic`; what it published before and this has not taken yet stays.
    /// Whether it was subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        if !self.topics.remove(topic) {
            return false;
        }
        self.hub.leave(topic, self.id);
        true
    }

    /// The topics subscribed to, in order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(String::as_str)
    }

    /// How many messages were dropped for this subscriber under
    /// [`SlowSubscribers::DropOldest`].
    pub fn dropped(&self) -> u64 {
        self.queue.state().dropped
    }

    /// The next message, waiting for one; [`Lagged`] once it fell too far behind under
    /// [`SlowSubscribers::Close`].
    pub async fn recv(&mut self) -> Result<PreparedMessage, Lagged> {
        loop {
            let ready = self.queue.ready.notified();
            if let Some(item) = self.queue.take() {
                return item;
            }
            ready.await;
        }
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Result<PreparedMessage, Lagged>> {
        self.queue.take()
    }

    /// Writes what is published to this subscriber's topics to `write`, until the connection
    /// ends or this falls too far behind (then it closes the connection with 1013, try again
    /// later). Each pass writes every message waiting with one flush.
    ///
    /// Run it on a task of its own while another reads the connection's read half: a close
    /// completes only as the reader sees the peer's answer.
    pub async fn forward<S>(mut self, mut write: WriteHalf<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let first = match self.recv().await {
                Ok(message) => message,
                Err(lagged) => return too_slow(write, lagged).await,
            };
            if write.feed_prepared(&first).await.is_err() {
                return;
            }
            while let Some(item) = self.try_recv() {
                match item {
                    Ok(message) => {
                        if write.feed_prepared(&message).await.is_err() {
                            return;
                        }
                    }
                    Err(lagged) => return too_slow(write, lagged).await,
                }
            }
            // A client that reads too slowly leaves this flush waiting while messages pile up
            // for it; under `Close` it is closed as soon as it is past its backlog.
            tokio::select! {
                flushed = write.flush() => if flushed.is_err() { return },
                lagged = self.lagged() => return too_slow(write, lagged).await,
            }
        }
    }

    /// Waits until this subscriber has fallen too far behind, which only
    /// [`SlowSubscribers::Close`] makes happen.
    async fn lagged(&self) -> Lagged {
        loop {
            let ready = self.queue.ready.notified();
            if let Some(missed) = self.queue.state().lagged {
                return Lagged { missed };
            }
            ready.await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for topic in std::mem::take(&mut self.topics) {
            self.hub.leave(&topic, self.id);
        }
    }
}

/// Closes a connection whose subscriber fell too far behind.
async fn too_slow<S>(mut write: WriteHalf<S>, lagged: Lagged)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tracing::debug!(
        missed = lagged.missed,
        "closing a subscriber that fell behind"
    );
    let _ = write
        .close(CloseCode::TRY_AGAIN_LATER, "too slow: fell too far behind")
        .await;
}
