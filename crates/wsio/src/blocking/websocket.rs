//! The blocking WebSocket: the same connection as the async one, over a blocking stream.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use wsio_proto::{CloseCode, CloseInfo, Frame, Message, Negotiated, Role, Utf8Bytes};

use super::stream::BlockingStream;
use crate::config::Config;
use crate::driver::{Action, Driver, Incoming, ReadResult, WriteResult};
use crate::error::is_timeout;
use crate::error::{Error, Phase, Result};
use crate::state::State;

/// The most slices one vectored write hands to the stream.
const MAX_WRITE_SLICES: usize = 64;

/// How long a read waits at most while a server's shutdown signal is attached, so that the
/// signal is noticed.
const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// A WebSocket connection over a blocking stream `S`, after its opening handshake.
///
/// Every call blocks until it is done, or until the timeouts set with
/// [`set_read_timeout`](Self::set_read_timeout) and
/// [`set_write_timeout`](Self::set_write_timeout) run out. A timed-out call returns
/// [`Error::Timeout`] and leaves the connection usable. Reading drives the connection: it
/// answers pings, completes the close handshake, and runs the keepalive and close timers, so
/// keep calling [`recv`](Self::recv) while the connection is open.
#[derive(Debug)]
pub struct WebSocket<S> {
    io: S,
    driver: Driver,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The transport has been shut down after the stream ended.
    closed: bool,
    /// Set by a server that shuts down: the connection then closes itself with 1001.
    shutdown: Option<Arc<AtomicBool>>,
}

impl<S: BlockingStream> WebSocket<S> {
    /// Wraps a stream whose opening handshake is done. `leftover` holds bytes that arrived
    /// after the handshake; they are the connection's first input.
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
            Driver::start(role, config, &leftover, negotiated, Instant::now()),
        )
    }

    /// Wraps a stream whose opening handshake, run with [`wsio_proto`]'s handshake types,
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
        Self::from_driver(
            io,
            Driver::from_connection(connection, config, Instant::now()),
        )
    }

    /// The socket of a driver that has started.
    fn from_driver(io: S, driver: Driver) -> Self {
        WebSocket {
            io,
            driver,
            read_timeout: None,
            write_timeout: None,
            closed: false,
            shutdown: None,
        }
    }

    /// Attaches a server's shutdown signal: once it is set, the connection starts the close
    /// handshake with 1001 from its own thread, at its next read.
    pub(crate) fn set_shutdown_signal(&mut self, signal: Arc<AtomicBool>) {
        self.shutdown = Some(signal);
    }

    /// Limits how long [`recv`](Self::recv) waits for a message; `None` (the default) waits
    /// as long as it takes.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Limits how long a send waits for the stream to take its bytes; `None` (the default)
    /// waits as long as it takes. A send that times out may have written part of its frame;
    /// the rest is written by the next call, so the connection stays usable.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.io.set_write_timeout(timeout)?;
        self.write_timeout = timeout;
        Ok(())
    }

    /// Where the connection is: [`Open`](State::Open), [`Closing`](State::Closing) once a
    /// close frame was sent, [`Closed`](State::Closed) once it has ended.
    pub fn state(&self) -> State {
        self.driver.state()
    }

    /// How the connection ended (code, reason, whether cleanly), once it has.
    pub fn close_info(&self) -> Option<CloseInfo> {
        self.driver.close_info().cloned()
    }

    /// The stream underneath, for example to ask it its peer's address.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream underneath, mutably: for settings such as `TCP_NODELAY`. Reading or writing
    /// through it would corrupt the stream of frames.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The extensions the handshake agreed (such as permessage-deflate), which the connection
    /// runs.
    pub fn negotiated(&self) -> &Negotiated {
        self.driver.negotiated()
    }

    /// Sends a message and waits until it is written.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.driver.send(message.into(), true, Instant::now)?;
        self.flush()
    }

    /// Sends a message like [`send`](Self::send), but a text or binary message goes out
    /// uncompressed even where permessage-deflate is in use: for data that is already
    /// compressed.
    pub fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<()> {
        self.driver.send(message.into(), false, Instant::now)?;
        self.flush()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Binary(data.into()))
    }

    /// Sends a ping (payload at most 125 bytes). Its pong arrives as [`Message::Pong`].
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Ping(payload.into()))
    }

    /// Sends a pong (payload at most 125 bytes).
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Pong(payload.into()))
    }

    /// Sends a [`PreparedMessage`](crate::PreparedMessage), a message encoded once for many
    /// connections, and waits until it is written: the prepared frames themselves where this
    /// connection can share them, else the message as [`send`](Self::send) would send it.
    pub fn send_prepared(&mut self, prepared: &crate::PreparedMessage) -> Result<()> {
        self.driver.send_prepared(prepared)?;
        self.flush()
    }

    /// Sends one frame as given (fin, RSV bits, opcode, payload). See
    /// [`wsio_proto::Connection::send_frame`] for what is checked.
    pub fn send_frame(&mut self, frame: Frame) -> Result<()> {
        self.driver.send_frame(frame, Instant::now())?;
        self.flush()
    }

    /// Closes the connection: sends a close frame with a code and a reason (at most 123
    /// bytes), then reads until the peer's close frame and the end of the stream, and returns
    /// how the connection ended. It takes at most the close timeout
    /// ([`Config::close_timeout`](crate::Config::close_timeout)), whatever the read timeout;
    /// messages that arrive meanwhile are dropped (to receive them, use
    /// [`send_close`](Self::send_close) and keep calling [`recv`](Self::recv)).
    ///
    /// Whatever ends the connection, a peer that answers, one that resets the stream, or the
    /// close timeout, is told in the returned [`CloseInfo`] (`was_clean`, `error`), not as an
    /// `Err`. Fails, changing nothing, with [`Error::Send`] for a code that may not be sent or
    /// a reason over 123 bytes; an `Err` otherwise comes from the stream's settings only. On a
    /// connection that is closing already it waits for the end; on one that has ended it
    /// returns at once.
    ///
    /// ```no_run
    /// use wsio::CloseCode;
    ///
    /// let (mut ws, _) = wsio::blocking::connect("ws://127.0.0.1:9001/")?;
    /// ws.send_text("bye")?;
    /// let info = ws.close(CloseCode::NORMAL, "done")?;
    /// println!("closed with {} (clean: {})", info.code, info.was_clean);
    /// # Ok::<(), wsio::Error>(())
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo> {
        self.driver.close(Instant::now(), code, reason)?;
        loop {
            match self.next_incoming(None) {
                Ok(_) => {}
                Err(Error::Closed) => return Ok(self.driver.final_close_info()),
                // The error that ended the connection: its close info tells it.
                Err(_) if self.driver.state() == State::Closed => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Starts the close handshake with a code and a reason (at most 123 bytes) and returns
    /// once the close frame is written, not waiting for the peer's answer: keep calling
    /// [`recv`](Self::recv), and the peer's close arrives as [`Message::Close`]; then the
    /// connection is closed. Fails with [`Error::Send`] for a code that may not be sent or a
    /// reason over 123 bytes; does nothing more if the close handshake has begun.
    pub fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.driver.close(Instant::now(), code, reason)?;
        self.flush()
    }

    /// The next message.
    ///
    /// When the peer closes, this returns [`Message::Close`] with its code and reason; from
    /// then on, and after the error that ended the connection, it returns [`Error::Closed`],
    /// and [`close_info`](Self::close_info) tells how the connection ended. A read that times
    /// out returns [`Error::Timeout`] and loses nothing.
    pub fn recv(&mut self) -> Result<Message> {
        Ok(match self.next_incoming(self.read_deadline())? {
            Incoming::Message(message) => message,
            Incoming::Closed(frame) => Message::Close(frame),
            Incoming::Frame(_) => unreachable!("a WebSocket keeps its connection in message mode"),
        })
    }

    /// Turns this connection into a [`FrameSocket`], which delivers frames one by one, as they
    /// arrived, instead of whole messages. A message already begun arrives as one final frame.
    pub fn into_frames(mut self) -> FrameSocket<S> {
        self.driver.set_frame_mode(true);
        FrameSocket(self)
    }

    /// When a receive that starts now gives up, by the read timeout.
    fn read_deadline(&self) -> Option<Instant> {
        self.read_timeout.map(|timeout| Instant::now() + timeout)
    }

    /// Executes what the driver decides until it has something for the application, waiting
    /// no later than `deadline`.
    fn next_incoming(&mut self, deadline: Option<Instant>) -> Result<Incoming> {
        self.driver.resume(deadline);
        loop {
            let shutting_down = self
                .shutdown
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Acquire));
            if shutting_down {
                self.driver.close_unless_closing(
                    Instant::now(),
                    CloseCode::GOING_AWAY,
                    "server shutting down",
                );
            }
            match self.driver.poll() {
                Action::Deliver(item) => return item,
                Action::Write { until } => {
                    let result = self.write_until(until);
                    self.driver.handle_write(Instant::now(), result);
                }
                Action::ShutdownWrite => {
                    // Best effort: the close handshake is over either way.
                    let _ = self.io.shutdown_write();
                    self.driver.handle_shutdown(true);
                }
                Action::Read { until } => {
                    let result = self.read_until(until)?;
                    self.driver.handle_read(Instant::now(), result);
                }
                Action::TimedOut => return Err(Error::Timeout(Phase::Read)),
                Action::End => {
                    if !self.closed {
                        // Let the peer see the end now, not when this value is dropped.
                        let _ = self.io.shutdown_write();
                        self.closed = true;
                    }
                    return Err(Error::Closed);
                }
            }
        }
    }

    /// One read, waiting no later than `until` (and, with a server's shutdown signal attached,
    /// no longer than it takes to notice the signal).
    fn read_until(&mut self, until: Option<Instant>) -> Result<ReadResult> {
        let poll = self.shutdown.as_ref().map(|_| SHUTDOWN_POLL);
        let wait = [time_left(until), poll].into_iter().flatten().min();
        self.io.set_read_timeout(wait)?;
        let buf = self.driver.read_buf();
        Ok(match self.io.read(buf) {
            Ok(n) => ReadResult::Buffered(n),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                ReadResult::TimedOut
            }
            Err(error) => ReadResult::Failed(error),
        })
    }

    /// Writes what is queued, waiting no later than `until` nor longer than the write timeout.
    fn write_until(&mut self, until: Option<Instant>) -> WriteResult {
        let timeout = [time_left(until), self.write_timeout]
            .into_iter()
            .flatten()
            .min();
        let written = self
            .io
            .set_write_timeout(timeout)
            .and_then(|()| self.write_out());
        let _ = self.io.set_write_timeout(self.write_timeout);
        match written {
            Ok(()) => WriteResult::Done,
            Err(e) if is_timeout(&e) => WriteResult::Blocked,
            Err(error) => WriteResult::Failed(error),
        }
    }

    /// Writes everything queued, for a send.
    fn flush(&mut self) -> Result<()> {
        let result = self.write_out();
        self.driver.handle_send_write(Instant::now(), result)
    }

    fn write_out(&mut self) -> io::Result<()> {
        loop {
            let out = self.driver.output();
            if !out.has_remaining() {
                break;
            }
            let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
            let count = out.chunks_vectored(&mut slices);
            match self.io.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.io.flush()
    }
}

/// The time left until `until`, at least a millisecond: a zero timeout means "no timeout" to
/// the standard library's sockets.
fn time_left(until: Option<Instant>) -> Option<Duration> {
    until.map(|until| {
        until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

/// The messages of the connection, as [`recv`](WebSocket::recv) gives them, until it has
/// ended: the peer's [`Message::Close`] is the last item, and after the error that ended the
/// connection comes `None`. A read that times out is an item too
/// ([`Error::Timeout`]), after which the iterator goes on.
///
/// ```no_run
/// let (mut ws, _) = wsio::blocking::connect("ws://127.0.0.1:9001/")?;
/// ws.send_text("hello")?;
/// for message in &mut ws {
///     println!("{:?}", message?);
/// }
/// # Ok::<(), wsio::Error>(())
/// ```
impl<S: BlockingStream> Iterator for WebSocket<S> {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        match self.recv() {
            Err(Error::Closed) => None,
            other => Some(other),
        }
    }
}

/// The frames of the connection, as [`recv_frame`](FrameSocket::recv_frame) gives them,
/// until it has ended; as for [`WebSocket`]'s messages.
impl<S: BlockingStream> Iterator for FrameSocket<S> {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Result<Frame>> {
        match self.recv_frame() {
            Err(Error::Closed) => None,
            other => Some(other),
        }
    }
}

/// A blocking connection in frame mode: frames exactly as they arrived (fin, RSV bits,
/// opcode; fragmented messages are not reassembled). Made by [`WebSocket::into_frames`].
///
/// The protocol is still enforced and pings are still answered; the peer's close frame is
/// delivered as a frame.
#[derive(Debug)]
pub struct FrameSocket<S>(WebSocket<S>);

impl<S: BlockingStream> FrameSocket<S> {
    /// The next frame. After the peer's close frame, and after the error that ended the
    /// connection, it returns [`Error::Closed`].
    pub fn recv_frame(&mut self) -> Result<Frame> {
        loop {
            return Ok(match self.0.next_incoming(self.0.read_deadline())? {
                Incoming::Frame(frame) => frame,
                Incoming::Message(message) => crate::driver::message_frame(message),
                // The close frame itself was delivered as a frame.
                Incoming::Closed(_) => continue,
            });
        }
    }
}

/// Gives [`FrameSocket`] the methods of [`WebSocket`] that do not receive, each documented
/// there.
macro_rules! as_websocket {
    ($(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl<S: BlockingStream> FrameSocket<S> {
            $(
                #[doc = concat!("As [`WebSocket::", stringify!($name), "`].")]
                pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    self.0.$name($($arg),*)
                }
            )*

            /// As [`WebSocket::set_read_timeout`].
            pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
                self.0.set_read_timeout(timeout);
            }

            /// As [`WebSocket::state`].
            pub fn state(&self) -> State {
                self.0.state()
            }

            /// As [`WebSocket::close_info`]. The peer's close frame was delivered as a frame:
            /// [`Frame::close_frame`] parses it.
            pub fn close_info(&self) -> Option<CloseInfo> {
                self.0.close_info()
            }

            /// As [`WebSocket::negotiated`].
            pub fn negotiated(&self) -> &Negotiated {
                self.0.negotiated()
            }

            /// As [`WebSocket::get_ref`].
            pub fn get_ref(&self) -> &S {
                self.0.get_ref()
            }
        }
    };
}

as_websocket! {
    fn send(&mut self, message: impl Into<Message>) -> Result<()>;
    fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<()>;
    fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<()>;
    fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()>;
    fn ping(&mut self, payload: impl Into<Bytes>) -> Result<()>;
    fn pong(&mut self, payload: impl Into<Bytes>) -> Result<()>;
    fn send_frame(&mut self, frame: Frame) -> Result<()>;
    fn send_prepared(&mut self, prepared: &crate::PreparedMessage) -> Result<()>;
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseInfo>;
    fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<()>;
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()>;
    fn get_mut(&mut self) -> &mut S;
}
