//! The harness of the `receive_client` and `receive_server` targets: a [`Connection`] driven
//! the way a front-end drives it, by a script read from the fuzz input, with its contract
//! checked after every step.
//!
//! The input starts with a [`Setup`] (limits, keepalive, timeouts, modes, and whether
//! permessage-deflate is negotiated, with which parameters), then holds steps,
//! each an opcode byte and its operands: bytes from the peer (mostly), end of file, time
//! passing, the application's commands, draining events, and writing some of the output.
//!
//! What is checked:
//! - events: sizes within the configured limits, text valid, `Closed` once and last, its
//!   fields consistent, and its error one the documentation lists, for the reason it gives;
//! - commands: each queues bytes or fails with a documented [`SendError`] and queues nothing;
//! - state: `Closed` exactly when `Event::Closed` was seen, a transport action only then,
//!   timers never in the past, and time alone always ends a closing connection;
//! - output: bounded beyond what the application queued (pongs to a peer that never reads do
//!   not pile up), and a valid stream for a peer of the other role, which receives exactly the
//!   messages the application sent, in order, and nothing after the close frame.

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Buf, Bytes};
use wsio_proto::deflate::DeflateConfig;
use wsio_proto::handshake::encode_response_head;
use wsio_proto::{
    ClientHandshake, CloseCode, CloseInfo, Config, Connection, ConnectionError, Decoded, Event,
    Frame, LimitExceeded, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Message, OpCode, Role, SendError,
    ServerHandshake, State, TransportAction, decode_frame, parse_close_payload,
};

/// Beyond what the application queued, the output holds at most this much: the connection
/// answers pings at once only while 64 KiB or less are queued, and keeps one pong back
/// otherwise; a keepalive ping, a close frame and one pong over the threshold come on top.
const MAX_OWN_OUTPUT: usize = (64 << 10) + 4 * (MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD);

/// The shortest heartbeat a run uses: heartbeats fire between the other timers, and at this
/// rate a run's end, whose timers are at most 65.5 s away, is reached in a bounded number of
/// steps (see [`FINISH_STEPS`]).
const MIN_HEARTBEAT_MS: u16 = 256;

/// How many timers a run's end fires at most: a few, and the heartbeats between them.
const FINISH_STEPS: usize = 8 + 2 * (u16::MAX / MIN_HEARTBEAT_MS) as usize;

/// The settings a run starts from: the first bytes of the input.
#[derive(Debug, Arbitrary)]
struct Setup {
    max_frame_size: u16,
    max_message_size: u16,
    /// Bit 0: auto-pong; bit 1: frame mode; bit 2: keepalive; bit 3: idle timeout; bit 4:
    /// heartbeat, only together with the keepalive or the idle timeout, so that time alone
    /// still ends a run.
    flags: u8,
    ping_interval_ms: u16,
    /// At least [`MIN_HEARTBEAT_MS`].
    heartbeat_interval_ms: u16,
    idle_timeout_ms: u16,
    pong_timeout_ms: u16,
    close_timeout_ms: u16,
    ping_payload_len: u8,
    /// Bit 0: permessage-deflate; bits 1 and 2: no context takeover for the server and the
    /// client; bits 3 to 5: window bits from 8; bits 6 and 7: compression level (0, 1, 6, 9).
    deflate: u8,
    /// Messages shorter than this are not compressed.
    deflate_threshold: u8,
}

impl Setup {
    fn config(&self) -> Config {
        let ms = |n: u16| Duration::from_millis(n.into());
        Config::default()
            .max_frame_size(self.max_frame_size.into())
            .max_message_size(self.max_message_size.into())
            .auto_pong(self.flags & 1 != 0)
            .frame_mode(self.flags & 2 != 0)
            .ping_interval((self.flags & 4 != 0).then(|| ms(self.ping_interval_ms)))
            .heartbeat_interval(
                (self.flags & 16 != 0 && self.flags & 12 != 0)
                    .then(|| ms(self.heartbeat_interval_ms.max(MIN_HEARTBEAT_MS))),
            )
            .idle_timeout((self.flags & 8 != 0).then(|| ms(self.idle_timeout_ms)))
            .pong_timeout(ms(self.pong_timeout_ms))
            .close_timeout(ms(self.close_timeout_ms))
            .ping_payload(Bytes::from(vec![b'p'; self.ping_payload_len.into()]))
            .deflate(self.deflate())
    }

    fn deflate(&self) -> Option<DeflateConfig> {
        let bits = self.deflate;
        let window = 8 + (bits >> 3 & 7);
        (bits & 1 != 0).then(|| {
            DeflateConfig::default()
                .server_no_context_takeover(bits & 2 != 0)
                .client_no_context_takeover(bits & 4 != 0)
                .server_max_window_bits(window)
                .client_max_window_bits(window)
                .level([0, 1, 6, 9][usize::from(bits >> 6)])
                .threshold(self.deflate_threshold.into())
        })
    }
}

/// Runs a real opening handshake between a client with the settings `client` and a server with
/// `server`, and returns the connections it ended in: the client's, then the server's.
fn handshake(client: Config, server: Config) -> (Connection, Connection) {
    let mut handshake = ClientHandshake::from_parts("fuzz", "/")
        .expect("a valid request")
        .config(client);
    let request = handshake.encode_request();
    let incoming = ServerHandshake::new()
        .receive(&request)
        .ok()
        .flatten()
        .expect("our own request is whole");
    let (response, server) = incoming
        .validate()
        .and_then(|offer| offer.accept_connection(None, server, &incoming.leftover))
        .expect("our own request is valid and its offer well formed");
    let accepted = handshake
        .receive(&encode_response_head(&response))
        .ok()
        .flatten()
        .expect("our own answer is acceptable");
    (accepted.connection, server)
}

/// Runs one input through a connection of `role`.
pub fn run(role: Role, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<Setup>() else {
        return;
    };
    let mut harness = Harness::new(role, setup.config());
    // `arbitrary` pads with zeros when the input runs out, so stop at its end.
    while !u.is_empty() {
        let Ok(op) = u.arbitrary::<u8>() else { break };
        if harness.step(op, &mut u).is_err() {
            break;
        }
    }
    harness.finish();
}

struct Harness {
    conn: Connection,
    /// An endpoint of the other role that reads everything `conn` writes.
    peer: Connection,
    now: Instant,
    /// `Event::Closed`, once seen.
    closed: Option<CloseInfo>,
    frame_mode_used: bool,
    /// Bytes the application's commands queued, summed.
    queued: usize,
    /// Whether the application started the close handshake.
    close_sent: bool,
    /// The data messages the application sent, and the one it is sending frame by frame.
    sent: Vec<Message>,
    sending: Option<(OpCode, Vec<u8>)>,
    /// What `conn` wrote, and the data messages the peer received from it.
    written: Vec<u8>,
    received: Vec<Message>,
    peer_closed: Option<CloseInfo>,
    last_input: Vec<u8>,
    /// How many more bytes repeats may feed, to keep each run fast.
    input_budget: usize,
}

impl Harness {
    fn new(role: Role, config: Config) -> Self {
        let frame_mode_used = config.frame_mode;
        let mut peer_config = Config::default()
            .max_frame_size(usize::MAX)
            .max_message_size(usize::MAX)
            .auto_pong(false);
        let peer_role = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        let deflate = config.deflate.is_some();
        let (conn, peer) = match (role, deflate) {
            (_, false) => (
                Connection::new(role, config),
                Connection::new(peer_role, peer_config),
            ),
            (Role::Client, true) => {
                peer_config.deflate = Some(DeflateConfig::default());
                handshake(config, peer_config)
            }
            (Role::Server, true) => {
                peer_config.deflate = Some(DeflateConfig::default());
                let (peer, conn) = handshake(peer_config, config);
                (conn, peer)
            }
        };
        assert_eq!(conn.negotiated().deflate.is_some(), deflate);
        assert_eq!(peer.negotiated().deflate.is_some(), deflate);
        Harness {
            conn,
            peer,
            now: Instant::now(),
            closed: None,
            frame_mode_used,
            queued: 0,
            close_sent: false,
            sent: Vec::new(),
            sending: None,
            written: Vec::new(),
            received: Vec::new(),
            peer_closed: None,
            last_input: Vec::new(),
            input_budget: 1 << 20,
        }
    }

    fn step(&mut self, op: u8, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
        match op % 16 {
            0..=3 => {
                let len = u.arbitrary::<u8>()?;
                let bytes = u.bytes(usize::from(len).min(u.len()))?;
                self.last_input = bytes.to_vec();
                self.conn.receive(self.now, bytes);
            }
            4 => {
                // The last input again, many times: floods without long inputs.
                for _ in 0..u.arbitrary::<u8>()? {
                    if self.input_budget < self.last_input.len() {
                        break;
                    }
                    self.input_budget -= self.last_input.len();
                    self.conn.receive(self.now, &self.last_input);
                }
            }
            5 => self.conn.receive_eof(),
            6 => {
                self.now += Duration::from_millis(u64::from(u.arbitrary::<u8>()?) * 4);
                self.tick();
            }
            7 => {
                if let Some(at) = self.conn.poll_timeout() {
                    self.now = self.now.max(at);
                    self.tick();
                }
            }
            8 => self.drain_events(),
            9 => {
                let units = usize::from(u.arbitrary::<u8>()?);
                self.write(if units == 0 { usize::MAX } else { units * 16 });
            }
            10 => {
                let len = u.arbitrary::<u8>()?;
                let text = String::from_utf8_lossy(u.bytes(usize::from(len).min(u.len()))?);
                let message = Message::text(text.into_owned());
                let now = self.now;
                self.command(Some(message.clone()), |c| c.send(now, message));
            }
            11 => {
                // The top bit of the length sends the message uncompressed.
                let len = u.arbitrary::<u8>()?;
                let data = Bytes::copy_from_slice(u.bytes(usize::from(len & 0x7F).min(u.len()))?);
                let message = Message::Binary(data);
                let now = self.now;
                if len & 0x80 == 0 {
                    self.command(Some(message.clone()), |c| c.send(now, message));
                } else {
                    self.command(Some(message.clone()), |c| c.send_uncompressed(now, message));
                }
            }
            12 => {
                let choice = u.arbitrary::<u8>()?;
                let payload = vec![b'a'; usize::from(choice >> 1)];
                if choice & 1 == 0 {
                    self.command(None, |c| c.ping(payload));
                } else {
                    self.command(None, |c| c.pong(payload));
                }
            }
            13 => {
                let code = CloseCode(u.arbitrary()?);
                let reason = "r".repeat(usize::from(u.arbitrary::<u8>()?));
                let now = self.now;
                self.command(None, |c| c.close(now, code, &reason));
            }
            14 => {
                let flags = u.arbitrary::<u8>()?;
                let len = u.arbitrary::<u8>()?;
                let bytes = u.bytes(usize::from(len).min(u.len()))?;
                self.send_frame(flags, bytes);
            }
            _ => {
                let on = u.arbitrary::<u8>()? & 1 != 0;
                self.frame_mode_used |= on;
                self.conn.set_frame_mode(on);
            }
        }
        self.check_output_bound();
        Ok(())
    }

    fn tick(&mut self) {
        self.conn.handle_timeout(self.now);
        if let Some(at) = self.conn.poll_timeout() {
            // A timer of zero length may be due at once; `finish` checks that time ends it.
            assert!(
                at >= self.now,
                "a timer due at {at:?} did not fire at {:?}",
                self.now
            );
        }
    }

    /// A frame as the application would hand it to `send_frame`. Text fragments are ASCII and
    /// close payloads valid, as the method leaves those to the caller.
    fn send_frame(&mut self, flags: u8, bytes: &[u8]) {
        let opcode = match (flags >> 1) % 6 {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            3 => OpCode::Ping,
            4 => OpCode::Pong,
            _ => OpCode::Close,
        };
        let payload: Bytes = match opcode {
            OpCode::Text | OpCode::Continuation => bytes.iter().map(|b| b & 0x7F).collect(),
            OpCode::Close if bytes.len() >= 2 => {
                let code = 1000 + u16::from(bytes[0] % 4);
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend(bytes[2..].iter().map(|b| b & 0x7F));
                payload.into()
            }
            OpCode::Close => Bytes::new(),
            _ => Bytes::copy_from_slice(bytes),
        };
        let frame = Frame::new(flags & 1 != 0, opcode, payload.clone());
        let before = self.sending.clone();
        let now = self.now;
        let ok = self.command(None, |c| c.send_frame(now, frame));
        if !ok || opcode.is_control() {
            return;
        }
        let (kind, mut data) = match (opcode, before) {
            (OpCode::Continuation, Some(started)) => started,
            (OpCode::Continuation, None) => panic!("a continuation was accepted without a message"),
            (_, Some(_)) => panic!("a new message was accepted inside a fragmented one"),
            (kind, None) => (kind, Vec::new()),
        };
        data.extend_from_slice(&payload);
        if flags & 1 != 0 {
            self.sending = None;
            self.sent.push(match kind {
                OpCode::Text => Message::text(String::from_utf8(data).expect("ASCII")),
                _ => Message::Binary(data.into()),
            });
        } else {
            self.sending = Some((kind, data));
        }
    }

    /// Runs a command and checks the contract of commands. `message` is the data message it
    /// sends, if any. Returns whether it succeeded.
    fn command(
        &mut self,
        message: Option<Message>,
        command: impl FnOnce(&mut Connection) -> Result<(), SendError>,
    ) -> bool {
        let state = self.conn.state();
        let before = self.conn.buffered_amount();
        let result = command(&mut self.conn);
        let after = self.conn.buffered_amount();
        match result {
            Ok(()) => {
                assert_eq!(state, State::Open, "a command succeeded in state {state:?}");
                let closing = self.conn.state() == State::Closing;
                // Starting the close handshake drops a pong held back for a peer that does
                // not read, which may be longer than the close frame.
                assert!(
                    after > before || closing,
                    "a command succeeded but queued nothing"
                );
                self.queued += after.saturating_sub(before);
                self.sent.extend(message);
                self.close_sent |= closing;
                true
            }
            Err(error) => {
                assert_eq!(after, before, "{error:?} but bytes were queued");
                match error {
                    SendError::Closed => {
                        assert_ne!(state, State::Open, "Closed while open");
                    }
                    SendError::ControlPayloadTooLong(_)
                    | SendError::InvalidCloseCode(_)
                    | SendError::FragmentedControlFrame
                    | SendError::UnexpectedContinuation
                    | SendError::FragmentedMessageInProgress => {}
                    other => panic!("undocumented error {other:?}"),
                }
                false
            }
        }
    }

    /// Moves up to `limit` bytes of output to the peer.
    fn write(&mut self, limit: usize) {
        let transmit = self.conn.poll_transmit();
        let take = transmit.remaining().min(limit);
        let bytes = transmit.copy_to_bytes(take);
        self.written.extend_from_slice(&bytes);
        self.peer.receive(self.now, &bytes);
        while let Some(event) = self.peer.poll_event(self.now) {
            match event {
                Event::Message(message @ (Message::Text(_) | Message::Binary(_))) => {
                    self.received.push(message);
                }
                Event::Message(_) => {}
                Event::Closed(info) => {
                    assert!(
                        !matches!(
                            info.error,
                            Some(ConnectionError::Protocol(_) | ConnectionError::Limit(_))
                        ),
                        "the peer failed on our output: {info:?}"
                    );
                    self.peer_closed = Some(info);
                }
                other => panic!("unexpected peer event {other:?}"),
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event(self.now) {
            assert!(self.closed.is_none(), "{event:?} after Closed");
            self.check_event(event);
        }
        let state = self.conn.state();
        assert_eq!(
            state == State::Closed,
            self.closed.is_some(),
            "state {state:?}"
        );
        if self.conn.transport_action() != TransportAction::Keep {
            assert_eq!(state, State::Closed, "transport action before Closed");
        }
        if state == State::Closing {
            assert!(self.close_sent, "closing without a close command");
        }
        if let Some(at) = self.conn.poll_timeout() {
            assert!(at >= self.now, "a timer in the past");
        }
    }

    fn check_event(&mut self, event: Event) {
        let config = self.conn.config().clone();
        match event {
            Event::Message(Message::Text(text)) => {
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
                assert!(
                    text.len() <= config.max_message_size,
                    "text of {}",
                    text.len()
                );
            }
            Event::Message(Message::Binary(data)) => {
                assert!(
                    data.len() <= config.max_message_size,
                    "binary of {}",
                    data.len()
                );
            }
            Event::Message(Message::Ping(data) | Message::Pong(data)) => {
                assert!(data.len() <= MAX_CONTROL_PAYLOAD);
            }
            Event::Frame(frame) => {
                assert!(self.frame_mode_used, "a frame event outside frame mode");
                assert!(
                    !(frame.rsv1 || frame.rsv2 || frame.rsv3),
                    "RSV bits delivered"
                );
                // A compressed frame is delivered inflated: `max_frame_size` bounds it on the
                // wire, `max_message_size` what it inflates to.
                let limit = if self.conn.negotiated().deflate.is_some() {
                    config.max_frame_size.max(config.max_message_size)
                } else {
                    config.max_frame_size
                };
                assert!(
                    frame.payload.len() <= limit,
                    "frame of {}",
                    frame.payload.len()
                );
                if frame.opcode.is_control() {
                    assert!(frame.fin && frame.payload.len() <= MAX_CONTROL_PAYLOAD);
                }
                if frame.opcode == OpCode::Close {
                    assert!(parse_close_payload(&frame.payload).is_ok());
                }
            }
            Event::Closed(info) => {
                self.check_closed(&info, &config);
                self.closed = Some(info);
            }
            other => panic!("undocumented event {other:?}"),
        }
    }

    fn check_closed(&self, info: &CloseInfo, config: &Config) {
        match &info.error {
            None => {
                assert!(info.was_clean);
                assert_ne!(info.code, CloseCode::ABNORMAL);
                assert!(info.code.is_sendable() || info.code == CloseCode::NO_STATUS);
            }
            Some(error) => {
                assert!(!info.was_clean && info.code == CloseCode::ABNORMAL);
                assert!(info.reason.is_empty());
                match error {
                    ConnectionError::Protocol(_) | ConnectionError::UnexpectedEof => {}
                    ConnectionError::Limit(LimitExceeded::FrameTooLarge { size, limit }) => {
                        assert!(*limit == config.max_frame_size && *size > *limit as u64);
                    }
                    ConnectionError::Limit(LimitExceeded::MessageTooLarge { size, limit }) => {
                        assert!(*limit == config.max_message_size && *size > *limit as u64);
                    }
                    ConnectionError::KeepaliveTimeout => assert!(config.ping_interval.is_some()),
                    ConnectionError::IdleTimeout => assert!(config.idle_timeout.is_some()),
                    ConnectionError::CloseTimeout => {
                        assert!(self.close_sent, "close timeout, no close")
                    }
                    other => panic!("undocumented error {other:?}"),
                }
            }
        }
    }

    fn check_output_bound(&self) {
        let buffered = self.conn.buffered_amount();
        assert!(
            buffered <= self.queued + MAX_OWN_OUTPUT,
            "{buffered} bytes buffered, {} of them queued by the application",
            self.queued
        );
    }

    /// Ends the run as a front-end would: events drained, then only time passes, and every
    /// byte is written. Then the whole output is checked.
    fn finish(mut self) {
        self.drain_events();
        self.tick();
        self.drain_events();
        for _ in 0..FINISH_STEPS {
            let Some(at) = self.conn.poll_timeout() else {
                break;
            };
            self.now = self.now.max(at);
            self.tick();
            self.drain_events();
        }
        let state = self.conn.state();
        assert_ne!(
            state,
            State::Closing,
            "time alone did not end the close handshake"
        );
        if state == State::Closed {
            assert_eq!(self.conn.transport_action(), TransportAction::Close);
        }
        assert_eq!(self.conn.poll_timeout(), None, "a timer is still armed");
        self.write(usize::MAX);
        assert_eq!(
            self.received, self.sent,
            "the peer received other messages than were sent"
        );
        self.check_written();
    }

    /// The output is a sequence of whole frames, ending at the first close frame, whose code
    /// tells why this end failed, if it did.
    fn check_written(&self) {
        let mut rest = &self.written[..];
        let mut close = None;
        while !rest.is_empty() {
            assert!(close.is_none(), "bytes after our close frame");
            let Ok(Decoded::Complete { value, len }) = decode_frame(rest) else {
                panic!("the output ends inside a frame");
            };
            if value.frame.opcode == OpCode::Close {
                close = Some(parse_close_payload(&value.frame.payload).expect("a valid close"));
            }
            rest = &rest[len..];
        }
        let failed_with = self.closed.as_ref().and_then(|info| info.error.as_ref());
        if let (Some(code), false) = (
            failed_with.and_then(ConnectionError::close_code),
            self.close_sent,
        ) {
            let sent = close.clone().flatten().map(|frame| frame.code);
            // Unless the peer's close frame was answered first, which ends without an error.
            assert_eq!(sent, Some(code), "failed with {failed_with:?}");
        }
        if self.peer_closed.is_some() {
            assert!(close.is_some());
        }
    }
}
