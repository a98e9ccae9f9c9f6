//! The async WebSocket: a [`Stream`] of messages and a [`Sink`] of messages over any transport.

use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Sleep;
use wsio_proto::{CloseCode, CloseInfo, Frame, Message, Negotiated, Role, Utf8Bytes};

use crate::closer::{Asked, Closer, Requests};
use crate::config::Config;
use crate::driver::{Action, Driver, Incoming, ReadResult, WriteResult};
use crate::error::{Error, Result};
use crate::state::State;

/// The time on tokio's clock, which the reader's sleep uses too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The most slices one vectored write hands to the transport.
const MAX_WRITE_SLICES: usize = 64;

/// A WebSocket connection over the transport `S`, after its opening handshake.
///
/// It is a [`Stream`] of received [`Message`]s and a [`Sink`] of messages to send, with
/// `async` helpers for both. Reading drives the connection: it answers pings, completes the
/// close handshake and runs the keepalive and close timers, so keep reading while the
/// connection is open. [`split`](Self::split) gives a read half and a write half for two
/// tasks.
///
/// When the peer closes, the stream yields [`Message::Close`] and then ends; if the connection
/// fails, it yields the [`Error`] and then ends. [`close_info`](Self::close_info) then tells
/// how it ended (code, reason, whether it was clean).
///
/// Receiving is cancel-safe: a dropped [`recv`](Self::recv) future loses nothing, because
/// everything read is kept in the connection, not in the future.
pub struct WebSocket<S> {
    conn: Conn<S>,
}

/// The reading half of a split [`WebSocket`]: a [`Stream`] of messages.
pub struct ReadHalf<S> {
    conn: Conn<S>,
}

/// The writing half of a split [`WebSocket`] or [`FrameSocket`]: a [`Sink`] of messages,
/// which can send single frames too.
pub struct WriteHalf<S> {
    conn: Conn<S>,
}

/// The reading half of a split [`FrameSocket`]: a [`Stream`] of frames.
pub struct FrameReadHalf<S> {
    conn: Conn<S>,
}

/// A connection in frame mode: a [`Stream`] of [`Frame`]s exactly as they arrived (fin, RSV
/// bits, opcode; fragmented messages are not reassembled) and a [`Sink`] of frames to send.
/// Made by [`WebSocket::into_frames`].
///
/// The protocol is still enforced: masks, UTF-8 of text fragments, fragment order, limits;
/// pings are still answered and the close handshake still runs. The peer's close frame is
/// delivered as a frame, and the stream then ends.
pub struct FrameSocket<S> {
    conn: Conn<S>,
}

/// Where a connection's state lives. A connection with one handle owns it, and reaches it
/// through `&mut` without taking the lock (`Mutex::get_mut`): taking even an uncontended lock
/// for every message sent and received was a measurable part of the cost of small messages.
/// The lock is taken only by the `&self` getters; it is there so that a handle is `Sync`
/// whenever the transport is `Send`, whether it owns its state or not. Split halves, and
/// handles that close a connection from elsewhere (a server shutting down), share the state,
/// and take the lock for non-blocking work only, never across an await.
enum Conn<S> {
    Owned(Box<Mutex<Inner<S>>>),
    Shared(Arc<Mutex<Inner<S>>>),
}

struct Inner<S> {
    io: S,
    driver: Driver,
    /// The timer behind the core's deadline, polled by the reader.
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    /// The reader's waker, to wake it when the writer changes the deadline or fails.
    reader: Option<Waker>,
    /// The read half was dropped: a write half that closes reads the connection itself.
    reader_gone: bool,
    /// A write half waiting in `close` for the connection to end.
    close_waiter: Option<Waker>,
    /// Wakes whichever halves wait for the transport to accept writes.
    write_wakers: Arc<WriteWakers>,
    write_waker: Waker,
    /// Dropped with the connection (the last half), after the transport: how a server learns
    /// that a connection is gone, even when its handler handed the halves to other tasks.
    departure: Option<Box<dyn Send>>,
    /// What a [`Closer`] asked (a server shutting down), and which requests were acted on.
    requests: Option<Arc<Requests>>,
    requests_seen: u8,
    /// The reader's waker is registered with `requests`: a request (which takes it) or a new
    /// reader waker clears it.
    requests_waker: bool,
    /// Run when the connection is dropped: writes a close a [`Closer`] asked for and nobody
    /// acted on (a handler that never read, stopped by its server). A function of this
    /// transport type, so that dropping needs no bound on it.
    on_drop: fn(&mut Inner<S>),
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        (self.on_drop)(self);
    }
}

/// Both halves may have to wait for the transport to accept writes (the reader writes pongs
/// and close replies), but a transport keeps one write waker. The waker given to the transport
/// wakes every half that waits.
#[derive(Default)]
struct WriteWakers {
    slots: Mutex<[Option<Waker>; 3]>,
}

/// Who is asking to write.
#[derive(Clone, Copy)]
enum Side {
    Reader = 0,
    Writer = 1,
    /// A close started on its own (one a [`Closer`] asked for, or one made by the server or
    /// the reconnecting client): it only writes what the transport takes at once, never waits.
    Closer = 2,
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.slots.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl WriteWakers {
    fn register(&self, side: Side, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[side as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Runs `f` on the transport.
    pub(crate) fn with_transport<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        self.conn.with_ref(|inner| f(&inner.io))
    }

    /// Wraps a transport whose opening handshake is done. `leftover` holds bytes that arrived
    /// after the handshake; they are the connection's first input.
    ///
    /// Use this to run WebSocket over a stream you have set up yourself. To make or accept
    /// connections, see [`connect`](crate::connect) and [`accept`](crate::accept).
    pub fn from_raw(io: S, role: Role, config: &Config, leftover: Bytes) -> Self {
        Self::with_extensions(io, role, config, leftover, &Negotiated::default())
    }

    /// Like [`from_raw`](Self::from_raw), for a handshake that agreed the extensions in
    /// `negotiated` (for example permessage-deflate): see
    /// [`wsio_proto::Connection::with_extensions`].
    pub fn with_extensions(
        io: S,
        role: Role,
        config: &Config,
        leftover: Bytes,
        negotiated: &Negotiated,
    ) -> Self {
        Self::from_driver(
            io,
            Driver::start(role, config, &leftover, negotiated, now()),
        )
    }

    /// Wraps a transport whose opening handshake, run with [`wsio_proto`]'s handshake types,
    /// ended in `connection` ([`Accepted::connection`](wsio_proto::Accepted::connection) for a
    /// client, [`UpgradeOffer::accept_connection`](wsio_proto::UpgradeOffer::accept_connection)
    /// for a server).
    ///
    /// The connection keeps its role, protocol settings and extensions, and the bytes it
    /// already holds are read first; of `config`, only the I/O settings
    /// ([`max_write_buffer`](Config::max_write_buffer),
    /// [`read_buffer_size`](Config::read_buffer_size)) apply. Messages are delivered whole;
    /// see [`into_frames`](Self::into_frames) for frames.
    pub fn from_connection(io: S, connection: wsio_proto::Connection, config: &Config) -> Self {
        Self::from_driver(io, Driver::from_connection(connection, config, now()))
    }

    /// The socket of a driver that has started.
    fn from_driver(io: S, driver: Driver) -> Self {
        let write_wakers = Arc::new(WriteWakers::default());
        WebSocket {
            conn: Conn::Owned(Box::new(Mutex::new(Inner {
                io,
                driver,
                sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
                armed: None,
                reader: None,
                reader_gone: false,
                close_waiter: None,
                write_waker: Waker::from(write_wakers.clone()),
                write_wakers,
                departure: None,
                requests: None,
                requests_seen: 0,
                requests_waker: false,
                on_drop: Inner::write_requested_close,
            }))),
        }
    }

    /// Turns this connection into a [`FrameSocket`], which delivers frames one by one, as they
    /// arrived, instead of whole messages. A message already begun arrives as one final frame.
    pub fn into_frames(mut self) -> FrameSocket<S> {
        self.conn.with(|inner| inner.driver.set_frame_mode(true));
        FrameSocket { conn: self.conn }
    }

    /// This connection, and a handle that can start the close handshake from elsewhere, for
    /// example from a server shutting down while a handler task owns the connection. The
    /// connection keeps its state to itself: the closer only signals it (see [`Closer`]).
    pub(crate) fn with_closer(mut self) -> (Self, Closer) {
        let (requests, closer) = Requests::new();
        self.conn.with(|inner| inner.requests = Some(requests));
        (self, closer)
    }

    /// Two handles on the same connection, for code that must use it for a while without
    /// owning it (the reconnecting client's restore hook).
    pub(crate) fn share(self) -> (Self, Self) {
        let (first, second) = self.conn.into_pair();
        (WebSocket { conn: first }, WebSocket { conn: second })
    }

    /// Keeps `token` until the connection is gone (the last half dropped), then drops it.
    pub(crate) fn keep_until_dropped(&mut self, token: Box<dyn Send>) {
        self.conn.with(|inner| inner.departure = Some(token));
    }

    /// Queues a close frame unless the connection is already closing, writes what the
    /// transport takes at once, without waiting, and wakes the reader to finish the handshake.
    pub(crate) fn close_now(&mut self, code: CloseCode, reason: &str) {
        self.conn.with(|inner| inner.close_now(code, reason));
    }

    /// Ends the connection without waiting for the peer: starts shutting the transport down
    /// and ends the stream, whose reader then sees `None`.
    pub(crate) fn abort(&mut self) {
        self.conn.with(Inner::abort);
    }

    /// Splits the connection into a read half and a write half, which two tasks can use at once.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let (read, write) = self.conn.into_pair();
        (ReadHalf { conn: read }, WriteHalf { conn: write })
    }
}

/// The receiving methods of [`WebSocket`] and [`ReadHalf`].
macro_rules! receiving {
    ($ty:ident) => {
        impl<S> $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            /// The next message: `None` once the connection has ended. After the peer's
            /// [`Message::Close`] (or the error that ended the connection) comes `None`.
            ///
            /// Cancel-safe: dropping the future loses nothing.
            pub async fn recv(&mut self) -> Option<Result<Message>> {
                std::future::poll_fn(|cx| self.conn.with(|inner| inner.poll_next(cx))).await
            }
        }
    };
}

/// What every handle on a connection can tell: [`WebSocket`], its halves, [`FrameSocket`] and
/// [`FrameReadHalf`].
macro_rules! describing {
    ($ty:ident) => {
        impl<S> $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            /// Where the connection is: [`Open`](State::Open), [`Closing`](State::Closing)
            /// once a close frame was sent, [`Closed`](State::Closed) once it has ended.
            pub fn state(&self) -> State {
                self.conn.with_ref(|inner| inner.driver.state())
            }

            /// How the connection ended (code, reason, whether cleanly), once it has.
            pub fn close_info(&self) -> Option<CloseInfo> {
                self.conn
                    .with_ref(|inner| inner.driver.close_info().cloned())
            }

            /// The extensions the handshake agreed (such as permessage-deflate), which the
            /// connection runs.
            pub fn negotiated(&self) -> Negotiated {
                self.conn
                    .with_ref(|inner| inner.driver.negotiated().clone())
            }

            /// The transport underneath, for example to ask a
            /// [`Transport`](crate::Transport) its peer's address:
            /// `ws.get_ref().peer_addr()`. The connection is locked while the returned value
            /// lives, so it borrows this handle exclusively (nothing else can be called on
            /// it meanwhile); drop it before the next `.await` (another half of the same
            /// connection waits for it).
            pub fn get_ref(&mut self) -> impl std::ops::Deref<Target = S> + '_ {
                TransportGuard(self.conn.lock())
            }

            /// The transport underneath, mutably: for settings such as `TCP_NODELAY`. Reading
            /// or writing through it would corrupt the stream of frames. The connection is
            /// locked while the returned value lives.
            pub fn get_mut(&mut self) -> impl std::ops::DerefMut<Target = S> + '_ {
                TransportGuard(self.conn.lock())
            }
        }
    };
}

/// The sending methods of [`WebSocket`] and [`WriteHalf`].
macro_rules! sending {
    ($ty:ident) => {
        impl<S> $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            /// Sends a message and waits until it is written to the transport. Waits first
            /// while the write buffer is full.
            pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
                self.conn.send(message.into(), true).await
            }

            /// Sends a message like [`send`](Self::send), but a text or binary message goes
            /// out uncompressed even where permessage-deflate is in use: for data that is
            /// already compressed.
            pub async fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<()> {
                self.conn.send(message.into(), false).await
            }

            /// Sends a text message.
            pub async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<()> {
                self.send(Message::Text(text.into())).await
            }

            /// Sends a binary message.
            pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()> {
                self.send(Message::Binary(data.into())).await
            }

            /// Sends a ping (payload at most 125 bytes). Its pong arrives as
            /// [`Message::Pong`].
            pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<()> {
                self.send(Message::Ping(payload.into())).await
            }

            /// Sends a pong (payload at most 125 bytes).
            pub async fn pong(&mut self, payload: impl Into<Bytes>) -> Result<()> {
                self.send(Message::Pong(payload.into())).await
            }

            /// Sends a [`PreparedMessage`](crate::PreparedMessage), a message encoded once for
            /// many connections, and waits until it is written. Where this connection can
            /// (a server's, without permessage-deflate or with the server's compressor reset
            /// after each message) it writes the prepared frames themselves; otherwise it
            /// sends the message as [`send`](Self::send) would.
            pub async fn send_prepared(&mut self, prepared: &crate::PreparedMessage) -> Result<()> {
                self.conn.feed_prepared(prepared).await?;
                self.conn.flush().await
            }

            /// Queues a [`PreparedMessage`](crate::PreparedMessage) as
            /// [`send_prepared`](Self::send_prepared) does, waiting only while the write
            /// buffer is full, not for the write: like `SinkExt::feed`, so that a fan-out can
            /// queue many messages and write them with one `flush` (`SinkExt::flush`).
            pub async fn feed_prepared(&mut self, prepared: &crate::PreparedMessage) -> Result<()> {
                self.conn.feed_prepared(prepared).await
            }

            /// Sends one frame as given (fin, RSV bits, opcode, payload) and waits until it is
            /// written. See [`wsio_proto::Connection::send_frame`] for what is checked.
            pub async fn send_frame(&mut self, frame: Frame) -> Result<()> {
                self.conn.send_frame(frame).await
            }

            /// Starts the close handshake with a code and a reason (at most 123 bytes), and
            /// waits until the close frame is written, not for the peer's answer: keep
            /// reading, and the peer's close arrives as [`Message::Close`] (or, on a frame
            /// socket, as its close frame), then the stream ends. To wait for the end instead,
            /// see `close`.
            ///
            /// Fails with [`Error::Send`] for a code that may not be sent or a reason over
            /// 123 bytes; does nothing more if the close handshake has begun.
            pub async fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
                self.conn.send_close(code, reason).await
            }
        }
    };
}

/// The closing method of [`WebSocket`] and [`FrameSocket`], which read their connection.
macro_rules! closing_reader {
    ($ty:ident, $what:literal) => {
        impl<S> $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            /// Closes the connection: sends a close frame with a code and a reason (at most
            /// 123 bytes), then reads until the peer's close frame and the end of the
            /// transport, and returns how the connection ended. It takes at most the close
            #[doc = concat!("timeout ([`Config::close_timeout`](crate::Config::close_timeout)); ", $what, " that")]
            /// arrive meanwhile are dropped (to receive them, use `send_close` and keep
            /// reading).
            ///
            /// Whatever ends the connection, a peer that answers, one that resets the
            /// transport, or the close timeout, is told in the returned [`CloseInfo`]
            /// (`was_clean`, `error`), not as an `Err`. Fails only, changing nothing, with
            /// [`Error::Send`] for a code that may not be sent or a reason over 123 bytes. On a
            /// connection that is closing already, it waits for the end; on one that has
            /// ended, it returns at once.
            pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo> {
                self.conn.close_reading(code, reason).await
            }
        }
    };
}

closing_reader!(WebSocket, "messages");
closing_reader!(FrameSocket, "frames");

impl<S> WriteHalf<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Closes the connection: sends a close frame with a code and a reason (at most 123
    /// bytes), and waits until the read half has seen the peer's close (which it delivers as
    /// usual), and returns how the connection ended. Keep reading the read half meanwhile; if
    /// it was dropped, this reads the connection itself, dropping what arrives. It takes at
    /// most the close timeout ([`Config::close_timeout`](crate::Config::close_timeout)): then
    /// the connection ends, not cleanly, with
    /// [`ConnectionError::CloseTimeout`](crate::ConnectionError::CloseTimeout).
    ///
    /// Whatever ends the connection is told in the returned [`CloseInfo`], not as an `Err`.
    /// Fails only, changing nothing, with [`Error::Send`] for a code that may not be sent or a
    /// reason over 123 bytes.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo> {
        self.conn.close_waiting(code, reason).await
    }
}

/// A read half that goes tells a write half waiting in `close` to read for itself.
macro_rules! read_half_drop {
    ($ty:ident) => {
        impl<S> Drop for $ty<S> {
            fn drop(&mut self) {
                if let Conn::Shared(shared) = &self.conn {
                    let mut inner = lock(shared);
                    inner.reader_gone = true;
                    inner.wake_close_waiter();
                }
            }
        }
    };
}

read_half_drop!(ReadHalf);
read_half_drop!(FrameReadHalf);

receiving!(WebSocket);
receiving!(ReadHalf);
sending!(WebSocket);
sending!(WriteHalf);
sending!(FrameSocket);
describing!(WebSocket);
describing!(ReadHalf);
describing!(WriteHalf);
describing!(FrameSocket);
describing!(FrameReadHalf);

/// The transport of a connection, reached through the connection's lock.
struct TransportGuard<'a, S>(MutexGuard<'a, Inner<S>>);

impl<S> std::ops::Deref for TransportGuard<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0.io
    }
}

impl<S> std::ops::DerefMut for TransportGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0.io
    }
}

impl<S> Inner<S> {
    /// Wakes a write half waiting in `close`, to look again.
    fn wake_close_waiter(&mut self) {
        if let Some(waiter) = self.close_waiter.take() {
            waiter.wake();
        }
    }
}

fn lock<S>(shared: &Mutex<Inner<S>>) -> MutexGuard<'_, Inner<S>> {
    // A panic while the lock was held left a consistent state: every change under it is a
    // single call into the core.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Runs `f` on the connection's state.
    fn with<R>(&mut self, f: impl FnOnce(&mut Inner<S>) -> R) -> R {
        match self {
            // A panic in `f` left a consistent state, as `lock` says.
            Conn::Owned(inner) => f(inner.get_mut().unwrap_or_else(|e| e.into_inner())),
            Conn::Shared(shared) => f(&mut lock(shared)),
        }
    }

    /// Runs `f` on the connection's state, read only.
    fn with_ref<R>(&self, f: impl FnOnce(&Inner<S>) -> R) -> R {
        f(&self.lock())
    }

    /// The connection's state, locked.
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        match self {
            Conn::Owned(inner) => lock(inner),
            Conn::Shared(shared) => lock(shared),
        }
    }

    /// The state, for more than one handle.
    fn into_shared(self) -> Arc<Mutex<Inner<S>>> {
        match self {
            Conn::Owned(inner) => Arc::new(*inner),
            Conn::Shared(shared) => shared,
        }
    }

    /// Two handles on the state.
    fn into_pair(self) -> (Self, Self) {
        let shared = self.into_shared();
        (Conn::Shared(shared.clone()), Conn::Shared(shared))
    }

    /// Waits until the connection can take another message.
    async fn ready(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.with(|inner| inner.poll_ready(cx))).await
    }

    /// Writes and flushes everything queued.
    async fn flush(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.with(|inner| inner.poll_flush(cx))).await
    }

    async fn send(&mut self, message: Message, compress: bool) -> Result<()> {
        self.ready().await?;
        self.with(|inner| inner.start_send(message, compress))?;
        self.flush().await
    }

    async fn feed_prepared(&mut self, prepared: &crate::PreparedMessage) -> Result<()> {
        self.ready().await?;
        self.with(|inner| inner.driver.send_prepared(prepared))
    }

    async fn send_frame(&mut self, frame: Frame) -> Result<()> {
        self.ready().await?;
        self.with(|inner| inner.start_send_frame(frame))?;
        self.flush().await
    }

    /// Queues a close frame (unless the close handshake has begun) and wakes the reader,
    /// whose deadline it moved.
    fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.with(|inner| {
            let queued = inner.driver.close(now(), code, reason)?;
            inner.after_command(queued);
            Ok(())
        })
    }

    async fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.start_close(code, reason)?;
        self.flush().await
    }

    /// Closes a connection this handle reads: starts the close handshake and reads, dropping
    /// what arrives, until the connection ends (the core's close timer bounds the wait).
    async fn close_reading(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo> {
        self.start_close(code, reason)?;
        std::future::poll_fn(|cx| {
            self.with(|inner| {
                while ready!(inner.poll_incoming(cx)).is_some() {}
                Poll::Ready(())
            })
        })
        .await;
        Ok(self.with_ref(|inner| inner.driver.final_close_info()))
    }

    /// Closes a connection whose read half reads elsewhere: starts the close handshake,
    /// writes the close frame, and waits for the reader to see the end, at most the close
    /// timeout; if the read half is gone, reads the connection itself, dropping what arrives.
    async fn close_waiting(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo> {
        self.start_close(code, reason)?;
        let timeout = self.with_ref(|inner| inner.driver.close_timeout());
        let expiry = tokio::time::sleep(timeout);
        tokio::pin!(expiry);
        std::future::poll_fn(|cx| {
            self.with(|inner| {
                // The close frame goes out now, whether or not the reader is being polled; a
                // failed write is the reader's to report.
                let _ = inner.poll_flush(cx);
                if inner.reader_gone {
                    // Read to the end of the transport, which it then shuts down.
                    loop {
                        match inner.poll_incoming(cx) {
                            Poll::Ready(Some(_)) => {}
                            Poll::Ready(None) => return Poll::Ready(()),
                            Poll::Pending => break,
                        }
                    }
                } else if inner.driver.state() == State::Closed {
                    return Poll::Ready(());
                } else {
                    inner.close_waiter = Some(cx.waker().clone());
                }
                if expiry.as_mut().poll(cx).is_ready() {
                    // The reader did not see the end in time: the close timer ends it here.
                    inner.driver.expire(now());
                    inner.wake_reader();
                    return Poll::Ready(());
                }
                Poll::Pending
            })
        })
        .await;
        Ok(self.with_ref(|inner| inner.driver.final_close_info()))
    }
}

impl<S> Inner<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Queues a close frame (unless the connection is already closing), writes what the
    /// transport takes at once, and wakes the reader to finish the handshake.
    fn close_now(&mut self, code: CloseCode, reason: &str) {
        self.write_close(code, reason);
        self.wake_reader();
    }

    /// Queues a close frame (unless the connection is already closing) and writes what the
    /// transport takes at once.
    fn write_close(&mut self, code: CloseCode, reason: &str) {
        if self.driver.close_unless_closing(now(), code, reason) {
            let mut cx = Context::from_waker(Waker::noop());
            let _ = self.poll_write_out(Side::Closer, &mut cx);
        }
    }

    /// Starts shutting the transport down and ends the stream, whose reader then sees `None`.
    fn abort(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = Pin::new(&mut self.io).poll_shutdown(&mut cx);
        self.driver.abort();
        self.wake_reader();
        self.wake_close_waiter();
    }

    fn wake_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }

    /// Writes what the connection has queued, as far as the transport takes it, and flushes
    /// the transport.
    fn poll_write_out(&mut self, side: Side, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.write_wakers.register(side, cx.waker());
        let mut write_cx = Context::from_waker(&self.write_waker);
        let Inner { io, driver, .. } = self;
        let vectored = io.is_write_vectored();
        loop {
            // Asked for anew on each pass: writing may make room for a pong the core held back.
            let out = driver.output();
            if !out.has_remaining() {
                break;
            }
            let written = if vectored {
                let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
                let count = out.chunks_vectored(&mut slices);
                ready!(Pin::new(&mut *io).poll_write_vectored(&mut write_cx, &slices[..count]))?
            } else {
                ready!(Pin::new(&mut *io).poll_write(&mut write_cx, out.chunk()))?
            };
            if written == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            out.advance(written);
        }
        Pin::new(&mut *io).poll_flush(&mut write_cx)
    }

    /// Shuts the transport's writing side down. Shutting down writes (a TLS close_notify, a
    /// flush), so it goes through the shared write waker like every write: the transport keeps
    /// one write waker, and a writer waiting on it must not lose its wake-up.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.write_wakers.register(Side::Reader, cx.waker());
        let mut write_cx = Context::from_waker(&self.write_waker);
        Pin::new(&mut self.io).poll_shutdown(&mut write_cx)
    }

    /// The next message, frame, close or error, as [`poll_driver`](Self::poll_driver) gives
    /// it; a write half waiting for the end learns of it here.
    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming>>> {
        self.check_requests();
        let Poll::Ready(item) = self.poll_driver(cx) else {
            if let Some(requests) = self.requests.as_ref().filter(|_| !self.requests_waker) {
                requests.register(cx.waker());
                self.requests_waker = true;
                if requests.has_new(self.requests_seen) {
                    // Asked while this was deciding to wait: look again at once.
                    cx.waker().wake_by_ref();
                }
            }
            return Poll::Pending;
        };
        if self.driver.state() == State::Closed {
            self.wake_close_waiter();
        }
        Poll::Ready(item)
    }

    /// Executes what the driver decides until it has an item, the stream ends, or the
    /// transport must be waited for.
    fn poll_driver(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming>>> {
        if self
            .reader
            .as_ref()
            .is_none_or(|w| !w.will_wake(cx.waker()))
        {
            self.reader = Some(cx.waker().clone());
            self.requests_waker = false;
        }
        self.driver.resume(None);
        loop {
            match self.driver.poll() {
                Action::Deliver(item) => return Poll::Ready(Some(item)),
                Action::Write { .. } => {
                    let result = match self.poll_write_out(Side::Reader, cx) {
                        Poll::Ready(Ok(())) => WriteResult::Done,
                        Poll::Ready(Err(error)) => WriteResult::Failed(error),
                        // The write waker wakes this half when the transport takes more.
                        Poll::Pending => WriteResult::Blocked,
                    };
                    self.driver.handle_write(now(), result);
                }
                Action::ShutdownWrite => {
                    let done = self.poll_shutdown(cx).is_ready();
                    self.driver.handle_shutdown(done);
                }
                Action::Read { .. } => {
                    // The clock is read once per read, not once per message decoded.
                    let read_at = now();
                    let Inner { io, driver, .. } = self;
                    // Straight into the core's input; a dropped read future has read nothing.
                    let read = driver
                        .read_with(read_at, |input| std::pin::pin!(io.read_buf(input)).poll(cx));
                    let (result, at) = match read {
                        Poll::Ready(Ok(n)) => (ReadResult::Appended(n), read_at),
                        Poll::Ready(Err(error)) => (ReadResult::Failed(error), read_at),
                        // The read may have armed a timer: wait until the deadline as it is now.
                        Poll::Pending
                            if self.poll_sleep(self.driver.read_until(), cx).is_ready() =>
                        {
                            (ReadResult::TimedOut, now())
                        }
                        Poll::Pending => return Poll::Pending,
                    };
                    self.driver.handle_read(at, result);
                }
                // Only a deadline given to `resume` times out, and this front-end gives none.
                Action::TimedOut => {}
                Action::End => {
                    // Best effort: the connection is over whether or not the shutdown completes.
                    let _ = self.poll_shutdown(cx);
                    return Poll::Ready(None);
                }
            }
        }
    }

    /// Waits until `until`: ready once it has passed.
    fn poll_sleep(&mut self, until: Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        if until != self.armed {
            self.armed = until;
            if let Some(until) = until {
                self.sleep.as_mut().reset(until.into());
            }
        }
        if self.armed.is_some() && self.sleep.as_mut().poll(cx).is_ready() {
            self.armed = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// The next message. The connection is in message mode (see `from_raw`), so it never
    /// delivers single frames here.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        Poll::Ready(ready!(self.poll_incoming(cx)).map(|item| {
            item.map(|incoming| match incoming {
                Incoming::Message(message) => message,
                Incoming::Closed(frame) => Message::Close(frame),
                Incoming::Frame(_) => {
                    unreachable!("a WebSocket keeps its connection in message mode")
                }
            })
        }))
    }

    /// The next frame, for a [`FrameSocket`].
    fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame>>> {
        loop {
            let item = match ready!(self.poll_incoming(cx)) {
                None => None,
                Some(Err(error)) => Some(Err(error)),
                Some(Ok(Incoming::Frame(frame))) => Some(Ok(frame)),
                // A message that began before the switch to frames: one final frame.
                Some(Ok(Incoming::Message(message))) => {
                    Some(Ok(crate::driver::message_frame(message)))
                }
                // The close frame itself was delivered as a frame.
                Some(Ok(Incoming::Closed(_))) => continue,
            };
            return Poll::Ready(item);
        }
    }

    /// On drop: a close asked for and not acted on goes out as far as the transport takes it
    /// at once, so that the peer is told why, even by a connection nobody read.
    fn write_requested_close(&mut self) {
        // No reader is woken: the connection is going, and waking may re-enter its owner.
        if let Some((code, reason)) = self.take_requests().and_then(|asked| asked.close) {
            self.write_close(code, &reason);
        }
    }

    /// What a [`Closer`] asked since the last look, marked as seen.
    fn take_requests(&mut self) -> Option<Asked> {
        self.requests.as_ref()?.take_new(&mut self.requests_seen)
    }

    /// Acts on what a [`Closer`] asked since the last look: starts the close handshake or
    /// ends the connection.
    #[inline]
    fn check_requests(&mut self) {
        // Checked on every read and write: one load when nothing was asked.
        if self
            .requests
            .as_ref()
            .is_some_and(|requests| requests.has_new(self.requests_seen))
        {
            self.act_on_requests();
        }
    }

    /// Acts on the requests [`check_requests`](Self::check_requests) found.
    #[cold]
    fn act_on_requests(&mut self) {
        // The request took the registered waker.
        self.requests_waker = false;
        let Some(asked) = self.take_requests() else {
            return;
        };
        if let Some((code, reason)) = asked.close {
            self.close_now(code, &reason);
        }
        if asked.abort {
            self.abort();
        }
    }

    /// Waits until the connection can take another message.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.check_requests();
        if self.driver.has_room() {
            return Poll::Ready(Ok(()));
        }
        self.poll_flush(cx)
    }

    /// Queues a message; `compress` lets the extensions transform it.
    fn start_send(&mut self, message: Message, compress: bool) -> Result<()> {
        let moved = self.driver.send(message, compress, now)?;
        self.after_command(moved);
        Ok(())
    }

    fn start_send_frame(&mut self, frame: Frame) -> Result<()> {
        let moved = self.driver.send_frame(frame, now())?;
        self.after_command(moved);
        Ok(())
    }

    /// A command that moved the connection's deadline (a close starts its timer) wakes the
    /// reader, which sleeps until that deadline.
    fn after_command(&mut self, deadline_moved: bool) {
        if deadline_moved {
            self.wake_reader();
        }
    }

    /// Writes and flushes everything queued, for a sender.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.driver.has_output() {
            return Poll::Ready(Ok(()));
        }
        let Poll::Ready(result) = self.poll_write_out(Side::Writer, cx) else {
            self.driver.handle_send_pending();
            return Poll::Pending;
        };
        let result = self.driver.handle_send_write(now(), result);
        if result.is_err() {
            // The reader ends the connection, after what had already arrived.
            self.wake_reader();
        }
        Poll::Ready(result)
    }

    /// `Sink::poll_close`: a close frame (1000) unless the close handshake has begun, then a
    /// flush.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self
            .driver
            .close_unless_closing(now(), CloseCode::NORMAL, "")
        {
            self.wake_reader();
        }
        self.poll_flush(cx)
    }
}

impl<S> FrameSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Splits the connection into a read half, which receives frames, and a write half,
    /// which two tasks can use at once.
    pub fn split(self) -> (FrameReadHalf<S>, WriteHalf<S>) {
        let (read, write) = self.conn.into_pair();
        (FrameReadHalf { conn: read }, WriteHalf { conn: write })
    }
}

/// The receiving methods of [`FrameSocket`] and [`FrameReadHalf`].
macro_rules! receiving_frames {
    ($ty:ident) => {
        impl<S> $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            /// The next frame: `None` once the connection has ended. The peer's close frame
            /// is delivered as a frame ([`Frame::close_frame`] parses its code and reason),
            /// then `None`. Cancel-safe.
            pub async fn recv_frame(&mut self) -> Option<Result<Frame>> {
                std::future::poll_fn(|cx| self.conn.with(|inner| inner.poll_next_frame(cx))).await
            }
        }

        impl<S> Stream for $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            type Item = Result<Frame>;

            fn poll_next(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                self.conn.with(|inner| inner.poll_next_frame(cx))
            }
        }
    };
}

receiving_frames!(FrameSocket);
receiving_frames!(FrameReadHalf);

impl<S> Sink<Frame> for FrameSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.conn.with(|inner| inner.poll_ready(cx))
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Frame) -> Result<()> {
        self.conn.with(|inner| inner.start_send_frame(frame))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.conn.with(|inner| inner.poll_flush(cx))
    }

    /// Sends a close frame (1000) unless one was sent, and flushes.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.conn.with(|inner| inner.poll_close(cx))
    }
}

impl<S> Stream for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.conn.with(|inner| inner.poll_next(cx))
    }
}

impl<S> Stream for ReadHalf<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.conn.with(|inner| inner.poll_next(cx))
    }
}

macro_rules! impl_sink {
    ($ty:ident) => {
        impl<S> Sink<Message> for $ty<S>
        where
            S: AsyncRead + AsyncWrite + Unpin,
        {
            type Error = Error;

            fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                self.conn.with(|inner| inner.poll_ready(cx))
            }

            fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<()> {
                self.conn.with(|inner| inner.start_send(message, true))
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                self.conn.with(|inner| inner.poll_flush(cx))
            }

            /// Sends a close frame (1000) unless one was sent, and flushes. The stream sees the
            /// peer's answer.
            fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                self.conn.with(|inner| inner.poll_close(cx))
            }
        }
    };
}

impl_sink!(WebSocket);
impl_sink!(WriteHalf);

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for FrameSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSocket").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for FrameReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReadHalf").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}
