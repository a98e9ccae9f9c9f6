//! Topics and fan-out for WebSocket servers built on [`wsio`].
//!
//! A [`Hub`] holds topics. Each connection gets a [`Subscriber`], subscribes it to the topics
//! it wants, and hands it with the connection's write half to [`Subscriber::forward`]; any task
//! can then [`publish`](Hub::publish) to a topic. A message is prepared once
//! ([`wsio::PreparedMessage`]: framed, and compressed where the connection allows, once) and
//! the same bytes go to every subscriber.
//!
//! Memory stays bounded however slowly a client reads: each subscriber holds at most
//! [`HubBuilder::backlog`] messages (shared, not copied), and one that falls further behind is
//! handled by the hub's [`SlowSubscribers`] policy: closed with 1013 (try again later), or its
//! oldest messages dropped and counted.
//!
//! With the `redis` or `nats` feature, a backplane joins the hubs of several nodes through
//! a broker; [`clusters`] is the guide to running them behind a load balancer, and to what
//! happens when a node or the broker dies.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use wsio::{Server, ServerRequest, Transport, WebSocket};
//! use wsio_hub::Hub;
//!
//! let hub = Hub::new();
//! let server = Server::builder()
//!     .route("/feed", {
//!         let hub = hub.clone();
//!         move |ws: WebSocket<Transport>, _: ServerRequest| {
//!             let mut subscriber = hub.subscriber();
//!             subscriber.subscribe("prices");
//!             let (mut read, write) = ws.split();
//!             let forwarding = tokio::spawn(subscriber.forward(write));
//!             async move {
//!                 while let Some(Ok(_)) = read.recv().await {}
//!                 forwarding.abort();
//!             }
//!         }
//!     })
//!     .bind("127.0.0.1:9000")
//!     .await?;
//! tokio::spawn(server.run());
//! hub.publish("prices", wsio::PreparedMessage::text("EURUSD 1.0843"));
//! # Ok(()) }
//! ```

#[cfg(any(feature = "redis", feature = "nats"))]
mod backplane;
// The guide's example compiles as a doctest where both backplanes are built.
#[cfg_attr(
    all(feature = "redis", feature = "nats"),
    doc = include_str!("../docs/clusters.md")
)]
#[cfg_attr(
    not(all(feature = "redis", feature = "nats")),
    doc = "Running hubs on several nodes: the guide, in the documentation built with the \
           `redis` and `nats` features (and in `docs/clusters.md` of this crate)."
)]
pub mod clusters {}
mod hub;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;
mod subscriber;

#[cfg(any(feature = "redis", feature = "nats"))]
pub use backplane::{AlreadyAttached, Backplane, BackplaneState, OUTGOING_BUFFER};
pub use hub::{DEFAULT_BACKLOG, Hub, HubBuilder, HubStats, SlowSubscribers};
pub use subscriber::{Lagged, Subscriber};
