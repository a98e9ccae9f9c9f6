//! Extensions (RFC 6455 section 9): what a handshake agreed, and how a connection uses it.
//!
//! An extension is negotiated in the opening handshake through `Sec-WebSocket-Extensions`,
//! then changes the messages of the connection. In wsio the two halves are apart:
//!
//! - negotiation is a step of the handshake. The client offers what its [`Config`] enables
//!   ([`ClientHandshake::config`](crate::ClientHandshake::config)) and checks the answer, the
//!   server picks from the offers
//!   ([`UpgradeOffer::negotiate`](crate::UpgradeOffer::negotiate)); both end with a
//!   [`Negotiated`] record of the agreed parameters;
//! - [`Connection::with_extensions`](crate::Connection::with_extensions) turns that record into
//!   the extensions the connection runs; a handshake that ends in a connection
//!   ([`Accepted::connection`](crate::Accepted::connection),
//!   [`UpgradeOffer::accept_connection`](crate::UpgradeOffer::accept_connection)) does this
//!   itself. Each extension sits behind a small trait that transforms an outgoing and an
//!   incoming message, so the state machine knows no extension by name.
//!
//! permessage-deflate (RFC 7692, feature `deflate`) is the one extension wsio implements; see
//! the `deflate` module.

use std::fmt;

use bytes::Bytes;
use http::HeaderValue;

use crate::config::Config;
use crate::error::ConnectionError;
use crate::handshake::HandshakeError;
use crate::role::Role;

/// What the opening handshake agreed about extensions: which are in use, with which
/// parameters. Empty ([`Negotiated::default`]) when none are.
///
/// The client gets it in [`Accepted::negotiated`](crate::Accepted::negotiated), the server from
/// [`UpgradeOffer::negotiate`](crate::UpgradeOffer::negotiate); a connection runs what it holds
/// ([`Connection::with_extensions`](crate::Connection::with_extensions),
/// [`Connection::negotiated`](crate::Connection::negotiated)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// permessage-deflate's agreed parameters, if it is in use.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}

impl Negotiated {
    /// Whether no extension is in use.
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return false;
        }
        true
    }

    /// The `Sec-WebSocket-Extensions` value that tells the client what the server agreed to;
    /// `None` when no extension is in use. A server puts it in its `101` response.
    pub fn response_header(&self) -> Option<HeaderValue> {
        #[cfg(feature = "deflate")]
        if let Some(params) = &self.deflate {
            return Some(
                HeaderValue::try_from(params.to_string())
                    .expect("tokens and digits are a valid header value"),
            );
        }
        None
    }

    /// The extensions a connection runs for this agreement, in `role`.
    pub(crate) fn build(&self, role: Role, config: &Config) -> Option<Box<dyn Extension>> {
        #[cfg(feature = "deflate")]
        if let Some(params) = &self.deflate {
            let settings = config.deflate.clone().unwrap_or_default();
            return Some(Box::new(crate::deflate::Deflate::new(
                role, params, &settings,
            )));
        }
        let _ = (role, config);
        None
    }
}

/// The `Sec-WebSocket-Extensions` offer a client with `config` sends, if any.
pub(crate) fn client_offer(config: &Config) -> Option<String> {
    #[cfg(feature = "deflate")]
    if let Some(deflate) = &config.deflate {
        return Some(crate::deflate::client_offer(deflate));
    }
    let _ = config;
    None
}

/// Checks the server's `Sec-WebSocket-Extensions` answer against the offer made from `config`.
pub(crate) fn client_accept(
    config: &Config,
    answer: Option<&str>,
) -> Result<Negotiated, HandshakeError> {
    let Some(answer) = answer else {
        return Ok(Negotiated::default());
    };
    let items = parse(answer).map_err(|e| HandshakeError::UnacceptableExtensions(e.into()))?;
    // Only one extension is ever offered, so the only acceptable answer names it once.
    #[cfg(feature = "deflate")]
    if let (Some(deflate), [item]) = (&config.deflate, &items[..]) {
        if item.name == crate::deflate::NAME {
            return Ok(Negotiated {
                deflate: Some(crate::deflate::client_accept(deflate, item)?),
            });
        }
    }
    let _ = config;
    let names: Vec<&str> = items.iter().map(|item| item.name.as_str()).collect();
    Err(HandshakeError::UnacceptableExtensions(
        format!(
            "the server answered with `{}`, which is not what was offered",
            names.join(", ")
        )
        .into(),
    ))
}

/// Chooses, from the client's `Sec-WebSocket-Extensions` offers, what a server with `config`
/// agrees to.
pub(crate) fn server_negotiate(
    config: &Config,
    offers: Option<&str>,
) -> Result<Negotiated, HandshakeError> {
    #[cfg(feature = "deflate")]
    if let (Some(deflate), Some(offers)) = (&config.deflate, offers) {
        let items = parse(offers).map_err(|e| HandshakeError::MalformedExtensions(e.into()))?;
        let offers = items
            .iter()
            .filter(|item| item.name == crate::deflate::NAME);
        return Ok(Negotiated {
            deflate: crate::deflate::server_select(deflate, offers),
        });
    }
    let _ = (config, offers);
    Ok(Negotiated::default())
}

/// An extension in use on a connection: it transforms data messages on their way out and in.
///
/// The connection calls it only for text and binary messages. It owns the RSV1 bit: a message
/// it transformed goes out with that bit on its first frame, and an incoming message with the
/// bit on its first frame is handed to it frame by frame.
pub(crate) trait Extension: fmt::Debug + Send {
    /// Transforms a whole outgoing message payload. `None` sends it unchanged, without the
    /// RSV bit (for example a message below a size threshold).
    fn encode(&mut self, payload: &[u8]) -> Option<Bytes>;

    /// When this end transforms each outgoing message on its own, independently of the
    /// messages before it: what determines the result. Extensions with equal keys give equal
    /// bytes for equal payloads, so one encoding can go to all of them (a
    /// [`PreparedMessage`](crate::PreparedMessage)). `None` when a message's encoding depends
    /// on the connection's history (permessage-deflate with context takeover).
    fn encoding_key(&self) -> Option<EncodingKey>;

    /// Transforms a payload as [`encode`](Self::encode) would, without using or changing this
    /// connection's state. Only meaningful when [`encoding_key`](Self::encoding_key) is
    /// `Some`.
    fn encode_detached(&self, payload: &[u8]) -> Option<Bytes>;

    /// Transforms one frame of an incoming message that has the RSV bit; `fin` says it is the
    /// message's last frame. The result may hold at most `limit` bytes; more is
    /// [`LimitExceeded::MessageTooLarge`](crate::LimitExceeded::MessageTooLarge), reported
    /// before more than `limit + 1` bytes are held.
    fn decode(&mut self, payload: &[u8], fin: bool, limit: usize) -> Result<Bytes, DecodeError>;
}

/// What decides how an extension transforms a message on its own (see
/// [`Extension::encoding_key`]): for permessage-deflate, the compression level, the window and
/// the size threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodingKey {
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
    pub(crate) threshold: usize,
}

/// Why an extension could not decode a frame.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
pub(crate) enum DecodeError {
    /// The payload is not what the extension produces (for deflate: not a valid stream).
    Invalid,
    /// The decoded frame holds more than the limit; `size` is how much was decoded.
    TooLarge { size: usize },
}

impl DecodeError {
    /// The connection error, for a message of which `before` bytes were decoded earlier.
    pub(crate) fn into_error(self, before: usize, limit: usize) -> ConnectionError {
        match self {
            DecodeError::Invalid => crate::error::ProtocolError::InvalidCompressedData.into(),
            DecodeError::TooLarge { size } => crate::error::LimitExceeded::MessageTooLarge {
                size: (before + size) as u64,
                limit,
            }
            .into(),
        }
    }
}

/// One extension of a `Sec-WebSocket-Extensions` header: its name and parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 section 9.1):
///
/// ```text
/// extension-list = 1#extension
/// extension      = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// with optional whitespace around the separators and empty list elements skipped (RFC 9110
/// section 5.6.1). A quoted value must be a token once unquoted (section 9.1). Names are
/// returned as sent; extension and parameter names are compared exactly by callers, since
/// RFC 7692 defines them in lower case.
pub(crate) fn parse(value: &str) -> Result<Vec<Item>, String> {
    let mut cursor = Cursor {
        bytes: value.as_bytes(),
        at: 0,
    };
    let mut items = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.eat(b',') {
            continue;
        }
        if cursor.done() {
            break;
        }
        let name = cursor.token("an extension name")?;
        let mut params = Vec::new();
        loop {
            cursor.skip_whitespace();
            if !cursor.eat(b';') {
                break;
            }
            cursor.skip_whitespace();
            let param = cursor.token("a parameter name")?;
            cursor.skip_whitespace();
            let value = if cursor.eat(b'=') {
                cursor.skip_whitespace();
                Some(cursor.value()?)
            } else {
                None
            };
            params.push((param, value));
        }
        items.push(Item { name, params });
        cursor.skip_whitespace();
        if !cursor.done() && !cursor.eat(b',') {
            return Err(format!("unexpected character at byte {}", cursor.at));
        }
    }
    if items.is_empty() {
        return Err("no extension named".into());
    }
    Ok(items)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += found as usize;
        found
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn token(&mut self, what: &str) -> Result<String, String> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        if self.at == start {
            return Err(format!("expected {what} at byte {start}"));
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    /// A parameter value: a token, or a quoted string whose content is a token.
    fn value(&mut self) -> Result<String, String> {
        if !self.eat(b'"') {
            return self.token("a parameter value");
        }
        let start = self.at;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated quoted string at byte {start}")),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    let Some(escaped) = self.peek() else { continue };
                    value.push(escaped);
                    self.at += 1;
                }
                Some(byte) => {
                    value.push(byte);
                    self.at += 1;
                }
            }
        }
        if value.is_empty() || !value.iter().copied().all(is_tchar) {
            return Err(format!("quoted value at byte {start} is not a token"));
        }
        Ok(String::from_utf8_lossy(&value).into_owned())
    }
}

/// A character of an HTTP token (RFC 9110 section 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, params: &[(&str, Option<&str>)]) -> Item {
        Item {
            name: name.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn parses_lists_of_extensions_with_parameters() {
        let parsed = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10 ,, \
             permessage-deflate;client_no_context_takeover,x-foo; a=\"12\" ;b",
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                item(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", None),
                        ("server_max_window_bits", Some("10"))
                    ]
                ),
                item(
                    "permessage-deflate",
                    &[("client_no_context_takeover", None)]
                ),
                item("x-foo", &[("a", Some("12")), ("b", None)]),
            ]
        );
        assert_eq!(
            parse("a; b = \"c\\d\"").unwrap(),
            [item("a", &[("b", Some("cd"))])]
        );
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        for bad in [
            "",
            " , ",
            "; a",
            "a;",
            "a; =1",
            "a; b=",
            "a; b=\"\"",
            "a; b=\"1 2\"",
            "a; b=\"1",
            "a b",
            "a; b c",
            "a; b=1=2",
            "a/b",
            "a; b=(1)",
            "é",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
