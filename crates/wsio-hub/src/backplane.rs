//! What every backplane shares: the hub's link to it, the envelope a message crosses the
//! broker in, and the state the application can watch.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use wsio::{Message, PreparedMessage};

use crate::hub::Hub;

/// How many messages may wait to go to the broker, while it is slow or away, before more are
/// dropped (and counted in [`HubStats::backplane_dropped`](crate::HubStats::backplane_dropped)).
pub const OUTGOING_BUFFER: usize = 1024;

/// How long a stopped backplane may take to send what still waits for the broker.
pub(crate) const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The envelope's version byte.
const VERSION: u8 = 1;
/// The envelope's kinds of message.
const TEXT: u8 = 1;
const BINARY: u8 = 2;
/// Version, node id, kind.
const HEADER: usize = 1 + 16 + 1;

/// Where a hub's connection to its broker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackplaneState {
    /// Connecting, or reconnecting after a delay: messages from other nodes do not arrive.
    Connecting,
    /// Subscribed: what other nodes publish arrives, and what this node publishes goes out.
    Connected,
    /// The connection failed; the next attempt comes after the backoff's delay.
    Disconnected,
    /// Stopped for good ([`Backplane::stop`], or the hub is gone).
    Stopped,
}

/// A hub's running connection to its broker: its state, and a way to stop it. Dropping it
/// leaves the connection running (and the hub with it) until [`stop`](Self::stop).
#[derive(Debug, Clone)]
pub struct Backplane {
    pub(crate) state: watch::Receiver<BackplaneState>,
    pub(crate) stop: watch::Sender<bool>,
}

impl Backplane {
    /// Where the connection is now.
    pub fn state(&self) -> BackplaneState {
        *self.state.borrow()
    }

    /// The state, to watch for changes.
    pub fn state_changes(&self) -> watch::Receiver<BackplaneState> {
        self.state.clone()
    }

    /// Waits until the connection is in `wanted`.
    pub async fn wait_for(&self, wanted: BackplaneState) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|state| *state == wanted).await;
    }

    /// Stops the connection, once what this node published and still waits for the broker
    /// is sent (while connected, for at most two seconds); the hub goes on serving its own
    /// subscribers. [`wait_for`](Self::wait_for)`(BackplaneState::Stopped)` waits until it
    /// is done.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// The hub already has a backplane: a hub takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyAttached;

impl std::fmt::Display for AlreadyAttached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the hub already has a backplane")
    }
}

impl std::error::Error for AlreadyAttached {}

/// What a backplane's task is given: the hub, the queue of what it publishes, the state to
/// keep, and the stop signal.
pub(crate) struct Task {
    pub(crate) hub: Hub,
    pub(crate) outgoing: mpsc::Receiver<Outgoing>,
    pub(crate) state: watch::Sender<BackplaneState>,
    pub(crate) stopped: watch::Receiver<bool>,
}

/// Waits until the backplane is asked to stop ([`Backplane::stop`]), or its handle is gone.
pub(crate) async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Gives `hub` a link to the other nodes and runs `run` on a task of its own (in the current
/// tokio runtime) to carry it; a hub takes one backplane.
pub(crate) fn attach<F, Fut>(hub: &Hub, run: F) -> Result<Backplane, AlreadyAttached>
where
    F: FnOnce(Task) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (link, outgoing) = Link::new();
    hub.inner.link.set(link).map_err(|_| AlreadyAttached)?;
    let (state, state_watch) = watch::channel(BackplaneState::Connecting);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(run(Task {
        hub: hub.clone(),
        outgoing,
        state,
        stopped,
    }));
    Ok(Backplane {
        state: state_watch,
        stop,
    })
}

/// A message on its way to the broker: the topic, and the envelope's bytes.
pub(crate) struct Outgoing {
    pub(crate) topic: String,
    pub(crate) envelope: Vec<u8>,
}

/// The hub's side of its backplane: this node's id and the queue to the broker.
pub(crate) struct Link {
    node: [u8; 16],
    outgoing: mpsc::Sender<Outgoing>,
    pub(crate) dropped: AtomicU64,
}

impl Link {
    /// A link for a new node, and the receiving end of its queue.
    fn new() -> (Link, mpsc::Receiver<Outgoing>) {
        let (sender, receiver) = mpsc::channel(OUTGOING_BUFFER);
        let mut node = [0u8; 16];
        for chunk in node.chunks_mut(4) {
            chunk.copy_from_slice(&wsio::proto::random_mask());
        }
        let link = Link {
            node,
            outgoing: sender,
            dropped: AtomicU64::new(0),
        };
        (link, receiver)
    }

    /// Sends `message`, published on this node to `topic`, towards the other nodes.
    pub(crate) fn send(&self, topic: &str, message: &PreparedMessage) {
        let (kind, payload) = match message.message() {
            Message::Text(text) => (TEXT, text.into_bytes()),
            Message::Binary(data) => (BINARY, data),
            _ => return,
        };
        let mut envelope = Vec::with_capacity(HEADER + payload.len());
        envelope.push(VERSION);
        envelope.extend_from_slice(&self.node);
        envelope.push(kind);
        envelope.extend_from_slice(&payload);
        let outgoing = Outgoing {
            topic: topic.to_owned(),
            envelope,
        };
        if self.outgoing.try_send(outgoing).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Delivers an envelope that came from the broker on `topic` to this node's subscribers,
    /// unless this node sent it (it was delivered here when published): how many it reached.
    pub(crate) fn receive(&self, hub: &Hub, topic: &str, envelope: &[u8]) -> usize {
        if envelope.len() < HEADER || envelope[0] != VERSION {
            tracing::warn!(topic, "a backplane message that is not wsio-hub's; ignored");
            return 0;
        }
        if envelope[1..17] == self.node {
            return 0;
        }
        let payload = bytes_of(&envelope[HEADER..]);
        let message = match envelope[17] {
            TEXT => match wsio::Utf8Bytes::try_from(payload) {
                Ok(text) => PreparedMessage::text(text),
                Err(_) => {
                    tracing::warn!(topic, "a backplane text message that is not UTF-8; ignored");
                    return 0;
                }
            },
            BINARY => PreparedMessage::binary(payload),
            _ => return 0,
        };
        hub.deliver(topic, &message)
    }
}

fn bytes_of(payload: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(payload)
}
