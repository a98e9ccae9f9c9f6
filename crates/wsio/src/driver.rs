//! The glue every front-end shares: it feeds what the transport read into the protocol core,
//! turns the core's events into what applications receive, and says what to write, when to
//! shut the transport down and when to wake up.
//!
//! A front-end (async or blocking) only moves bytes: it reads into [`Driver::read_buf`],
//! reports the count with [`Driver::handle_read`], writes [`Driver::output`], acts on
//! [`Driver::transport_step`], and sleeps until [`Driver::deadline`]. Every protocol rule lives
//! in [`wsio_proto::Connection`]; every front-end rule lives here.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use wsio_proto::{
    CloseCode, CloseFrame, CloseInfo, Connection, Event, Frame, Message, Negotiated, OpCode, Role,
    State, Transmit, TransportAction,
};

use crate::config::Config;
use crate::error::Error;

/// The room offered to a connection's first read straight into the core.
const FIRST_READ_SIZE: usize = 4096;

/// What the transport should do next, once the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportStep {
    /// Keep reading (and writing).
    Read,
    /// Shut down the writing side, then keep reading until end of file.
    ShutdownWrite,
    /// Close the transport: the connection is over.
    Close,
}

/// What the connection delivers to the application.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A whole message (message mode).
    Message(Message),
    /// A frame as received (frame mode).
    Frame(Frame),
    /// The peer's close, once the close handshake is complete.
    Closed(Option<CloseFrame>),
}

/// One connection's state beside the transport, shared by the async and blocking front-ends.
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
    /// The writing side has been shut down.
    write_shut: bool,
    /// The transport failed or ended; nothing more will be read from it.
    transport_done: bool,
    close_info: Option<CloseInfo>,
}

impl Driver {
    /// The driver of a connection whose handshake is done and agreed `negotiated`, made here
    /// from `config.protocol`, with `leftover`, the bytes that arrived after the handshake, as
    /// its first input; then as [`from_connection`](Self::from_connection).
    pub(crate) fn start(
        role: Role,
        config: &Config,
        leftover: &[u8],
        negotiated: &Negotiated,
        now: Instant,
    ) -> Self {
        let mut conn = Connection::with_extensions(role, config.protocol.clone(), negotiated);
        conn.receive(leftover);
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
            write_shut: false,
            transport_done: false,
            close_info: None,
        }
    }

    /// The extensions the connection runs.
    pub(crate) fn negotiated(&self) -> &Negotiated {
        self.conn.negotiated()
    }

    /// The protocol state machine, for commands.
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Tells the core the time. Call first whenever the connection resumes, with the clock the
    /// front-end sleeps on (tokio's for the async one, so that paused time in tests agrees).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
    }

    /// Where the next read goes, for a front-end that reads into a slice.
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        if self.read_buf.is_empty() {
            self.read_buf = vec![0; self.read_buffer_size];
        }
        &mut self.read_buf
    }

    /// Reads straight into the core's input (see [`Connection::receive_with`]): `read` appends
    /// at most what it is given room for, or reports end of file by appending nothing and
    /// calling [`handle_read`](Self::handle_read) with zero afterwards.
    pub(crate) fn read_with<R>(&mut self, read: impl FnOnce(&mut BytesMut) -> R) -> R {
        let mut filled = false;
        let result = self.conn.receive_with(self.read_size, |input| {
            let result = read(input);
            filled = input.len() == input.capacity();
            result
        });
        if filled {
            self.read_size = (self.read_size * 2).min(self.read_buffer_size);
        }
        result
    }

    /// Reports how many bytes the last read put into [`read_buf`](Self::read_buf); zero is the
    /// end of the transport.
    pub(crate) fn handle_read(&mut self, n: usize) {
        if n == 0 {
            self.conn.receive_eof();
        } else {
            self.conn.receive(&self.read_buf[..n]);
        }
    }

    /// Reports that the transport failed. The connection ends abnormally (1006); the front-end
    /// reports the transport's error, and the core's `Closed` is not reported again.
    pub(crate) fn handle_transport_error(&mut self) {
        self.transport_done = true;
        self.conn.receive_eof();
    }

    /// The next thing for the application: a message or frame, the peer's close, or the error
    /// that ended the connection. `None` when more input is needed.
    pub(crate) fn next_incoming(&mut self) -> Option<Result<Incoming, Error>> {
        loop {
            return Some(match self.conn.poll_event()? {
                Event::Message(message) => Ok(Incoming::Message(message)),
                Event::Frame(frame) => Ok(Incoming::Frame(frame)),
                Event::Closed(info) => {
                    let item = match &info.error {
                        // The transport's own error was reported; the core's view of the same
                        // end (1006) is kept for `close_info` only.
                        Some(_) if self.transport_done => None,
                        Some(error) => Some(Err(Error::Protocol(error.clone()))),
                        None if info.code == CloseCode::NO_STATUS => {
                            Some(Ok(Incoming::Closed(None)))
                        }
                        None => Some(Ok(Incoming::Closed(Some(CloseFrame {
                            code: info.code,
                            reason: info.reason.clone(),
                        })))),
                    };
                    self.close_info = Some(info);
                    return item;
                }
                // `Event` is non-exhaustive; no other kind exists in the version we build with.
                _ => continue,
            });
        }
    }

    /// Chooses between messages and frames for what arrives from the next message on.
    pub(crate) fn set_frame_mode(&mut self, frame_mode: bool) {
        self.conn.set_frame_mode(frame_mode);
    }

    /// How the connection ended, once it has.
    pub(crate) fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_ref()
    }

    /// Whether the connection can take another message without exceeding the write buffer.
    pub(crate) fn has_room(&self) -> bool {
        self.conn.buffered_amount() < self.max_write_buffer
    }

    /// How many bytes wait to be written.
    pub(crate) fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// The bytes to write.
    pub(crate) fn output(&mut self) -> &mut Transmit {
        self.conn.transmit()
    }

    /// Whether the transport has failed: nothing more can be written to it or read from it.
    pub(crate) fn transport_failed(&self) -> bool {
        self.transport_done
    }

    /// Whether there is nothing left to write.
    pub(crate) fn output_is_empty(&mut self) -> bool {
        !self.conn.transmit().has_remaining()
    }

    /// What the transport should do next. Shutting down waits until the output is written.
    pub(crate) fn transport_step(&mut self) -> TransportStep {
        if self.transport_done {
            return TransportStep::Close;
        }
        match self.conn.transport_action() {
            TransportAction::Close => TransportStep::Close,
            TransportAction::ShutdownWrite if !self.write_shut && self.output_is_empty() => {
                TransportStep::ShutdownWrite
            }
            _ => TransportStep::Read,
        }
    }

    /// Records that the writing side was shut down.
    pub(crate) fn write_shut_down(&mut self) {
        self.write_shut = true;
    }

    /// When the core next wants the time.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// Whether the close handshake has begun or ended.
    pub(crate) fn is_closing(&self) -> bool {
        self.conn.state() != State::Open
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
