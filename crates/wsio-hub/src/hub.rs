//! The hub: topics, their subscribers, publishing, and the counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(any(feature = "redis", feature = "nats"))]
use std::sync::OnceLock;

use wsio::PreparedMessage;

#[cfg(any(feature = "redis", feature = "nats"))]
use crate::backplane::Link;
use crate::subscriber::{Queue, Subscriber};

/// How many messages a subscriber may hold unsent unless [`HubBuilder::backlog`] says
/// otherwise.
pub const DEFAULT_BACKLOG: usize = 1024;

/// What the hub does with a subscriber that holds [`HubBuilder::backlog`] messages unsent
/// when another comes: its client reads more slowly than the topic is published to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowSubscribers {
    /// The subscriber is done: what it held is freed, [`Subscriber::recv`] says
    /// [`Lagged`](crate::Lagged), and [`Subscriber::forward`] closes the connection with 1013
    /// (try again later). The client knows it missed messages and may reconnect. The default.
    #[default]
    Close,
    /// The subscriber's oldest message is dropped to make room, and counted
    /// ([`Subscriber::dropped`], [`HubStats::dropped`]): for feeds where the newest value is
    /// what matters.
    DropOldest,
}

/// Options for a [`Hub`].
#[derive(Debug, Clone)]
pub struct HubBuilder {
    backlog: usize,
    slow: SlowSubscribers,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            backlog: DEFAULT_BACKLOG,
            slow: SlowSubscribers::default(),
        }
    }
}

impl HubBuilder {
    /// How many messages one subscriber may hold unsent ([`DEFAULT_BACKLOG`]; at least 1).
    /// The messages are shared, so this bounds a subscriber's memory to that many pointers
    /// beyond what the topic's messages take once.
    pub fn backlog(mut self, messages: usize) -> Self {
        self.backlog = messages.max(1);
        self
    }

    /// What happens to a subscriber past its backlog ([`SlowSubscribers::Close`] by default).
    pub fn slow_subscribers(mut self, policy: SlowSubscribers) -> Self {
        self.slow = policy;
        self
    }

    /// The hub.
    pub fn build(self) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                backlog: self.backlog,
                slow: self.slow,
                topics: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                counts: Counts::default(),
                #[cfg(any(feature = "redis", feature = "nats"))]
                link: OnceLock::new(),
            }),
        }
    }
}

/// Topics and their subscribers, shared by every connection of a server: cheap to clone.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

/// The subscribers of one topic, replaced whole when one joins or leaves, so that a publish
/// takes the lock only to clone it.
type Members = Arc<Vec<(u64, Arc<Queue>)>>;

pub(crate) struct Inner {
    pub(crate) backlog: usize,
    pub(crate) slow: SlowSubscribers,
    topics: Mutex<HashMap<String, Members>>,
    next_id: AtomicU64,
    pub(crate) counts: Counts,
    /// The backplane to the other nodes, once one is attached.
    #[cfg(any(feature = "redis", feature = "nats"))]
    pub(crate) link: OnceLock<Link>,
}

/// The hub's running totals.
#[derive(Default)]
pub(crate) struct Counts {
    published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) closed: AtomicU64,
}

/// A snapshot of a hub's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HubStats {
    /// Topics with at least one subscriber.
    pub topics: usize,
    /// Subscriptions: each subscriber counted once per topic.
    pub subscriptions: usize,
    /// Messages published so far.
    pub published: u64,
    /// Messages handed to subscribers so far (one per subscriber reached).
    pub delivered: u64,
    /// Messages dropped for slow subscribers under [`SlowSubscribers::DropOldest`].
    pub dropped: u64,
    /// Subscribers closed for falling behind under [`SlowSubscribers::Close`].
    pub closed: u64,
    /// Messages published here that were not sent to the other nodes: the queue to the
    /// broker (`OUTGOING_BUFFER` messages) was full while it was slow or away. Always 0
    /// without a backplane.
    pub backplane_dropped: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

impl Hub {
    /// A hub with the default backlog and policy.
    pub fn new() -> Self {
        HubBuilder::default().build()
    }

    /// Options for a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// A subscriber for one connection, subscribed to nothing yet. Dropping it unsubscribes it
    /// from everything.
    pub fn subscriber(&self) -> Subscriber {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        Subscriber::new(self.clone(), id)
    }

    /// Sends `message` to every subscriber of `topic`: the same prepared frames to each, and,
    /// with a backplane, to the other nodes, whose subscribers get it as if it was published
    /// there. How many subscribers of this node it reached (a slow one under
    /// [`SlowSubscribers::Close`] is not reached, and is closed).
    pub fn publish(&self, topic: &str, message: PreparedMessage) -> usize {
        self.inner.counts.published.fetch_add(1, Ordering::Relaxed);
        #[cfg(any(feature = "redis", feature = "nats"))]
        if let Some(link) = self.inner.link.get() {
            link.send(topic, &message);
        }
        self.deliver(topic, &message)
    }

    /// Sends `message` to this node's subscribers of `topic`: how many it reached.
    pub(crate) fn deliver(&self, topic: &str, message: &PreparedMessage) -> usize {
        let members = self.topics().get(topic).cloned();
        let Some(members) = members else {
            return 0;
        };
        let reached = members
            .iter()
            .filter(|(_, queue)| queue.push(message, &self.inner))
            .count();
        let delivered = &self.inner.counts.delivered;
        delivered.fetch_add(reached as u64, Ordering::Relaxed);
        reached
    }

    /// How many subscribers `topic` has.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topics().get(topic).map_or(0, |members| members.len())
    }

    /// The hub's counts now.
    pub fn stats(&self) -> HubStats {
        let topics = self.topics();
        let counts = &self.inner.counts;
        HubStats {
            topics: topics.len(),
            subscriptions: topics.values().map(|members| members.len()).sum(),
            published: counts.published.load(Ordering::Relaxed),
            delivered: counts.delivered.load(Ordering::Relaxed),
            dropped: counts.dropped.load(Ordering::Relaxed),
            closed: counts.closed.load(Ordering::Relaxed),
            backplane_dropped: self.backplane_dropped(),
        }
    }

    /// Adds subscriber `id`'s queue to `topic`.
    pub(crate) fn join(&self, topic: &str, id: u64, queue: &Arc<Queue>) {
        let mut topics = self.topics();
        let members = topics.entry(topic.to_owned()).or_default();
        let mut grown = Vec::with_capacity(members.len() + 1);
        grown.extend(members.iter().cloned());
        grown.push((id, queue.clone()));
        *members = Arc::new(grown);
    }

    /// Removes subscriber `id` from `topic`; a topic left empty goes.
    pub(crate) fn leave(&self, topic: &str, id: u64) {
        let mut topics = self.topics();
        let Some(members) = topics.get_mut(topic) else {
            return;
        };
        let rest: Vec<_> = members
            .iter()
            .filter(|(member, _)| *member != id)
            .cloned()
            .collect();
        if rest.is_empty() {
            topics.remove(topic);
        } else {
            *members = Arc::new(rest);
        }
    }

    fn backplane_dropped(&self) -> u64 {
        #[cfg(any(feature = "redis", feature = "nats"))]
        if let Some(link) = self.inner.link.get() {
            return link.dropped.load(Ordering::Relaxed);
        }
        0
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, Members>> {
        // The map stays consistent whatever panicked while holding it: each change is one
        // assignment.
        self.inner.topics.lock().unwrap_or_else(|e| e.into_inner())
    }
}
