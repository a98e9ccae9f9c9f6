//! The connection state machine: one WebSocket connection after its handshake, for either role.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{
    CloseCode, CloseFrame, MAX_CLOSE_REASON, encode_close_payload, parse_close_payload,
};
use crate::config::Config;
use crate::error::{ConnectionError, LimitExceeded, ProtocolError, SendError};
use crate::extension::{Extension, Negotiated};
use crate::frame::{Decoded, Frame, FrameHeader, MAX_CONTROL_PAYLOAD, OpCode};
use crate::mask::{MaskGenerator, apply_mask};
use crate::message::Message;
use crate::prepared::PreparedMessage;
use crate::role::Role;
use crate::transmit::Transmit;
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// The bit of [`FrameHeader::rsv_bits`] that is RSV1, the one permessage-deflate uses.
const RSV1: u8 = 0b100;

/// An input buffer that has drained and holds more than this is released rather than kept.
const KEEP_INPUT_CAPACITY: usize = 64 << 10;

/// How long buffers a busy connection used are kept once a read finds nothing: a connection
/// that goes quiet gives them back this late, and one under load reuses them instead of
/// reallocating them on every wake-up.
const RELEASE_DELAY: Duration = Duration::from_millis(100);

/// [`Connection::receive_with`] makes room for the rest of the frame that is arriving, so that
/// a large payload is read in place instead of being moved as the buffer grows, but never for
/// more than this ahead of the bytes that have arrived: a header alone cannot reserve more.
const READ_AHEAD_LIMIT: usize = 1 << 20;

/// Pings are answered at once while at most this many bytes are queued for writing. Beyond it
/// one pong waits for room, and a newer ping's pong replaces it (RFC 6455 section 5.5.3 allows
/// answering only the latest ping), so a peer that floods pings and never reads cannot grow the
/// output without bound.
const PONG_BACKLOG: usize = 64 << 10;

/// What a connection reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole message arrived: text, binary, or a ping or pong. Not used in frame mode.
    Message(Message),
    /// A frame arrived (frame mode only): data and control frames, as received, unmasked.
    Frame(Frame),
    /// The connection has ended: the close handshake completed or the connection failed. This
    /// is the last event.
    Closed(CloseInfo),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The code of the close frame the peer sent (RFC 6455 section 7.1.5): 1005
    /// ([`CloseCode::NO_STATUS`]) if its close frame had no code, 1006
    /// ([`CloseCode::ABNORMAL`]) if no close frame was received.
    pub code: CloseCode,
    /// The reason from the peer's close frame; empty if there was none.
    pub reason: Utf8Bytes,
    /// Whether the close handshake completed: both endpoints sent and received a close frame,
    /// and no error occurred.
    pub was_clean: bool,
    /// Why the connection ended abnormally, if it did.
    pub error: Option<ConnectionError>,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This endpoint sent a close frame and waits for the peer's.
    Closing,
    /// [`Event::Closed`] has been emitted; only the transport remains to be closed (see
    /// [`Connection::transport_action`]).
    Closed,
}

/// What the I/O layer should do with the transport once the bytes in
/// [`Connection::poll_transmit`] are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportAction {
    /// Keep the transport open and keep reading.
    Keep,
    /// Shut down the writing side (send FIN) and keep reading until end of file or the close
    /// timeout. The server does this after the close handshake.
    ShutdownWrite,
    /// Close the transport. Writing what is queued is worth a bounded try.
    Close,
}

/// The frame whose payload is arriving.
#[derive(Debug)]
struct IncomingFrame {
    header: FrameHeader,
    /// Payload bytes already unmasked and validated; they stay in the input buffer until the
    /// whole payload is there.
    processed: usize,
    /// Whether the payload is text to validate as it arrives.
    text: bool,
    /// Whether the payload belongs to a message the extension transformed: it is decoded once
    /// the frame is whole, and text is validated after decoding.
    compressed: bool,
}

/// A fragmented message whose first frame has arrived.
#[derive(Debug)]
struct IncomingMessage {
    opcode: OpCode,
    /// Bytes received so far, summed over fragments.
    size: u64,
    /// Bytes delivered so far (after decoding, for a compressed message).
    decoded: usize,
    /// Whether the message's first frame had the extension's RSV bit.
    compressed: bool,
    /// The fragments so far; unused in frame mode.
    data: BytesMut,
    /// Whether this message's frames are delivered one by one.
    frame_mode: bool,
}

/// One WebSocket connection, either role, after the opening handshake. No I/O, no clock.
///
/// # The contract
///
/// The connection is a state machine that an I/O layer (a front-end) drives. It reads no
/// clock: every call that can start, move or fire a timer takes the time as `now`, and a
/// timer counts from the `now` of the call that started it. Its methods fall into four groups:
///
/// - **Inputs**: [`receive`](Self::receive) (or [`receive_with`](Self::receive_with)) with the
///   bytes read from the transport and the time they were read, which restarts the keepalive
///   interval and the idle timeout; [`receive_eof`](Self::receive_eof) when the transport
///   reaches its end; and [`handle_timeout`](Self::handle_timeout), which fires the timers due
///   at `now`.
/// - **Commands**: [`send`](Self::send), [`send_uncompressed`](Self::send_uncompressed),
///   [`send_frame`](Self::send_frame) and [`close`](Self::close), which can start the close
///   handshake and so take `now`; [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`ping`](Self::ping) and [`pong`](Self::pong), which
///   cannot. Each either queues bytes or returns a [`SendError`] and queues nothing.
/// - **Outputs**, each to be drained: [`poll_event`](Self::poll_event) until it returns `None`,
///   for what the application should see (input is decoded there, one frame at a time, so the
///   application can answer each message before the next frame is looked at);
///   [`poll_transmit`](Self::poll_transmit) until it is empty, for the bytes to write;
///   [`transport_action`](Self::transport_action) for what to do with the transport once they
///   are written; [`poll_timeout`](Self::poll_timeout) for when to call `handle_timeout` next.
/// - **Getters**: [`role`](Self::role), [`state`](Self::state), [`config`](Self::config),
///   [`negotiated`](Self::negotiated), [`buffered_amount`](Self::buffered_amount).
///
/// A front-end loops:
///
/// 1. feed what happened, with the time it happened: `receive(now, ..)` / `receive_eof()`,
///    `handle_timeout(now)` when the instant of `poll_timeout()` has passed, and the
///    application's commands;
/// 2. drain `poll_event(now)` and hand the events to the application (which may send in
///    answer);
/// 3. drain `poll_transmit()` into the transport, then act on `transport_action()`; an input,
///    a command or an event polled may queue more, so call it again after any of them;
/// 4. wait for readable data, a command, or the instant of `poll_timeout()`, whichever comes
///    first, and go back to 1. Ask for `poll_timeout()` after steps 1 to 3: each can move it.
///
/// The connection starts no timer before it is first given the time: the keepalive interval,
/// the heartbeat and the idle timeout (if [`Config::ping_interval`],
/// [`Config::heartbeat_interval`] and [`Config::idle_timeout`] are set) start at the first
/// `receive`, `handle_timeout` or `poll_event`.
///
/// Events, [`state`](Self::state) and [`transport_action`](Self::transport_action) reflect the
/// input that `poll_event` has decoded: bytes that were received but not yet polled are still
/// just bytes. An end of file takes effect after the bytes received before it.
///
/// ```
/// use std::time::Instant;
/// use bytes::Buf;
/// use wsio_proto::{Config, Connection, Event, Message, Role};
///
/// let now = Instant::now();
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked "Hello" from a client (RFC 6455 section 5.7).
/// server.receive(now, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// assert_eq!(server.poll_event(now), Some(Event::Message(Message::text("Hello"))));
/// assert_eq!(server.poll_event(now), None);
///
/// server.send_text("Hi")?;
/// let out = server.poll_transmit();
/// assert_eq!(out.copy_to_bytes(out.remaining()), &b"\x81\x02Hi"[..]);
/// # Ok::<(), wsio_proto::SendError>(())
/// ```
///
/// # Behaviour
///
/// - Fragmented messages are assembled, with control frames allowed between fragments
///   (RFC 6455 section 5.4). Text is validated as it arrives, failing on the first invalid
///   byte even in the middle of a frame.
/// - Pings are answered automatically unless [`Config::auto_pong`] is off.
/// - The peer's close frame is answered with one carrying the same code; the server then shuts
///   down its side of the transport, the client waits for the server to do so. Either waits at
///   most [`Config::close_timeout`].
/// - A protocol error or an exceeded limit fails the connection: a close frame with the RFC's
///   code (1002, 1007, 1009) is sent, further input is ignored, and [`Event::Closed`] reports
///   the error.
/// - With [`Config::ping_interval`] set, a ping goes out after that much silence from the
///   peer; if the peer then stays silent for [`Config::pong_timeout`], the connection fails
///   with [`ConnectionError::KeepaliveTimeout`] and the transport should be closed at once.
/// - With [`Config::heartbeat_interval`] set, a ping goes out at that rate whatever the
///   traffic; no answer is awaited.
/// - With [`Config::idle_timeout`] set, a connection that receives nothing for that long sends
///   a close frame with code 1001, ends with [`ConnectionError::IdleTimeout`], and the
///   transport should be closed at once.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    negotiated: Negotiated,
    extension: Option<Box<dyn Extension>>,

    // Receiving.
    input: BytesMut,
    /// False once input is no longer processed: after the peer's close frame, a failure or EOF.
    reading: bool,
    /// The transport's end was reported; it takes effect once the input before it is decoded.
    eof: bool,
    frame: Option<IncomingFrame>,
    message: Option<IncomingMessage>,
    utf8: Utf8Validator,

    // Sending.
    output: Transmit,
    masks: MaskGenerator,
    /// True while a fragmented message sent through `send_frame` is unfinished.
    sending_fragments: bool,
    pending_pong: Option<Bytes>,
    close_sent: bool,

    // Time. Every timer is armed from the `now` of the call that starts it.
    /// When the close handshake, or the wait for the transport's end after it, gives up.
    close_timer: Option<Instant>,
    /// Whether the timers have started: they start at the first time given to an input or to
    /// `poll_event`.
    keepalive_started: bool,
    ping_due: Option<Instant>,
    pong_due: Option<Instant>,
    /// When the next heartbeat ping is due; it does not move with traffic.
    heartbeat_due: Option<Instant>,
    /// When the connection ends if nothing more is received.
    idle_due: Option<Instant>,
    /// When the buffers are given back if they are empty then (see [`RELEASE_DELAY`]).
    release_due: Option<Instant>,

    transport: TransportAction,
    events: VecDeque<Event>,
    /// How the connection ended, once it has: what [`Event::Closed`] reports.
    close_info: Option<CloseInfo>,
}

impl Connection {
    /// A connection whose opening handshake has completed and agreed no extension.
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_extensions(role, config, &Negotiated::default())
    }

    /// A connection whose opening handshake has completed and agreed the extensions in
    /// `negotiated` ([`Accepted::negotiated`](crate::Accepted::negotiated) for a client,
    /// [`UpgradeOffer::negotiate`](crate::UpgradeOffer::negotiate) for a server).
    ///
    /// With permessage-deflate agreed, text and binary messages are compressed as
    /// [`Config::deflate`] says (its defaults if it is `None`), and compressed messages that
    /// arrive are inflated, within [`Config::max_message_size`], before they are delivered.
    pub fn with_extensions(role: Role, config: Config, negotiated: &Negotiated) -> Self {
        Connection {
            extension: negotiated.build(role, &config),
            negotiated: negotiated.clone(),
            role,
            config,
            state: State::Open,
            input: BytesMut::new(),
            reading: true,
            eof: false,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            output: Transmit::default(),
            masks: MaskGenerator::new(),
            sending_fragments: false,
            pending_pong: None,
            close_sent: false,
            close_timer: None,
            keepalive_started: false,
            ping_due: None,
            pong_due: None,
            heartbeat_due: None,
            idle_due: None,
            release_due: None,
            transport: TransportAction::Keep,
            events: VecDeque::new(),
            close_info: None,
        }
    }

    // ----- Getters -----

    /// Which end of the connection this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How the connection ended (code, reason, whether cleanly, the error if any), once it
    /// has: the same details as the [`Event::Closed`] it queued, available before that event
    /// is polled.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_ref()
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings this connection runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The extensions the handshake agreed, which this connection runs.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// How many bytes are queued for writing. Front-ends compare this with their write buffer
    /// limit to apply backpressure.
    pub fn buffered_amount(&self) -> usize {
        self.output.remaining() + self.pending_pong.as_ref().map_or(0, |p| p.len() + 6)
    }

    /// Switches between assembling messages and delivering single frames
    /// ([`Config::frame_mode`]). Takes effect from the next message; a message already begun
    /// finishes in the mode it started in.
    pub fn set_frame_mode(&mut self, frame_mode: bool) {
        self.config.frame_mode = frame_mode;
    }

    // ----- Inputs -----

    /// Feeds bytes read from the transport at `now`. They are decoded by
    /// [`poll_event`](Self::poll_event); the peer counts as alive from `now`.
    ///
    /// Bytes after the peer's close frame, or after the connection failed, are ignored.
    pub fn receive(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.restart_keepalive(now);
        if self.reading && !self.eof {
            self.input.extend_from_slice(data);
        }
    }

    /// Feeds bytes that arrived with the opening handshake, before the connection was started:
    /// the handshake hands over a connection that holds them. The keepalive interval starts,
    /// as for any new connection, at the first time given.
    pub(crate) fn receive_early(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// Reads straight into the connection's input, without the copy that
    /// [`receive`](Self::receive) makes: `read` gets the input buffer with room for at least
    /// `capacity` more bytes (more when a large frame is arriving) and must only append to it,
    /// for example with `tokio::io::AsyncReadExt::read_buf`. Its result is returned. The new
    /// bytes count as received; the end of the transport is still reported with
    /// [`receive_eof`](Self::receive_eof).
    ///
    /// A read that brings nothing while no input is left to decode and no output to write
    /// gives back the connection's buffers, so that an idle connection holds none: at once
    /// if they were allocated for this read, otherwise at a timer 100 ms later (part of
    /// [`poll_timeout`](Self::poll_timeout)) if they are empty then, so that a busy
    /// connection does not reallocate them on every wake-up.
    ///
    /// ```
    /// use std::time::Instant;
    /// use wsio_proto::{Config, Connection, Event, Message, Role};
    ///
    /// let now = Instant::now();
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// server.receive_with(now, 4096, |input| input.extend_from_slice(&wire));
    /// assert_eq!(server.poll_event(now), Some(Event::Message(Message::text("Hello"))));
    /// ```
    pub fn receive_with<R>(
        &mut self,
        now: Instant,
        capacity: usize,
        read: impl FnOnce(&mut BytesMut) -> R,
    ) -> R {
        let rest_of_frame = self.frame.as_ref().map_or(0, |frame| {
            // The header was checked against max_frame_size, which is a usize.
            (frame.header.payload_len as usize).saturating_sub(self.input.len())
        });
        let held = self.input.capacity() > 0;
        self.input
            .reserve(capacity.max(rest_of_frame.min(READ_AHEAD_LIMIT)));
        let before = self.input.len();
        let result = read(&mut self.input);
        if self.input.len() > before {
            self.restart_keepalive(now);
            if !self.reading || self.eof {
                self.input.truncate(before);
            }
        } else if self.input.is_empty() && !self.output.has_remaining() {
            if !held {
                // Reserved for this read only: a connection that has been quiet keeps nothing.
                self.release_buffers();
            } else if self.release_due.is_none() {
                self.release_due = Some(now + RELEASE_DELAY);
            }
        }
        result
    }

    /// Gives back the memory of buffers that are empty: the input, the output and the event
    /// queue.
    fn release_buffers(&mut self) {
        self.input = BytesMut::new();
        self.output = Transmit::default();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// Reports that the transport reached its end (the peer closed its writing side). It takes
    /// effect in [`poll_event`](Self::poll_event), after the bytes received before it.
    ///
    /// Before the close handshake this ends the connection abnormally (1006,
    /// [`ConnectionError::UnexpectedEof`]); after it, it is the expected end. Either way the transport
    /// can then be closed.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Tells the connection the time: fires the timers that are due at `now`. Call it whenever
    /// [`poll_timeout`](Self::poll_timeout)'s instant has passed. Like `receive` and
    /// `poll_event`, a first call starts the keepalive interval (see [`Config::ping_interval`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.keepalive_started {
            self.restart_keepalive(now);
        }
        if self.release_due.is_some_and(|due| now >= due) {
            self.release_due = None;
            if self.input.is_empty() && !self.output.has_remaining() {
                self.release_buffers();
            }
        }
        if self.close_timer.is_some_and(|deadline| now >= deadline) {
            self.close_timer = None;
            if self.state == State::Closing {
                self.reading = false;
                self.finish(now, CloseInfo::abnormal(ConnectionError::CloseTimeout));
            }
            self.close_transport();
        }
        if self.state != State::Open {
            return;
        }
        if self.idle_due.is_some_and(|due| now >= due) {
            self.idle_due = None;
            self.fail(now, ConnectionError::IdleTimeout);
            // A peer silent this long will not take part in a close handshake.
            self.close_transport();
            return;
        }
        if self.heartbeat_due.is_some_and(|due| now >= due) {
            // Skipped while output waits: those bytes show we are alive, and pings must not
            // pile up behind a transport that does not drain.
            if !self.output.has_remaining() {
                self.send_keepalive_ping();
            }
            let interval = self.config.heartbeat_interval.expect("armed only when set");
            self.heartbeat_due = Some(now + interval);
        }
        if self.pong_due.is_some_and(|due| now >= due) {
            self.pong_due = None;
            self.fail(now, ConnectionError::KeepaliveTimeout);
            // A silent peer will not take part in a close handshake.
            self.close_transport();
        } else if self.pong_due.is_none() && self.ping_due.is_some_and(|due| now >= due) {
            self.send_keepalive_ping();
            self.ping_due = None;
            self.pong_due = Some(now + self.config.pong_timeout);
        }
    }

    // ----- Commands -----

    /// Sends a message of any kind. `Message::Close` starts the close handshake like
    /// [`close`](Self::close), and its timer counts from `now`.
    pub fn send(&mut self, now: Instant, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
            Message::Ping(payload) => self.ping(payload),
            Message::Pong(payload) => self.pong(payload),
            Message::Close(Some(frame)) => self.close(now, frame.code, &frame.reason),
            Message::Close(None) => self.send_close(now, Bytes::new()),
        }
    }

    /// Sends a text message: one frame, or fragments of [`Config::max_frame_size`] if longer.
    /// Compressed first if permessage-deflate is in use and the message reaches its threshold.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.send_data(OpCode::Text, text.into().into_bytes(), true)
    }

    /// Sends a binary message: one frame, or fragments of [`Config::max_frame_size`] if longer.
    /// Compressed first if permessage-deflate is in use and the message reaches its threshold.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_data(OpCode::Binary, data.into(), true)
    }

    /// Sends a message like [`send`](Self::send), but a text or binary message goes out as it
    /// is, without the extensions' transformation: not compressed, whatever its size and the
    /// threshold. For data that is already compressed, or too small to gain.
    pub fn send_uncompressed(&mut self, now: Instant, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_data(OpCode::Text, text.into_bytes(), false),
            Message::Binary(data) => self.send_data(OpCode::Binary, data, false),
            other => self.send(now, other),
        }
    }

    /// Sends a [`PreparedMessage`]: a text or binary message encoded once for many
    /// connections. A server-side connection without extensions, or whose permessage-deflate
    /// resets its compressor after each message, queues the prepared frames themselves
    /// (shared, not copied, when large); otherwise the message is sent as
    /// [`send_text`](Self::send_text) or [`send_binary`](Self::send_binary) would send it.
    /// Either way the peer receives the same message.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), SendError> {
        let opcode = if prepared.is_text() {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let shares = self.role == Role::Server
            && self
                .extension
                .as_deref()
                .is_none_or(|extension| extension.encoding_key().is_some());
        if !shares {
            return self.send_data(opcode, prepared.payload().clone(), true);
        }
        self.check_message_start()?;
        let frames = prepared.frames(self.config.max_frame_size, self.extension.as_deref());
        self.output.push_encoded(&frames);
        Ok(())
    }

    /// Sends a ping with a payload of at most 125 bytes.
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload.into())
    }

    /// Sends a pong with a payload of at most 125 bytes (an unsolicited pong is a heartbeat).
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload.into())
    }

    /// Sends one frame as given: fin, RSV bits, opcode and payload. The connection masks it if
    /// it is a client.
    ///
    /// The connection still keeps the stream valid: control frames must be final and at most
    /// 125 bytes, continuations must continue something, and no new message may start while a
    /// fragmented one is unfinished. A close frame starts the close handshake, whose timer
    /// counts from `now`. RSV bits, the
    /// UTF-8 of text fragments and the contents of a close payload are the caller's
    /// responsibility, so that peers can be tested with frames a normal sender never makes.
    pub fn send_frame(&mut self, now: Instant, frame: Frame) -> Result<(), SendError> {
        if frame.opcode.is_control() {
            if !frame.fin {
                return Err(SendError::FragmentedControlFrame);
            }
            if frame.opcode == OpCode::Close {
                if frame.payload.len() > MAX_CONTROL_PAYLOAD {
                    return Err(SendError::ControlPayloadTooLong(frame.payload.len()));
                }
                return self.send_close(now, frame.payload);
            }
            self.check_control(&frame.payload)?;
        } else {
            self.check_open()?;
            match (frame.opcode, self.sending_fragments) {
                (OpCode::Continuation, false) => return Err(SendError::UnexpectedContinuation),
                (OpCode::Text | OpCode::Binary, true) => {
                    return Err(SendError::FragmentedMessageInProgress);
                }
                _ => self.sending_fragments = !frame.fin,
            }
        }
        let mask = self.next_mask();
        self.output.push_frame(&frame.header(mask), &frame.payload);
        Ok(())
    }

    /// Starts the close handshake with a code and a reason of at most 123 bytes.
    ///
    /// Nothing more may be sent afterwards. The connection reports [`Event::Closed`] when the
    /// peer answers, or [`Config::close_timeout`] after `now`.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let payload = encode_close_payload(code, reason)?;
        self.send_close(now, payload)
    }

    // ----- Outputs -----

    /// The next event for the application, in the order things happened.
    ///
    /// Received bytes are decoded here, a frame at a time, until an event comes out or more
    /// input is needed. Answers to pings are queued for writing as their pings are decoded, and
    /// a timer that decoding starts (the close timer, after the peer's close frame or a
    /// protocol error) counts from `now`: pass the time the bytes were received, or later.
    /// Call it until it returns `None`.
    pub fn poll_event(&mut self, now: Instant) -> Option<Event> {
        if !self.keepalive_started {
            self.restart_keepalive(now);
        }
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            match self.process_input(now) {
                Step::NeedInput => return None,
                Step::Queued => {}
                Step::Message(message) => return Some(Event::Message(message)),
            }
        }
    }

    /// The bytes to write to the transport. Write from it and [`advance`](Buf::advance) it by
    /// what was written, asking for it anew each time, until it is empty: writing can make room
    /// for a pong that was held back. It grows again after any input or command, so call it
    /// after each of them.
    pub fn poll_transmit(&mut self) -> &mut Transmit {
        self.flush_pending_pong();
        &mut self.output
    }

    /// What to do with the transport once [`poll_transmit`](Self::poll_transmit) is written.
    pub fn transport_action(&self) -> TransportAction {
        self.transport
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if a timer is armed.
    ///
    /// Call it after draining [`poll_event`](Self::poll_event): decoding input can start timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let close = self.close_timer;
        let open = if self.state == State::Open {
            [
                self.pong_due.or(self.ping_due),
                self.heartbeat_due,
                self.idle_due,
            ]
        } else {
            [None; 3]
        };
        open.into_iter()
            .chain([close, self.release_due])
            .flatten()
            .min()
    }

    // ----- Receiving -----

    /// Takes one step through the input: a whole frame, or the end of file once the input
    /// before it is decoded. Called only while no event is queued, so that a message it hands
    /// back directly comes in order.
    fn process_input(&mut self, now: Instant) -> Step {
        if self.reading {
            match self.process_frame(now) {
                Ok(Step::NeedInput) => {}
                Ok(step) => return step,
                Err(error) => {
                    self.fail(now, error);
                    return Step::Queued;
                }
            }
        }
        if self.eof {
            self.eof = false;
            self.reading = false;
            if self.state != State::Closed {
                self.finish(now, CloseInfo::abnormal(ConnectionError::UnexpectedEof));
            }
            self.close_transport();
            return Step::Queued;
        }
        Step::NeedInput
    }

    /// Decodes the next whole frame, or validates the part of it that has arrived.
    fn process_frame(&mut self, now: Instant) -> Result<Step, ConnectionError> {
        if self.frame.is_none() && !self.read_header()? {
            return Ok(Step::NeedInput);
        }
        let Some(frame) = self.frame.as_mut() else {
            return Ok(Step::NeedInput);
        };
        // The header was checked against max_frame_size, which is a usize.
        let len = frame.header.payload_len as usize;
        let available = self.input.len().min(len);
        if available > frame.processed {
            let fresh = &mut self.input[frame.processed..available];
            if let Some(key) = frame.header.mask {
                apply_mask(fresh, key, frame.processed);
            }
            if frame.text {
                self.utf8
                    .feed(fresh)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.processed = available;
        }
        if available < len {
            return Ok(Step::NeedInput);
        }
        if frame.text && frame.header.fin {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let (header, compressed) = (frame.header, frame.compressed);
        self.frame = None;
        let mut payload = self.input.split_to(len).freeze();
        if self.input.is_empty() && self.input.capacity() > KEEP_INPUT_CAPACITY {
            self.input = BytesMut::new();
        }
        if compressed {
            payload = self.decode(&header, &payload)?;
        }
        Ok(match self.handle_frame(now, header, payload)? {
            Some(message) => Step::Message(message),
            None => Step::Queued,
        })
    }

    /// Decodes one frame of a message the extension transformed, within what is left of
    /// [`Config::max_message_size`], and validates the text it yields.
    fn decode(&mut self, header: &FrameHeader, payload: &[u8]) -> Result<Bytes, ConnectionError> {
        let before = self.message.as_ref().map_or(0, |m| m.decoded);
        let limit = self.config.max_message_size;
        let extension = self
            .extension
            .as_mut()
            .expect("only frames with an extension's RSV bit are compressed");
        let decoded = extension
            .decode(payload, header.fin, limit.saturating_sub(before))
            .map_err(|e| e.into_error(before, limit))?;
        let text = match header.opcode {
            OpCode::Continuation => self
                .message
                .as_ref()
                .is_some_and(|m| m.opcode == OpCode::Text),
            opcode => opcode == OpCode::Text,
        };
        if text {
            let invalid = |_| ProtocolError::InvalidUtf8;
            self.utf8.feed(&decoded).map_err(invalid)?;
            if header.fin {
                self.utf8.finish().map_err(invalid)?;
            }
        }
        Ok(decoded)
    }

    /// Decodes and checks the next frame header. Returns false if more bytes are needed.
    fn read_header(&mut self) -> Result<bool, ConnectionError> {
        let (header, len) = match FrameHeader::decode(&self.input)? {
            Decoded::Complete { value, len } => (value, len),
            Decoded::Incomplete { .. } => return Ok(false),
        };
        self.check_header(&header)?;
        self.input.advance(len);
        let (text, compressed) = match (header.opcode, &self.message) {
            (OpCode::Text | OpCode::Binary, _) => (header.opcode == OpCode::Text, header.rsv1),
            (OpCode::Continuation, Some(m)) => (m.opcode == OpCode::Text, m.compressed),
            _ => (false, false),
        };
        self.frame = Some(IncomingFrame {
            header,
            processed: 0,
            // Compressed text is validated once inflated.
            text: text && !compressed,
            compressed,
        });
        Ok(true)
    }

    /// The rules that depend on the role, the negotiated extensions, the limits and the frames
    /// before this one.
    fn check_header(&self, header: &FrameHeader) -> Result<(), ConnectionError> {
        // An extension owns RSV1, on the first frame of a data message only (RFC 7692
        // section 6); every other RSV bit, anywhere, is an error.
        let allowed = match header.opcode {
            OpCode::Text | OpCode::Binary if self.extension.is_some() => RSV1,
            _ => 0,
        };
        let rsv = header.rsv_bits();
        if rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBitsSet(rsv).into());
        }
        match (self.role.expects_masked(), header.mask.is_some()) {
            (true, false) => return Err(ProtocolError::UnmaskedClientFrame.into()),
            (false, true) => return Err(ProtocolError::MaskedServerFrame.into()),
            _ => {}
        }
        let limit = self.config.max_frame_size;
        if header.payload_len > limit as u64 {
            return Err(LimitExceeded::FrameTooLarge {
                size: header.payload_len,
                limit,
            }
            .into());
        }
        let message_size = match (header.opcode, &self.message) {
            (OpCode::Continuation, None) => {
                return Err(ProtocolError::UnexpectedContinuation.into());
            }
            (OpCode::Continuation, Some(message)) => message.size + header.payload_len,
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation.into());
            }
            (OpCode::Text | OpCode::Binary, None) => header.payload_len,
            _ => 0,
        };
        let limit = self.config.max_message_size;
        if message_size > limit as u64 {
            return Err(LimitExceeded::MessageTooLarge {
                size: message_size,
                limit,
            }
            .into());
        }
        Ok(())
    }

    /// Acts on one whole frame whose header and text are valid. Returns the message it
    /// completes, in message mode; every other event it makes is queued.
    fn handle_frame(
        &mut self,
        now: Instant,
        header: FrameHeader,
        payload: Bytes,
    ) -> Result<Option<Message>, ConnectionError> {
        // A close payload is checked before anything is delivered, so that frame mode never
        // hands the application a close frame the connection then fails on.
        let close = match header.opcode {
            OpCode::Close => parse_close_payload(&payload)?,
            _ => None,
        };
        let frame_mode = match (&self.message, header.opcode) {
            (Some(message), OpCode::Continuation) => message.frame_mode,
            _ => self.config.frame_mode,
        };
        if frame_mode {
            let compressed = match (&self.message, header.opcode) {
                (Some(message), OpCode::Continuation) => message.compressed,
                _ => header.rsv1 && self.extension.is_some(),
            };
            self.events.push_back(Event::Frame(Frame {
                fin: header.fin,
                // A compressed frame is delivered inflated, so without the bit that said so.
                rsv1: header.rsv1 && !compressed,
                rsv2: header.rsv2,
                rsv3: header.rsv3,
                opcode: header.opcode,
                payload: payload.clone(),
            }));
        }
        let message = match header.opcode {
            OpCode::Text | OpCode::Binary if header.fin => {
                (!frame_mode).then(|| data_message(header.opcode, payload))
            }
            OpCode::Text | OpCode::Binary => {
                self.message = Some(IncomingMessage {
                    opcode: header.opcode,
                    size: header.payload_len,
                    decoded: payload.len(),
                    compressed: header.rsv1 && self.extension.is_some(),
                    data: if frame_mode {
                        BytesMut::new()
                    } else {
                        BytesMut::from(&payload[..])
                    },
                    frame_mode,
                });
                None
            }
            OpCode::Continuation => {
                let message = self.message.as_mut().expect("checked by check_header");
                message.size += header.payload_len;
                message.decoded += payload.len();
                if !message.frame_mode {
                    message.data.extend_from_slice(&payload);
                }
                match self.message.take_if(|_| header.fin) {
                    Some(message) if !message.frame_mode => {
                        Some(data_message(message.opcode, message.data.freeze()))
                    }
                    _ => None,
                }
            }
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    if self.output.remaining() <= PONG_BACKLOG {
                        // A pong held back for an older ping is superseded by this one.
                        self.pending_pong = None;
                        self.write_frame(true, OpCode::Pong, &payload);
                    } else {
                        self.pending_pong = Some(payload.clone());
                    }
                }
                (!frame_mode).then_some(Message::Ping(payload))
            }
            OpCode::Pong => (!frame_mode).then_some(Message::Pong(payload)),
            OpCode::Close => {
                self.handle_close(now, close);
                None
            }
        };
        Ok(message)
    }

    /// The peer's close frame, its payload parsed: answer it if we have not closed yet, and end
    /// the connection.
    fn handle_close(&mut self, now: Instant, frame: Option<CloseFrame>) {
        self.reading = false;
        self.pending_pong = None;
        if !self.close_sent {
            // Echo the code, as RFC 6455 section 5.5.1 suggests; the reason is not repeated.
            let echo = match &frame {
                Some(frame) => {
                    encode_close_payload(frame.code, "").expect("a received code is sendable")
                }
                None => Bytes::new(),
            };
            self.write_frame(true, OpCode::Close, &echo);
            self.close_sent = true;
        }
        let (code, reason) = match frame {
            Some(CloseFrame { code, reason }) => (code, reason),
            None => (CloseCode::NO_STATUS, Utf8Bytes::default()),
        };
        self.finish(
            now,
            CloseInfo {
                code,
                reason,
                was_clean: true,
                error: None,
            },
        );
    }

    /// Fails the connection (RFC 6455 section 7.1.7): stop reading, send a close frame with the
    /// error's code if none was sent, and end.
    fn fail(&mut self, now: Instant, error: ConnectionError) {
        if self.state == State::Closed {
            return;
        }
        self.reading = false;
        self.frame = None;
        self.message = None;
        self.input = BytesMut::new();
        self.pending_pong = None;
        if !self.close_sent {
            if let Some(code) = error.close_code() {
                let text = error.to_string();
                let reason = truncate_reason(&text);
                let payload =
                    encode_close_payload(code, reason).expect("codes of errors are sendable");
                self.write_frame(true, OpCode::Close, &payload);
                self.close_sent = true;
            }
        }
        self.finish(now, CloseInfo::abnormal(error));
    }

    /// Emits `Closed` and decides how the transport ends.
    fn finish(&mut self, now: Instant, info: CloseInfo) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.close_info = Some(info.clone());
        self.events.push_back(Event::Closed(info));
        if self.role.closes_transport_first() {
            self.transport = TransportAction::ShutdownWrite;
        }
        // Wait for the transport's end, but not forever.
        self.start_close_timer(now);
    }

    /// The peer was heard from at `now`: the next keepalive ping is due an interval later, any
    /// pong awaited is no longer needed, and the idle timeout counts from `now`. The first call
    /// also starts the heartbeat, which traffic does not move.
    fn restart_keepalive(&mut self, now: Instant) {
        if !self.keepalive_started {
            self.keepalive_started = true;
            self.heartbeat_due = self
                .config
                .heartbeat_interval
                .filter(|interval| !interval.is_zero())
                .map(|interval| now + interval);
        }
        self.pong_due = None;
        self.ping_due = self.config.ping_interval.map(|interval| now + interval);
        self.idle_due = self.config.idle_timeout.map(|timeout| now + timeout);
    }

    /// Queues a ping with [`Config::ping_payload`], for the keepalive or the heartbeat.
    fn send_keepalive_ping(&mut self) {
        let mut payload = self.config.ping_payload.clone();
        payload.truncate(MAX_CONTROL_PAYLOAD);
        self.write_frame(true, OpCode::Ping, &payload);
    }

    fn start_close_timer(&mut self, now: Instant) {
        self.close_timer = Some(now + self.config.close_timeout);
    }

    /// The transport is done with: nothing is left to wait for.
    fn close_transport(&mut self) {
        self.transport = TransportAction::Close;
        self.close_timer = None;
    }

    // ----- Sending -----

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_sent || self.state == State::Closed {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    fn check_control(&self, payload: &Bytes) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        Ok(())
    }

    /// Sends a whole message: in one frame, or in fragments of `max_frame_size` when it is
    /// longer, so that a peer with the same limit accepts it.
    ///
    /// With `transform`, the extension (if any) may compress it first; then the first frame
    /// carries RSV1.
    fn send_data(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        transform: bool,
    ) -> Result<(), SendError> {
        self.check_message_start()?;
        let encoded = match &mut self.extension {
            Some(extension) if transform => extension.encode(&payload),
            _ => None,
        };
        let (payload, mut rsv1) = match encoded {
            Some(encoded) => (encoded, true),
            None => (payload, false),
        };
        let max = self.config.max_frame_size.max(1);
        let mut opcode = opcode;
        let mut start = 0;
        loop {
            let end = payload.len().min(start + max);
            let fin = end == payload.len();
            let mut header = FrameHeader::new(opcode, (end - start) as u64);
            header.fin = fin;
            header.rsv1 = rsv1;
            header.mask = self.next_mask();
            if start == 0 && fin {
                // The whole message in one frame: no slice (and no reference count) to make.
                self.output.push_frame(&header, &payload);
            } else {
                self.output.push_frame(&header, &payload.slice(start..end));
            }
            if fin {
                return Ok(());
            }
            opcode = OpCode::Continuation;
            rsv1 = false;
            start = end;
        }
    }

    /// A whole message may start: the connection is open and no fragmented message sent
    /// through `send_frame` is unfinished.
    fn check_message_start(&self) -> Result<(), SendError> {
        self.check_open()?;
        if self.sending_fragments {
            return Err(SendError::FragmentedMessageInProgress);
        }
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        self.check_control(&payload)?;
        self.write_frame(true, opcode, &payload);
        Ok(())
    }

    fn send_close(&mut self, now: Instant, payload: Bytes) -> Result<(), SendError> {
        self.check_open()?;
        self.write_frame(true, OpCode::Close, &payload);
        self.close_sent = true;
        self.pending_pong = None;
        if self.state == State::Open {
            self.state = State::Closing;
            self.start_close_timer(now);
        }
        Ok(())
    }

    fn next_mask(&mut self) -> Option<[u8; 4]> {
        self.role.masks_outgoing().then(|| self.masks.next_key())
    }

    fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &Bytes) {
        let mut header = FrameHeader::new(opcode, payload.len() as u64);
        header.fin = fin;
        header.mask = self.next_mask();
        self.output.push_frame(&header, payload);
    }

    /// Writes the pending pong once the output has room for it.
    fn flush_pending_pong(&mut self) {
        if self.pending_pong.is_some() && self.output.remaining() <= PONG_BACKLOG {
            let payload = self.pending_pong.take().expect("checked");
            self.write_frame(true, OpCode::Pong, &payload);
        }
    }
}

impl CloseInfo {
    /// An end without a received close frame (code 1006).
    fn abnormal(error: ConnectionError) -> Self {
        CloseInfo {
            code: CloseCode::ABNORMAL,
            reason: Utf8Bytes::default(),
            was_clean: false,
            error: Some(error),
        }
    }
}

/// What one step through the input gave.
enum Step {
    /// Nothing more can be done without more input.
    NeedInput,
    /// Progress; the events it made, if any, are queued.
    Queued,
    /// A whole message, handed over without going through the queue: most steps give one.
    Message(Message),
}

/// A whole text or binary message. Text was validated as it arrived, including the end check
/// in `process_frame`.
fn data_message(opcode: OpCode, payload: Bytes) -> Message {
    if opcode == OpCode::Text {
        Message::Text(Utf8Bytes::from_validated(payload))
    } else {
        Message::Binary(payload)
    }
}

/// The longest prefix of `reason` that fits in a close frame, cut on a character boundary.
fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
