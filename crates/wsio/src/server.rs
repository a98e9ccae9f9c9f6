//! A WebSocket server that listens, routes each connection to a handler, and shuts down with
//! or without its clients.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::accept::{Accept, Reject, UpgradeRequest, respond};
use crate::closer::Closer;
use crate::config::Config;
use crate::error::{Error, Phase, Result};
use crate::handshake_io;
use crate::proxy_protocol::{self, ProxyHeader};
use crate::transport::Transport;
use crate::websocket::WebSocket;
use wsio_proto::CloseCode;

/// How long a shutdown waits for clients to finish their close handshake, beyond the close
/// timeout, before their handlers are stopped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub(crate) type Handler =
    Arc<dyn Fn(WebSocket<Transport>, ServerRequest) -> BoxFuture + Send + Sync>;
/// What routing chose for a connection: its handler, subprotocol and request head.
pub(crate) type Route = (Handler, Option<String>, Request<()>);
/// Answers a plain HTTP request (one that asks for no WebSocket): the request head in, the
/// response out. Shared by the async and the blocking server.
pub(crate) type HttpHandler = Arc<dyn Fn(&Request<()>) -> Response<Bytes> + Send + Sync>;

/// What a handler learns about the connection it was given.
///
/// It holds the handshake request's headers. A handler that keeps it keeps them for as long
/// as the connection lasts, and an `async fn` keeps every argument until it returns, even one
/// named `_`; a handler that does not need it can take only the socket:
/// `.fallback(|ws, _| echo(ws))`.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerRequest {
    /// The handshake request (method, path, headers).
    pub request: Request<()>,
    /// The WebSocket subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The client's address, for TCP and TLS connections: the other end of the connection,
    /// or, with the [PROXY protocol](ServerBuilder::proxy_protocol), the client's address as
    /// the load balancer's header gives it (the connection's own peer then is in
    /// [`proxy_addr`](Self::proxy_addr)). Behind a reverse proxy that speaks HTTP (nginx,
    /// a CDN), it is the proxy's address; such proxies name the client in the request's
    /// `Forwarded` (RFC 7239) or `X-Forwarded-For` header, which the handler reads from
    /// [`request`](Self::request), trusting it only as far as it trusts the proxy.
    pub peer_addr: Option<SocketAddr>,
    /// With the PROXY protocol, the address of the load balancer that sent the header (the
    /// connection's own peer); `None` otherwise, and for a header without addresses (then
    /// `peer_addr` is the connection's peer, as without the protocol).
    pub proxy_addr: Option<SocketAddr>,
}

/// Where a connection comes from: the client, and the load balancer that said so.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    /// What [`ServerRequest::peer_addr`] says.
    pub(crate) addr: Option<SocketAddr>,
    /// What [`ServerRequest::proxy_addr`] says.
    pub(crate) proxy: Option<SocketAddr>,
}

impl Peer {
    /// The other end of the connection, with no PROXY protocol header.
    pub(crate) fn direct(addr: Option<SocketAddr>) -> Self {
        Peer { addr, proxy: None }
    }

    /// The client a PROXY protocol `header` names, on a connection whose other end is
    /// `connected`: the header's source, or the connection's peer when it names none.
    pub(crate) fn from_header(header: ProxyHeader, connected: Option<SocketAddr>) -> Self {
        match header.source {
            Some(source) => Peer {
                addr: Some(source),
                proxy: connected,
            },
            None => Peer::direct(connected),
        }
    }
}

/// Builds a [`Server`]: routes, settings and TLS, then [`bind`](Self::bind).
///
/// Each connection goes to the first route whose path equals the request's path; failing
/// that, to the handler of the first subprotocol (in the order they were added) that the
/// client offered, which is then chosen; failing that, to the fallback handler. A connection
/// that matches nothing is refused with 404. Requests that ask for no WebSocket at all go to
/// the [`http`](Self::http) handler, if there is one.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use futures_util::StreamExt;
/// use wsio::{Server, ServerRequest, Transport, WebSocket};
///
/// async fn echo(mut ws: WebSocket<Transport>, _: ServerRequest) {
///     while let Some(Ok(message)) = ws.next().await {
///         if message.is_data() && ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
///
/// let server = Server::builder()
///     .route("/echo", echo)
///     .subprotocol("chat.v1", |ws, request| async move { /* ... */ })
///     .fallback(echo)
///     .bind("127.0.0.1:9001")
///     .await?;
/// let handle = server.handle();
/// tokio::spawn(server.run());
/// // Later: close every client with 1001 and stop.
/// handle.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ServerBuilder {
    config: Config,
    routes: Routes<Handler>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Set by [`http2_max_streams`](Self::http2_max_streams).
    #[cfg(feature = "http2")]
    http2_max_streams: Option<u32>,
    /// Set by [`proxy_protocol`](Self::proxy_protocol).
    proxy_protocol: bool,
}

/// How many WebSockets (streams) one HTTP/2 connection may have open at once, unless
/// [`ServerBuilder::http2_max_streams`] says otherwise: the least RFC 9113 section 6.5.2
/// recommends a server allow.
#[cfg(feature = "http2")]
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 100;

impl ServerBuilder {
    /// Replaces every connection setting with `config`; the setters below change one each.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    crate::config::builder_setters!();

    /// Sends connections whose request path is exactly `path` to `handler`.
    pub fn route<F, Fut>(mut self, path: impl Into<String>, handler: F) -> Self
    where
        F: Fn(WebSocket<Transport>, ServerRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.routes.paths.push((path.into(), boxed(handler)));
        self
    }

    /// Sends connections that offer the WebSocket subprotocol `subprotocol` to `handler`, and
    /// chooses it.
    pub fn subprotocol<F, Fut>(mut self, subprotocol: impl Into<String>, handler: F) -> Self
    where
        F: Fn(WebSocket<Transport>, ServerRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.routes
            .subprotocols
            .push((subprotocol.into(), boxed(handler)));
        self
    }

    /// Sends every connection no route matched to `handler`.
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(WebSocket<Transport>, ServerRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.routes.fallback = Some(boxed(handler));
        self
    }

    /// Answers plain HTTP requests, those without `Upgrade: websocket` (a page for browsers, a
    /// health check), with `handler` instead of refusing them.
    ///
    /// The handler sees the request head; a request body is not read. The server sets
    /// `Content-Length` and `Connection: close`, sends no body to a `HEAD` request, and closes
    /// the connection after the response. The handler runs on the connection's task, so it
    /// should answer at once.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use wsio::Server;
    ///
    /// let server = Server::builder()
    ///     .http(|_request| http::Response::new("<h1>hello</h1>".into()))
    ///     .route("/ws", |_ws, _request| async {})
    ///     .bind("127.0.0.1:8080")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn http<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Request<()>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.routes.http = Some(Arc::new(handler));
        self
    }

    /// Serves `wss://` with this rustls configuration (certificate chain and key). With the
    /// `http2` feature, a connection whose ALPN agreed `h2` (if `config.alpn_protocols` offers
    /// it) is served HTTP/2.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Serves `wss://` with a certificate chain and its private key, in DER form. With the
    /// `http2` feature, TLS offers `h2` in ALPN and a client that picks it is served HTTP/2
    /// (WebSockets by extended CONNECT, RFC 8441).
    #[cfg(feature = "tls")]
    pub fn tls_certificate(
        self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Self> {
        // With HTTP/2, ALPN names it first; without, ALPN is left out as before.
        let alpn: &[&[u8]] = if cfg!(feature = "http2") {
            &[b"h2", b"http/1.1"]
        } else {
            &[]
        };
        Ok(self.tls(crate::tls::server_config(chain, key, alpn)?))
    }

    /// With the `http2` feature: how many WebSockets (and plain requests) one HTTP/2
    /// connection may have open at once ([`DEFAULT_HTTP2_MAX_STREAMS`] unless set); the
    /// server advertises it (`SETTINGS_MAX_CONCURRENT_STREAMS`) and refuses streams beyond
    /// it. Each stream's WebSocket has the limits of [`Config`], as one over its own TCP
    /// connection does, and the request heads are limited to `max_handshake_size` too.
    #[cfg(feature = "http2")]
    pub fn http2_max_streams(mut self, streams: u32) -> Self {
        self.http2_max_streams = Some(streams);
        self
    }

    /// Reads a PROXY protocol header (version 1 or 2, as HAProxy's `send-proxy` and
    /// `send-proxy-v2` write it) at the start of every connection, before TLS, and gives the
    /// client's address it names to the handler as [`ServerRequest::peer_addr`] (the load
    /// balancer's is then [`ServerRequest::proxy_addr`]). A connection without a valid
    /// header within the handshake timeout is closed unanswered. Off by default: turn it on
    /// only when every connection comes through a load balancer that sends the header, since
    /// anyone who can reach the port directly can write one. See [`crate::proxy_protocol`].
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = wsio::Server::builder()
    ///     .proxy_protocol(true)
    ///     .fallback(|_ws, request| async move {
    ///         println!("{:?} via {:?}", request.peer_addr, request.proxy_addr);
    ///     })
    ///     .bind("127.0.0.1:9000")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_protocol(mut self, trusted: bool) -> Self {
        self.proxy_protocol = trusted;
        self
    }

    /// Listens on a TCP address.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(self.build(Listener::Tcp(listener)))
    }

    /// Listens on a Unix-domain socket at `path` (clients use `ws+unix://` URLs). A stale
    /// socket file must be removed first.
    #[cfg(unix)]
    pub fn bind_unix(self, path: impl AsRef<std::path::Path>) -> std::io::Result<Server> {
        let listener = tokio::net::UnixListener::bind(path)?;
        Ok(self.build(Listener::Unix(listener)))
    }

    fn build(self, listener: Listener) -> Server {
        Server {
            listener,
            shared: Arc::new(ServerShared {
                routes: self.routes,
                config: self.config,
                proxy_protocol: self.proxy_protocol,
                #[cfg(feature = "http2")]
                http2_max_streams: self.http2_max_streams.unwrap_or(DEFAULT_HTTP2_MAX_STREAMS),
                #[cfg(feature = "tls")]
                tls: self.tls.map(tokio_rustls::TlsAcceptor::from),
                closing: AtomicBool::new(false),
                keep_clients: AtomicBool::new(false),
                stop_accepting: Notify::new(),
                clients: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                all_gone: Notify::new(),
            }),
        }
    }
}

fn boxed<F, Fut>(handler: F) -> Handler
where
    F: Fn(WebSocket<Transport>, ServerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |ws, request| Box::pin(handler(ws, request)) as BoxFuture)
}

/// A bound WebSocket server. [`run`](Self::run) accepts connections until
/// [`ServerHandle::stop_accepting`] or [`ServerHandle::close`] is called.
pub struct Server {
    listener: Listener,
    shared: Arc<ServerShared>,
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

/// Which handler serves a connection: by exact path, then by the first registered subprotocol
/// the client offered (which is then chosen), then the fallback. Shared by the async and the
/// blocking server, with their own kinds of handler.
#[derive(Clone)]
pub(crate) struct Routes<H> {
    pub(crate) paths: Vec<(String, H)>,
    pub(crate) subprotocols: Vec<(String, H)>,
    pub(crate) fallback: Option<H>,
    pub(crate) http: Option<HttpHandler>,
}

impl<H> Default for Routes<H> {
    fn default() -> Self {
        Routes {
            paths: Vec::new(),
            subprotocols: Vec::new(),
            fallback: None,
            http: None,
        }
    }
}

impl<H: Clone> Routes<H> {
    /// The handler for a request, and the subprotocol to choose.
    pub(crate) fn select(&self, request: &UpgradeRequest<'_>) -> Option<(H, Option<String>)> {
        if let Some((_, handler)) = self.paths.iter().find(|(path, _)| path == request.path()) {
            return Some((handler.clone(), None));
        }
        let subprotocol = self.subprotocols.iter().find(|(subprotocol, _)| {
            request
                .subprotocols()
                .iter()
                .any(|offered| offered == subprotocol)
        });
        if let Some((subprotocol, handler)) = subprotocol {
            return Some((handler.clone(), Some(subprotocol.clone())));
        }
        self.fallback.clone().map(|handler| (handler, None))
    }

    /// Accepts a handshake for the handler [`select`](Self::select) finds, with its
    /// subprotocol, and puts both with a copy of the request head in `chosen`; or refuses it
    /// with 404.
    pub(crate) fn decide(
        &self,
        request: &UpgradeRequest<'_>,
        chosen: &mut Option<(H, Option<String>, Request<()>)>,
    ) -> Result<Accept, Reject> {
        let Some((handler, subprotocol)) = self.select(request) else {
            return Err(Reject::new(
                StatusCode::NOT_FOUND,
                "no handler for this path or subprotocol",
            ));
        };
        *chosen = Some((
            handler,
            subprotocol.clone(),
            crate::accept::copy_head(request.request()),
        ));
        Ok(Accept::new().subprotocol(subprotocol))
    }

    /// The answer to a request that asks for no WebSocket, if there is an HTTP handler: its
    /// response, framed for a connection that closes after it.
    pub(crate) fn plain_http(&self, request: &Request<()>) -> Option<Response<Bytes>> {
        if wsio_proto::handshake::is_upgrade_request(request) {
            return None;
        }
        let mut response = self.http_response(request)?;
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        Some(response)
    }

    /// The HTTP handler's answer to `request`, if there is a handler, with its
    /// `Content-Length`, and no body for a `HEAD` request; for any HTTP version.
    pub(crate) fn http_response(&self, request: &Request<()>) -> Option<Response<Bytes>> {
        let handler = self.http.as_ref()?;
        let mut response = handler(request);
        let length = HeaderValue::from(response.body().len());
        response.headers_mut().insert(CONTENT_LENGTH, length);
        if request.method() == Method::HEAD {
            *response.body_mut() = Bytes::new();
        }
        Some(response)
    }
}

/// A client being served, as shutdown sees it.
struct Client {
    closer: Option<Closer>,
    task: AbortHandle,
}

pub(crate) struct ServerShared {
    pub(crate) routes: Routes<Handler>,
    pub(crate) config: Config,
    /// Whether every connection starts with a PROXY protocol header.
    proxy_protocol: bool,
    /// How many streams an HTTP/2 connection may have open at once.
    #[cfg(feature = "http2")]
    pub(crate) http2_max_streams: u32,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) closing: AtomicBool,
    /// Whether the shutdown keeps the clients it already has.
    keep_clients: AtomicBool,
    pub(crate) stop_accepting: Notify,
    clients: Mutex<HashMap<u64, Client>>,
    next_id: AtomicU64,
    all_gone: Notify,
}

/// Controls a running [`Server`] from elsewhere. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<ServerShared>,
}

impl Server {
    /// Starts building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The TCP address the server listens on (`None` for a Unix socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.listener {
            Listener::Tcp(listener) => listener.local_addr().ok(),
            #[cfg(unix)]
            Listener::Unix(_) => None,
        }
    }

    /// A handle to stop or close the server while it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts connections, each in its own task, until the server is closed. Returns an error
    /// only if the listener fails.
    pub async fn run(self) -> std::io::Result<()> {
        loop {
            // Listen for the stop signal before looking at the flag, so that a close between
            // the two is not missed.
            let stop = self.shared.stop_accepting.notified();
            tokio::pin!(stop);
            stop.as_mut().enable();
            if self.shared.closing.load(Ordering::Acquire) {
                return Ok(());
            }
            let (transport, peer_addr) = tokio::select! {
                accepted = self.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Per-connection failures (the peer reset before accept, too many open
                    // files for a moment) do not stop the server.
                    Err(error) if is_transient(&error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(error) => return Err(error),
                },
                () = &mut stop => return Ok(()),
            };
            self.spawn_connection(transport, peer_addr);
        }
    }

    async fn accept(&self) -> std::io::Result<(Transport, Option<SocketAddr>)> {
        match &self.listener {
            Listener::Tcp(listener) => {
                let (stream, addr) = listener.accept().await?;
                // A socket that cannot take the option is still served; it is no reason to stop.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "TCP_NODELAY not set");
                }
                Ok((Transport::Tcp(stream), Some(addr)))
            }
            #[cfg(unix)]
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Transport::Unix(stream), None))
            }
        }
    }

    fn spawn_connection(&self, transport: Transport, peer_addr: Option<SocketAddr>) {
        let shared = self.shared.clone();
        ServerShared::spawn_client(&self.shared, move |departure| async move {
            if let Err(error) = serve(&shared, departure, transport, peer_addr).await {
                tracing::debug!(%error, ?peer_addr, "connection not served");
            }
        });
    }
}

impl ServerShared {
    /// Runs `client` in a task of its own, counted as one of the server's clients until the
    /// [`Departure`] it is given is dropped: a connection, or one WebSocket of an HTTP/2
    /// connection.
    pub(crate) fn spawn_client<F, Fut>(shared: &Arc<Self>, client: F)
    where
        F: FnOnce(Departure) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let departure = Departure {
            shared: shared.clone(),
            id,
        };
        // The entry is made before the task can finish, under the same lock it removes it with.
        let mut clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(client(departure));
        clients.insert(
            id,
            Client {
                closer: None,
                task: task.abort_handle(),
            },
        );
    }
}

/// Removes a client from the table when dropped: at the end of its task if the handshake did
/// not succeed, else with the connection itself (its last half), wherever the handler put it.
pub(crate) struct Departure {
    shared: Arc<ServerShared>,
    id: u64,
}

impl Drop for Departure {
    fn drop(&mut self) {
        let mut clients = self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        clients.remove(&self.id);
        if clients.is_empty() {
            self.shared.all_gone.notify_waiters();
        }
    }
}

/// One connection: its PROXY protocol header if the server expects one, TLS if configured,
/// the handshake with routing, then its handler.
async fn serve(
    shared: &Arc<ServerShared>,
    departure: Departure,
    mut transport: Transport,
    peer_addr: Option<SocketAddr>,
) -> Result<()> {
    let peer = if shared.proxy_protocol {
        let header = tokio::time::timeout(
            shared.config.handshake_timeout,
            proxy_protocol::read_header(&mut transport, shared.config.protocol.max_handshake_size),
        )
        .await
        .map_err(|_| Error::Timeout(Phase::Handshake))?
        .map_err(|error| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))?;
        Peer::from_header(header, peer_addr)
    } else {
        Peer::direct(peer_addr)
    };
    // Boxed, so that the handshake's state (timers, buffers, TLS) is freed once it is done
    // instead of sizing this task for the connection's whole life.
    let Some((ws, route)) = Box::pin(open(shared, transport, peer)).await? else {
        return Ok(());
    };
    run_handler(shared, departure, ws, route, peer).await;
    Ok(())
}

/// Hands an open WebSocket to the handler routing chose, as one client of the server: the
/// server's shutdown can close it from now on.
pub(crate) async fn run_handler(
    shared: &ServerShared,
    departure: Departure,
    ws: WebSocket<Transport>,
    (handler, subprotocol, request): Route,
    peer: Peer,
) {
    let (mut ws, closer) = ws.with_closer();
    {
        let mut clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get_mut(&departure.id) {
            client.closer = Some(closer);
        }
    }
    ws.keep_until_dropped(Box::new(departure));
    // A shutdown that came while this connection was in its handshake.
    if shared.closing.load(Ordering::Acquire) && !shared.keep_clients.load(Ordering::Acquire) {
        ws.close_now(CloseCode::GOING_AWAY, "server shutting down");
    }
    handler(
        ws,
        ServerRequest {
            request,
            subprotocol,
            peer_addr: peer.addr,
            proxy_addr: peer.proxy,
        },
    )
    .await;
}

/// The connection's TLS and WebSocket handshakes, routed: the WebSocket and the route chosen,
/// or `None` if the request was plain HTTP and has been answered, or the connection was an
/// HTTP/2 one and has been served to its end.
async fn open(
    shared: &Arc<ServerShared>,
    transport: Transport,
    peer: Peer,
) -> Result<Option<(WebSocket<Transport>, Route)>> {
    let mut transport = secure(shared, transport).await?;
    #[cfg(feature = "http2")]
    if transport.alpn_protocol() == Some(b"h2") {
        crate::server_http2::serve(shared, transport, Bytes::new(), peer).await;
        return Ok(None);
    }
    #[cfg(feature = "http2")]
    let incoming = match handshake_io::read_head(&mut transport, &shared.config).await? {
        handshake_io::Head::Http1(incoming) => *incoming,
        handshake_io::Head::Http2(read) => {
            crate::server_http2::serve(shared, transport, read, peer).await;
            return Ok(None);
        }
    };
    #[cfg(not(feature = "http2"))]
    let (incoming, _) = (
        handshake_io::read_request(&mut transport, &shared.config).await?,
        peer,
    );
    if let Some(response) = shared.routes.plain_http(&incoming.request) {
        handshake_io::answer_and_close(&mut transport, &response).await;
        return Ok(None);
    }
    let mut chosen = None;
    let ws = respond(transport, incoming, &shared.config, |request| {
        shared.routes.decide(request, &mut chosen)
    })
    .await?;
    Ok(Some((
        ws,
        chosen.expect("accepted requests have a handler"),
    )))
}

/// Runs the TLS handshake when the server has a certificate.
#[cfg(feature = "tls")]
async fn secure(shared: &ServerShared, transport: Transport) -> Result<Transport> {
    match (&shared.tls, transport) {
        (Some(acceptor), Transport::Tcp(tcp)) => {
            let handshake = acceptor.accept(tcp);
            let tls = tokio::time::timeout(shared.config.handshake_timeout, handshake)
                .await
                .map_err(|_| Error::Timeout(Phase::Handshake))?
                .map_err(crate::tls::map_io_error)?;
            Ok(Transport::ServerTls(Box::new(tls)))
        }
        (_, transport) => Ok(transport),
    }
}

#[cfg(not(feature = "tls"))]
async fn secure(_: &ServerShared, transport: Transport) -> Result<Transport> {
    Ok(transport)
}

/// Accept errors that concern one connection or a passing shortage, not the listener.
pub(crate) fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    // 23 and 24 are ENFILE and EMFILE: out of file descriptors, which frees up as clients go.
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    ) || matches!(error.raw_os_error(), Some(23 | 24))
}

impl ServerHandle {
    /// Stops accepting connections and returns at once: [`Server::run`] returns, and the
    /// clients already accepted (those still in their handshake too) are served until their
    /// handlers finish. A later [`close`](Self::close) closes them.
    pub fn stop_accepting(&self) {
        self.stop(true);
    }

    /// Stops accepting connections and closes every client: each is sent a close frame with
    /// 1001 (going away), those still in their handshake as soon as it ends, and this waits
    /// until their handlers finish, at most the close timeout and a second more, after which
    /// the rest are stopped. To let the clients finish on their own, call
    /// [`stop_accepting`](Self::stop_accepting) instead.
    pub async fn close(&self) {
        self.stop(false);
        let shared = &self.shared;
        let gone = shared.all_gone.notified();
        tokio::pin!(gone);
        gone.as_mut().enable();
        // The closers are called outside the client table's lock, which a handler's
        // departure takes.
        for closer in self.closers() {
            closer.close(CloseCode::GOING_AWAY, "server shutting down");
        }
        if self.client_count() == 0 {
            return;
        }
        let grace = shared.config.protocol.close_timeout + SHUTDOWN_GRACE;
        if tokio::time::timeout(grace, gone).await.is_ok() {
            return;
        }
        // Stop the handlers that are left, and wait (briefly) until the runtime has dropped
        // them, which closes their transports.
        let gone = shared.all_gone.notified();
        tokio::pin!(gone);
        gone.as_mut().enable();
        let tasks: Vec<_> = {
            let clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
            clients.values().map(|client| client.task.clone()).collect()
        };
        tracing::warn!(
            left = tasks.len(),
            "clients did not finish in time; stopping them"
        );
        for task in tasks {
            task.abort();
        }
        for closer in self.closers() {
            closer.abort();
        }
        if self.client_count() > 0 {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, gone).await;
        }
    }

    /// Marks the server as closing, keeping its clients or not, and wakes [`Server::run`].
    fn stop(&self, keep_clients: bool) {
        let shared = &self.shared;
        shared.keep_clients.store(keep_clients, Ordering::Release);
        shared.closing.store(true, Ordering::Release);
        shared.stop_accepting.notify_waiters();
    }

    /// The closers of the clients past their handshake, copied out of the client table.
    fn closers(&self) -> Vec<Closer> {
        let clients = self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        clients
            .values()
            .filter_map(|client| client.closer.clone())
            .collect()
    }

    /// How many connections are being served (including those still in their handshake); with
    /// the `http2` feature an HTTP/2 connection counts once, and each WebSocket on it once
    /// more.
    pub fn client_count(&self) -> usize {
        self.shared
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("clients", &self.client_count())
            .finish()
    }
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<_> = self.routes.paths.iter().map(|(path, _)| path).collect();
        let subprotocols: Vec<_> = self
            .routes
            .subprotocols
            .iter()
            .map(|(subprotocol, _)| subprotocol)
            .collect();
        f.debug_struct("ServerBuilder")
            .field("paths", &paths)
            .field("subprotocols", &subprotocols)
            .field("fallback", &self.routes.fallback.is_some())
            .finish_non_exhaustive()
    }
}
