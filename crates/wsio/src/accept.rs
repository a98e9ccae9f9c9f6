//! Accepting one connection: [`accept`] and [`accept_with`].

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use wsio_proto::handshake::{encode_response_head, validate_connect_request, validate_request};
use wsio_proto::{Connection, HandshakeError, IncomingRequest, UpgradeOffer};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::handshake_io;
use crate::websocket::WebSocket;

/// Runs the server side of the handshake on a fresh connection, with default settings,
/// accepting any request and no subprotocol.
///
/// ```no_run
/// # async fn demo() -> wsio::Result<()> {
/// use futures_util::{SinkExt, StreamExt};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (stream, _) = listener.accept().await?;
/// let mut ws = wsio::accept(stream).await?;
/// while let Some(message) = ws.next().await {
///     let message = message?;
///     if message.is_data() {
///         ws.send(message).await?;
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, &Config::default(), |_: &UpgradeRequest<'_>| {
        Ok(Accept::new())
    })
    .await
}

/// Runs the server side of the handshake, letting `decide` look at the request and accept it
/// (choosing a subprotocol, adding headers) or refuse it with a status and body.
///
/// Requests that are not valid WebSocket upgrades are refused with the matching HTTP error
/// (400, or 426 for an unsupported version) before `decide` is called. With an extension
/// turned on (permessage-deflate), an extension offer that does not parse is refused with 400
/// once `decide` has accepted the request.
///
/// ```no_run
/// # async fn demo(stream: tokio::net::TcpStream) -> wsio::Result<()> {
/// use http::{HeaderName, HeaderValue, StatusCode};
/// use wsio::{Accept, Config, Reject, UpgradeRequest};
///
/// let ws = wsio::accept_with(stream, &Config::default(), |request: &UpgradeRequest<'_>| {
///     if request.path() != "/chat" {
///         return Err(Reject::new(StatusCode::NOT_FOUND, "no such room"));
///     }
///     let subprotocol = request.select_subprotocol(&["chat.v2", "chat.v1"]);
///     let server = (HeaderName::from_static("x-server"), HeaderValue::from_static("wsio"));
///     Ok(Accept::new().subprotocol(subprotocol).header(server.0, server.1))
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with<S, F>(mut stream: S, config: &Config, decide: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let incoming = handshake_io::read_request(&mut stream, config).await?;
    respond(stream, incoming, config, decide).await
}

/// Answers a request already read: with the 101 that `decide` allows, or with its refusal.
pub(crate) async fn respond<S, F>(
    mut stream: S,
    incoming: IncomingRequest,
    config: &Config,
    decide: F,
) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let answered = answer(&incoming.request, None, &incoming.leftover, config, decide);
    let (response, connection) = match answered {
        Ok(answer) => answer,
        Err(refusal) => {
            handshake_io::answer_and_close(&mut stream, &refusal.response).await;
            return Err(refusal.error);
        }
    };
    let head = encode_response_head(&response);
    let write = handshake_io::write_response(&mut stream, &head);
    tokio::time::timeout(config.handshake_timeout, write)
        .await
        .map_err(|_| crate::Error::Timeout(crate::Phase::Handshake))??;
    Ok(WebSocket::from_connection(stream, connection, config))
}

/// A handshake request, as the callback of [`accept_with`] (or `upgrade_with`, with the `hyper`
/// feature) sees it.
#[derive(Debug)]
pub struct UpgradeRequest<'a> {
    pub(crate) request: &'a Request<()>,
    pub(crate) offer: &'a UpgradeOffer,
}

impl UpgradeRequest<'_> {
    /// The request's path, without the query.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The request's query, if any.
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The WebSocket subprotocols the client offered, in its order.
    pub fn subprotocols(&self) -> &[String] {
        &self.offer.subprotocols
    }

    /// The first of the WebSocket subprotocols `supported` (in the server's order of
    /// preference) that the client offered.
    pub fn select_subprotocol(&self, supported: &[&str]) -> Option<String> {
        wsio_proto::handshake::select_subprotocol(&self.offer.subprotocols, supported)
            .map(String::from)
    }

    /// The whole request.
    pub fn request(&self) -> &Request<()> {
        self.request
    }
}

/// How [`accept_with`]'s callback accepts a request.
#[derive(Debug, Default, Clone)]
pub struct Accept {
    subprotocol: Option<String>,
    headers: HeaderMap,
}

impl Accept {
    /// Accepts with no subprotocol and no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a WebSocket subprotocol; it must be one the client offered.
    pub fn subprotocol(mut self, subprotocol: impl Into<Option<String>>) -> Self {
        self.subprotocol = subprotocol.into();
        self
    }

    /// Adds a header to the 101 response.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// How [`accept_with`]'s callback refuses a request: the HTTP response to send instead of 101.
#[derive(Debug, Clone)]
pub struct Reject(pub(crate) Box<http::Response<Bytes>>);

impl Reject {
    /// A refusal with a status and a plain-text body.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Reject(Box::new(wsio_proto::handshake::reject(status, body)))
    }
}

impl From<http::Response<Bytes>> for Reject {
    fn from(response: http::Response<Bytes>) -> Self {
        Reject(Box::new(response))
    }
}

/// A copy of a request's head (method, target, version, headers) without its body: an
/// `http::Request` cannot be cloned, and handlers keep the head after the handshake.
pub(crate) fn copy_head<B>(request: &Request<B>) -> Request<()> {
    let mut copy = Request::new(());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Checks a handshake request: an HTTP/1.1 upgrade (RFC 6455 section 4.2.1) up to HTTP/1.1,
/// an extended CONNECT (RFC 8441 section 4) from HTTP/2 on, `protocol` being its `:protocol`.
pub(crate) fn validate(
    request: &Request<()>,
    protocol: Option<&str>,
) -> Result<UpgradeOffer, HandshakeError> {
    if request.version() >= Version::HTTP_2 {
        validate_connect_request(request, protocol)
    } else {
        validate_request(request)
    }
}

/// A refused handshake: the response to send, and the error to return once it is sent.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) response: http::Response<Bytes>,
    pub(crate) error: Error,
}

impl Refusal {
    /// The refusal of a request that failed a check of the handshake.
    pub(crate) fn of(error: HandshakeError) -> Box<Self> {
        Box::new(Refusal {
            response: error.response(),
            error: error.into(),
        })
    }

    /// The refusal of a request whose connection the HTTP server cannot hand over: one it did
    /// not read itself, or whose upgrade was already taken.
    #[cfg(feature = "hyper")]
    pub(crate) fn not_upgradable() -> Self {
        let error = std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the request has no hyper upgrade: it was not read by a hyper server, \
             or its upgrade was already taken",
        );
        Refusal {
            response: wsio_proto::handshake::reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot upgrade\n",
            ),
            error: error.into(),
        }
    }
}

/// How a server answers a handshake request, whatever does the I/O: the request is checked
/// ([`validate`], with `protocol` the `:protocol` of an extended CONNECT), `decide` accepts or refuses it, and an accepted
/// request is answered with the extensions `config` enables. Gives the response (101, or 200
/// for an extended CONNECT) and the server's connection, which holds `leftover` (the bytes
/// read after the request head), or the refusal.
pub(crate) fn answer<F>(
    request: &Request<()>,
    protocol: Option<&str>,
    leftover: &[u8],
    config: &Config,
    decide: F,
) -> Result<(http::Response<()>, Connection), Box<Refusal>>
where
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let offer = validate(request, protocol).map_err(Refusal::of)?;
    let accept = match decide(&UpgradeRequest {
        request,
        offer: &offer,
    }) {
        Ok(accept) => accept,
        Err(Reject(refusal)) => {
            return Err(Box::new(Refusal {
                response: (*refusal).clone(),
                error: Error::Rejected(refusal),
            }));
        }
    };
    let subprotocol = accept.subprotocol.as_deref();
    let (mut response, connection) = offer
        .accept_connection(subprotocol, config.protocol.clone(), leftover)
        .map_err(Refusal::of)?;
    response.headers_mut().extend(accept.headers);
    Ok((response, connection))
}
