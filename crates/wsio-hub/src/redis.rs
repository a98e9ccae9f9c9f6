//! The Redis backplane (feature `redis`): every node's hub publishes to Redis pub/sub and
//! subscribes to its topics there, so that a publish on one node reaches the subscribers of
//! every node.
//!
//! Each topic is the Redis channel `PREFIX` + topic (`wsio-hub:` by default); each node
//! subscribes to the pattern `PREFIX*` once. A node skips what it published itself (its
//! subscribers got it when it was published), so nothing arrives twice.
//!
//! **Delivery is at most once**, as Redis pub/sub is: Redis keeps nothing for a subscriber
//! that is not connected. While a node's connection to Redis is down, what the other nodes
//! publish does not reach it and is not sent again; what it publishes waits in its queue
//! ([`OUTGOING_BUFFER`](crate::OUTGOING_BUFFER) messages, then dropped and counted in
//! [`HubStats::backplane_dropped`](crate::HubStats::backplane_dropped)) and goes out once it is
//! back. An application that cannot miss messages watches [`Backplane::state_changes`] and,
//! after a [`BackplaneState::Disconnected`], has its clients fetch what they missed.
//!
//! The connection reconnects by itself with wsio's [`Backoff`] and subscribes again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = wsio_hub::Hub::new();
//! let backplane = wsio_hub::redis::RedisBackplane::new("redis://127.0.0.1:6379")?.attach(&hub)?;
//! backplane.wait_for(wsio_hub::BackplaneState::Connected).await;
//! hub.publish("chat", wsio::PreparedMessage::text("hello, every node"));
//! # Ok(()) }
//! ```

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use wsio::proto::Backoff;

use crate::backplane::{
    self, AlreadyAttached, Backplane, BackplaneState, DRAIN_LIMIT, Outgoing, Task, stop_requested,
};
use crate::hub::Hub;

/// The most messages sent to Redis in one pipeline.
const MAX_PIPELINE: usize = 256;

/// The channel prefix unless [`RedisBackplane::prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "wsio-hub:";

/// A Redis pub/sub backplane to attach to a hub.
#[derive(Debug, Clone)]
pub struct RedisBackplane {
    client: redis::Client,
    prefix: String,
    backoff: Backoff,
}

impl RedisBackplane {
    /// A backplane through the Redis server at `url` (`redis://HOST:PORT`, with
    /// `redis://:PASSWORD@HOST:PORT/` for a password). Nothing connects yet.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisBackplane {
            client: redis::Client::open(url)?,
            prefix: DEFAULT_PREFIX.to_owned(),
            backoff: Backoff::default(),
        })
    }

    /// Uses channels named `prefix` + topic, to keep apart several applications on one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait between reconnection attempts (wsio's default [`Backoff`] otherwise).
    /// Its attempt limit only ends the jitter: past it the backplane keeps trying at the
    /// longest delay, until stopped.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Connects `hub` to the other nodes through Redis, on a task of its own (in the current
    /// tokio runtime), reconnecting until [`Backplane::stop`]. A hub takes one backplane.
    pub fn attach(self, hub: &Hub) -> Result<Backplane, AlreadyAttached> {
        backplane::attach(hub, |task| run(self, task))
    }
}

/// Why a session with Redis ended.
enum Ended {
    Stopped,
    Failed(redis::RedisError),
}

/// Keeps a session with Redis going, reconnecting after the backoff's delays, until stopped.
async fn run(backplane: RedisBackplane, task: Task) {
    let Task {
        hub,
        mut outgoing,
        state,
        mut stopped,
    } = task;
    let mut delays = backplane.backoff.delays();
    let mut attempt = 0u32;
    loop {
        state.send_replace(BackplaneState::Connecting);
        let ended = session(
            &backplane,
            &hub,
            &mut outgoing,
            &state,
            &mut stopped,
            &mut attempt,
        )
        .await;
        let error = match ended {
            Ended::Stopped => break,
            Ended::Failed(error) => error,
        };
        state.send_replace(BackplaneState::Disconnected);
        if attempt == 0 {
            // Connected since the last failure: the delays start over.
            delays = backplane.backoff.delays();
        }
        attempt = attempt.saturating_add(1);
        let delay = delays
            .next()
            .unwrap_or_else(|| backplane.backoff.base_delay(attempt));
        tracing::warn!(%error, ?delay, "the Redis backplane is down; reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop_requested(&mut stopped) => break,
        }
    }
    state.send_replace(BackplaneState::Stopped);
}

/// One connection to Redis: subscribe, then carry messages both ways until it fails, the hub
/// is gone, or the backplane is stopped (after sending what waits, within [`DRAIN_LIMIT`]).
async fn session(
    backplane: &RedisBackplane,
    hub: &Hub,
    outgoing: &mut mpsc::Receiver<Outgoing>,
    state: &watch::Sender<BackplaneState>,
    stopped: &mut watch::Receiver<bool>,
    attempt: &mut u32,
) -> Ended {
    let connected = async {
        let publisher = backplane.client.get_multiplexed_async_connection().await?;
        let mut subscriber = backplane.client.get_async_pubsub().await?;
        subscriber
            .psubscribe(format!("{}*", backplane.prefix))
            .await?;
        Ok::<_, redis::RedisError>((publisher, subscriber.into_on_message()))
    };
    let connected = tokio::select! {
        connected = connected => connected,
        () = stop_requested(stopped) => return Ended::Stopped,
    };
    let (mut publisher, mut messages) = match connected {
        Ok(connected) => connected,
        Err(error) => return Ended::Failed(error),
    };
    *attempt = 0;
    state.send_replace(BackplaneState::Connected);
    tracing::info!(prefix = %backplane.prefix, "the Redis backplane is connected");
    let link = hub
        .inner
        .link
        .get()
        .expect("attached before the task started");
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Ended::Failed(redis::RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::ConnectionReset,
                    )));
                };
                let Some(topic) = message.get_channel_name().strip_prefix(&backplane.prefix) else {
                    continue;
                };
                link.receive(hub, topic, message.get_payload_bytes());
            }
            next = outgoing.recv() => {
                let Some(next) = next else { return Ended::Stopped };
                if let Err(error) = send(backplane, &mut publisher, next, outgoing).await {
                    return Ended::Failed(error);
                }
            }
            () = stop_requested(stopped) => {
                let drained = async {
                    while let Ok(next) = outgoing.try_recv() {
                        send(backplane, &mut publisher, next, outgoing).await?;
                    }
                    Ok::<_, redis::RedisError>(())
                };
                if !matches!(tokio::time::timeout(DRAIN_LIMIT, drained).await, Ok(Ok(()))) {
                    tracing::warn!("the Redis backplane stopped before sending all it had");
                }
                return Ended::Stopped;
            }
        }
    }
}

/// Publishes `first` and everything already waiting after it, up to [`MAX_PIPELINE`]
/// messages, in one pipeline: one round trip for many.
async fn send(
    backplane: &RedisBackplane,
    publisher: &mut redis::aio::MultiplexedConnection,
    first: Outgoing,
    outgoing: &mut mpsc::Receiver<Outgoing>,
) -> Result<(), redis::RedisError> {
    let mut pipeline = redis::pipe();
    let mut next = Some(first);
    let mut count = 0;
    while let Some(message) = next.take() {
        let channel = format!("{}{}", backplane.prefix, message.topic);
        pipeline.publish(channel, message.envelope).ignore();
        count += 1;
        if count < MAX_PIPELINE {
            next = outgoing.try_recv().ok();
        }
    }
    pipeline.query_async(publisher).await
}
