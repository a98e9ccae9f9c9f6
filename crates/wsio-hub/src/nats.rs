//! The NATS backplane (feature `nats`): every node's hub publishes to NATS and subscribes to
//! its topics there, so that a publish on one node reaches the subscribers of every node.
//!
//! Each topic is the subject `PREFIX.tHEX`, where `HEX` is the topic's bytes in hexadecimal
//! (any topic name, the empty one included, is then a valid subject token); each node
//! subscribes to `PREFIX.*` once.
//! A node skips what it published itself, so nothing arrives twice.
//!
//! **Delivery is at most once**, as NATS core publish/subscribe is: the server keeps nothing
//! for a subscriber that is not connected. While a node's connection is down, what the
//! other nodes publish does not reach it and is not sent again; what it publishes waits in
//! its queue ([`OUTGOING_BUFFER`](crate::OUTGOING_BUFFER) messages, then dropped and counted
//! in [`HubStats::backplane_dropped`](crate::HubStats::backplane_dropped)) and goes out once
//! it is back. [`Backplane::state_changes`] shows when a node was cut off.
//!
//! The `async-nats` client reconnects by itself, waiting as wsio's [`Backoff`] says, and
//! subscribes again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = wsio_hub::Hub::new();
//! let backplane = wsio_hub::nats::NatsBackplane::new("nats://127.0.0.1:4222").attach(&hub)?;
//! backplane.wait_for(wsio_hub::BackplaneState::Connected).await;
//! hub.publish("chat", wsio::PreparedMessage::text("hello, every node"));
//! # Ok(()) }
//! ```

use std::fmt::Write;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use wsio::proto::Backoff;

use crate::backplane::{
    self, AlreadyAttached, Backplane, BackplaneState, DRAIN_LIMIT, Outgoing, Task, stop_requested,
};
use crate::hub::Hub;

/// The subject prefix unless [`NatsBackplane::prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "wsio-hub";

/// A NATS backplane to attach to a hub.
#[derive(Debug, Clone)]
pub struct NatsBackplane {
    url: String,
    prefix: String,
    backoff: Backoff,
}

impl NatsBackplane {
    /// A backplane through the NATS server at `url` (`nats://HOST:PORT`). Nothing connects
    /// yet.
    pub fn new(url: &str) -> Self {
        NatsBackplane {
            url: url.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            backoff: Backoff::default(),
        }
    }

    /// Uses subjects under `prefix` (a valid subject, such as `myapp.hub`), to keep apart
    /// several applications on one NATS server.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait between reconnection attempts (wsio's default [`Backoff`] otherwise).
    /// Its attempt limit is ignored: the backplane keeps trying at the longest delay, until
    /// stopped.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Connects `hub` to the other nodes through NATS, on a task of its own (in the current
    /// tokio runtime), reconnecting until [`Backplane::stop`]. A hub takes one backplane.
    pub fn attach(self, hub: &Hub) -> Result<Backplane, AlreadyAttached> {
        backplane::attach(hub, |task| run(self, task))
    }
}

/// Connects (the client retries by itself from then on), subscribes, and carries messages
/// both ways until stopped.
async fn run(backplane: NatsBackplane, task: Task) {
    let Task {
        hub,
        mut outgoing,
        state,
        mut stopped,
    } = task;
    // The client's events come to the loop below: it says "connected" only once the
    // server has the subscription (see `confirm`).
    let (event_sender, mut events) = mpsc::unbounded_channel();
    let options = || {
        let backoff = backplane.backoff.clone();
        let event_sender = event_sender.clone();
        async_nats::ConnectOptions::new()
            .reconnect_delay_callback(move |attempts| {
                let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
                backoff.base_delay(attempt)
            })
            .event_callback(move |event| {
                let _ = event_sender.send(event);
                async {}
            })
    };
    let served = async {
        // The first connection is made here, retried after the backoff's delays; after it, the
        // client reconnects by itself.
        let mut delays = backplane.backoff.delays();
        let client = loop {
            let connected = tokio::select! {
                connected = options().connect(backplane.url.as_str()) => connected,
                () = stop_requested(&mut stopped) => return Ok(()),
            };
            match connected {
                Ok(client) => break client,
                Err(error) => {
                    state.send_replace(BackplaneState::Disconnected);
                    let delay = delays
                        .next()
                        .unwrap_or_else(|| backplane.backoff.base_delay(u32::MAX));
                    tracing::warn!(%error, ?delay, "the NATS backplane cannot connect yet");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop_requested(&mut stopped) => return Ok(()),
                    }
                    state.send_replace(BackplaneState::Connecting);
                }
            }
        };
        let mut messages = client.subscribe(format!("{}.*", backplane.prefix)).await?;
        tokio::select! {
            confirmed = confirm(&client) => confirmed?,
            () = stop_requested(&mut stopped) => return Ok(()),
        }
        state.send_replace(BackplaneState::Connected);
        let link = hub
            .inner
            .link
            .get()
            .expect("attached before the task started");
        let topic_start = backplane.prefix.len() + 1;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Ok(()) };
                    let Some(topic) = message.subject.get(topic_start..).and_then(decode_topic) else {
                        continue;
                    };
                    link.receive(&hub, &topic, &message.payload);
                }
                next = outgoing.recv() => {
                    let Some(next) = next else { return Ok(()) };
                    if let Err(error) = publish(&client, &backplane.prefix, next).await {
                        tracing::warn!(%error, "a message for the NATS backplane was not sent");
                    }
                }
                Some(event) = events.recv() => match event {
                    async_nats::Event::Connected => {
                        // The client subscribed again on its own.
                        let confirmed = confirm(&client).await;
                        if confirmed.is_ok() {
                            state.send_replace(BackplaneState::Connected);
                        }
                    }
                    async_nats::Event::Disconnected => {
                        state.send_replace(BackplaneState::Disconnected);
                        tracing::warn!("the NATS backplane is down; reconnecting");
                    }
                    _ => {}
                },
                () = stop_requested(&mut stopped) => {
                    // What waits goes out, and the client's buffer is written, before it stops.
                    let drained = async {
                        while let Ok(next) = outgoing.try_recv() {
                            publish(&client, &backplane.prefix, next).await?;
                        }
                        client.flush().await?;
                        Ok::<_, async_nats::Error>(())
                    };
                    if !matches!(tokio::time::timeout(DRAIN_LIMIT, drained).await, Ok(Ok(()))) {
                        tracing::warn!("the NATS backplane stopped before sending all it had");
                    }
                    return Ok(());
                }
            }
        }
    };
    let ended: Result<(), async_nats::Error> = served.await;
    if let Err(error) = ended {
        tracing::warn!(%error, "the NATS backplane stopped");
    }
    state.send_replace(BackplaneState::Stopped);
}

/// Publishes one message on its topic's subject, into the client's buffer.
async fn publish(
    client: &async_nats::Client,
    prefix: &str,
    message: Outgoing,
) -> Result<(), async_nats::client::PublishError> {
    let subject = format!("{prefix}.{}", encode_topic(&message.topic));
    client.publish(subject, message.envelope.into()).await
}

/// Waits until the server has taken what this client sent before, its subscriptions
/// included: a message to a subject of its own comes back only after them. (The client's
/// `flush` only writes its buffer out.)
async fn confirm(client: &async_nats::Client) -> Result<(), async_nats::Error> {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    tokio::time::timeout(std::time::Duration::from_secs(10), probe.next())
        .await
        .map_err(|_| "the NATS server did not answer the probe in time")?;
    probe.unsubscribe().await?;
    Ok(())
}

/// A topic as one subject token: `t` and its bytes in hexadecimal.
fn encode_topic(topic: &str) -> String {
    let mut token = String::with_capacity(1 + topic.len() * 2);
    token.push('t');
    for byte in topic.bytes() {
        let _ = write!(token, "{byte:02x}");
    }
    token
}

/// The topic a subject token names, if it is one [`encode_topic`] made.
fn decode_topic(token: &str) -> Option<String> {
    let token = token.strip_prefix('t')?;
    if token.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_topic_survives_the_subject() {
        for topic in ["room", "chat room", "a.b.*", ">", "ünïcødé", ""] {
            let token = encode_topic(topic);
            assert!(token[1..].bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
            assert_eq!(decode_topic(&token).as_deref(), Some(topic));
        }
        assert_eq!(decode_topic("tzz"), None);
        assert_eq!(decode_topic("tabc"), None);
        assert_eq!(decode_topic("61"), None);
    }
}
