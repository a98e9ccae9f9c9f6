//! The client's side of the opening handshake (RFC 6455 section 4.1).

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, HeaderName, HeaderValue, ORIGIN,
    SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};

use super::head::{HeadBuffer, parse_response};
use super::headers::{first_value, has_token, is_token, joined, list_items, list_strings};
use super::{
    BuildError, DEFAULT_MAX_HEAD_SIZE, HandshakeError, accept_key, encode_request, generate_key,
    start_connection,
};
use crate::config::Config;
use crate::connection::Connection;
use crate::extension::{self, Negotiated};
use crate::frame::Decoded;
use crate::role::Role;
use crate::url::{Credentials, WsUrl};

/// The headers a [`ClientHandshake`] sets itself. [`ClientHandshake::header`] replaces these
/// instead of adding a second line.
const OWN_HEADERS: [HeaderName; 9] = [
    HOST,
    UPGRADE,
    CONNECTION,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
    ORIGIN,
    AUTHORIZATION,
];

/// A client's opening handshake: the request to send, and the reading and checking of the
/// server's answer.
///
/// Made from a [`WsUrl`] (or a `Host` value and a resource), it generates a fresh
/// `Sec-WebSocket-Key` and builds the request at once; the builder methods change that request,
/// and [`request_mut`](Self::request_mut) gives access to everything else. The response is
/// checked against the request as it stands when the response arrives.
///
/// A response that passes the checks yields [`Accepted`]: what the server chose, and the
/// client's [`Connection`], which runs the [`config`](Self::config) given here with the
/// extensions the server agreed to, and has already been fed the bytes that followed the
/// response head.
///
/// ```
/// use std::time::Duration;
/// use wsio_proto::handshake::{ClientHandshake, accept_key};
/// use wsio_proto::{Config, Event, Message, Role};
///
/// let url = "ws://example.com/chat".parse()?;
/// let config = Config::default().ping_interval(Some(Duration::from_secs(20)));
/// let mut handshake = ClientHandshake::new(&url)
///     .config(config)
///     .subprotocols(["chat.v2", "chat.v1"])?
///     .origin("https://example.com")?;
/// let wire = handshake.encode_request();
/// assert!(wire.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// // ... write `wire` to the server, then feed what comes back:
///
/// let mut response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n",
///     accept_key(handshake.key()),
/// )
/// .into_bytes();
/// response.extend_from_slice(b"\x81\x02hi"); // the server's first message came along
/// let (first, second) = response.split_at(40);
/// assert!(handshake.receive(first)?.is_none()); // not complete yet
/// let accepted = handshake.receive(second)?.expect("a complete response");
/// assert_eq!(accepted.subprotocol.as_deref(), Some("chat.v1"));
///
/// // The connection starts where the response ended.
/// let mut conn = accepted.connection;
/// assert_eq!(conn.role(), Role::Client);
/// assert_eq!(conn.config().ping_interval, Some(Duration::from_secs(20)));
/// let now = std::time::Instant::now();
/// assert_eq!(conn.poll_event(now), Some(Event::Message(Message::text("hi"))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    request: Request<()>,
    buffer: HeadBuffer,
    state: State,
    /// The settings of the connection a successful handshake yields.
    config: Config,
    /// Whether the extension offer is the one `config` makes: the answer is then checked
    /// against it, and what was agreed runs in the connection. False for an offer made by hand.
    offer_from_config: bool,
}

/// How far a [`ClientHandshake`] has read.
#[derive(Debug)]
enum State {
    /// Waiting for the end of the response head.
    Head,
    /// A refusal announced a body of `body_len` bytes that fits in the buffer; waiting for it.
    Body {
        response: Response<()>,
        head_len: usize,
        body_len: usize,
    },
    /// A result or an error has been returned.
    Done,
}

/// A handshake the server accepted: what [`ClientHandshake::receive`] returns on success.
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The `101 Switching Protocols` response, with its headers.
    pub response: Response<()>,
    /// The subprotocol the server chose, if any; always one of those offered.
    pub subprotocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` of the response (all lines joined with `", "`), if any.
    /// It can only be present when extensions were offered. An answer to the offer made from
    /// [`ClientHandshake::config`] is checked and described by
    /// [`negotiated`](Self::negotiated); one to an offer made by hand
    /// ([`ClientHandshake::extensions`]) is the caller's to interpret.
    pub extensions: Option<String>,
    /// The extensions the server agreed to, with their parameters, when the offer came from
    /// [`ClientHandshake::config`]; the [`connection`](Self::connection) runs them. Empty
    /// otherwise.
    pub negotiated: Negotiated,
    /// The client's connection: [`Role::Client`], the [`ClientHandshake::config`] (or the
    /// default), and the [`negotiated`](Self::negotiated) extensions. The bytes that arrived
    /// after the response head, frames the server sent without waiting, are already its
    /// input; feed it what is read from now on. See [`Connection`] for how to drive it.
    pub connection: Connection,
}

impl ClientHandshake {
    /// A handshake for `url`: its `Host` header and resource, and `Authorization: Basic` when
    /// the URL has [credentials](WsUrl::credentials).
    ///
    /// The connection runs with [`Config::default`] unless [`config`](Self::config) says
    /// otherwise, and the response head may be up to [`DEFAULT_MAX_HEAD_SIZE`] bytes; see
    /// [`max_head_size`](Self::max_head_size).
    pub fn new(url: &WsUrl) -> Self {
        let handshake = Self::from_parts(&url.host_header(), url.resource())
            .expect("a parsed WsUrl always has a valid Host header and resource");
        match url.credentials() {
            Some(credentials) => handshake.credentials(credentials),
            None => handshake,
        }
    }

    /// A handshake with the given `Host` header value and resource (path and query), for
    /// callers that connect on their own terms.
    ///
    /// Fails with [`BuildError::InvalidHeader`] if `host` is not a valid header value, and
    /// [`BuildError::InvalidTarget`] if `resource` is not a path and query.
    pub fn from_parts(host: &str, resource: &str) -> Result<Self, BuildError> {
        Ok(ClientHandshake {
            request: build_request(host, resource, &generate_key())?,
            buffer: HeadBuffer::new(DEFAULT_MAX_HEAD_SIZE),
            state: State::Head,
            config: Config::default(),
            offer_from_config: false,
        })
    }

    /// Offers these subprotocols, most preferred first, as one `Sec-WebSocket-Protocol`
    /// header joined with `", "`. Replaces any earlier offer; an empty list removes it.
    ///
    /// Each must be an HTTP token and appear once (RFC 6455 section 4.1, client step 10), else
    /// [`BuildError::InvalidSubprotocol`]. The server's choice must be one of them.
    pub fn subprotocols<I>(mut self, subprotocols: I) -> Result<Self, BuildError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut offer: Vec<String> = Vec::new();
        for subprotocol in subprotocols {
            let subprotocol = subprotocol.as_ref();
            if !is_token(subprotocol) || offer.iter().any(|p| p == subprotocol) {
                return Err(BuildError::InvalidSubprotocol(subprotocol.into()));
            }
            offer.push(subprotocol.to_owned());
        }
        let headers = self.request.headers_mut();
        if offer.is_empty() {
            headers.remove(SEC_WEBSOCKET_PROTOCOL);
        } else {
            let value = HeaderValue::try_from(offer.join(", "))
                .expect("tokens joined with commas are a valid header value");
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
        Ok(self)
    }

    /// Offers extensions: `offer` is sent as the `Sec-WebSocket-Extensions` header, as is
    /// (for example `permessage-deflate; client_max_window_bits`). Replaces any earlier offer;
    /// an empty string removes it.
    ///
    /// Without an offer, a response that names extensions is
    /// [`HandshakeError::UnexpectedExtensions`]; with one, the server's answer is in
    /// [`Accepted::extensions`] and the caller decides whether it is acceptable. The connection
    /// runs no extension: an offer made here replaces the one [`config`](Self::config) made,
    /// and what the server agrees to is the caller's to run.
    pub fn extensions(mut self, offer: &str) -> Result<Self, BuildError> {
        self.offer_from_config = false;
        if offer.is_empty() {
            self.request.headers_mut().remove(SEC_WEBSOCKET_EXTENSIONS);
            return Ok(self);
        }
        let value =
            HeaderValue::from_str(offer).map_err(|_| invalid_input(&SEC_WEBSOCKET_EXTENSIONS))?;
        self.request
            .headers_mut()
            .insert(SEC_WEBSOCKET_EXTENSIONS, value);
        Ok(self)
    }

    /// The settings of the connection that a successful handshake yields
    /// ([`Accepted::connection`]); [`Config::default`] unless set. Call it before the first
    /// [`receive`](Self::receive). It also:
    ///
    /// - offers the extensions `config` turns on (permessage-deflate with
    ///   [`Config::deflate`](crate::Config::deflate), feature `deflate`), replacing any earlier
    ///   offer, and checks the server's answer against them: an answer that fits no offer fails
    ///   [`receive`](Self::receive) with [`HandshakeError::UnacceptableExtensions`], and what
    ///   was agreed is in [`Accepted::negotiated`] and runs in the connection. A `config` that
    ///   turns none on removes an offer an earlier `config` made, and keeps one made by
    ///   [`extensions`](Self::extensions);
    /// - limits the response head to
    ///   [`Config::max_handshake_size`](crate::Config::max_handshake_size) bytes, as
    ///   [`max_head_size`](Self::max_head_size) does (the one called last decides).
    ///
    /// ```
    /// # #[cfg(feature = "deflate")] {
    /// use wsio_proto::{ClientHandshake, Config};
    /// use wsio_proto::deflate::DeflateConfig;
    ///
    /// let config = Config::default().deflate(Some(DeflateConfig::default()));
    /// let handshake = ClientHandshake::new(&"ws://h/".parse()?).config(config);
    /// let offer = &handshake.request().headers()["sec-websocket-extensions"];
    /// assert!(offer.to_str()?.starts_with("permessage-deflate; client_max_window_bits"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        let headers = self.request.headers_mut();
        match extension::client_offer(&config) {
            Some(offer) => {
                let value = HeaderValue::try_from(offer)
                    .expect("tokens, digits and separators are a valid header value");
                headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
                self.offer_from_config = true;
            }
            None if self.offer_from_config => {
                headers.remove(SEC_WEBSOCKET_EXTENSIONS);
                self.offer_from_config = false;
            }
            None => {}
        }
        self.buffer = HeadBuffer::new(config.max_handshake_size);
        self.config = config;
        self
    }

    /// Sets the `Origin` header (RFC 6455 section 4.1, client step 8; section 10.2).
    pub fn origin(mut self, origin: &str) -> Result<Self, BuildError> {
        let value = HeaderValue::from_str(origin).map_err(|_| invalid_input(&ORIGIN))?;
        self.request.headers_mut().insert(ORIGIN, value);
        Ok(self)
    }

    /// Sets `Authorization: Basic ...` from a user name and password. [`new`](Self::new) does
    /// this for a URL that has credentials.
    ///
    /// Basic authentication sends the password in the clear; use it over `wss://`.
    pub fn credentials(mut self, credentials: &Credentials) -> Self {
        let value = HeaderValue::try_from(credentials.basic_auth())
            .expect("`Basic ` and base64 are a valid header value");
        self.request.headers_mut().insert(AUTHORIZATION, value);
        self
    }

    /// Adds a header to the request, such as a cookie or a bearer token.
    ///
    /// A name the handshake sets itself (`Host`, `Upgrade`, `Connection`, `Origin`,
    /// `Authorization` and the `Sec-WebSocket-*` headers) replaces the handshake's value; any
    /// other name is added, so calling this twice with one name sends two lines. Replacing a
    /// handshake header is allowed, with these consequences:
    ///
    /// - `Sec-WebSocket-Key`: the response is checked against the new key, which servers
    ///   refuse unless it is the base64 of 16 bytes. A key that is not random defeats the
    ///   purpose of the key (RFC 6455 section 10.3).
    /// - `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`: the new value is the offer the
    ///   response is checked against, without the checks of [`subprotocols`](Self::subprotocols).
    /// - `Upgrade`, `Connection` and `Sec-WebSocket-Version`: a server that follows RFC 6455
    ///   refuses anything but the values set here.
    ///
    /// Fails with [`BuildError::InvalidHeader`] if the name or value is not valid HTTP.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, BuildError> {
        let bad = || BuildError::InvalidHeader(name.into());
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        let headers = self.request.headers_mut();
        if OWN_HEADERS.contains(&name) {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
        Ok(self)
    }

    /// The largest response head accepted, in bytes ([`DEFAULT_MAX_HEAD_SIZE`] unless set, here
    /// or by [`config`](Self::config)). The receive buffer never grows beyond it. Set it before
    /// the first [`receive`](Self::receive).
    pub fn max_head_size(mut self, limit: usize) -> Self {
        self.buffer = HeadBuffer::new(limit);
        self
    }

    /// The request that will be sent.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// The request, to change before sending it. See [`header`](Self::header) for what
    /// changing a handshake header means.
    pub fn request_mut(&mut self) -> &mut Request<()> {
        &mut self.request
    }

    /// The `Sec-WebSocket-Key` of the request: generated by the constructor unless replaced.
    /// Empty if it was removed or is not text.
    pub fn key(&self) -> &str {
        self.request
            .headers()
            .get(SEC_WEBSOCKET_KEY)
            .and_then(|key| key.to_str().ok())
            .unwrap_or("")
    }

    /// The request as HTTP/1.1 bytes, ready to write ([`encode_request`]).
    pub fn encode_request(&self) -> Vec<u8> {
        encode_request(&self.request)
    }

    /// Feeds bytes received from the server. Call it with each piece that arrives until it
    /// returns a result.
    ///
    /// Returns `Ok(None)` while the response is incomplete, and `Ok(Some(accepted))` once a
    /// `101` response has passed every check of RFC 6455 section 4.1: `Upgrade: websocket`,
    /// `Connection: upgrade`, the right `Sec-WebSocket-Accept`, a subprotocol that was offered
    /// (or none), no extensions unless some were offered, and an answer that fits the offer of
    /// [`config`](Self::config). The bytes of `data` after the head are the first input of
    /// [`Accepted::connection`]; later bytes go to the connection, not here.
    ///
    /// A status other than 101 is [`HandshakeError::Rejected`], holding the response and its
    /// body: when the response has a `Content-Length` and head and body fit in the size limit,
    /// the whole body is awaited; otherwise the body is what arrived with the head, up to the
    /// limit.
    ///
    /// A head that does not end within the limit is [`HandshakeError::TooLarge`]; the buffer
    /// never holds more than the limit.
    ///
    /// Once it has returned a result or an error the handshake is finished: a later call reads
    /// nothing and returns [`HandshakeError::AlreadyFinished`].
    pub fn receive(&mut self, data: &[u8]) -> Result<Option<Accepted>, HandshakeError> {
        let result = self.advance(data);
        if !matches!(result, Ok(None)) {
            self.state = State::Done;
        }
        result
    }

    fn advance(&mut self, data: &[u8]) -> Result<Option<Accepted>, HandshakeError> {
        match &self.state {
            State::Done => Err(HandshakeError::AlreadyFinished),
            State::Body { .. } => {
                self.buffer.fill(data);
                self.finish_body()
            }
            State::Head => {
                let taken = self.buffer.fill(data);
                if !self.buffer.worth_parsing() {
                    return Ok(None);
                }
                let (response, head_len) = match parse_response(self.buffer.bytes())? {
                    Decoded::Complete { value, len } => (value, len),
                    Decoded::Incomplete { .. } if self.buffer.is_full() => {
                        return Err(self.buffer.too_large());
                    }
                    Decoded::Incomplete { .. } => return Ok(None),
                };
                if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                    let room = self.buffer.limit() - head_len;
                    let body_len = match content_length(&response) {
                        Some(len) if len <= room => len,
                        _ => self.buffer.bytes().len() - head_len,
                    };
                    self.state = State::Body {
                        response,
                        head_len,
                        body_len,
                    };
                    return self.finish_body();
                }
                let offered = self.offered_subprotocols()?;
                let subprotocol = validate_response(&response, self.key(), &offered)?;
                let leftover = self.buffer.leftover(head_len, &data[taken..]);
                self.accept(response, subprotocol, &leftover).map(Some)
            }
        }
    }

    /// The subprotocols the request offers.
    fn offered_subprotocols(&self) -> Result<Vec<String>, HandshakeError> {
        list_strings(self.request.headers(), &SEC_WEBSOCKET_PROTOCOL)
    }

    /// The handshake's success, once the response's own checks passed: the extensions checked
    /// against the offer, and the client's connection with `leftover` as its first input.
    fn accept(
        &mut self,
        response: Response<()>,
        subprotocol: Option<String>,
        leftover: &[u8],
    ) -> Result<Accepted, HandshakeError> {
        // RFC 6455 section 4.1, client step 5: extensions "not present in the client's
        // handshake" fail the connection; with no offer at all, any is one of those.
        if response.headers().contains_key(SEC_WEBSOCKET_EXTENSIONS)
            && !self
                .request
                .headers()
                .contains_key(SEC_WEBSOCKET_EXTENSIONS)
        {
            return Err(HandshakeError::UnexpectedExtensions);
        }
        let extensions = joined(response.headers(), &SEC_WEBSOCKET_EXTENSIONS)?;
        let negotiated = if self.offer_from_config {
            extension::client_accept(&self.config, extensions.as_deref())?
        } else {
            Negotiated::default()
        };
        // The handshake is over once this returns, so its config goes to the connection.
        let config = std::mem::take(&mut self.config);
        let connection = start_connection(Role::Client, config, &negotiated, leftover);
        Ok(Accepted {
            response,
            subprotocol,
            extensions,
            negotiated,
            connection,
        })
    }

    /// The extended CONNECT (RFC 8441 section 4) that opens this WebSocket on a stream of an
    /// HTTP/2 connection instead of the HTTP/1.1 upgrade of [`request`](Self::request):
    /// method CONNECT, version HTTP/2, the target `https://HOST/RESOURCE` when `secure` (else
    /// `http://`), and the request's headers but those HTTP/2 leaves out (`Host`, which
    /// becomes the target's authority, and `Upgrade`, `Connection` and `Sec-WebSocket-Key`,
    /// which belong to the HTTP/1.1 upgrade). The `:protocol` pseudo-header, `websocket`, is
    /// the HTTP/2 library's to add (`hyper::ext::Protocol`, `h2::ext::Protocol`). Check the
    /// answer with [`accept_connect_response`](Self::accept_connect_response).
    ///
    /// ```
    /// use wsio_proto::ClientHandshake;
    ///
    /// let handshake = ClientHandshake::new(&"wss://example.com/chat".parse()?)
    ///     .subprotocols(["chat"])?;
    /// let request = handshake.connect_request(true);
    /// assert_eq!(request.method(), http::Method::CONNECT);
    /// assert_eq!(request.uri(), "https://example.com/chat");
    /// assert_eq!(request.headers()["sec-websocket-protocol"], "chat");
    /// assert!(!request.headers().contains_key("sec-websocket-key"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_request(&self, secure: bool) -> Request<()> {
        let headers = self.request.headers();
        let authority = headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("");
        let scheme = if secure { "https" } else { "http" };
        let mut request = Request::new(());
        *request.method_mut() = Method::CONNECT;
        *request.version_mut() = Version::HTTP_2;
        // Built from a valid Host header and resource; a host removed by hand leaves an
        // empty authority, which the HTTP/2 library refuses to send.
        *request.uri_mut() = format!("{scheme}://{authority}{}", self.request.uri())
            .parse()
            .unwrap_or_default();
        let kept = headers
            .iter()
            .filter(|(name, _)| ![&HOST, &UPGRADE, &CONNECTION, &SEC_WEBSOCKET_KEY].contains(name));
        for (name, value) in kept {
            request.headers_mut().append(name, value.clone());
        }
        request
    }

    /// Checks the server's answer to [`connect_request`](Self::connect_request) (RFC 8441
    /// section 5) and yields the connection, as [`receive`](Self::receive) does for the
    /// HTTP/1.1 upgrade: a 2xx status (any other is [`HandshakeError::Rejected`], with the
    /// response's head; its body is the HTTP library's to read), a subprotocol that was offered
    /// (or none), and extensions that fit the offer. The stream's data, read from now on, is
    /// the connection's input.
    ///
    /// Once it has returned, the handshake is finished, as after [`receive`](Self::receive).
    ///
    /// ```
    /// use wsio_proto::{ClientHandshake, Role};
    ///
    /// let mut handshake = ClientHandshake::new(&"ws://example.com/".parse()?);
    /// let _request = handshake.connect_request(false); // sent over HTTP/2
    /// let response = http::Response::builder().status(200).body(())?;
    /// let accepted = handshake.accept_connect_response(response)?;
    /// assert_eq!(accepted.connection.role(), Role::Client);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_connect_response(
        &mut self,
        response: Response<()>,
    ) -> Result<Accepted, HandshakeError> {
        if matches!(self.state, State::Done) {
            return Err(HandshakeError::AlreadyFinished);
        }
        self.state = State::Done;
        if !response.status().is_success() {
            return Err(HandshakeError::Rejected(Box::new(
                response.map(|()| Bytes::new()),
            )));
        }
        let subprotocol = chosen_subprotocol(response.headers(), &self.offered_subprotocols()?)?;
        self.accept(response, subprotocol, &[])
    }

    /// In [`State::Body`]: the refusal, once its body is complete.
    fn finish_body(&mut self) -> Result<Option<Accepted>, HandshakeError> {
        let State::Body {
            head_len, body_len, ..
        } = self.state
        else {
            unreachable!("only called while reading a body")
        };
        let end = head_len + body_len;
        if self.buffer.bytes().len() < end {
            return Ok(None);
        }
        let body = Bytes::copy_from_slice(&self.buffer.bytes()[head_len..end]);
        let State::Body { response, .. } = std::mem::replace(&mut self.state, State::Done) else {
            unreachable!()
        };
        Err(HandshakeError::Rejected(Box::new(response.map(|()| body))))
    }
}

/// A `Content-Length` that is a single, valid number.
fn content_length(response: &Response<()>) -> Option<usize> {
    let (count, value) = first_value(response.headers(), &CONTENT_LENGTH);
    let digits = value?.to_str().ok()?;
    if count != 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Builds a handshake request (RFC 6455 section 4.1): `GET resource HTTP/1.1` with `Host`,
/// `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key: key` and
/// `Sec-WebSocket-Version: 13`, in that order.
///
/// `key` should come from [`generate_key`]. An empty `resource` means `/`. Fails with
/// [`BuildError::InvalidHeader`] if `host` or `key` is not a valid header value, and
/// [`BuildError::InvalidTarget`] if `resource` is not a path and query.
///
/// [`ClientHandshake`] builds its request with this function.
pub fn build_request(host: &str, resource: &str, key: &str) -> Result<Request<()>, BuildError> {
    let resource = if resource.is_empty() { "/" } else { resource };
    let mut target: PathAndQuery = resource.parse().map_err(|_| BuildError::InvalidTarget)?;
    if target.as_str().starts_with('?') {
        // An origin-form target always has a path (RFC 9112 section 3.2.1).
        let with_path = format!("/{}", target.as_str());
        target = with_path.parse().map_err(|_| BuildError::InvalidTarget)?;
    } else if !target.as_str().starts_with('/') {
        return Err(BuildError::InvalidTarget);
    }
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = Uri::from(target);
    *request.version_mut() = Version::HTTP_11;
    let headers = request.headers_mut();
    headers.insert(
        HOST,
        HeaderValue::from_str(host).map_err(|_| invalid_input(&HOST))?,
    );
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let key = HeaderValue::from_str(key).map_err(|_| invalid_input(&SEC_WEBSOCKET_KEY))?;
    headers.insert(SEC_WEBSOCKET_KEY, key);
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    Ok(request)
}

/// Checks a server's response to a handshake request that sent `key` and offered
/// `offered_subprotocols` (RFC 6455 section 4.1), and returns the subprotocol the server chose.
///
/// Checks, in order: status 101 (else [`HandshakeError::Rejected`], whose body is empty here
/// since this function does not see one), `Upgrade: websocket`, `Connection` with the token
/// `upgrade`, `Sec-WebSocket-Accept` answering `key`, and a `Sec-WebSocket-Protocol`, if any,
/// that is one of `offered_subprotocols` (compared exactly).
///
/// It does not check `Sec-WebSocket-Extensions`, since it does not know what was offered: a
/// caller that offered none must fail a response that has one. [`ClientHandshake`] does both.
///
/// ```
/// use wsio_proto::handshake::{HandshakeError, accept_key, validate_response};
///
/// let key = "dGhlIHNhbXBsZSBub25jZQ==";
/// let response = http::Response::builder()
///     .status(101)
///     .header("upgrade", "websocket")
///     .header("connection", "Upgrade")
///     .header("sec-websocket-accept", accept_key(key))
///     .header("sec-websocket-protocol", "chat")
///     .body(())?;
/// assert_eq!(validate_response(&response, key, &["chat"])?.as_deref(), Some("chat"));
/// assert!(matches!(
///     validate_response(&response, key, &["other"]),
///     Err(HandshakeError::UnexpectedProtocol(_))
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_response<B>(
    response: &Response<B>,
    key: &str,
    offered_subprotocols: &[impl AsRef<str>],
) -> Result<Option<String>, HandshakeError> {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let mut refusal = Response::new(Bytes::new());
        *refusal.status_mut() = response.status();
        *refusal.version_mut() = response.version();
        *refusal.headers_mut() = response.headers().clone();
        return Err(HandshakeError::Rejected(Box::new(refusal)));
    }
    let headers = response.headers();
    // Client step 2: the value must be "websocket", in any case, and nothing else.
    let mut upgrade = list_items(headers, &UPGRADE);
    let is_websocket = upgrade
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"websocket"));
    if !is_websocket || upgrade.next().is_some() {
        return Err(HandshakeError::MissingUpgrade);
    }
    // Client step 3.
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // Client step 4.
    match first_value(headers, &SEC_WEBSOCKET_ACCEPT) {
        (0, _) => return Err(HandshakeError::MissingAccept),
        (1, Some(accept)) if accept.as_bytes().trim_ascii() == accept_key(key).as_bytes() => {}
        _ => return Err(HandshakeError::AcceptMismatch),
    }
    // Client step 6.
    chosen_subprotocol(headers, offered_subprotocols)
}

/// The subprotocol a response chose: none, or a single one of those offered (RFC 6455
/// section 4.1, client step 6).
fn chosen_subprotocol(
    headers: &HeaderMap,
    offered: &[impl AsRef<str>],
) -> Result<Option<String>, HandshakeError> {
    let Some(chosen) = joined(headers, &SEC_WEBSOCKET_PROTOCOL)? else {
        return Ok(None);
    };
    let chosen = chosen.trim();
    if headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter().count() == 1
        && offered.iter().any(|p| p.as_ref() == chosen)
    {
        Ok(Some(chosen.to_owned()))
    } else {
        Err(HandshakeError::UnexpectedProtocol(chosen.into()))
    }
}

/// [`BuildError::InvalidHeader`] naming `name`.
fn invalid_input(name: &HeaderName) -> BuildError {
    BuildError::InvalidHeader(name.as_str().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::handshake::tests::{assert_holds, events};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A handshake with a fixed key, so that responses can be written by hand.
    fn client() -> ClientHandshake {
        ClientHandshake::from_parts("h", "/")
            .unwrap()
            .header("sec-websocket-key", KEY)
            .unwrap()
    }

    /// A valid `101` for [`KEY`], with extra header lines and bytes after the head.
    fn switching(extra: &str, after: &[u8]) -> Vec<u8> {
        let mut wire = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
        .into_bytes();
        wire.extend_from_slice(after);
        wire
    }

    fn accepted(handshake: &mut ClientHandshake, wire: &[u8]) -> Accepted {
        handshake
            .receive(wire)
            .unwrap()
            .expect("a complete response")
    }

    fn failure(mut handshake: ClientHandshake, wire: &[u8]) -> HandshakeError {
        handshake.receive(wire).expect_err("the response must fail")
    }

    #[test]
    fn request_from_url() {
        let url = "wss://bob:pw@Example.com:8443/chat?room=1".parse().unwrap();
        let handshake = ClientHandshake::new(&url)
            .subprotocols(["b", "a"])
            .unwrap()
            .extensions("permessage-deflate")
            .unwrap()
            .origin("https://example.com")
            .unwrap()
            .header("Cookie", "x=1")
            .unwrap()
            .header("cookie", "y=2")
            .unwrap();
        let key = handshake.key().to_owned();
        assert_eq!(key.len(), 24);
        let wire = String::from_utf8(handshake.encode_request()).unwrap();
        assert_eq!(
            wire,
            format!(
                "GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8443\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
                 Authorization: Basic Ym9iOnB3\r\nSec-WebSocket-Protocol: b, a\r\n\
                 Sec-WebSocket-Extensions: permessage-deflate\r\nOrigin: https://example.com\r\n\
                 Cookie: x=1\r\nCookie: y=2\r\n\r\n"
            )
        );
        let url = "ws+unix:///tmp/s.sock:/x".parse().unwrap();
        let wire = ClientHandshake::new(&url).encode_request();
        assert!(wire.starts_with(b"GET /x HTTP/1.1\r\nHost: localhost\r\n"));
        // Each handshake has its own key.
        assert_ne!(
            ClientHandshake::new(&url).key(),
            ClientHandshake::new(&url).key()
        );
    }

    #[test]
    fn builder_errors() {
        let c = || ClientHandshake::from_parts("h", "/").unwrap();
        for bad in [&["a b"][..], &[""], &["a", "a"], &["a,b"]] {
            assert!(matches!(
                c().subprotocols(bad),
                Err(BuildError::InvalidSubprotocol(_))
            ));
        }
        assert!(matches!(c().origin("a\nb"), Err(BuildError::InvalidHeader(n)) if &*n == "origin"));
        assert!(matches!(
            c().extensions("\r"),
            Err(BuildError::InvalidHeader(_))
        ));
        assert!(
            matches!(c().header("bad name", "x"), Err(BuildError::InvalidHeader(n)) if &*n == "bad name")
        );
        assert!(matches!(
            c().header("x", "a\0"),
            Err(BuildError::InvalidHeader(_))
        ));
        assert!(matches!(
            ClientHandshake::from_parts("h\n", "/"),
            Err(BuildError::InvalidHeader(_))
        ));
        for resource in ["chat", "/a b", "http://h/x", "*"] {
            assert!(
                matches!(
                    ClientHandshake::from_parts("h", resource),
                    Err(BuildError::InvalidTarget)
                ),
                "{resource}"
            );
        }
        assert_eq!(build_request("h", "", KEY).unwrap().uri(), "/");
        assert_eq!(build_request("h", "?q", KEY).unwrap().uri(), "/?q");
        // An empty list or offer removes the header.
        let h = c()
            .subprotocols(["a"])
            .unwrap()
            .subprotocols([] as [&str; 0])
            .unwrap();
        assert!(!h.request().headers().contains_key(SEC_WEBSOCKET_PROTOCOL));
        let h = c().extensions("x").unwrap().extensions("").unwrap();
        assert!(!h.request().headers().contains_key(SEC_WEBSOCKET_EXTENSIONS));
    }

    #[test]
    fn accepts_a_valid_response() {
        let mut handshake = client();
        let accepted = accepted(&mut handshake, &switching("", b""));
        assert_eq!(accepted.response.status(), 101);
        assert_eq!((accepted.subprotocol, accepted.extensions), (None, None));
        assert!(accepted.negotiated.is_empty());
        let mut connection = accepted.connection;
        assert_eq!(connection.role(), Role::Client);
        assert_eq!(connection.state(), crate::State::Open);
        assert_eq!(events(&mut connection), []);
    }

    #[test]
    fn the_connection_runs_the_config() {
        let config = Config::default().max_message_size(3).auto_pong(false);
        let mut handshake = client().config(config);
        let mut connection = accepted(&mut handshake, &switching("", b"\x89\x00")).connection;
        assert_eq!(
            (
                connection.config().max_message_size,
                connection.config().auto_pong
            ),
            (3, false)
        );
        assert_eq!(
            events(&mut connection),
            [Event::Message(crate::Message::Ping(Bytes::new()))]
        );
        assert_eq!(connection.buffered_amount(), 0); // no automatic pong
    }

    #[test]
    fn config_sets_the_head_limit_and_the_offer() {
        let small = Config::default().max_handshake_size(20);
        let error = failure(client().config(small.clone()), &switching("", b""));
        assert!(matches!(error, HandshakeError::TooLarge { limit: 20 }));
        // The call made last decides the limit.
        let mut handshake = client().config(small).max_head_size(DEFAULT_MAX_HEAD_SIZE);
        accepted(&mut handshake, &switching("", b""));
        // A config without extensions keeps an offer made by hand, and makes none itself.
        let by_hand = client()
            .extensions("x-custom")
            .unwrap()
            .config(Config::default());
        assert_eq!(
            by_hand.request().headers()[SEC_WEBSOCKET_EXTENSIONS],
            "x-custom"
        );
        let none = client().config(Config::default());
        assert!(
            !none
                .request()
                .headers()
                .contains_key(SEC_WEBSOCKET_EXTENSIONS)
        );
    }

    #[test]
    fn tokens_are_case_insensitive_and_listed() {
        let wire = b"HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n\
                     sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        accepted(&mut client(), wire);
        let wire = b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\
                     Connection: upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        accepted(&mut client(), wire);
    }

    #[test]
    fn response_failures() {
        use HandshakeError::*;
        let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        type Check = fn(&HandshakeError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (format!("Connection: Upgrade\r\n{accept}"), |e| {
                matches!(e, MissingUpgrade)
            }),
            (
                format!("Upgrade: h2c\r\nConnection: Upgrade\r\n{accept}"),
                |e| matches!(e, MissingUpgrade),
            ),
            (
                format!("Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n{accept}"),
                |e| matches!(e, MissingUpgrade),
            ),
            (format!("Upgrade: websocket\r\n{accept}"), |e| {
                matches!(e, MissingConnectionUpgrade)
            }),
            (
                format!("Upgrade: websocket\r\nConnection: keep-alive\r\n{accept}"),
                |e| matches!(e, MissingConnectionUpgrade),
            ),
            (
                "Upgrade: websocket\r\nConnection: Upgrade\r\n".into(),
                |e| matches!(e, MissingAccept),
            ),
            (
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n".into(),
                |e| matches!(e, AcceptMismatch),
            ),
            (
                format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{accept}{accept}"),
                |e| matches!(e, AcceptMismatch),
            ),
        ];
        for (headers, expected) in cases {
            let wire = format!("HTTP/1.1 101 Switching Protocols\r\n{headers}\r\n");
            let error = failure(client(), wire.as_bytes());
            assert!(expected(&error), "{headers}: {error:?}");
            assert_eq!(
                error.status(),
                if matches!(error, MissingUpgrade | MissingConnectionUpgrade) {
                    400
                } else {
                    502
                }
            );
        }
        // An accept computed for another key.
        let other = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key("AAAAAAAAAAAAAAAAAAAAAA==")
        );
        assert!(matches!(
            failure(client(), other.as_bytes()),
            AcceptMismatch
        ));
        assert!(matches!(
            failure(client(), b"HTTP/1.1 101 OK\r\nBad Header\r\n\r\n"),
            Malformed(_)
        ));
        assert!(matches!(
            failure(client(), b"HTTP/2 101\r\n\r\n"),
            Malformed(_)
        ));
    }

    #[test]
    fn subprotocol_checks() {
        use HandshakeError::UnexpectedProtocol;
        let offering = || client().subprotocols(["chat", "superchat"]).unwrap();
        let chosen = accepted(
            &mut offering(),
            &switching("Sec-WebSocket-Protocol: superchat\r\n", b""),
        );
        assert_eq!(chosen.subprotocol.as_deref(), Some("superchat"));

        let cases = [
            ("Sec-WebSocket-Protocol: other\r\n", "other"),
            ("Sec-WebSocket-Protocol: Chat\r\n", "Chat"),
            (
                "Sec-WebSocket-Protocol: chat, superchat\r\n",
                "chat, superchat",
            ),
            (
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
                "chat, chat",
            ),
        ];
        for (extra, sent) in cases {
            let error = failure(offering(), &switching(extra, b""));
            assert!(
                matches!(&error, UnexpectedProtocol(p) if &**p == sent),
                "{extra}: {error:?}"
            );
        }
        // None offered, one chosen.
        let error = failure(
            client(),
            &switching("Sec-WebSocket-Protocol: chat\r\n", b""),
        );
        assert!(matches!(error, UnexpectedProtocol(_)));
        // Offered, none chosen: fine.
        assert_eq!(
            accepted(&mut offering(), &switching("", b"")).subprotocol,
            None
        );
        // An offer made through `header` counts as well.
        let mut raw = client().header("sec-websocket-protocol", "x, y").unwrap();
        let chosen = accepted(&mut raw, &switching("Sec-WebSocket-Protocol: y\r\n", b""));
        assert_eq!(chosen.subprotocol.as_deref(), Some("y"));
    }

    #[test]
    fn extension_checks() {
        let extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        let error = failure(client(), &switching(extra, b""));
        assert!(matches!(error, HandshakeError::UnexpectedExtensions));
        let mut offering = client()
            .extensions("permessage-deflate; client_max_window_bits")
            .unwrap();
        let accepted = accepted(&mut offering, &switching(extra, b""));
        assert_eq!(accepted.extensions.as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn one_byte_at_a_time_with_leftover() {
        let wire = switching("", b"\x81\x05Hello\x89\x00");
        let mut handshake = client();
        let mut result = None;
        for (i, byte) in wire.iter().enumerate() {
            if let Some(accepted) = handshake.receive(std::slice::from_ref(byte)).unwrap() {
                result = Some((i, accepted));
                break;
            }
        }
        // Complete on the last byte of the head; the frames arrive afterwards.
        let (at, mut accepted) = result.unwrap();
        assert_eq!(at, wire.len() - 10);
        assert_holds(&mut accepted.connection, b"");

        // In one chunk, or in chunks that cut the frames, the connection has the bytes after
        // the head that came with the call that completed it.
        for split in [0, 10, wire.len() - 9, wire.len() - 5] {
            let mut handshake = client();
            let (a, b) = wire.split_at(split);
            // Bytes that come after the call that completes the head are the caller's.
            let (mut accepted, unread) = match handshake.receive(a).unwrap() {
                Some(accepted) => (accepted, b),
                None => (handshake.receive(b).unwrap().unwrap(), &[][..]),
            };
            let connection = &mut accepted.connection;
            connection.receive(std::time::Instant::now(), unread);
            assert_eq!(
                events(connection),
                [
                    Event::Message(crate::Message::text("Hello")),
                    Event::Message(crate::Message::Ping(Bytes::new()))
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn size_limit() {
        let wire = switching(&format!("X-Pad: {}\r\n", "p".repeat(100)), b"after");
        let head_len = wire.len() - 5;
        // Exactly the limit is fine, in one chunk or one byte at a time, and the leftover
        // beyond the limit is kept.
        let mut accepted = accepted(&mut client().max_head_size(head_len), &wire);
        assert_holds(&mut accepted.connection, b"after");
        let mut handshake = client().max_head_size(head_len);
        let mut done = false;
        for byte in &wire[..head_len] {
            done = handshake
                .receive(std::slice::from_ref(byte))
                .unwrap()
                .is_some();
        }
        assert!(done);
        // One less is too large, either way.
        let error = failure(client().max_head_size(head_len - 1), &wire);
        assert!(matches!(error, HandshakeError::TooLarge { limit } if limit == head_len - 1));
        let mut handshake = client().max_head_size(head_len - 1);
        for (i, byte) in wire.iter().enumerate() {
            match handshake.receive(std::slice::from_ref(byte)) {
                Ok(None) => assert!(handshake.buffer.bytes().len() < head_len - 1),
                Err(HandshakeError::TooLarge { .. }) => {
                    assert_eq!(i, head_len - 2);
                    assert_eq!(handshake.buffer.bytes().len(), head_len - 1);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        // The default limit.
        let huge = switching(
            &format!("X-Pad: {}\r\n", "p".repeat(DEFAULT_MAX_HEAD_SIZE)),
            b"",
        );
        assert!(matches!(
            failure(client(), &huge),
            HandshakeError::TooLarge { limit: 8192 }
        ));
    }

    fn rejected(error: HandshakeError) -> Response<Bytes> {
        match error {
            HandshakeError::Rejected(response) => *response,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn refusal_waits_for_its_body() {
        let wire = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nX-Why: policy\r\n\r\nforbidden";
        let mut handshake = client();
        let mut error = None;
        for byte in wire {
            match handshake.receive(std::slice::from_ref(byte)) {
                Ok(None) => {}
                Ok(Some(_)) => panic!("accepted a 403"),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let response = rejected(error.expect("an error at the last byte"));
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()["x-why"], "policy");
        assert_eq!(&response.body()[..], b"forbidden");

        // Bytes after the announced body are not part of it.
        let mut wire = wire.to_vec();
        wire.extend_from_slice(b"junk");
        let response = rejected(failure(client(), &wire));
        assert_eq!(&response.body()[..], b"forbidden");
    }

    #[test]
    fn refusal_without_a_usable_length_takes_what_arrived() {
        let wire = b"HTTP/1.1 500 Internal Server Error\r\n\r\npartial";
        assert_eq!(&rejected(failure(client(), wire)).body()[..], b"partial");
        let wire = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n";
        let response = rejected(failure(client(), wire));
        assert_eq!(
            (response.status().as_u16(), response.body().len()),
            (302, 0)
        );
        // A length beyond the limit: what fits is taken at once.
        let wire = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\nabc";
        let head_len = wire.len() - 3;
        let response = rejected(failure(client().max_head_size(head_len + 50), wire));
        assert_eq!(&response.body()[..], b"abc");
        let response = rejected(failure(client().max_head_size(head_len + 2), wire));
        assert_eq!(&response.body()[..], b"ab");
        // A malformed length.
        let wire = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1, 1\r\n\r\nabc";
        assert_eq!(&rejected(failure(client(), wire)).body()[..], b"abc");
    }

    #[test]
    fn receive_after_the_end_is_an_error() {
        let finished = |handshake: &mut ClientHandshake| {
            for more in [&b"more"[..], b"", &switching("", b"")] {
                let error = handshake.receive(more).unwrap_err();
                assert!(
                    matches!(error, HandshakeError::AlreadyFinished),
                    "{error:?}"
                );
                assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
            }
        };
        // After success.
        let mut handshake = client();
        accepted(&mut handshake, &switching("", b""));
        finished(&mut handshake);
        // After a refusal, whose body was awaited.
        let mut handshake = client();
        let refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n";
        assert!(handshake.receive(refusal).unwrap().is_none());
        assert!(matches!(
            handshake.receive(b"no"),
            Err(HandshakeError::Rejected(_))
        ));
        finished(&mut handshake);
        // After a response that fails its checks, and after a head that is too large.
        let mut handshake = client();
        let wrong = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert!(handshake.receive(wrong).is_err());
        finished(&mut handshake);
        let mut handshake = client().max_head_size(10);
        assert!(matches!(
            handshake.receive(&switching("", b"")),
            Err(HandshakeError::TooLarge { .. })
        ));
        finished(&mut handshake);
    }

    #[test]
    fn validate_response_alone() {
        let response = Response::builder()
            .status(404)
            .header("x", "y")
            .body("ignored")
            .unwrap();
        let refusal = rejected(validate_response(&response, KEY, &[] as &[&str]).unwrap_err());
        assert_eq!(refusal.status(), 404);
        assert_eq!(refusal.headers()["x"], "y");
        assert!(refusal.body().is_empty());
    }

    #[test]
    fn the_extended_connect_carries_the_offers_but_not_the_upgrade() {
        let handshake =
            ClientHandshake::new(&"wss://example.com:8443/chat?room=1".parse().unwrap())
                .subprotocols(["a", "b"])
                .unwrap()
                .origin("https://example.com")
                .unwrap()
                .header("cookie", "x=1")
                .unwrap();
        let request = handshake.connect_request(true);
        assert_eq!(request.method(), Method::CONNECT);
        assert_eq!(request.version(), Version::HTTP_2);
        assert_eq!(request.uri(), "https://example.com:8443/chat?room=1");
        let headers = request.headers();
        for gone in [HOST, UPGRADE, CONNECTION, SEC_WEBSOCKET_KEY] {
            assert!(!headers.contains_key(&gone), "{gone}");
        }
        assert_eq!(headers[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(headers[SEC_WEBSOCKET_PROTOCOL], "a, b");
        assert_eq!(headers[ORIGIN], "https://example.com");
        assert_eq!(headers["cookie"], "x=1");
        assert_eq!(
            handshake.connect_request(false).uri().scheme_str(),
            Some("http")
        );
    }

    #[test]
    fn answers_to_an_extended_connect_are_checked() {
        let fresh = || {
            ClientHandshake::new(&"ws://h/".parse().unwrap())
                .subprotocols(["a"])
                .unwrap()
        };
        let answer = |status: u16, headers: &[(&str, &str)]| {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            response.body(()).unwrap()
        };
        let accepted = fresh()
            .accept_connect_response(answer(200, &[("sec-websocket-protocol", "a")]))
            .unwrap();
        assert_eq!(accepted.subprotocol.as_deref(), Some("a"));
        assert_eq!(accepted.connection.role(), Role::Client);

        let mut handshake = fresh();
        let refused = handshake.accept_connect_response(answer(404, &[("x", "y")]));
        let Err(HandshakeError::Rejected(refusal)) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(refusal.status(), 404);
        assert_eq!(refusal.headers()["x"], "y");
        assert!(matches!(
            handshake.accept_connect_response(answer(200, &[])),
            Err(HandshakeError::AlreadyFinished)
        ));

        let other =
            fresh().accept_connect_response(answer(200, &[("sec-websocket-protocol", "z")]));
        assert!(
            matches!(other, Err(HandshakeError::UnexpectedProtocol(_))),
            "{other:?}"
        );
        let unasked =
            fresh().accept_connect_response(answer(200, &[("sec-websocket-extensions", "x")]));
        assert!(
            matches!(unasked, Err(HandshakeError::UnexpectedExtensions)),
            "{unasked:?}"
        );
    }

    /// Both sides of an HTTP/2 handshake, without the HTTP/2 framing: the client's extended
    /// CONNECT checked by the server, its answer by the client, permessage-deflate agreed,
    /// and a message each way.
    #[cfg(feature = "deflate")]
    #[test]
    fn an_extended_connect_handshake_agrees_deflate_both_ways() {
        use crate::deflate::DeflateConfig;
        use crate::handshake::validate_connect_request;
        use crate::{Event, Message};
        let config = Config::default().deflate(Some(DeflateConfig::default()));
        let mut client =
            ClientHandshake::new(&"ws://h/chat".parse().unwrap()).config(config.clone());
        let request = client.connect_request(false);
        let offer = validate_connect_request(&request, Some("websocket")).unwrap();
        let (response, mut server) = offer.accept_connection(None, config, &[]).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut client = client.accept_connect_response(response).unwrap().connection;
        assert!(!client.negotiated().is_empty());
        let now = std::time::Instant::now();
        client.send_text("over a stream").unwrap();
        let output = client.poll_transmit();
        let wire = bytes::Buf::copy_to_bytes(output, bytes::Buf::remaining(output));
        server.receive(now, &wire);
        assert_eq!(
            server.poll_event(now),
            Some(Event::Message(Message::text("over a stream")))
        );
    }
}
