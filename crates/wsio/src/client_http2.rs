//! WebSockets over HTTP/2 for the client (feature `http2`): [`Http2Connection`], one HTTP/2
//! connection on which each WebSocket is a stream (RFC 8441), through hyper's HTTP/2 client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::{self, Connection, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::client::{ClientBuilder, Response};
use crate::error::{Error, Phase, Result};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// An HTTP/2 connection to a WebSocket server, on which each WebSocket opened is one stream
/// (RFC 8441): many WebSockets share one TCP or TLS connection, each with its own flow
/// control. Clones share the connection, which ends once every clone and every WebSocket
/// opened on it are gone.
///
/// [`ClientBuilder::http2`] opens one for a single WebSocket; open one yourself to share it:
///
/// ```no_run
/// # async fn demo() -> wsio::Result<()> {
/// use wsio::{ClientBuilder, Http2Connection};
///
/// let connection = Http2Connection::connect(&ClientBuilder::new("wss://example.com/")?).await?;
/// let (mut chat, _) = connection.open(ClientBuilder::new("wss://example.com/chat")?).await?;
/// let (mut feed, _) = connection.open(ClientBuilder::new("wss://example.com/feed")?).await?;
/// chat.send_text("hello").await?;
/// let _update = feed.recv().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Http2Connection {
    sender: SendRequest<Empty<Bytes>>,
    /// Whether the server allows extended CONNECT, as of its last SETTINGS.
    connect_allowed: Arc<AtomicBool>,
    secure: bool,
}

impl Http2Connection {
    /// Opens an HTTP/2 connection to the server `builder`'s URL names: `ws://` in cleartext
    /// with prior knowledge (the server must take HTTP/2 without an upgrade, as wsio's
    /// [`Server`](crate::Server) with the `http2` feature does), `wss://` over TLS offering
    /// `h2` (then `http/1.1`) by ALPN, with the builder's TLS settings. The builder's connect timeout
    /// bounds it; its path and handshake options are not used here.
    ///
    /// Fails with [`Error::Http2Unavailable`] when TLS agrees no `h2`.
    pub async fn connect(builder: &ClientBuilder) -> Result<Self> {
        let transport = builder.open_transport(&[b"h2", b"http/1.1"]).await?;
        let secure = builder.url.is_tls();
        if secure && transport.alpn_protocol() != Some(b"h2") {
            return Err(Error::Http2Unavailable("its TLS did not agree h2"));
        }
        let handshake = http2::handshake(TokioExecutor::new(), TokioIo::new(transport));
        let (sender, connection) = tokio::time::timeout(builder.config.connect_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout(Phase::Connect))?
            .map_err(std::io::Error::other)?;
        let connect_allowed = Arc::new(AtomicBool::new(false));
        tokio::spawn(Driver {
            connection: Box::pin(connection),
            connect_allowed: connect_allowed.clone(),
        });
        Ok(Http2Connection {
            sender,
            connect_allowed,
            secure,
        })
    }

    /// Opens a WebSocket on a new stream of this connection: the handshake `builder`
    /// describes (its URL's host, path and query, subprotocols, headers, settings and
    /// permessage-deflate) sent as an extended CONNECT, within its handshake timeout. The
    /// response is the server's `200`.
    ///
    /// Fails with [`Error::Http2Unavailable`] when the server does not allow extended CONNECT,
    /// [`Error::Rejected`] when it refuses with another status (the body is not read), and
    /// [`Error::Handshake`] when its answer does not fit the offer.
    pub async fn open(&self, builder: ClientBuilder) -> Result<(WebSocket<Transport>, Response)> {
        let mut handshake = builder.handshake()?;
        let mut request = handshake
            .connect_request(self.secure)
            .map(|()| Empty::<Bytes>::new());
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let mut sender = self.sender.clone();
        let exchange = async {
            sender.ready().await?;
            sender.send_request(request).await
        };
        let answer = tokio::time::timeout(builder.config.handshake_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(Phase::Handshake))?;
        // The server's SETTINGS come before anything else it sends: once it has answered, or
        // reset the stream, whether it allows extended CONNECT is known.
        let refused = !matches!(&answer, Ok(response) if response.status().is_success());
        if refused && !self.connect_allowed.load(Ordering::Acquire) {
            return Err(Error::Http2Unavailable(
                "it does not allow extended CONNECT",
            ));
        }
        let (parts, body) = answer.map_err(std::io::Error::other)?.into_parts();
        let accepted =
            handshake.accept_connect_response(http::Response::from_parts(parts.clone(), ()))?;
        let upgraded = hyper::upgrade::on(http::Response::from_parts(parts, body))
            .await
            .map_err(std::io::Error::other)?;
        let (response, connection) = Response::from_accepted(accepted, &builder.url);
        let stream = Transport::Http2(Box::new(TokioIo::new(upgraded)));
        let ws = WebSocket::from_connection(stream, connection, &builder.config);
        Ok((ws, response))
    }
}

/// hyper's side of the connection: the future that runs it.
type Http2Io = Connection<TokioIo<Transport>, Empty<Bytes>, TokioExecutor>;

/// Runs the connection, and keeps whether the server allows extended CONNECT where
/// [`Http2Connection::open`] can see it.
struct Driver {
    connection: Pin<Box<Http2Io>>,
    connect_allowed: Arc<AtomicBool>,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let result = self.connection.as_mut().poll(cx);
        let allowed = self.connection.is_extended_connect_protocol_enabled();
        self.connect_allowed.store(allowed, Ordering::Release);
        result.map(|ended| {
            if let Err(error) = ended {
                tracing::debug!(%error, "HTTP/2 connection failed");
            }
        })
    }
}
