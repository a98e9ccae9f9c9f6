//! The rules of the I/O loop, without I/O: the one place that decides what a front-end does
//! next.
//!
//! Every front-end (the async [`WebSocket`](crate::WebSocket), the blocking one, and any
//! carrier built on them) moves bytes between a transport and a [`wsio_proto::Connection`].
//! The protocol's rules live in the connection; the loop's rules live here: when to hand the
//! application a message, when to write and when to hold writes back so that they go out
//! together, when to shut the transport down, what to read and until when, how a failed
//! transport ends the connection. A front-end only executes what [`Driver::poll`] says and
//! reports what came of it.
//!
//! # The contract
//!
//! - **Inputs**: [`handle_read`](Driver::handle_read) and [`handle_write`](Driver::handle_write)
//!   and [`handle_shutdown`](Driver::handle_shutdown), each reporting how the [`Action`] that
//!   asked for it ended, with the time where time matters; [`resume`](Driver::resume) each
//!   time the application asks for the next item, with its deadline if it has one.
//! - **Commands**: [`send`](Driver::send), [`send_frame`](Driver::send_frame),
//!   [`close_unless_closing`](Driver::close_unless_closing) and
//!   [`handle_send_write`](Driver::handle_send_write), for the application's sends and the
//!   writes made on their behalf.
//! - **Output**: [`poll`](Driver::poll), the next [`Action`]. A front-end calls it in a loop,
//!   executes each action, reports the result, and stops at [`Action::Deliver`] (the
//!   application has its item), [`Action::TimedOut`], [`Action::End`], or a
//!   [`Action::Read`] that has to wait.
//!
//! The rules, each tested below without a transport:
//! - Everything received is delivered, in order, before the error that ended the transport;
//!   a transport that fails after the peer's close frame ends the connection as that close,
//!   and one whose write failed is still read for what had already arrived.
//! - What the core queues itself while decoding (answers to pings, close frames) is written
//!   before the item is delivered; what the application queues waits until no decoded input
//!   is left, so that the answers to one read go out in one write.
//! - Input is decoded with the time it was read; commands that can start a timer take the
//!   time they are made; the timers are checked with the time of every read result.
//! - The writing side is shut down only once everything queued is written and flushed.
//! - A read waits no later than the connection's next timer and the caller's deadline, and
//!   so does a write made while receiving; a deadline counts only once a read was tried.
//! - After the error that ended the connection, or its close, the stream ends.

use std::io;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use wsio_proto::{
    CloseCode, CloseFrame, CloseInfo, Connection, ConnectionError, Event, Frame, Message,
    Negotiated, OpCode, PreparedMessage, Role, State, Transmit, TransportAction,
};

use crate::config::Config;
use crate::error::{Error, Phase, is_timeout};

/// The room offered to a connection's first read straight into the core.
const FIRST_READ_SIZE: usize = 4096;

/// What a front-end does next.
#[derive(Debug)]
pub(crate) enum Action {
    /// Hand this to the application.
    Deliver(Result<Incoming, Error>),
    /// Write [`Driver::output`] to the transport, asking for it anew after each write, until
    /// it is empty, then flush; wait no later than `until` for the transport to take it.
    /// Report with [`Driver::handle_write`].
    Write { until: Option<Instant> },
    /// Shut down the transport's writing side. Report with [`Driver::handle_shutdown`].
    ShutdownWrite,
    /// Read into the connection ([`Driver::read_with`] or [`Driver::read_buf`]); if nothing
    /// has arrived, wait for data no later than `until` (after [`Driver::read_with`], no later
    /// than [`Driver::read_until`]). Report with [`Driver::handle_read`].
    Read { until: Option<Instant> },
    /// The deadline given to [`Driver::resume`] passed with nothing to deliver.
    TimedOut,
    /// The connection is over: close the transport. Every later poll says the same.
    End,
}

/// What came of an [`Action::Read`].
#[derive(Debug)]
pub(crate) enum ReadResult {
    /// [`Driver::read_with`] appended this many bytes to the connection's input; 0 is the
    /// transport's end.
    Appended(usize),
    /// This many bytes were read into [`Driver::read_buf`]; 0 is the transport's end.
    Buffered(usize),
    /// The transport failed.
    Failed(io::Error),
    /// Nothing arrived before the action's `until`, or the read gave up early (an interrupted
    /// call, a record not yet complete).
    TimedOut,
}

/// What came of an [`Action::Write`].
#[derive(Debug)]
pub(crate) enum WriteResult {
    /// Everything was written and flushed.
    Done,
    /// The transport did not take everything in time; the rest stays queued.
    Blocked,
    /// The transport failed.
    Failed(io::Error),
}

/// What the connection delivers to the application.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A whole message (message mode).
    Message(Message),
    /// A frame as received (frame mode).
    Frame(Frame),
    /// The peer's close: the close handshake is complete, or the transport ended after it.
    Closed(Option<CloseFrame>),
}

/// One connection's loop, shared by the async and blocking front-ends.
#[derive(Debug)]
pub(crate) struct Driver {
    conn: Connection,
    /// Where a blocking read goes before it is copied into the core; allocated on first use.
    read_buf: Vec<u8>,
    read_buffer_size: usize,
    /// The room offered to the next read straight into the core: it starts small and doubles,
    /// up to `read_buffer_size`, each time a read fills it, so that a connection of small
    /// messages does not allocate (and, idle, release) a large buffer on every wake-up.
    read_size: usize,
    max_write_buffer: usize,
    /// The time of the last read result: the input in the core was read then.
    read_at: Instant,
    /// An item decoded while the core queued an answer, held until that answer is written.
    held: Option<Result<Incoming, Error>>,
    /// Bytes were written but not yet flushed, or a flush did not finish.
    unflushed: bool,
    /// A write or shutdown did not finish; it is tried again after the next read result or
    /// [`resume`](Self::resume).
    write_blocked: bool,
    shutdown_blocked: bool,
    write_shut: bool,
    /// The transport can no longer be written to; reading goes on for what already arrived,
    /// until the end of the transport or the instant given here.
    write_failed: Option<(io::ErrorKind, Instant)>,
    /// The transport failed; reported if the connection did not end cleanly before it.
    transport_error: Option<io::Error>,
    /// The core has been told that the transport ended: nothing more is read.
    read_done: bool,
    /// The application's deadline for the current receive, and whether a read was tried
    /// since it was given.
    deadline: Option<Instant>,
    tried: bool,
    ended: bool,
}

impl Driver {
    /// The driver of a connection whose handshake is done and agreed `negotiated`, made here
    /// from `config.protocol`, with `leftover`, the bytes that arrived after the handshake, as
    /// its first input at `now`; then as [`from_connection`](Self::from_connection).
    pub(crate) fn start(
        role: Role,
        config: &Config,
        leftover: &[u8],
        negotiated: &Negotiated,
        now: Instant,
    ) -> Self {
        let mut conn = Connection::with_extensions(role, config.protocol.clone(), negotiated);
        conn.receive(now, leftover);
        Self::from_connection(conn, config, now)
    }

    /// The driver of a connection a handshake produced: the core switches to message mode (a
    /// front-end's type chooses the mode) and starts at `now`; `config` gives the buffer sizes.
    pub(crate) fn from_connection(mut conn: Connection, config: &Config, now: Instant) -> Self {
        conn.set_frame_mode(false);
        conn.handle_timeout(now);
        Driver {
            conn,
            read_buf: Vec::new(),
            read_buffer_size: config.read_buffer_size,
            read_size: config.read_buffer_size.min(FIRST_READ_SIZE),
            max_write_buffer: config.max_write_buffer,
            read_at: now,
            held: None,
            unflushed: false,
            write_blocked: false,
            shutdown_blocked: false,
            write_shut: false,
            write_failed: None,
            transport_error: None,
            read_done: false,
            deadline: None,
            tried: false,
            ended: false,
        }
    }

    // ----- Output -----

    /// What to do next.
    pub(crate) fn poll(&mut self) -> Action {
        loop {
            if let Some(item) = self.held.take() {
                return Action::Deliver(item);
            }
            if self.ended {
                return Action::End;
            }
            let queued = self.conn.buffered_amount();
            if let Some(event) = self.conn.poll_event(self.read_at) {
                let Some(item) = self.deliverable(event) else {
                    continue;
                };
                // What the core queued itself goes out before the item is handed over; what
                // the application queued waits (corking).
                if self.conn.buffered_amount() > queued && self.can_write() {
                    self.held = Some(item);
                    return Action::Write {
                        until: self.wait_until(),
                    };
                }
                return Action::Deliver(item);
            }
            if self.can_write() && !self.write_blocked && self.has_output() {
                return Action::Write {
                    until: self.wait_until(),
                };
            }
            match self.conn.transport_action() {
                TransportAction::Close => {
                    self.ended = true;
                    return Action::End;
                }
                TransportAction::ShutdownWrite
                    if !self.write_shut
                        && !self.shutdown_blocked
                        && self.can_write()
                        && !self.has_output() =>
                {
                    return Action::ShutdownWrite;
                }
                _ => {}
            }
            if self.read_done {
                // The core has decoded the end of the transport, so it asked to close above;
                // this is only reached if it did not.
                debug_assert!(false, "the core did not close after the transport's end");
                self.ended = true;
                return Action::End;
            }
            if self.tried
                && self
                    .deadline
                    .is_some_and(|deadline| self.read_at >= deadline)
            {
                self.tried = false;
                return Action::TimedOut;
            }
            return Action::Read {
                until: self.read_until(),
            };
        }
    }

    /// The bytes to write for an [`Action::Write`] (or a send), advanced by the front-end as
    /// it writes; ask for it anew after each write.
    pub(crate) fn output(&mut self) -> &mut Transmit {
        self.conn.poll_transmit()
    }

    /// Whether anything waits to be written or flushed.
    pub(crate) fn has_output(&mut self) -> bool {
        self.unflushed || self.conn.poll_transmit().has_remaining()
    }

    // ----- Inputs -----

    /// The application asks for its next item, and will wait no later than `deadline` (the
    /// blocking front-end's read timeout). Writes and shutdowns that did not finish are tried
    /// again.
    pub(crate) fn resume(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.tried = false;
        self.write_blocked = false;
        self.shutdown_blocked = false;
    }

    /// Reads straight into the core's input (see [`Connection::receive_with`]) at `now`:
    /// `read` appends at most what it is given room for, or nothing at the end of the
    /// transport. Report the result with [`handle_read`](Self::handle_read).
    pub(crate) fn read_with<R>(
        &mut self,
        now: Instant,
        read: impl FnOnce(&mut BytesMut) -> R,
    ) -> R {
        let mut filled = false;
        let result = self.conn.receive_with(now, self.read_size, |input| {
            let result = read(input);
            filled = input.len() == input.capacity();
            result
        });
        if filled {
            self.read_size = (self.read_size * 2).min(self.read_buffer_size);
        }
        result
    }

    /// Where a read that cannot go straight into the core goes; report the count with
    /// [`ReadResult::Buffered`].
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        if self.read_buf.is_empty() {
            self.read_buf = vec![0; self.read_buffer_size];
        }
        &mut self.read_buf
    }

    /// Reports how an [`Action::Read`] ended, at `now`.
    pub(crate) fn handle_read(&mut self, now: Instant, result: ReadResult) {
        self.read_at = now;
        self.tried = true;
        self.write_blocked = false;
        self.shutdown_blocked = false;
        match result {
            ReadResult::Appended(0) | ReadResult::Buffered(0) => self.end_of_input(),
            ReadResult::Appended(_) => {}
            ReadResult::Buffered(n) => self.conn.receive(now, &self.read_buf[..n]),
            ReadResult::Failed(error) => {
                self.transport_error.get_or_insert(error);
                self.end_of_input();
            }
            // A write failed: what had arrived was given its time to be read.
            ReadResult::TimedOut if self.write_failed.is_some_and(|(_, until)| now >= until) => {
                self.end_of_input()
            }
            ReadResult::TimedOut => {}
        }
        self.conn.handle_timeout(now);
    }

    /// Reports how an [`Action::Write`] ended, at `now`.
    pub(crate) fn handle_write(&mut self, now: Instant, result: WriteResult) {
        match result {
            WriteResult::Done => self.unflushed = false,
            WriteResult::Blocked => {
                self.unflushed = true;
                self.write_blocked = true;
            }
            WriteResult::Failed(error) => self.write_failure(now, error),
        }
    }

    /// Reports how an [`Action::ShutdownWrite`] ended: `done`, successfully or not (the close
    /// handshake is over either way), or not yet.
    pub(crate) fn handle_shutdown(&mut self, done: bool) {
        if done {
            self.write_shut = true;
        } else {
            self.shutdown_blocked = true;
        }
    }

    // ----- Commands -----

    /// Queues a message; `compress` lets the extensions transform it. A close starts the close
    /// handshake at the time `now` gives, read only then. Returns whether the connection's
    /// next deadline moved: a front-end whose reader sleeps must wake it.
    pub(crate) fn send(
        &mut self,
        message: Message,
        compress: bool,
        now: impl FnOnce() -> Instant,
    ) -> Result<bool, Error> {
        self.check_writable()?;
        match (message, compress) {
            (Message::Text(text), true) => self.conn.send_text(text)?,
            (Message::Binary(data), true) => self.conn.send_binary(data)?,
            (message, compress) => {
                let deadline = self.conn.poll_timeout();
                if compress {
                    self.conn.send(now(), message)?;
                } else {
                    self.conn.send_uncompressed(now(), message)?;
                }
                return Ok(self.conn.poll_timeout() != deadline);
            }
        }
        Ok(false)
    }

    /// Queues a prepared message: see [`Connection::send_prepared`]. It starts no timer.
    pub(crate) fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), Error> {
        self.check_writable()?;
        self.conn.send_prepared(prepared)?;
        Ok(())
    }

    /// Queues one frame as given: see [`Connection::send_frame`]. Returns whether the
    /// connection's next deadline moved, as [`send`](Self::send) does.
    pub(crate) fn send_frame(&mut self, frame: Frame, now: Instant) -> Result<bool, Error> {
        self.check_writable()?;
        let deadline = self.conn.poll_timeout();
        self.conn.send_frame(now, frame)?;
        Ok(self.conn.poll_timeout() != deadline)
    }

    /// Starts the close handshake for the application: checks `code` and `reason` (a code
    /// that may be sent, a reason of at most 123 bytes) whatever the state, then queues the
    /// close frame as [`close_unless_closing`](Self::close_unless_closing) does. Returns
    /// whether a close frame was queued: a front-end whose reader sleeps must wake it.
    pub(crate) fn close(
        &mut self,
        now: Instant,
        code: CloseCode,
        reason: &str,
    ) -> Result<bool, Error> {
        wsio_proto::encode_close_payload(code, reason)?;
        Ok(self.close_unless_closing(now, code, reason))
    }

    /// Starts the close handshake with `code` and `reason` at `now`, unless it has begun.
    /// Returns whether a close frame was queued.
    pub(crate) fn close_unless_closing(
        &mut self,
        now: Instant,
        code: CloseCode,
        reason: &str,
    ) -> bool {
        self.conn.state() == State::Open
            && self.check_writable().is_ok()
            && self.conn.close(now, code, reason).is_ok()
    }

    /// A write made for a send is waiting for the transport. What the transport took may still
    /// sit in a buffer of its own (TLS keeps records it has not written yet), so the next
    /// flush must reach the transport even if nothing is queued here any more.
    pub(crate) fn handle_send_pending(&mut self) {
        self.unflushed = true;
    }

    /// Reports how a write made for a send (rather than for an [`Action::Write`]) ended at
    /// `now`, and says what the sender sees: a write that timed out leaves the rest queued and
    /// is [`Error::Timeout`]; a failure is the sender's error and ends the connection as
    /// [`handle_write`](Self::handle_write) says.
    pub(crate) fn handle_send_write(
        &mut self,
        now: Instant,
        result: io::Result<()>,
    ) -> Result<(), Error> {
        match result {
            Ok(()) => {
                self.unflushed = false;
                Ok(())
            }
            Err(error) if is_timeout(&error) => {
                self.unflushed = true;
                Err(Error::Timeout(Phase::Write))
            }
            Err(error) => {
                let kind = error.kind();
                self.write_failure(now, error);
                Err(io::Error::from(kind).into())
            }
        }
    }

    /// Chooses between messages and frames for what arrives from the next message on.
    pub(crate) fn set_frame_mode(&mut self, frame_mode: bool) {
        self.conn.set_frame_mode(frame_mode);
    }

    /// Ends the connection at once, without a close handshake: the next poll says
    /// [`Action::End`].
    pub(crate) fn abort(&mut self) {
        self.ended = true;
    }

    /// Fires the timers due at `now` for a front-end that waits for the end of a connection
    /// it does not read (a write half closing while its read half reads): the close timer
    /// ends a close handshake that ran out of time, as it would for the reader.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
    }

    // ----- Getters -----

    /// The extensions the connection runs.
    pub(crate) fn negotiated(&self) -> &Negotiated {
        self.conn.negotiated()
    }

    /// How the connection ended, once it has.
    pub(crate) fn close_info(&self) -> Option<&CloseInfo> {
        self.conn.close_info()
    }

    /// How the connection ended, for a close that waited for its end: an end without a close
    /// handshake the core saw (the connection was aborted) is abnormal (1006).
    pub(crate) fn final_close_info(&self) -> CloseInfo {
        self.conn.close_info().cloned().unwrap_or(CloseInfo {
            code: CloseCode::ABNORMAL,
            reason: Default::default(),
            was_clean: false,
            error: None,
        })
    }

    /// How long a close handshake may take.
    pub(crate) fn close_timeout(&self) -> std::time::Duration {
        self.conn.config().close_timeout
    }

    /// Whether the connection can take another message without exceeding the write buffer.
    pub(crate) fn has_room(&self) -> bool {
        self.conn.buffered_amount() < self.max_write_buffer
    }

    /// Where the connection is.
    pub(crate) fn state(&self) -> crate::State {
        match self.conn.state() {
            _ if self.ended => crate::State::Closed,
            State::Open => crate::State::Open,
            State::Closing => crate::State::Closing,
            _ => crate::State::Closed,
        }
    }

    // ----- Rules -----

    /// The core's event as the application sees it, or `None` for one it does not see.
    fn deliverable(&mut self, event: Event) -> Option<Result<Incoming, Error>> {
        match event {
            Event::Message(message) => Some(Ok(Incoming::Message(message))),
            Event::Frame(frame) => Some(Ok(Incoming::Frame(frame))),
            Event::Closed(info) => {
                let item = match &info.error {
                    None if info.code == CloseCode::NO_STATUS => Ok(Incoming::Closed(None)),
                    None => Ok(Incoming::Closed(Some(CloseFrame {
                        code: info.code,
                        reason: info.reason.clone(),
                    }))),
                    // The transport's end that the core saw was the transport's failure.
                    Some(ConnectionError::UnexpectedEof) if self.transport_error.is_some() => {
                        Err(Error::Io(self.transport_error.take().expect("checked")))
                    }
                    Some(error) => Err(Error::Connection(error.clone())),
                };
                Some(item)
            }
            other => {
                debug_assert!(false, "an event the driver does not know: {other:?}");
                None
            }
        }
    }

    /// The transport's end reaches the core, after what was read before it.
    fn end_of_input(&mut self) {
        self.read_done = true;
        self.conn.receive_eof();
    }

    /// Nothing more can be written. What the peer sent before the failure (a peer that
    /// closed at once after its last message and its close frame resets the connection when
    /// our next bytes reach it) may still be waiting to be read: reading goes on until the
    /// transport's end or error, for at most the close timeout.
    fn write_failure(&mut self, now: Instant, error: io::Error) {
        let until = now + self.conn.config().close_timeout;
        self.write_failed = Some((error.kind(), until));
        self.transport_error.get_or_insert(error);
    }

    fn can_write(&self) -> bool {
        self.write_failed.is_none() && self.transport_error.is_none() && !self.write_shut
    }

    /// Sending needs a transport that can still be written to.
    fn check_writable(&self) -> Result<(), Error> {
        match self.write_failed {
            Some((kind, _)) => Err(io::Error::from(kind).into()),
            None if self.transport_error.is_some() || self.ended => Err(Error::Closed),
            None => Ok(()),
        }
    }

    /// How long an [`Action::Read`] may wait for data. A read that finds nothing can arm a
    /// timer (the core's release of idle buffers), so a front-end that waits after such a
    /// read waits until this, asked anew, rather than the action's `until`.
    pub(crate) fn read_until(&self) -> Option<Instant> {
        match self.write_failed {
            Some((_, until)) => Some(until),
            None => self.wait_until(),
        }
    }

    /// The nearer of the connection's next timer and the application's deadline.
    fn wait_until(&self) -> Option<Instant> {
        [self.conn.poll_timeout(), self.deadline]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A whole message as the single final frame that carries it: what frame mode delivers for a
/// message that began before the switch to frames. The core reports a close as `Closed`, never
/// as a message, so a close here becomes an empty close frame.
pub(crate) fn message_frame(message: Message) -> Frame {
    let (opcode, payload) = match message {
        Message::Text(text) => (OpCode::Text, text.into_bytes()),
        Message::Binary(data) => (OpCode::Binary, data),
        Message::Ping(payload) => (OpCode::Ping, payload),
        Message::Pong(payload) => (OpCode::Pong, payload),
        Message::Close(_) => (OpCode::Close, bytes::Bytes::new()),
    };
    Frame::new(true, opcode, payload)
}

#[cfg(test)]
mod tests;
