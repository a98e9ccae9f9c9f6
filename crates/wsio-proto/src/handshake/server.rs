//! The server's side of the opening handshake (RFC 6455 section 4.2).

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};

use super::head::{HeadBuffer, parse_request};
use super::headers::{first_value, has_token, joined, list_strings};
use super::key::is_valid_key;
use super::{DEFAULT_MAX_HEAD_SIZE, HandshakeError, accept_key, start_connection};
use crate::config::Config;
use crate::connection::Connection;
use crate::extension::{self, Negotiated};
use crate::frame::Decoded;
use crate::role::Role;

/// Reads a client's handshake request as it arrives.
///
/// [`receive`](Self::receive) buffers bytes until the request head is complete, then returns
/// the parsed request. Whether it is a valid WebSocket handshake is a separate question,
/// answered by [`IncomingRequest::validate`], so that a server can also serve plain HTTP
/// requests on the same port. [`UpgradeOffer::accept_connection`] then answers a valid one
/// with the `101` response and the server's [`Connection`].
///
/// ```
/// use wsio_proto::handshake::{
///     ServerHandshake, encode_response, encode_response_head, select_subprotocol,
/// };
/// use wsio_proto::{Config, Event, Message};
///
/// let mut handshake = ServerHandshake::new();
/// let mut wire = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"
///     .to_vec();
/// // A client that did not wait for the answer: a masked "Hello" (RFC 6455 section 5.7).
/// wire.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
/// let incoming = match handshake.receive(&wire) {
///     Ok(Some(incoming)) => incoming,
///     Ok(None) => return Ok(()), // read more, then call `receive` again
///     Err(error) => {
///         let _answer = encode_response(&error.response()); // write it, then close
///         return Ok(());
///     }
/// };
/// let offer = match incoming.validate() {
///     Ok(offer) => offer,
///     Err(error) => {
///         let _answer = encode_response(&error.response()); // write it, then close
///         return Ok(());
///     }
/// };
/// let subprotocol = select_subprotocol(&offer.subprotocols, &["superchat"]);
/// let (response, mut conn) =
///     offer.accept_connection(subprotocol, Config::default(), &incoming.leftover)?;
/// let answer = encode_response_head(&response);
/// assert!(answer.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// // Write `answer`, then drive `conn`: it already holds what followed the request.
/// let now = std::time::Instant::now();
/// assert_eq!(conn.poll_event(now), Some(Event::Message(Message::text("Hello"))));
/// # Ok::<(), wsio_proto::handshake::HandshakeError>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    buffer: HeadBuffer,
    done: bool,
}

/// A complete request head, as [`ServerHandshake::receive`] returns it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IncomingRequest {
    /// The request line and headers.
    pub request: Request<()>,
    /// The bytes that arrived after the head: a body, pipelined data, or frames from a client
    /// that did not wait for the `101`. They belong to whatever reads next: for a WebSocket,
    /// give them to [`UpgradeOffer::accept_connection`].
    pub leftover: Bytes,
}

/// What a valid handshake request asks for: the result of [`validate_request`] (an HTTP/1.1
/// upgrade) or [`validate_connect_request`] (an extended CONNECT over HTTP/2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeOffer {
    /// The `Sec-WebSocket-Key` of an HTTP/1.1 upgrade, to be answered by [`accept_response`];
    /// `None` for an extended CONNECT, which carries no key and is answered by
    /// [`connect_response`] (RFC 8441 section 5).
    pub key: Option<String>,
    /// The subprotocols the client offers, in its order of preference: every
    /// `Sec-WebSocket-Protocol` line split at commas and trimmed. Empty if none.
    pub subprotocols: Vec<String>,
    /// The extensions the client offers: every `Sec-WebSocket-Extensions` line, joined with
    /// `", "`, not interpreted.
    pub extensions: Option<String>,
    /// The resource asked for: the path and query of the request target.
    pub resource: String,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A reader that accepts request heads of up to [`DEFAULT_MAX_HEAD_SIZE`] bytes.
    pub fn new() -> Self {
        Self::with_max_head_size(DEFAULT_MAX_HEAD_SIZE)
    }

    /// A reader that accepts request heads of up to `limit` bytes. Its buffer never grows
    /// beyond that.
    pub fn with_max_head_size(limit: usize) -> Self {
        ServerHandshake {
            buffer: HeadBuffer::new(limit),
            done: false,
        }
    }

    /// Feeds bytes received from the client. Call it with each piece that arrives until it
    /// returns a result.
    ///
    /// Returns `Ok(None)` while the head is incomplete, and the request with the bytes that
    /// followed its head once it is complete. Fails with [`HandshakeError::TooLarge`] (431)
    /// when the head does not end within the limit, and with [`HandshakeError::Malformed`] or
    /// [`HandshakeError::InvalidTarget`] (400) when it is not valid HTTP/1.x. Answer a failure
    /// with [`HandshakeError::response`].
    ///
    /// Once it has returned a request or an error the reader is finished: a later call reads
    /// nothing and returns [`HandshakeError::AlreadyFinished`].
    pub fn receive(&mut self, data: &[u8]) -> Result<Option<IncomingRequest>, HandshakeError> {
        if self.done {
            return Err(HandshakeError::AlreadyFinished);
        }
        let taken = self.buffer.fill(data);
        if !self.buffer.worth_parsing() {
            return Ok(None);
        }
        let result = match parse_request(self.buffer.bytes()) {
            Ok(Decoded::Complete { value, len }) => Ok(Some(IncomingRequest {
                request: value,
                leftover: self.buffer.leftover(len, &data[taken..]),
            })),
            Ok(Decoded::Incomplete { .. }) if self.buffer.is_full() => Err(self.buffer.too_large()),
            Ok(Decoded::Incomplete { .. }) => Ok(None),
            Err(error) => Err(error),
        };
        self.done = !matches!(result, Ok(None));
        result
    }
}

impl IncomingRequest {
    /// Checks that the request is a WebSocket handshake ([`validate_request`]).
    pub fn validate(&self) -> Result<UpgradeOffer, HandshakeError> {
        validate_request(&self.request)
    }
}

impl UpgradeOffer {
    /// The response that accepts this offer with `subprotocol`: `101 Switching Protocols`
    /// for an HTTP/1.1 upgrade ([`accept_response`]), `200 OK` for an extended CONNECT
    /// ([`connect_response`]).
    ///
    /// # Panics
    ///
    /// If `subprotocol` is not a valid header value.
    pub fn accept(&self, subprotocol: Option<&str>) -> Response<()> {
        match &self.key {
            Some(key) => accept_response(key, subprotocol),
            None => connect_response(subprotocol),
        }
    }

    /// Chooses among the offered extensions what a server with `config` agrees to
    /// (permessage-deflate with [`Config::deflate`](crate::Config::deflate), feature
    /// `deflate`). Offers it cannot honour, malformed parameters among them, are declined
    /// (RFC 7692 section 5.1); a header that does not parse is
    /// [`HandshakeError::MalformedExtensions`] (400). Without an enabled extension the offers
    /// are not read at all.
    ///
    /// Put the result in the response with [`accept_negotiated`](Self::accept_negotiated) and
    /// hand it to [`Connection::with_extensions`]. [`accept_connection`](Self::accept_connection)
    /// does all three.
    pub fn negotiate(&self, config: &Config) -> Result<Negotiated, HandshakeError> {
        extension::server_negotiate(config, self.extensions.as_deref())
    }

    /// Accepts this offer with `subprotocol`, in one step: negotiates the extensions `config`
    /// enables ([`negotiate`](Self::negotiate)), and returns the response that says so (`101`,
    /// or `200` for an extended CONNECT)
    /// ([`accept_negotiated`](Self::accept_negotiated)) with the server's [`Connection`]:
    /// [`Role::Server`], `config`, and the agreed extensions.
    ///
    /// `leftover` is what arrived after the request head ([`IncomingRequest::leftover`]), frames
    /// from a client that did not wait for the answer: it is the connection's first input.
    /// Give it `&[]` when the transport itself will deliver those bytes, as an upgraded
    /// connection from an HTTP server does.
    ///
    /// Add headers to the response if needed, write it with
    /// [`encode_response_head`](super::encode_response_head), and then drive the connection.
    /// Fails as [`negotiate`](Self::negotiate) does; answer a failure with
    /// [`HandshakeError::response`].
    ///
    /// # Panics
    ///
    /// If `subprotocol` is not a valid header value, as [`accept`](Self::accept).
    ///
    /// ```
    /// use wsio_proto::handshake::{encode_response_head, validate_request};
    /// use wsio_proto::{Config, Role};
    ///
    /// let request = http::Request::get("/chat")
    ///     .header("host", "example.com")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-protocol", "chat")
    ///     .body(())?;
    /// let offer = validate_request(&request)?;
    /// let (mut response, mut conn) = offer.accept_connection(Some("chat"), Config::default(), &[])?;
    /// response.headers_mut().insert("set-cookie", "seen=1".parse()?);
    /// let answer = encode_response_head(&response);
    /// assert!(answer.ends_with(b"Sec-WebSocket-Protocol: chat\r\nSet-Cookie: seen=1\r\n\r\n"));
    /// assert_eq!(conn.role(), Role::Server);
    /// conn.send_text("welcome")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_connection(
        &self,
        subprotocol: Option<&str>,
        config: Config,
        leftover: &[u8],
    ) -> Result<(Response<()>, Connection), HandshakeError> {
        let negotiated = self.negotiate(&config)?;
        let response = self.accept_negotiated(subprotocol, &negotiated);
        let connection = start_connection(Role::Server, config, &negotiated, leftover);
        Ok((response, connection))
    }

    /// The response of [`accept`](Self::accept), with the `Sec-WebSocket-Extensions`
    /// answer that tells the client what was `negotiated`.
    ///
    /// ```
    /// # #[cfg(feature = "deflate")] {
    /// use wsio_proto::Config;
    /// use wsio_proto::deflate::DeflateConfig;
    /// use wsio_proto::handshake::validate_request;
    ///
    /// let request = http::Request::get("/")
    ///     .header("host", "h")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
    ///     .body(())?;
    /// let offer = validate_request(&request)?;
    /// let config = Config::default().deflate(Some(DeflateConfig::default()));
    /// let negotiated = offer.negotiate(&config)?;
    /// let response = offer.accept_negotiated(None, &negotiated);
    /// assert_eq!(response.headers()["sec-websocket-extensions"], "permessage-deflate");
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_negotiated(
        &self,
        subprotocol: Option<&str>,
        negotiated: &Negotiated,
    ) -> Response<()> {
        let mut response = self.accept(subprotocol);
        if let Some(answer) = negotiated.response_header() {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_EXTENSIONS, answer);
        }
        response
    }
}

/// Whether a request asks to switch to WebSocket: its `Upgrade` header holds the token
/// `websocket`, compared case-insensitively.
///
/// This is a cheap test for routing, so that a server can serve plain HTTP and WebSocket on
/// one port; it checks nothing else. Send the requests it picks to [`validate_request`], which
/// refuses the malformed ones with the right status.
///
/// ```
/// use wsio_proto::handshake::is_upgrade_request;
///
/// let upgrade = http::Request::get("/chat").header("upgrade", "WebSocket").body(())?;
/// assert!(is_upgrade_request(&upgrade));
/// let page = http::Request::get("/").body(())?;
/// assert!(!is_upgrade_request(&page));
/// # Ok::<(), http::Error>(())
/// ```
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    has_token(request.headers(), &UPGRADE, "websocket")
}

/// Checks a handshake request against RFC 6455 section 4.2.1 and returns what it asks for.
///
/// In order: the method is GET ([`NotGet`](HandshakeError::NotGet)); the version is HTTP/1.1 or
/// later ([`UnsupportedHttpVersion`](HandshakeError::UnsupportedHttpVersion)); there is exactly
/// one `Host` ([`MissingHost`](HandshakeError::MissingHost),
/// [`DuplicateHost`](HandshakeError::DuplicateHost)); `Upgrade` holds the token `websocket`
/// ([`MissingUpgrade`](HandshakeError::MissingUpgrade)); `Connection` holds the token `upgrade`
/// ([`MissingConnectionUpgrade`](HandshakeError::MissingConnectionUpgrade)); there is exactly
/// one `Sec-WebSocket-Version` and it is 13 ([`MissingVersion`](HandshakeError::MissingVersion),
/// [`UnsupportedVersion`](HandshakeError::UnsupportedVersion)); and there is exactly one
/// `Sec-WebSocket-Key`, the base64 of 16 bytes ([`MissingKey`](HandshakeError::MissingKey),
/// [`DuplicateKey`](HandshakeError::DuplicateKey), [`InvalidKey`](HandshakeError::InvalidKey));
/// and the target names a resource: a path, not `*` or a bare authority
/// ([`InvalidTarget`](HandshakeError::InvalidTarget)).
/// Tokens are compared case-insensitively and found in comma-separated lists over any number
/// of lines. The version is checked before the key so that a client speaking an older draft,
/// which sends neither, learns which version to use.
///
/// The `Origin` header is not checked: whether to accept an origin is the server's policy
/// (RFC 6455 section 10.2), and it is in `request.headers()`.
///
/// ```
/// use wsio_proto::handshake::{HandshakeError, validate_request};
///
/// let request = http::Request::get("/chat")
///     .header("host", "example.com")
///     .header("upgrade", "websocket")
///     .header("connection", "keep-alive, Upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-version", "13")
///     .body(())?;
/// let offer = validate_request(&request)?;
/// assert_eq!(offer.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
/// assert_eq!(offer.resource, "/chat");
///
/// let post = http::Request::post("/chat").body(())?;
/// assert!(matches!(validate_request(&post), Err(HandshakeError::NotGet)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_request<B>(request: &Request<B>) -> Result<UpgradeOffer, HandshakeError> {
    if request.method() != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    if request.version() < Version::HTTP_11 {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    let headers = request.headers();
    match first_value(headers, &HOST).0 {
        0 => return Err(HandshakeError::MissingHost),
        1 => {}
        _ => return Err(HandshakeError::DuplicateHost),
    }
    if !has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    check_version(headers)?;
    let key = match first_value(headers, &SEC_WEBSOCKET_KEY) {
        (0, _) => return Err(HandshakeError::MissingKey),
        (1, Some(key)) => key.as_bytes().trim_ascii(),
        _ => return Err(HandshakeError::DuplicateKey),
    };
    if !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    let resource = resource(request.uri())?;
    Ok(UpgradeOffer {
        key: Some(String::from_utf8(key.to_vec()).expect("a valid key is base64, hence ASCII")),
        subprotocols: list_strings(headers, &SEC_WEBSOCKET_PROTOCOL)?,
        extensions: joined(headers, &SEC_WEBSOCKET_EXTENSIONS)?,
        resource,
    })
}

/// Checks an extended CONNECT request, which opens a WebSocket on one stream of an HTTP/2
/// connection (RFC 8441 section 4), and returns what it asks for. `protocol` is the request's
/// `:protocol` pseudo-header, which an [`http::Request`] cannot hold itself: an HTTP/2 server
/// keeps it in an extension of its own (`hyper::ext::Protocol`, `h2::ext::Protocol`).
///
/// In order: the method is CONNECT ([`NotConnect`](HandshakeError::NotConnect)); the version
/// is HTTP/2 or later ([`UnsupportedHttpVersion`](HandshakeError::UnsupportedHttpVersion));
/// `protocol` is `websocket`, compared case-insensitively
/// ([`MissingProtocol`](HandshakeError::MissingProtocol)); the target has an authority (the
/// `:authority` pseudo-header) or a single `Host` ([`MissingHost`](HandshakeError::MissingHost),
/// [`DuplicateHost`](HandshakeError::DuplicateHost)); `Sec-WebSocket-Version` is 13, as in
/// [`validate_request`]; and the target has a path. There is no `Sec-WebSocket-Key`, `Upgrade`
/// or `Connection` to check: HTTP/2 has no upgrade, and the stream is the connection.
///
/// ```
/// use wsio_proto::handshake::{HandshakeError, validate_connect_request};
///
/// let request = http::Request::connect("https://example.com/chat")
///     .version(http::Version::HTTP_2)
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-protocol", "chat")
///     .body(())?;
/// let offer = validate_connect_request(&request, Some("websocket"))?;
/// assert_eq!((offer.key.as_deref(), offer.resource.as_str()), (None, "/chat"));
/// let response = offer.accept(Some("chat"));
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
///
/// // A plain CONNECT (a tunnel) is not a WebSocket.
/// let tunnel = validate_connect_request(&request, None);
/// assert!(matches!(tunnel, Err(HandshakeError::MissingProtocol)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_connect_request<B>(
    request: &Request<B>,
    protocol: Option<&str>,
) -> Result<UpgradeOffer, HandshakeError> {
    if request.method() != Method::CONNECT {
        return Err(HandshakeError::NotConnect);
    }
    if request.version() < Version::HTTP_2 {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    if !protocol.is_some_and(|protocol| protocol.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::MissingProtocol);
    }
    let headers = request.headers();
    if request.uri().authority().is_none() {
        match first_value(headers, &HOST).0 {
            0 => return Err(HandshakeError::MissingHost),
            1 => {}
            _ => return Err(HandshakeError::DuplicateHost),
        }
    }
    check_version(headers)?;
    Ok(UpgradeOffer {
        key: None,
        subprotocols: list_strings(headers, &SEC_WEBSOCKET_PROTOCOL)?,
        extensions: joined(headers, &SEC_WEBSOCKET_EXTENSIONS)?,
        resource: resource(request.uri())?,
    })
}

/// Checks that there is exactly one `Sec-WebSocket-Version` and that it is 13.
fn check_version(headers: &HeaderMap) -> Result<(), HandshakeError> {
    match first_value(headers, &SEC_WEBSOCKET_VERSION) {
        (0, _) => Err(HandshakeError::MissingVersion),
        (1, Some(version)) if version.as_bytes().trim_ascii() == b"13" => Ok(()),
        _ => Err(HandshakeError::UnsupportedVersion),
    }
}

/// The resource a target names: the path and query of an origin-form target, or of an
/// absolute-form one (RFC 9112 section 3.2; HTTP/2's `:path`); the asterisk and authority
/// forms name none.
fn resource(uri: &Uri) -> Result<String, HandshakeError> {
    if !uri.path().starts_with('/') {
        return Err(HandshakeError::InvalidTarget);
    }
    Ok(match uri.query() {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_owned(),
    })
}

/// The `101 Switching Protocols` response that accepts a handshake whose key is `key`
/// (RFC 6455 section 4.2.2): `Upgrade: websocket`, `Connection: Upgrade`, the
/// `Sec-WebSocket-Accept` for `key`, and `Sec-WebSocket-Protocol` when `protocol` is given.
///
/// `protocol` must be one of those the client offered ([`select_subprotocol`] picks one).
/// Add headers (such as `Sec-WebSocket-Extensions` or cookies) before encoding it with
/// [`encode_response_head`](super::encode_response_head).
///
/// # Panics
///
/// If `subprotocol` is not a valid header value. A subprotocol the client offered always is.
///
/// ```
/// use wsio_proto::handshake::accept_response;
///
/// let response = accept_response("dGhlIHNhbXBsZSBub25jZQ==", None);
/// assert_eq!(response.status(), 101);
/// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert!(!response.headers().contains_key("sec-websocket-protocol"));
/// ```
pub fn accept_response(key: &str, subprotocol: Option<&str>) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::try_from(accept_key(key)).expect("base64 is a valid header value");
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    insert_subprotocol(headers, subprotocol);
    response
}

/// The `200 OK` response that accepts an extended CONNECT (RFC 8441 section 5), with
/// `Sec-WebSocket-Protocol` when `subprotocol` is given: over HTTP/2 the stream becomes the
/// WebSocket, with no key to answer.
///
/// # Panics
///
/// If `subprotocol` is not a valid header value, as [`accept_response`].
///
/// ```
/// use wsio_proto::handshake::connect_response;
///
/// let response = connect_response(Some("chat"));
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
/// assert!(!response.headers().contains_key("sec-websocket-accept"));
/// ```
pub fn connect_response(subprotocol: Option<&str>) -> Response<()> {
    let mut response = Response::new(());
    insert_subprotocol(response.headers_mut(), subprotocol);
    response
}

/// Names the chosen subprotocol, if any, in `Sec-WebSocket-Protocol`.
///
/// # Panics
///
/// If `subprotocol` is not a valid header value.
fn insert_subprotocol(headers: &mut HeaderMap, subprotocol: Option<&str>) {
    if let Some(subprotocol) = subprotocol {
        let value = HeaderValue::from_str(subprotocol)
            .unwrap_or_else(|_| panic!("subprotocol {subprotocol:?} is not a valid header value"));
        headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
    }
}

/// Picks the subprotocol to answer with: the first of `supported` that the client `offered`.
///
/// The server's order decides, not the client's: list `supported` from most to least
/// preferred. Names are compared exactly, as RFC 6455 section 4.1 compares them. `None` means
/// no common subprotocol; the server may then accept without one (the client decides whether
/// that will do) or refuse.
///
/// ```
/// use wsio_proto::handshake::select_subprotocol;
///
/// let offered = ["v1.chat", "v2.chat"];
/// assert_eq!(select_subprotocol(&offered, &["v2.chat", "v1.chat"]), Some("v2.chat"));
/// assert_eq!(select_subprotocol(&offered, &["v3.chat"]), None);
/// ```
pub fn select_subprotocol<'s>(
    offered: &[impl AsRef<str>],
    supported: &'s [impl AsRef<str>],
) -> Option<&'s str> {
    supported
        .iter()
        .map(AsRef::as_ref)
        .find(|candidate| offered.iter().any(|o| o.as_ref() == *candidate))
}

/// A response that refuses a handshake with the server's own `status` and `body`:
/// `Content-Type: text/plain; charset=utf-8`, `Content-Length`, and `Connection: close`.
///
/// Change the headers as needed, encode it with [`encode_response`](super::encode_response),
/// and close the connection after writing it. A client reading it with
/// [`ClientHandshake`](super::ClientHandshake) gets [`HandshakeError::Rejected`] with the body.
///
/// ```
/// use wsio_proto::handshake::reject;
///
/// let response = reject(http::StatusCode::UNAUTHORIZED, "log in first");
/// assert_eq!(response.headers()["content-length"], "12");
/// assert_eq!(&response.body()[..], b"log in first");
/// ```
pub fn reject(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let length = HeaderValue::from(response.body().len());
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, length);
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn valid_request(extra: &str) -> String {
        format!(
            "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n"
        )
    }

    fn read(wire: &[u8]) -> Result<IncomingRequest, HandshakeError> {
        Ok(ServerHandshake::new()
            .receive(wire)?
            .expect("a complete head"))
    }

    fn validate(wire: &str) -> Result<UpgradeOffer, HandshakeError> {
        read(wire.as_bytes())?.validate()
    }

    #[test]
    fn rfc_example_request() {
        // RFC 6455 section 1.2.
        let wire = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                    Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
                    Sec-WebSocket-Version: 13\r\n\r\n";
        let offer = validate(wire).unwrap();
        assert_eq!(offer.key.as_deref(), Some(KEY));
        assert_eq!(offer.subprotocols, ["chat", "superchat"]);
        assert_eq!(offer.extensions, None);
        assert_eq!(offer.resource, "/chat");
        let wire = encode_response_head(&offer.accept(Some("chat")));
        assert_eq!(
            wire,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    use super::super::{encode_response, encode_response_head};

    #[test]
    fn offers_across_lines() {
        let extra = "Sec-WebSocket-Protocol: a ,b\r\nSec-WebSocket-Protocol: ,c,\r\n\
                     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
                     Sec-WebSocket-Extensions: x-foo\r\n";
        let offer = validate(&valid_request(extra)).unwrap();
        assert_eq!(offer.subprotocols, ["a", "b", "c"]);
        assert_eq!(
            offer.extensions.as_deref(),
            Some("permessage-deflate; client_max_window_bits, x-foo")
        );
        assert_eq!(offer.resource, "/chat?room=1");
    }

    #[test]
    fn tokens_are_case_insensitive_and_listed() {
        let wire = format!(
            "GET / HTTP/1.1\r\nhost: h\r\nupgrade: h2c, WebSocket\r\n\
             connection: keep-alive, Upgrade\r\nsec-websocket-key: {KEY}\r\n\
             sec-websocket-version: 13\r\n\r\n"
        );
        validate(&wire).unwrap();
        let wire = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WEBSOCKET\r\nConnection: keep-alive\r\n\
             Connection: UPGRADE\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        validate(&wire).unwrap();
    }

    fn connect_request(target: &str) -> http::request::Builder {
        Request::connect(target)
            .version(Version::HTTP_2)
            .header("sec-websocket-version", "13")
    }

    #[test]
    fn extended_connect_is_answered_with_200_and_no_key() {
        let request = connect_request("https://example.com/chat?room=1")
            .header("sec-websocket-protocol", "a, b")
            .header("sec-websocket-extensions", "permessage-deflate")
            .body(())
            .unwrap();
        let offer = validate_connect_request(&request, Some("WebSocket")).unwrap();
        assert_eq!(offer.key, None);
        assert_eq!(offer.subprotocols, ["a", "b"]);
        assert_eq!(offer.extensions.as_deref(), Some("permessage-deflate"));
        assert_eq!(offer.resource, "/chat?room=1");
        let response = offer.accept(Some("b"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers().len(), 1);
        assert_eq!(response.headers()[SEC_WEBSOCKET_PROTOCOL], "b");

        // The authority may come as a Host header instead of `:authority`.
        let request = connect_request("/chat")
            .header("host", "example.com")
            .body(())
            .unwrap();
        assert_eq!(
            validate_connect_request(&request, Some("websocket"))
                .unwrap()
                .resource,
            "/chat"
        );
    }

    /// Every way an extended CONNECT can fail, with the status of the answer.
    #[test]
    fn extended_connect_failures() {
        use HandshakeError::*;
        type Check = fn(&HandshakeError) -> bool;
        let good = || connect_request("https://example.com/chat");
        let cases: Vec<(Request<()>, Option<&str>, Check, u16)> = vec![
            (
                good().method(Method::GET).body(()).unwrap(),
                Some("websocket"),
                |e| matches!(e, NotConnect),
                405,
            ),
            (
                good().version(Version::HTTP_11).body(()).unwrap(),
                Some("websocket"),
                |e| matches!(e, UnsupportedHttpVersion),
                400,
            ),
            (
                good().body(()).unwrap(),
                None,
                |e| matches!(e, MissingProtocol),
                400,
            ),
            (
                good().body(()).unwrap(),
                Some("websockets"),
                |e| matches!(e, MissingProtocol),
                400,
            ),
            (
                connect_request("/chat").body(()).unwrap(),
                Some("websocket"),
                |e| matches!(e, MissingHost),
                400,
            ),
            (
                connect_request("/chat")
                    .header("host", "a")
                    .header("host", "b")
                    .body(())
                    .unwrap(),
                Some("websocket"),
                |e| matches!(e, DuplicateHost),
                400,
            ),
            (
                Request::connect("https://example.com/chat")
                    .version(Version::HTTP_2)
                    .body(())
                    .unwrap(),
                Some("websocket"),
                |e| matches!(e, MissingVersion),
                426,
            ),
            (
                good()
                    .header("sec-websocket-version", "8")
                    .body(())
                    .unwrap(),
                Some("websocket"),
                |e| matches!(e, UnsupportedVersion),
                426,
            ),
            (
                connect_request("example.com:443").body(()).unwrap(),
                Some("websocket"),
                |e| matches!(e, InvalidTarget),
                400,
            ),
        ];
        for (request, protocol, check, status) in cases {
            let error = validate_connect_request(&request, protocol).unwrap_err();
            assert!(check(&error), "{request:?}: {error:?}");
            assert_eq!(error.status(), status, "{request:?}");
        }
    }

    /// Every way a request can fail, with the status of the answer.
    #[test]
    fn request_failures() {
        use HandshakeError::*;
        let good = valid_request("");
        let replace = |from: &str, to: &str| {
            assert!(good.contains(from), "{from}");
            good.replacen(from, to, 1)
        };
        type Check = fn(&HandshakeError) -> bool;
        let cases: Vec<(String, Check, u16)> = vec![
            (replace("GET", "POST"), |e| matches!(e, NotGet), 405),
            (
                replace("HTTP/1.1", "HTTP/1.0"),
                |e| matches!(e, UnsupportedHttpVersion),
                400,
            ),
            (
                replace("Host: server.example.com\r\n", ""),
                |e| matches!(e, MissingHost),
                400,
            ),
            (
                replace("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n"),
                |e| matches!(e, DuplicateHost),
                400,
            ),
            (
                replace("Upgrade: websocket\r\n", ""),
                |e| matches!(e, MissingUpgrade),
                400,
            ),
            (
                replace("Upgrade: websocket", "Upgrade: h2c"),
                |e| matches!(e, MissingUpgrade),
                400,
            ),
            (
                replace("Upgrade: websocket", "Upgrade: websockets"),
                |e| matches!(e, MissingUpgrade),
                400,
            ),
            (
                replace("Connection: Upgrade\r\n", ""),
                |e| matches!(e, MissingConnectionUpgrade),
                400,
            ),
            (
                replace("Connection: Upgrade", "Connection: keep-alive"),
                |e| matches!(e, MissingConnectionUpgrade),
                400,
            ),
            (
                replace("Sec-WebSocket-Version: 13\r\n", ""),
                |e| matches!(e, MissingVersion),
                426,
            ),
            (
                replace("Version: 13", "Version: 8"),
                |e| matches!(e, UnsupportedVersion),
                426,
            ),
            (
                replace("Version: 13", "Version: 13, 8"),
                |e| matches!(e, UnsupportedVersion),
                426,
            ),
            (
                replace(
                    "Version: 13\r\n",
                    "Version: 13\r\nSec-WebSocket-Version: 13\r\n",
                ),
                |e| matches!(e, UnsupportedVersion),
                426,
            ),
            (
                replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
                |e| matches!(e, MissingKey),
                400,
            ),
            (
                replace(KEY, &format!("{KEY}\r\nSec-WebSocket-Key: {KEY}")),
                |e| matches!(e, DuplicateKey),
                400,
            ),
            (replace(KEY, "c2hvcnQ="), |e| matches!(e, InvalidKey), 400),
            (
                replace(KEY, "not base64 at all!!!!!!!"),
                |e| matches!(e, InvalidKey),
                400,
            ),
            (
                replace(KEY, "AAAAAAAAAAAAAAAAAAAAAAAA"),
                |e| matches!(e, InvalidKey),
                400,
            ),
            (
                valid_request("Sec-WebSocket-Protocol: caf\u{e9}\r\n"),
                |e| matches!(e, InvalidHeader(_)),
                400,
            ),
            (
                valid_request("Sec-WebSocket-Extensions: \u{e9}\r\n"),
                |e| matches!(e, InvalidHeader(_)),
                400,
            ),
        ];
        for (wire, expected, status) in cases {
            let error = validate(&wire).expect_err(&wire);
            assert!(expected(&error), "{wire}: {error:?}");
            assert_eq!(error.status(), status, "{wire}");
            let response = error.response();
            assert_eq!(response.status(), status);
            assert_eq!(
                response.headers().contains_key(SEC_WEBSOCKET_VERSION),
                status == 426
            );
        }
        // Failures while reading.
        let error = read(b"GET / HTTP/1.1\r\nHost\r\n\r\n").unwrap_err();
        assert!(matches!(error, Malformed(httparse::Error::HeaderName)));
        assert_eq!(error.status(), 400);
        let error = read(b"GET http://[x/ HTTP/1.1\r\n\r\n").unwrap_err();
        assert!(matches!(error, InvalidTarget));
        assert_eq!(error.status(), 400);
        let error = read(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(matches!(error, MissingUpgrade));
    }

    #[test]
    fn absolute_form_targets_give_their_path() {
        let wire = valid_request("").replacen("/chat?room=1", "ws://server.example.com/x?y", 1);
        assert_eq!(validate(&wire).unwrap().resource, "/x?y");
        let wire = valid_request("").replacen("/chat?room=1", "ws://server.example.com", 1);
        assert_eq!(validate(&wire).unwrap().resource, "/");
        // Asterisk and authority forms name no resource.
        for target in ["*", "server.example.com:80"] {
            let wire = valid_request("").replacen("/chat?room=1", target, 1);
            let error = validate(&wire).unwrap_err();
            assert!(
                matches!(error, HandshakeError::InvalidTarget),
                "{target}: {error:?}"
            );
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn one_byte_at_a_time_with_leftover() {
        let mut wire = valid_request("").into_bytes();
        let head_len = wire.len();
        wire.extend_from_slice(b"\x81\x80\x00\x00\x00\x00");
        let mut handshake = ServerHandshake::new();
        for (i, byte) in wire.iter().enumerate() {
            match handshake.receive(std::slice::from_ref(byte)).unwrap() {
                None => assert!(i < head_len - 1),
                Some(incoming) => {
                    assert_eq!(i, head_len - 1);
                    assert!(incoming.leftover.is_empty());
                    incoming.validate().unwrap();
                    break;
                }
            }
        }
        let incoming = read(&wire).unwrap();
        assert_eq!(&incoming.leftover[..], &wire[head_len..]);
        assert_eq!(incoming.request.uri(), "/chat?room=1");
    }

    #[test]
    fn size_limit() {
        let wire = valid_request("").into_bytes();
        let exact = wire.len();
        // Exactly at the limit, with bytes after it.
        let mut with_frames = wire.clone();
        with_frames.extend_from_slice(b"frames");
        let incoming = ServerHandshake::with_max_head_size(exact)
            .receive(&with_frames)
            .unwrap();
        assert_eq!(&incoming.unwrap().leftover[..], b"frames");
        // One byte short: one big chunk, and one byte at a time.
        let mut handshake = ServerHandshake::with_max_head_size(exact - 1);
        let error = handshake.receive(&with_frames).unwrap_err();
        assert!(matches!(error, HandshakeError::TooLarge { limit } if limit == exact - 1));
        assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(handshake.buffer.bytes().len(), exact - 1);
        let mut handshake = ServerHandshake::with_max_head_size(exact - 1);
        for (i, byte) in wire.iter().enumerate() {
            let result = handshake.receive(std::slice::from_ref(byte));
            assert!(handshake.buffer.bytes().len() < exact);
            if i < exact - 2 {
                assert!(matches!(result, Ok(None)));
            } else {
                assert!(matches!(result, Err(HandshakeError::TooLarge { .. })));
                break;
            }
        }
        // The default limit: 8 KiB of headers is too much.
        let padded = valid_request(&format!("X-Pad: {}\r\n", "p".repeat(DEFAULT_MAX_HEAD_SIZE)));
        let error = read(padded.as_bytes()).unwrap_err();
        assert!(matches!(error, HandshakeError::TooLarge { limit: 8192 }));
        let mut handshake = ServerHandshake::new();
        let mut result = Ok(None);
        for chunk in padded.as_bytes().chunks(1000) {
            result = handshake.receive(chunk);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(HandshakeError::TooLarge { .. })));
        assert_eq!(handshake.buffer.bytes().len(), DEFAULT_MAX_HEAD_SIZE);
    }

    #[test]
    fn receive_after_the_end_is_an_error() {
        let finished = |handshake: &mut ServerHandshake| {
            for more in [&b"GET"[..], b"", valid_request("").as_bytes()] {
                let error = handshake.receive(more).unwrap_err();
                assert!(
                    matches!(error, HandshakeError::AlreadyFinished),
                    "{error:?}"
                );
                assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
                assert_eq!(error.response().status(), 500);
            }
        };
        // After a request.
        let mut handshake = ServerHandshake::new();
        assert!(
            handshake
                .receive(valid_request("").as_bytes())
                .unwrap()
                .is_some()
        );
        finished(&mut handshake);
        // After a malformed head, and after a head that is too large.
        let mut handshake = ServerHandshake::new();
        assert!(matches!(
            handshake.receive(b"\0\r\n\r\n"),
            Err(HandshakeError::Malformed(_))
        ));
        finished(&mut handshake);
        let mut handshake = ServerHandshake::with_max_head_size(10);
        let error = handshake.receive(valid_request("").as_bytes()).unwrap_err();
        assert!(matches!(error, HandshakeError::TooLarge { limit: 10 }));
        finished(&mut handshake);
    }

    #[test]
    fn accepting_yields_the_connection() {
        let mut wire = valid_request("Sec-WebSocket-Protocol: a, b\r\n").into_bytes();
        // A masked "Hello" (RFC 6455 section 5.7), sent before the answer.
        wire.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let incoming = read(&wire).unwrap();
        let offer = incoming.validate().unwrap();
        let config = Config::default().max_message_size(10);
        let (response, mut connection) = offer
            .accept_connection(Some("b"), config, &incoming.leftover)
            .unwrap();
        // No extension was agreed, so the response is the plain one.
        assert_eq!(response.headers(), offer.accept(Some("b")).headers());
        assert_eq!(connection.role(), Role::Server);
        assert_eq!(connection.config().max_message_size, 10);
        assert!(connection.negotiated().is_empty());
        assert_eq!(
            connection.poll_event(std::time::Instant::now()),
            Some(crate::Event::Message(crate::Message::text("Hello")))
        );
        // Stateless: the same offer accepted again gives another, fresh connection.
        let (_, mut again) = offer
            .accept_connection(None, Config::default(), &[])
            .unwrap();
        assert_eq!(again.poll_event(std::time::Instant::now()), None);
    }

    #[test]
    fn upgrade_requests_are_recognised_by_their_upgrade_header() {
        let with = |values: &[&str]| {
            let mut request = Request::get("/").body(()).unwrap();
            for value in values {
                request
                    .headers_mut()
                    .append(UPGRADE, HeaderValue::from_str(value).unwrap());
            }
            is_upgrade_request(&request)
        };
        assert!(with(&["websocket"]));
        assert!(with(&["h2c, WebSocket"]));
        assert!(with(&["h2c", " websocket "]));
        assert!(!with(&[]));
        assert!(!with(&["h2c"]));
        assert!(!with(&["websockets"]));
    }

    #[test]
    fn subprotocol_selection() {
        let none: [&str; 0] = [];
        assert_eq!(select_subprotocol(&["a", "b"], &["b", "a"]), Some("b"));
        assert_eq!(select_subprotocol(&["a", "b"], &["c", "a"]), Some("a"));
        assert_eq!(select_subprotocol(&["a", "b"], &["A"]), None);
        assert_eq!(select_subprotocol(&none, &["a"]), None);
        assert_eq!(select_subprotocol(&["a"], &none), None);
        let offered = vec![String::from("x"), String::from("y")];
        let supported = vec![String::from("y")];
        assert_eq!(select_subprotocol(&offered, &supported), Some("y"));
    }

    #[test]
    fn custom_refusal() {
        let response = reject(StatusCode::FORBIDDEN, "no entry");
        assert_eq!(
            encode_response(&response),
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 8\r\nConnection: close\r\n\r\nno entry"
        );
    }

    #[test]
    #[should_panic(expected = "not a valid header value")]
    fn accepting_with_an_invalid_subprotocol_panics() {
        accept_response(KEY, Some("a\r\nb"));
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_request(
            cuts in proptest::collection::vec(0usize..300, 0..6),
            tail in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut wire = valid_request("Sec-WebSocket-Protocol: a, b\r\n").into_bytes();
            let head_len = wire.len();
            wire.extend_from_slice(&tail);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.push(0);
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut handshake = ServerHandshake::new();
            let mut found = None;
            for pair in cuts.windows(2) {
                if let Some(incoming) = handshake.receive(&wire[pair[0]..pair[1]]).unwrap() {
                    found = Some((pair[1], incoming));
                    break;
                }
            }
            let (end, incoming) = found.expect("the whole head was fed");
            prop_assert_eq!(&incoming.leftover[..], &wire[head_len..end]);
            let offer = incoming.validate().unwrap();
            prop_assert_eq!(offer.subprotocols, ["a", "b"]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut handshake = ServerHandshake::with_max_head_size(128);
            if let Ok(Some(incoming)) = handshake.receive(&bytes) {
                let _ = incoming.validate();
            }
        }
    }
}
