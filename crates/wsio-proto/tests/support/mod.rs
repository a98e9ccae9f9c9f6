//! Test harness: a client and a server state machine joined in memory, with a manual clock.
//!
//! The harness plays the part of the I/O layer and of TCP: it moves bytes between the two ends
//! in chunks of a chosen size, honours each end's transport action (a shutdown or close becomes
//! the other end's EOF once the bytes before it are delivered), and keeps a clock, `Pair::now`,
//! that only moves when a test says so. Bytes are received and decoded at the clock's time of
//! delivery; `handle_timeout` is called when the clock moves.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use bytes::Buf;
use wsio_proto::handshake::encode_response_head;
use wsio_proto::{
    ClientHandshake, CloseInfo, Config, Connection, Decoded, DecodedFrame, Event, Frame, Role,
    ServerHandshake, TransportAction, decode_frame, encode_frame,
};

/// One end as the harness sees it.
pub struct End {
    pub conn: Connection,
    pub events: Vec<Event>,
    /// Whether this end has stopped writing (FIN sent or transport closed).
    pub write_closed: bool,
    /// Whether this end dropped its transport.
    pub dropped: bool,
}

impl End {
    fn new(role: Role, config: Config) -> Self {
        Self::with(Connection::new(role, config))
    }

    fn with(conn: Connection) -> Self {
        End {
            conn,
            events: Vec::new(),
            write_closed: false,
            dropped: false,
        }
    }

    /// Takes the events collected so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The `Closed` event, if one was collected.
    pub fn closed(&self) -> Option<&CloseInfo> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(info) => Some(info),
            _ => None,
        })
    }

    /// Drains this end's transmit buffer.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.conn.poll_transmit();
        out.copy_to_bytes(out.remaining()).to_vec()
    }

    /// Decodes what this end has received, at `now`, and collects the events.
    fn collect_events(&mut self, now: Instant) {
        while let Some(event) = self.conn.poll_event(now) {
            self.events.push(event);
        }
    }
}

pub struct Pair {
    pub client: End,
    pub server: End,
    pub now: Instant,
    /// Bytes moved per `receive` call.
    pub chunk: usize,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_configs(Config::default(), Config::default())
    }

    pub fn with_configs(client: Config, server: Config) -> Self {
        let mut pair = Pair {
            client: End::new(Role::Client, client),
            server: End::new(Role::Server, server),
            now: Instant::now(),
            chunk: usize::MAX,
        };
        pair.tick();
        pair
    }

    /// A pair whose opening handshake ran for real: the client offered the extensions its
    /// config turns on, and the server agreed to what its config allows.
    pub fn handshake(client: Config, server: Config) -> Self {
        let mut handshake =
            ClientHandshake::new(&"ws://localhost/".parse().unwrap()).config(client);
        let incoming = ServerHandshake::new()
            .receive(&handshake.encode_request())
            .unwrap()
            .unwrap();
        let offer = incoming.validate().unwrap();
        let (response, server) = offer
            .accept_connection(None, server, &incoming.leftover)
            .unwrap();
        let accepted = handshake
            .receive(&encode_response_head(&response))
            .unwrap()
            .unwrap();
        assert_eq!(&accepted.negotiated, server.negotiated());
        assert_eq!(accepted.connection.negotiated(), server.negotiated());
        let mut pair = Pair {
            client: End::with(accepted.connection),
            server: End::with(server),
            now: Instant::now(),
            chunk: usize::MAX,
        };
        pair.tick();
        pair
    }

    /// Calls `handle_timeout` on both ends with the current clock.
    pub fn tick(&mut self) {
        self.client.conn.handle_timeout(self.now);
        self.server.conn.handle_timeout(self.now);
    }

    /// Moves the clock forward and lets both ends act on it, then drives them.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.tick();
        self.drive();
    }

    /// Moves bytes until neither end has anything more to say.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let moved = Self::transfer(&mut self.client, &mut self.server, self.chunk, self.now)
                | Self::transfer(&mut self.server, &mut self.client, self.chunk, self.now);
            self.client.collect_events(self.now);
            self.server.collect_events(self.now);
            if !moved {
                return;
            }
        }
        panic!("the pair did not settle");
    }

    /// Moves what `from` has written to `to`; returns whether anything happened.
    fn transfer(from: &mut End, to: &mut End, chunk: usize, now: Instant) -> bool {
        let mut moved = false;
        if from.dropped {
            return false;
        }
        let data = from.take_output();
        if !data.is_empty() && !from.write_closed {
            moved = true;
            if !to.dropped {
                for piece in data.chunks(chunk.max(1)) {
                    to.conn.receive(now, piece);
                    to.collect_events(now);
                }
            }
        }
        let action = from.conn.transport_action();
        if action != TransportAction::Keep && !from.write_closed {
            from.write_closed = true;
            moved = true;
            if !to.dropped {
                to.conn.receive_eof();
                to.collect_events(now);
            }
        }
        if action == TransportAction::Close && !from.dropped {
            from.dropped = true;
            moved = true;
        }
        moved
    }
}

/// Decodes every frame in `wire`, which must hold whole frames.
pub fn decode_all(mut wire: &[u8]) -> Vec<DecodedFrame> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        match decode_frame(wire).expect("valid frames") {
            Decoded::Complete { value, len } => {
                frames.push(value);
                wire = &wire[len..];
            }
            Decoded::Incomplete { .. } => panic!("partial frame in output"),
        }
    }
    frames
}

/// Encodes frames as a client would send them (masked).
pub fn client_wire(frames: &[Frame]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|f| encode_frame(f, Some([1, 2, 3, 4])).to_vec())
        .collect()
}

/// Encodes frames as a server would send them (unmasked).
pub fn server_wire(frames: &[Frame]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|f| encode_frame(f, None).to_vec())
        .collect()
}

/// The close code in the last close frame of `wire`, if there is one.
pub fn close_code_in(wire: &[u8]) -> Option<u16> {
    decode_all(wire)
        .into_iter()
        .filter(|f| f.frame.opcode == wsio_proto::OpCode::Close)
        .last()
        .map(|f| u16::from_be_bytes([f.frame.payload[0], f.frame.payload[1]]))
}
