//! Which written messages the server has confirmed, and when to ask it with a ping.
//!
//! A message written to a connection counts as delivered once the server answers a ping
//! written after it: the server's WebSocket endpoint read the frames in order, so it read the
//! message before the ping (RFC 6455 section 5.5.3 requires the pong).
//!
//! One confirmation ping is outstanding at a time: messages written while it is unanswered
//! wait for the next one, sent when its answer comes. A server may answer only the latest of
//! several pings (section 5.5.3 allows it), so a pong that answers none of the confirmation
//! pings (a keepalive's, an application's, or an unsolicited one) while one is outstanding
//! means that it may have been passed over: a fresh one is sent. Answers to earlier
//! confirmation pings confirm what they cover and never ask for another ping, so at most one
//! confirmation ping is sent per pong received (plus the first, and one before a close).
//!
//! The payload is `wsio-ack:`, a random token of this client and a sequence number (both
//! 8 bytes, big-endian), so that no application ping can pass for one.

use std::collections::VecDeque;

use bytes::Bytes;
use wsio_proto::Message;

/// The start of the payload of a confirmation ping.
const PREFIX: &[u8] = b"wsio-ack:";

pub(super) struct Confirmations {
    token: [u8; 8],
    /// Messages written and not yet confirmed, oldest first, each with the sequence number
    /// of the first confirmation ping written after it (or to be).
    in_flight: VecDeque<(u64, Message)>,
    /// The sequence number of the next confirmation ping.
    next: u64,
    /// The confirmation ping whose answer is awaited.
    outstanding: Option<u64>,
    /// A pong came that answers no confirmation ping while one was outstanding.
    passed_over: bool,
}

impl Confirmations {
    pub(super) fn new() -> Self {
        let mut token = [0; 8];
        // Without the operating system's random source the handshake, which needs it for its
        // key, fails first; a zero token would still confirm correctly.
        let _ = getrandom::fill(&mut token);
        Confirmations {
            token,
            in_flight: VecDeque::new(),
            next: 0,
            outstanding: None,
            passed_over: false,
        }
    }

    /// Records a message just written to the connection.
    pub(super) fn written(&mut self, message: Message) {
        self.in_flight.push_back((self.next, message));
    }

    /// Whether a written message waits for a confirmation ping not yet sent.
    pub(super) fn uncovered(&self) -> bool {
        self.in_flight
            .back()
            .is_some_and(|(seq, _)| *seq == self.next)
    }

    /// Whether to send a confirmation ping now: messages wait for one and none is
    /// outstanding, or the outstanding one may have been passed over, or the connection is
    /// about to be closed (the close frame must follow a ping that covers everything).
    pub(super) fn ping_due(&self, closing: bool) -> bool {
        (self.uncovered() && (self.outstanding.is_none() || closing))
            || (self.passed_over && !self.in_flight.is_empty())
    }

    /// The payload of the next confirmation ping, which is now the outstanding one.
    pub(super) fn ping(&mut self) -> Bytes {
        let seq = self.next;
        self.next += 1;
        self.outstanding = Some(seq);
        self.passed_over = false;
        let mut payload = Vec::with_capacity(PREFIX.len() + 16);
        payload.extend_from_slice(PREFIX);
        payload.extend_from_slice(&self.token);
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.into()
    }

    /// Handles a pong: `Some(confirmed)` with how many messages it confirmed if it answers a
    /// confirmation ping, `None` if it is someone else's.
    pub(super) fn pong(&mut self, payload: &[u8]) -> Option<usize> {
        let Some(seq) = self.answered(payload) else {
            if self.outstanding.is_some() {
                self.passed_over = true;
            }
            return None;
        };
        let before = self.in_flight.len();
        while self.in_flight.front().is_some_and(|(s, _)| *s <= seq) {
            self.in_flight.pop_front();
        }
        if self
            .outstanding
            .is_some_and(|outstanding| outstanding <= seq)
        {
            self.outstanding = None;
            self.passed_over = false;
        }
        Some(before - self.in_flight.len())
    }

    /// The sequence number of the confirmation ping this payload answers, if any.
    fn answered(&self, payload: &[u8]) -> Option<u64> {
        let rest = payload
            .strip_prefix(PREFIX)?
            .strip_prefix(&self.token[..])?;
        let seq = u64::from_be_bytes(rest.try_into().ok()?);
        (seq < self.next).then_some(seq)
    }

    /// The connection ended: takes every unconfirmed message, oldest first. Pings of the
    /// next connection start afresh.
    pub(super) fn take(&mut self) -> Vec<Message> {
        self.outstanding = None;
        self.passed_over = false;
        self.in_flight
            .drain(..)
            .map(|(_, message)| message)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(confirmations: &mut Confirmations, text: &str) {
        confirmations.written(Message::text(text.to_owned()));
    }

    #[test]
    fn one_ping_is_outstanding_at_a_time() {
        let mut c = Confirmations::new();
        write(&mut c, "a");
        assert!(c.ping_due(false));
        let first = c.ping();
        write(&mut c, "b");
        assert!(!c.ping_due(false), "the first is unanswered");
        assert!(c.ping_due(true), "but a close must follow a ping");
        assert_eq!(c.pong(&first), Some(1));
        assert!(c.ping_due(false), "b waits for the next");
        let second = c.ping();
        assert_eq!(c.pong(&second), Some(1));
        assert_eq!(c.in_flight.len(), 0);
        assert!(!c.ping_due(false));
    }

    #[test]
    fn a_passed_over_ping_is_sent_again_and_stale_answers_ask_for_nothing() {
        let mut c = Confirmations::new();
        write(&mut c, "a");
        let first = c.ping();
        // The server answered a later keepalive ping instead.
        assert_eq!(c.pong(b"keepalive"), None);
        assert!(c.ping_due(false));
        let second = c.ping();
        assert!(!c.ping_due(false));
        // The first was answered after all: it confirms, and asks for no further ping.
        assert_eq!(c.pong(&first), Some(1));
        assert!(!c.ping_due(false));
        assert_eq!(c.pong(&second), Some(0));
        assert!(!c.ping_due(false));
    }

    #[test]
    fn a_pong_asks_for_nothing_when_nothing_waits() {
        let mut c = Confirmations::new();
        assert_eq!(c.pong(b"hello"), None);
        write(&mut c, "a");
        let ping = c.ping();
        assert_eq!(c.pong(&ping), Some(1));
        assert_eq!(c.pong(b"hello"), None);
        assert!(!c.ping_due(false) && !c.ping_due(true));
    }

    #[test]
    fn only_this_clients_pings_confirm() {
        let mut c = Confirmations::new();
        write(&mut c, "a");
        let ping = c.ping();
        let mut forged = ping.to_vec();
        forged[PREFIX.len()] ^= 1;
        assert_eq!(c.pong(&forged), None);
        // A sequence number not yet sent.
        let mut ahead = ping.to_vec();
        let last = ahead.len() - 1;
        ahead[last] += 1;
        assert_eq!(c.pong(&ahead), None);
        assert_eq!(c.pong(&[PREFIX, &0u64.to_be_bytes()].concat()), None);
        assert_eq!(c.in_flight.len(), 1);
        assert_eq!(c.pong(&ping), Some(1));
    }

    #[test]
    fn take_hands_back_in_order_and_starts_afresh() {
        let mut c = Confirmations::new();
        write(&mut c, "a");
        let _ = c.ping();
        write(&mut c, "b");
        assert_eq!(c.take(), [Message::text("a"), Message::text("b")]);
        write(&mut c, "c");
        assert!(c.ping_due(false));
    }
}
