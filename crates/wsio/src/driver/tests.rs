//! The driver's rules, each tested once without a transport: an in-memory transport that a
//! test fills and breaks at will, and a clock that moves only when a test says so. Each
//! front-end has end-to-end tests of its own; these say which rule is the driver's.

use std::time::Duration;

use bytes::Bytes;
use wsio_proto::{CloseCode, Decoded, decode_frame, encode_close_payload, encode_frame};

use super::*;

/// How the in-memory transport behaves once what it holds has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Nothing more yet: a read waits.
    Wait,
    /// The peer closed its writing side.
    Eof,
    /// The peer reset the connection.
    Reset,
}

/// What the front-end did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Wrote(usize),
    WriteBlocked,
    WriteFailed,
    Shutdown,
    Read(usize),
}

/// Where a run of [`Harness::next`] stopped.
#[derive(Debug)]
enum Outcome {
    Item(Result<Incoming, Error>),
    TimedOut,
    End,
    /// A read waits for data until this instant.
    Waits(Option<Instant>),
}

/// A front-end over an in-memory transport, executing what the driver decides.
struct Harness {
    driver: Driver,
    role: Role,
    now: Instant,
    inbound: Vec<u8>,
    then: Then,
    /// How many more bytes the transport takes; `None` for all.
    room: Option<usize>,
    writes_fail: bool,
    written: Vec<u8>,
    log: Vec<Step>,
    /// The `until` of each write action.
    write_untils: Vec<Option<Instant>>,
}

impl Harness {
    fn new(role: Role) -> Self {
        Self::with(role, wsio_proto::Config::default())
    }

    fn with(role: Role, protocol: wsio_proto::Config) -> Self {
        let now = Instant::now();
        let config = Config::default().protocol(protocol);
        Harness {
            driver: Driver::start(role, &config, &[], &Negotiated::default(), now),
            role,
            now,
            inbound: Vec::new(),
            then: Then::Wait,
            room: None,
            writes_fail: false,
            written: Vec::new(),
            log: Vec::new(),
            write_untils: Vec::new(),
        }
    }

    /// Makes `frame` arrive from the peer (masked when the peer is a client).
    fn arrive(&mut self, frame: Frame) {
        let mask = (self.role == Role::Server).then_some([7, 1, 2, 3]);
        self.inbound.extend_from_slice(&encode_frame(&frame, mask));
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Runs the loop as a front-end does, until it delivers, times out, ends, or must wait.
    fn next(&mut self) -> Outcome {
        for _ in 0..1000 {
            match self.driver.poll() {
                Action::Deliver(item) => return Outcome::Item(item),
                Action::TimedOut => return Outcome::TimedOut,
                Action::End => return Outcome::End,
                Action::Write { until } => {
                    self.write_untils.push(until);
                    let result = self.write();
                    self.driver.handle_write(self.now, result);
                }
                Action::ShutdownWrite => {
                    self.log.push(Step::Shutdown);
                    self.driver.handle_shutdown(true);
                }
                Action::Read { until } => {
                    let result = if !self.inbound.is_empty() {
                        let inbound = &mut self.inbound;
                        let n = self.driver.read_with(self.now, |input| {
                            let n = inbound.len().min(input.capacity() - input.len());
                            input.extend_from_slice(&inbound[..n]);
                            inbound.drain(..n);
                            n
                        });
                        self.log.push(Step::Read(n));
                        ReadResult::Appended(n)
                    } else {
                        match self.then {
                            Then::Eof => ReadResult::Appended(0),
                            Then::Reset => {
                                ReadResult::Failed(io::ErrorKind::ConnectionReset.into())
                            }
                            // Waiting until an instant already passed: it has passed.
                            Then::Wait if until.is_some_and(|until| until <= self.now) => {
                                ReadResult::TimedOut
                            }
                            Then::Wait => return Outcome::Waits(until),
                        }
                    };
                    self.driver.handle_read(self.now, result);
                }
            }
        }
        panic!("the driver did not settle");
    }

    fn write(&mut self) -> WriteResult {
        if self.writes_fail {
            self.log.push(Step::WriteFailed);
            return WriteResult::Failed(io::ErrorKind::BrokenPipe.into());
        }
        loop {
            let out = self.driver.output();
            if !out.has_remaining() {
                return WriteResult::Done;
            }
            let n = out.remaining().min(self.room.unwrap_or(usize::MAX));
            if n == 0 {
                self.log.push(Step::WriteBlocked);
                return WriteResult::Blocked;
            }
            let bytes = out.copy_to_bytes(n);
            self.written.extend_from_slice(&bytes);
            if let Some(room) = &mut self.room {
                *room -= n;
            }
            self.log.push(Step::Wrote(n));
        }
    }

    /// The frames written so far, decoded.
    fn written_frames(&self) -> Vec<Frame> {
        let mut wire = &self.written[..];
        let mut frames = Vec::new();
        while !wire.is_empty() {
            match decode_frame(wire).expect("valid frames") {
                Decoded::Complete { value, len } => {
                    frames.push(value.frame);
                    wire = &wire[len..];
                }
                Decoded::Incomplete { .. } => panic!("a partial frame was written"),
            }
        }
        frames
    }

    fn send(&mut self, message: Message) -> Result<bool, Error> {
        let now = self.now;
        self.driver.send(message, true, || now)
    }
}

fn text(text: &'static str) -> Frame {
    Frame::new(true, OpCode::Text, text)
}

fn close(code: CloseCode, reason: &str) -> Frame {
    Frame::new(
        true,
        OpCode::Close,
        encode_close_payload(code, reason).unwrap(),
    )
}

#[track_caller]
fn assert_text(outcome: Outcome, expected: &str) {
    match outcome {
        Outcome::Item(Ok(Incoming::Message(Message::Text(text)))) => assert_eq!(text, expected),
        other => panic!("expected the text {expected:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_closed(outcome: Outcome, code: CloseCode) {
    match outcome {
        Outcome::Item(Ok(Incoming::Closed(Some(frame)))) => assert_eq!(frame.code, code),
        other => panic!("expected the peer's close {code}, got {other:?}"),
    }
}

#[track_caller]
fn assert_io(outcome: Outcome, kind: io::ErrorKind) {
    match outcome {
        Outcome::Item(Err(Error::Io(error))) => assert_eq!(error.kind(), kind),
        other => panic!("expected an I/O error {kind:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_end(outcome: Outcome) {
    assert!(
        matches!(outcome, Outcome::End),
        "expected the end, got {outcome:?}"
    );
}

// ----- Everything received is delivered before the error that ended the transport -----

#[test]
fn a_reset_after_the_peers_close_ends_the_connection_as_that_close() {
    let mut h = Harness::new(Role::Client);
    h.arrive(text("last words"));
    h.arrive(close(CloseCode::NORMAL, "bye"));
    h.then = Then::Reset;
    assert_text(h.next(), "last words");
    assert_closed(h.next(), CloseCode::NORMAL);
    assert_end(h.next());
    let info = h.driver.close_info().unwrap();
    assert!(info.was_clean);
    assert_eq!(info.code, CloseCode::NORMAL);
    // The close was answered before it was delivered.
    assert_eq!(h.written_frames()[0].opcode, OpCode::Close);
}

#[test]
fn a_failed_answer_is_reported_after_the_messages_that_came_before_it() {
    // A ping whose pong cannot be written, then a text and a close, all in one read.
    let mut h = Harness::new(Role::Client);
    h.arrive(Frame::new(true, OpCode::Ping, "p"));
    h.arrive(text("after the ping"));
    h.arrive(close(CloseCode::NORMAL, ""));
    h.then = Then::Reset;
    h.writes_fail = true;
    assert!(matches!(
        h.next(),
        Outcome::Item(Ok(Incoming::Message(Message::Ping(_))))
    ));
    assert_text(h.next(), "after the ping");
    assert_closed(h.next(), CloseCode::NORMAL);
    assert_end(h.next());
}

#[test]
fn a_reset_before_the_close_handshake_is_reported_after_the_messages() {
    let mut h = Harness::new(Role::Server);
    h.arrive(text("one"));
    h.arrive(text("two"));
    h.then = Then::Reset;
    assert_text(h.next(), "one");
    assert_text(h.next(), "two");
    assert_io(h.next(), io::ErrorKind::ConnectionReset);
    assert_end(h.next());
    assert_eq!(h.driver.close_info().unwrap().code, CloseCode::ABNORMAL);
}

#[test]
fn a_transport_error_is_reported_once_then_the_stream_ends() {
    let mut h = Harness::new(Role::Client);
    h.then = Then::Reset;
    assert_io(h.next(), io::ErrorKind::ConnectionReset);
    for _ in 0..3 {
        assert_end(h.next());
    }
    assert!(matches!(h.send(Message::text("late")), Err(Error::Closed)));
}

#[test]
fn a_failed_write_still_reads_what_had_arrived() {
    // The application's send fails (the peer reset after its last words): its sender hears
    // of it, and the reader still gets what the peer sent before.
    let mut h = Harness::new(Role::Server);
    h.send(Message::text("to a peer that left")).unwrap();
    let sent = h
        .driver
        .handle_send_write(h.now, Err(io::ErrorKind::ConnectionReset.into()));
    assert!(matches!(sent, Err(Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset));
    assert!(matches!(h.send(Message::text("again")), Err(Error::Io(_))));
    h.arrive(text("last words"));
    h.arrive(close(CloseCode::NORMAL, "bye"));
    h.then = Then::Reset;
    assert_text(h.next(), "last words");
    assert_closed(h.next(), CloseCode::NORMAL);
    assert_end(h.next());
    assert!(h.log.iter().all(|step| !matches!(step, Step::Wrote(_))));
}

#[test]
fn after_a_failed_write_reading_waits_at_most_the_close_timeout() {
    let close_timeout = wsio_proto::Config::default().close_timeout;
    let mut h = Harness::new(Role::Server);
    h.send(Message::text("to a peer that left")).unwrap();
    h.writes_fail = true;
    let start = h.now;
    assert!(matches!(h.next(), Outcome::Waits(Some(until)) if until == start + close_timeout));
    h.advance(close_timeout);
    assert_io(h.next(), io::ErrorKind::BrokenPipe);
    assert_end(h.next());
}

// ----- Answers go out before the item; the application's writes are corked -----

#[test]
fn the_answers_to_one_read_go_out_in_one_write() {
    let mut h = Harness::new(Role::Server);
    h.arrive(text("a"));
    h.arrive(text("b"));
    assert_text(h.next(), "a");
    h.send(Message::text("echo a")).unwrap();
    assert_text(h.next(), "b");
    assert_eq!(
        h.written, b"",
        "an echo went out before the read was decoded"
    );
    h.send(Message::text("echo b")).unwrap();
    assert!(matches!(h.next(), Outcome::Waits(None)));
    let writes = h.log.iter().filter(|s| matches!(s, Step::Wrote(_))).count();
    assert_eq!(writes, 1);
    let payloads: Vec<_> = h.written_frames().into_iter().map(|f| f.payload).collect();
    assert_eq!(payloads, ["echo a", "echo b"]);
}

#[test]
fn what_the_core_queues_is_written_before_the_item_is_delivered() {
    let mut h = Harness::new(Role::Server);
    h.arrive(Frame::new(true, OpCode::Ping, "p"));
    assert!(matches!(
        h.next(),
        Outcome::Item(Ok(Incoming::Message(Message::Ping(_))))
    ));
    assert_eq!(h.written_frames()[0].opcode, OpCode::Pong);
}

#[test]
fn a_pong_held_back_is_written_once_the_output_drains() {
    // More than 64 KiB waits to be written, so the core holds the pong back; once the
    // transport takes the rest, the pong follows, asked for anew after each write.
    let mut h = Harness::new(Role::Client);
    h.room = Some(0);
    h.send(Message::binary(Bytes::from(vec![0; 100 << 10])))
        .unwrap();
    h.arrive(Frame::new(true, OpCode::Ping, "held"));
    assert!(matches!(
        h.next(),
        Outcome::Item(Ok(Incoming::Message(Message::Ping(_))))
    ));
    assert!(matches!(h.next(), Outcome::Waits(None)));
    h.room = None;
    h.driver.resume(None);
    assert!(matches!(h.next(), Outcome::Waits(None)));
    let frames = h.written_frames();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].opcode, OpCode::Pong);
    assert_eq!(frames[1].payload, "held");
}

// ----- Time -----

#[test]
fn a_command_starts_its_timer_at_the_time_it_is_made() {
    // Idle for an hour, then closing: the close timer counts from the close, not from the
    // last time the connection was read.
    let close_timeout = wsio_proto::Config::default().close_timeout;
    let mut h = Harness::new(Role::Client);
    assert!(matches!(h.next(), Outcome::Waits(None)));
    h.advance(Duration::from_secs(3600));
    let moved = h
        .send(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))))
        .unwrap();
    assert!(
        moved,
        "a close moves the deadline, so a sleeping reader must be woken"
    );
    assert!(!h.send(Message::text("no")).is_ok_and(|moved| moved));
    assert!(matches!(h.next(), Outcome::Waits(Some(until)) if until == h.now + close_timeout));
}

#[test]
fn the_close_timer_ends_a_peer_that_never_answers() {
    let close_timeout = wsio_proto::Config::default().close_timeout;
    let mut h = Harness::new(Role::Client);
    assert!(h.driver.close_unless_closing(h.now, CloseCode::NORMAL, ""));
    assert!(!h.driver.close_unless_closing(h.now, CloseCode::NORMAL, ""));
    assert!(matches!(h.next(), Outcome::Waits(Some(_))));
    h.advance(close_timeout);
    assert!(matches!(
        h.next(),
        Outcome::Item(Err(Error::Connection(ConnectionError::CloseTimeout)))
    ));
    assert_end(h.next());
}

#[test]
fn input_is_decoded_at_the_time_it_was_read() {
    // The keepalive interval restarts from the read that brought the message, and the read
    // then waits no later than the next ping.
    let interval = Duration::from_secs(5);
    let mut h = Harness::with(
        Role::Client,
        wsio_proto::Config::default().ping_interval(Some(interval)),
    );
    h.advance(Duration::from_secs(3));
    h.arrive(text("alive"));
    assert_text(h.next(), "alive");
    assert!(matches!(h.next(), Outcome::Waits(Some(until)) if until == h.now + interval));
    h.advance(interval);
    assert!(matches!(h.next(), Outcome::Waits(Some(_))));
    assert_eq!(h.written_frames()[0].opcode, OpCode::Ping);
}

// ----- The caller's deadline -----

#[test]
fn a_zero_deadline_still_reads_what_is_there() {
    let mut h = Harness::new(Role::Client);
    h.arrive(text("ready"));
    h.driver.resume(Some(h.now));
    assert_text(h.next(), "ready");
    h.driver.resume(Some(h.now));
    assert!(matches!(h.next(), Outcome::TimedOut));
    // A timeout loses nothing and leaves the connection usable.
    h.arrive(text("later"));
    h.driver.resume(Some(h.now));
    assert_text(h.next(), "later");
}

#[test]
fn a_write_while_receiving_waits_no_later_than_the_deadline() {
    let mut h = Harness::new(Role::Client);
    h.room = Some(0);
    h.send(Message::text("to a peer that does not read"))
        .unwrap();
    let deadline = h.now + Duration::from_secs(1);
    h.driver.resume(Some(deadline));
    assert!(matches!(h.next(), Outcome::Waits(Some(until)) if until == deadline));
    assert_eq!(h.write_untils, [Some(deadline)]);
    h.advance(Duration::from_secs(1));
    assert!(matches!(h.next(), Outcome::TimedOut));
}

#[test]
fn a_send_that_times_out_keeps_the_connection() {
    let mut h = Harness::new(Role::Client);
    h.send(Message::text("slow")).unwrap();
    let sent = h
        .driver
        .handle_send_write(h.now, Err(io::ErrorKind::WouldBlock.into()));
    assert!(matches!(sent, Err(Error::Timeout(Phase::Write))));
    h.send(Message::text("next")).unwrap();
    assert!(matches!(h.next(), Outcome::Waits(None)));
    let payloads: Vec<_> = h.written_frames().into_iter().map(|f| f.payload).collect();
    assert_eq!(payloads, ["slow", "next"]);
}

// ----- The transport's end -----

#[test]
fn the_writing_side_is_shut_down_only_after_the_output_is_flushed() {
    let mut h = Harness::new(Role::Server);
    h.room = Some(0);
    h.arrive(close(CloseCode::NORMAL, ""));
    assert_closed(h.next(), CloseCode::NORMAL);
    assert!(matches!(h.next(), Outcome::Waits(Some(_))));
    assert!(!h.log.contains(&Step::Shutdown));
    h.room = None;
    h.driver.resume(None);
    h.then = Then::Eof;
    assert_end(h.next());
    let shutdown = h.log.iter().position(|s| *s == Step::Shutdown).unwrap();
    assert!(matches!(h.log[shutdown - 1], Step::Wrote(_)));
    assert!(h.driver.close_info().unwrap().was_clean);
}

#[test]
fn an_end_of_file_without_a_close_is_the_cores_error() {
    let mut h = Harness::new(Role::Client);
    h.arrive(text("last"));
    h.then = Then::Eof;
    assert_text(h.next(), "last");
    assert!(matches!(
        h.next(),
        Outcome::Item(Err(Error::Connection(ConnectionError::UnexpectedEof)))
    ));
    assert_end(h.next());
}
