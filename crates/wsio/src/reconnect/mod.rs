//! A client that reconnects by itself and loses nothing it was given to send.
//!
//! [`ReconnectingClient`] owns a connection in a background task. When the connection drops,
//! fails its keepalive or is closed by the server, the client waits (a [`Policy`]: exponential
//! backoff with jitter, an attempt limit, a predicate) and connects again, running the
//! application's restore hook ([`Builder::on_restore`]: log in, resubscribe) on each fresh
//! connection before anything queued is sent.
//!
//! ```no_run
//! # async fn demo() -> wsio::Result<()> {
//! use std::time::Duration;
//! use wsio::reconnect::{Event, Policy, ReconnectingClient};
//! use wsio::reconnect::Backoff;
//!
//! let (client, mut events) = ReconnectingClient::builder("ws://127.0.0.1:9001/chat")?
//!     .policy(Policy::default().backoff(Backoff::default().jitter(Duration::from_millis(250))))
//!     .start();
//! client.send_text("hello").expect("the queue has room");
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Connected { session, .. } => println!("open (attempt {})", session.attempt),
//!         Event::Message(message) => println!("{message:?}"),
//!         Event::Reconnecting { attempt, delay, previous } => {
//!             println!("attempt {attempt} in {delay:?} after {:?}", previous.error)
//!         }
//!         Event::Unsent(messages) => println!("{} messages may not have arrived", messages.len()),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Events: a stream, not callbacks
//!
//! The application reads [`Event`]s from [`Events`], a [`Stream`](futures_core::Stream). A
//! stream fits `async` code: it composes with `select!` and stream combinators, borrows
//! nothing from the client, keeps the application's state in the application's own task
//! rather than in callbacks that must be `Send + 'static`, and gives backpressure for free.
//! Besides the [`should_reconnect`](Policy::should_reconnect) predicate, which only decides
//! whether to try again, the one callback is the restore hook, because it must run at a
//! precise point: after the handshake and before the queue is flushed.
//!
//! Every [`Event::Connected`] is followed by exactly one [`Event::Closed`], however the
//! connection ends (a cancel included), and the stream ends with [`Event::Stopped`]. Messages
//! handed back come before the state turns [`State::Closed`](crate::State::Closed), so an application that stops
//! when it sees that state has them already.
//!
//! Keep reading the events (or drop [`Events`]): the client holds at most
//! [`Builder::event_capacity`] unread events, and while that many wait it stops reading from
//! the server. Then confirmations are not read either, so [`pending`](ReconnectingClient::pending)
//! stops going down and sending fails with [`QueueError::Full`] (or [`ready`](ReconnectingClient::ready)
//! waits) once the queue is full; the server's pings go unanswered, which may make the server
//! drop the connection; and after a disconnect the client waits for room before it reports
//! it and tries again.
//!
//! # Sending, and what is guaranteed
//!
//! [`send`](ReconnectingClient::send), [`send_text`](ReconnectingClient::send_text),
//! [`send_binary`](ReconnectingClient::send_binary) and [`ping`](ReconnectingClient::ping)
//! never wait: they queue the message, or fail at once
//! with a [`QueueError`] that gives the message back. They are accepted while the state is
//! [`Connecting`](crate::State::Connecting), [`Open`](crate::State::Open) or
//! [`Reconnecting`](crate::State::Reconnecting), and refused with [`QueueError::Closed`] from the
//! moment [`close`](ReconnectingClient::close) or [`cancel`](ReconnectingClient::cancel) is
//! called ([`Closing`](crate::State::Closing), then [`Closed`](crate::State::Closed)): the close frame
//! is the last thing written. A full queue refuses with [`QueueError::Full`];
//! [`ready`](ReconnectingClient::ready) waits for room. Queued messages are written in order
//! as soon as a connection is open and restored.
//!
//! A message written to a connection has not necessarily arrived: TCP may lose what it
//! buffered when the connection breaks. So after writing, the client sends a ping of its own,
//! and the server's pong to it *confirms* every message written before it: the server's
//! WebSocket endpoint has read them (RFC 6455 requires pongs in answer to pings; a pong that
//! answers a later ping confirms the earlier ones too). Every message accepted by `send`
//! ends in exactly one of these ways:
//!
//! - confirmed: it reached the server's WebSocket endpoint once, in order;
//! - handed back in an [`Event::Unsent`], oldest first: it was written to a connection that
//!   ended before the confirmation arrived (it may or may not have reached the server), or it
//!   was still queued when the client stopped (it was never written).
//!
//! The client never writes a message twice: deciding to send a handed-back message again
//! (and accept a possible duplicate) is the application's choice. Messages queued after a
//! handed-back one are not held back: they go out on the next connection. Messages queued and
//! unconfirmed count together against [`Builder::queue_capacity`].
//!
//! One confirmation ping is outstanding at a time; messages written meanwhile wait for the
//! next one, sent when its answer comes (and always right before a close frame). A server may
//! answer only the latest of several pings (RFC 6455 section 5.5.3), so when a pong arrives
//! that answers no confirmation ping while one is outstanding, the client sends a fresh one
//! rather than wait for an answer that may never come. Answers to earlier confirmation pings
//! never call for another, so the client sends at most one confirmation ping per pong it
//! receives (plus the first, and one right before its close frame): never a storm.
//! The payload is `wsio-ack:`, a random token of the client and a sequence number; pongs
//! that carry the token are not reported as events, and no application ping can fake one.
//!
//! # Attempts
//!
//! Attempts are numbered the same way however a run of them began. Attempt 0 is the client's
//! first connection; each attempt after a failed attempt or a disconnect takes the next
//! number, so the Nth retry is attempt N, and waits the backoff's Nth delay, whether the first
//! connection failed or an open connection dropped. A connection that opens (reaches
//! [`Event::Connected`]) starts the count again: once it ends, the next attempt is 1. The number
//! is in [`SessionInfo::attempt`], [`Disconnect::attempt`], [`Event::Reconnecting`] and
//! [`ReconnectingClient::attempt`].
//!
//! Each attempt that fails is reported as an [`Event::Error`] with the cause, then an
//! [`Event::AttemptFailed`] with the whole [`Disconnect`]; each open connection that ends, as
//! an [`Event::Closed`]. A following [`Event::Reconnecting`] carries the same `Disconnect` as
//! `previous`, and the next [`SessionInfo`] too.
//!
//! # Stopping
//!
//! [`close`](ReconnectingClient::close) writes what is queued, runs the close handshake and
//! stops, within the close timeout even if the server stops reading;
//! [`cancel`](ReconnectingClient::cancel) stops at once, in any state, a backoff wait or a
//! restore hook included. Dropping the last handle closes as `close` with 1001 would. Either
//! way the event stream ends with [`Event::Stopped`].
//!
//! A panic in the restore hook or in the [`should_reconnect`](Policy::should_reconnect)
//! predicate is a bug that retrying would only repeat: the client reports it as an
//! [`Event::Error`] with [`Error::Panicked`], hands back what it
//! holds, and stops, as if it had been cancelled.

mod client;
mod confirm;
mod error;
mod events;
mod policy;
mod session;
mod shared;
mod task;

pub use client::{Builder, DEFAULT_PING_INTERVAL, QueueError, ReconnectingClient};
pub use error::{Callback, Error};
pub use events::{Event, Events, SessionInfo};
pub use policy::{Disconnect, Policy};
pub use session::Session;
/// The delay policy between attempts, re-exported from the protocol core so that a
/// [`Policy`] can be written without depending on `wsio-proto`.
pub use wsio_proto::Backoff;
