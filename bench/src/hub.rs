//! The hub fan-out server (`wsio-bench-server --lib wsio --hub`): the broadcast server's
//! behaviour (every message any client sends goes to every client, the sender included),
//! through a `wsio_hub::Hub`, alone or, with `--cluster URL`, joined to the hubs of other
//! nodes through Redis or NATS. What a node publishes reaches the subscribers of every node.
//!
//! Each connection is one subscriber of one topic; a writer task per connection
//! ([`wsio_hub::Subscriber::forward`]) writes every message waiting and flushes once. Slow
//! clients: the hub's backlog is [`broadcast::BACKLOG`](crate::broadcast::BACKLOG) messages,
//! past which a client is closed with 1013, as in the other broadcast servers.

use std::net::SocketAddr;

use wsio_hub::nats::NatsBackplane;
use wsio_hub::redis::RedisBackplane;
use wsio_hub::{BackplaneState, Hub};

use crate::BoxError;
use crate::broadcast::{BACKLOG, relay};

/// The one topic every client subscribes to.
const TOPIC: &str = "fanout";

/// Serves the hub fan-out on `addr`, joined through the broker at `cluster`
/// (`redis://HOST:PORT` or `nats://HOST:PORT`) if given; calls `announce` once it listens
/// and, with a broker, is subscribed there.
pub async fn serve(
    addr: &str,
    cluster: Option<&str>,
    announce: fn(SocketAddr),
) -> Result<(), BoxError> {
    let hub = Hub::builder().backlog(BACKLOG).build();
    let backplane = match cluster {
        None => None,
        Some(url) if url.starts_with("redis://") => Some(RedisBackplane::new(url)?.attach(&hub)?),
        Some(url) if url.starts_with("nats://") => Some(NatsBackplane::new(url).attach(&hub)?),
        Some(_) => return Err("--cluster takes redis://HOST:PORT or nats://HOST:PORT".into()),
    };
    if let Some(backplane) = &backplane {
        backplane.wait_for(BackplaneState::Connected).await;
    }
    let server = wsio::Server::builder()
        .fallback(move |ws, _| member(ws, hub.clone()))
        .bind(addr)
        .await?;
    announce(server.local_addr().expect("a TCP server has an address"));
    Ok(server.run().await?)
}

/// One client: what it sends is published, what the topic carries is forwarded to it by its
/// own writer task. The connection ends when either side does.
async fn member(ws: wsio::WebSocket<wsio::Transport>, hub: Hub) {
    let mut subscriber = hub.subscriber();
    subscriber.subscribe(TOPIC);
    let (read, write) = ws.split();
    let writer = tokio::spawn(subscriber.forward(write));
    relay(read, writer, |message| {
        hub.publish(TOPIC, message);
    })
    .await;
}
