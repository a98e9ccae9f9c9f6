//! Upgrading a request that a hyper 1.x server received, an HTTP/1.1 upgrade or an HTTP/2
//! extended CONNECT (RFC 8441): [`upgrade`] and [`upgrade_with`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use wsio_proto::Connection;

use crate::accept::{Accept, Refusal, Reject, UpgradeRequest};
use crate::config::Config;
use crate::error::Result;
use crate::websocket::WebSocket;

/// Whether a request that a hyper server received asks for a WebSocket: an HTTP/1.1 request
/// whose `Upgrade` header names `websocket`
/// ([`wsio_proto::handshake::is_upgrade_request`]), or an HTTP/2 CONNECT whose `:protocol` is
/// `websocket` (which hyper keeps as a [`hyper::ext::Protocol`]).
///
/// A cheap test for routing, so that one service can serve plain HTTP and WebSocket; it
/// checks nothing else. [`upgrade_with`] refuses the malformed requests it lets through, with
/// the status that says why.
///
/// ```
/// let http1 = http::Request::get("/chat").header("upgrade", "websocket").body(())?;
/// assert!(wsio::is_upgrade_request(&http1));
///
/// let mut http2 = http::Request::connect("https://example.com/chat")
///     .version(http::Version::HTTP_2)
///     .body(())?;
/// assert!(!wsio::is_upgrade_request(&http2)); // a plain CONNECT: a tunnel
/// http2.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
/// assert!(wsio::is_upgrade_request(&http2));
/// # Ok::<(), http::Error>(())
/// ```
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    if request.method() == Method::CONNECT {
        protocol(request.extensions())
            .is_some_and(|protocol| protocol.eq_ignore_ascii_case("websocket"))
    } else {
        wsio_proto::handshake::is_upgrade_request(request)
    }
}

/// The `:protocol` of an extended CONNECT, as hyper's HTTP/2 server keeps it in a request's
/// extensions.
pub(crate) fn protocol(extensions: &http::Extensions) -> Option<&str> {
    extensions
        .get::<hyper::ext::Protocol>()
        .map(hyper::ext::Protocol::as_str)
}

/// The WebSocket of a request that a hyper server upgraded (over HTTP/2, one stream of the
/// connection): what [`Upgrading`] yields.
pub type UpgradedWebSocket = WebSocket<TokioIo<Upgraded>>;

/// Upgrades a request received by a hyper server to WebSocket, with default settings,
/// accepting any valid handshake and no subprotocol.
///
/// Returns the response for the service to return, and the connection to come (see
/// [`upgrade_with`], which this calls, for the details).
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper::body::Incoming;
/// use hyper::{Request, Response};
///
/// async fn route(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
///     if !wsio::is_upgrade_request(&request) {
///         return Ok(Response::new(Full::from("hello over HTTP\n")));
///     }
///     let (response, upgrading) = wsio::upgrade(&mut request);
///     if let Ok(upgrading) = upgrading {
///         tokio::spawn(async move {
///             if let Ok(mut ws) = upgrading.await {
///                 let _ = ws.send_text("hello over WebSocket").await;
///             }
///         });
///     }
///     Ok(response)
/// }
/// ```
pub fn upgrade<B, R>(request: &mut Request<B>) -> (Response<R>, Result<Upgrading>)
where
    R: From<Bytes>,
{
    upgrade_with(request, &Config::default(), |_: &UpgradeRequest<'_>| {
        Ok(Accept::new())
    })
}

/// Upgrades a request received by a hyper server to WebSocket, letting `decide` look at the
/// request and accept it (choosing a subprotocol, adding headers) or refuse it, as
/// [`accept_with`](crate::accept_with) does for a bare connection.
///
/// Returns two things:
///
/// - The response, which the service returns to hyper in every case: `101 Switching
///   Protocols` when an HTTP/1.1 upgrade is accepted, `200 OK` when an HTTP/2 extended
///   CONNECT is; otherwise the refusal, with the status that says why (400, 405 for the wrong
///   method, or 426 and `Sec-WebSocket-Version: 13` for an unsupported version; see
///   [`HandshakeError::status`](crate::HandshakeError::status)), or the one `decide` chose.
/// - The upgrade: an [`Upgrading`] future, which yields the [`WebSocket`] once hyper has sent
///   the response and handed over the connection (over HTTP/2, the request's stream); or why
///   the request was refused, as
///   [`Error::Handshake`](crate::Error::Handshake) when it broke RFC 6455, or
///   [`Error::Rejected`](crate::Error::Rejected) with the response when `decide` refused.
///
/// Requests that are not valid WebSocket upgrades are refused before `decide` is called, by
/// [`validate_request`](wsio_proto::handshake::validate_request) (HTTP/1.1) or
/// [`validate_connect_request`](wsio_proto::handshake::validate_connect_request) (HTTP/2,
/// with the `:protocol` hyper keeps as a [`hyper::ext::Protocol`]). In the [`UpgradeRequest`]
/// that `decide` sees, [`request`](UpgradeRequest::request) has the method, target, version
/// and headers of `request` but not its extensions; look at those before calling this.
///
/// The response body is any type that converts from [`Bytes`], such as
/// `http_body_util::Full<Bytes>`, so that the response fits the service's own without this
/// crate choosing a body crate; ask for `Response<Bytes>` and
/// [`map`](http::Response::map) it if the service's body converts otherwise.
///
/// hyper hands over an HTTP/1.1 connection only when it is served with upgrades enabled
/// (`hyper::server::conn::http1::Builder::serve_connection(..).with_upgrades()`), and an
/// HTTP/2 client sends an extended CONNECT only to a server that allows it
/// (`hyper::server::conn::http2::Builder::enable_connect_protocol`; hyper-util's `auto`
/// builder has both). Over HTTP/2 the WebSocket is one stream of the connection: closing it
/// ends only that stream, and HTTP/2 flow control holds back a peer that sends faster than
/// the application reads. Of `config`, the protocol settings and buffer sizes apply; the
/// connect and handshake timeouts do not, since hyper reads the request (its own
/// `header_read_timeout` bounds that).
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper::body::Incoming;
/// use hyper::{Request, Response, StatusCode};
/// use wsio::{Accept, Config, Reject, UpgradeRequest};
///
/// async fn route(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
///     let (response, upgrading) = wsio::upgrade_with(
///         &mut request,
///         &Config::default(),
///         |request: &UpgradeRequest<'_>| {
///             if request.path() != "/chat" {
///                 return Err(Reject::new(StatusCode::NOT_FOUND, "no such room"));
///             }
///             Ok(Accept::new().subprotocol(request.select_subprotocol(&["chat.v2", "chat.v1"])))
///         },
///     );
///     match upgrading {
///         Ok(upgrading) => {
///             tokio::spawn(async move {
///                 match upgrading.await {
///                     Ok(ws) => { /* talk over `ws` */ }
///                     Err(error) => eprintln!("upgrade failed: {error}"),
///                 }
///             });
///         }
///         Err(error) => eprintln!("refused: {error}"),
///     }
///     Ok(response)
/// }
/// ```
pub fn upgrade_with<B, R, F>(
    request: &mut Request<B>,
    config: &Config,
    decide: F,
) -> (Response<R>, Result<Upgrading>)
where
    R: From<Bytes>,
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let head = crate::accept::copy_head(request);
    // Bytes hyper read past the request come first out of `Upgraded` itself, so nothing is
    // left over here.
    let protocol = protocol(request.extensions());
    let answered = crate::accept::answer(&head, protocol, &[], config, decide);
    let (response, connection) = match answered {
        Ok(answer) => answer,
        Err(refusal) => {
            let Refusal { response, error } = *refusal;
            return (response.map(R::from), Err(error));
        }
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        let Refusal { response, error } = Refusal::not_upgradable();
        return (response.map(R::from), Err(error));
    };
    let response = response.map(|()| R::from(Bytes::new()));
    (
        response,
        Ok(Upgrading::new(on_upgrade, config.clone(), connection)),
    )
}

/// An accepted upgrade on its way: a future that yields the [`WebSocket`] once hyper has sent
/// the response (`101`, or `200` over HTTP/2) and handed over the connection or the stream.
/// From [`upgrade`] and [`upgrade_with`].
///
/// Await it in a task of its own (`tokio::spawn`), not in the service that returns the
/// response: hyper sends the response only after the service has returned it.
///
/// It fails with [`Error::Io`](crate::Error::Io) if hyper gives up the connection instead:
/// for example, the client went away before the response was sent, or the connection was
/// not served `with_upgrades()`.
#[derive(Debug)]
#[must_use = "the connection is upgraded only if this future is awaited"]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    config: Config,
    /// The connection the handshake ended in; taken when the upgrade completes.
    connection: Option<Connection>,
}

impl Upgrading {
    /// The upgrade `on_upgrade` completes, into `connection` with `config`.
    pub(crate) fn new(on_upgrade: OnUpgrade, config: Config, connection: Connection) -> Self {
        Self {
            on_upgrade,
            config,
            connection: Some(connection),
        }
    }
}

impl Future for Upgrading {
    type Output = Result<UpgradedWebSocket>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx)).map_err(io::Error::other)?;
        let connection = this
            .connection
            .take()
            .expect("`Upgrading` polled after it completed");
        Poll::Ready(Ok(WebSocket::from_connection(
            TokioIo::new(upgraded),
            connection,
            &this.config,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use http::StatusCode;
    use wsio_proto::HandshakeError;

    fn handshake_request() -> Request<()> {
        Request::get("/chat")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat.v1, chat.v2")
            .body(())
            .unwrap()
    }

    #[test]
    fn invalid_requests_get_their_error_response() {
        let mut request = handshake_request();
        request.headers_mut().remove("sec-websocket-key");
        let (response, upgrading) = upgrade::<_, Bytes>(&mut request);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(&response.body()[..], b"missing Sec-WebSocket-Key header\n");
        let Err(Error::Handshake(error)) = upgrading else {
            panic!("{upgrading:?}")
        };
        assert!(matches!(*error, HandshakeError::MissingKey));
    }

    #[test]
    fn refusals_reach_the_response_and_the_error() {
        let mut request = handshake_request();
        let (response, upgrading) = upgrade_with::<_, Bytes, _>(
            &mut request,
            &Config::default(),
            |request: &UpgradeRequest<'_>| {
                assert_eq!(request.path(), "/chat");
                assert_eq!(request.subprotocols(), ["chat.v1", "chat.v2"]);
                assert_eq!(request.headers()["host"], "example.com");
                Err(Reject::new(StatusCode::FORBIDDEN, "not today"))
            },
        );
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(&response.body()[..], b"not today");
        let Err(Error::Rejected(rejected)) = upgrading else {
            panic!("{upgrading:?}")
        };
        assert_eq!(rejected.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn a_request_hyper_did_not_read_cannot_be_upgraded() {
        let (response, upgrading) = upgrade::<_, Bytes>(&mut handshake_request());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let Err(Error::Io(error)) = upgrading else {
            panic!("{upgrading:?}")
        };
        assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    }
}
