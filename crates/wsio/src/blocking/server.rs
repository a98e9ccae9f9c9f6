//! A thread-per-connection server with the same routing and shutdown as the async one.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};

use super::accept::{answer_and_close, read_request, respond};
use super::stream::{BlockingStream, Stream};
use super::websocket::WebSocket;
use crate::config::Config;
use crate::proxy_protocol::{self, ProxyHeader, ProxyProtocolError};
use crate::server::{Peer, Routes, ServerRequest, is_transient};

/// How long a shutdown waits for clients, beyond the close timeout, before their sockets are
/// shut down under them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How long waking the accepting thread may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

type Handler = Arc<dyn Fn(WebSocket<Stream>, ServerRequest) + Send + Sync>;

/// Builds a blocking [`Server`]: the same routes as [`crate::ServerBuilder`] (exact path, then
/// subprotocol, then fallback, else 404, and plain HTTP requests to the [`http`](Self::http)
/// handler), with handlers that are plain functions run on a thread of their own.
///
/// ```no_run
/// use wsio::blocking::{Server, Stream, WebSocket};
/// use wsio::ServerRequest;
///
/// fn echo(mut ws: WebSocket<Stream>, _: ServerRequest) {
///     while let Ok(message) = ws.recv() {
///         if message.is_data() && ws.send(message).is_err() {
///             break;
///         }
///     }
/// }
///
/// let server = Server::builder().route("/echo", echo).fallback(echo).bind("127.0.0.1:9001")?;
/// let handle = server.handle();
/// std::thread::spawn(move || server.run());
/// // Later: close every client with 1001 and stop.
/// handle.close();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ServerBuilder {
    config: Config,
    routes: Routes<Handler>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    proxy_protocol: bool,
}

impl ServerBuilder {
    /// Replaces every connection setting with `config`; the setters below change one each.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    crate::config::builder_setters!();

    /// Sends connections whose request path is exactly `path` to `handler`.
    pub fn route<F>(mut self, path: impl Into<String>, handler: F) -> Self
    where
        F: Fn(WebSocket<Stream>, ServerRequest) + Send + Sync + 'static,
    {
        self.routes.paths.push((path.into(), Arc::new(handler)));
        self
    }

    /// Sends connections that offer the WebSocket subprotocol `subprotocol` to `handler`, and
    /// chooses it.
    pub fn subprotocol<F>(mut self, subprotocol: impl Into<String>, handler: F) -> Self
    where
        F: Fn(WebSocket<Stream>, ServerRequest) + Send + Sync + 'static,
    {
        self.routes
            .subprotocols
            .push((subprotocol.into(), Arc::new(handler)));
        self
    }

    /// Sends every connection no route matched to `handler`.
    pub fn fallback<F>(mut self, handler: F) -> Self
    where
        F: Fn(WebSocket<Stream>, ServerRequest) + Send + Sync + 'static,
    {
        self.routes.fallback = Some(Arc::new(handler));
        self
    }

    /// Answers plain HTTP requests, those without `Upgrade: websocket`, with `handler` instead
    /// of refusing them, as [`crate::ServerBuilder::http`] does: the handler sees the request
    /// head, and the server frames the response and closes the connection after it.
    pub fn http<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Request<()>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.routes.http = Some(Arc::new(handler));
        self
    }

    /// Serves `wss://` with this rustls configuration (certificate chain and key).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Serves `wss://` with a certificate chain and its private key, in DER form, as
    /// [`crate::ServerBuilder::tls_certificate`] does. Fails with [`Error::Tls`](crate::Error::Tls)
    /// if the key does not match the certificate or cannot be used.
    #[cfg(feature = "tls")]
    pub fn tls_certificate(
        self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> crate::Result<Self> {
        Ok(self.tls(crate::tls::server_config(chain, key, &[])?))
    }

    /// Reads a PROXY protocol header at the start of every connection, as
    /// [`crate::ServerBuilder::proxy_protocol`] does (and with the same warning: only behind
    /// a load balancer that sends it).
    pub fn proxy_protocol(mut self, trusted: bool) -> Self {
        self.proxy_protocol = trusted;
        self
    }

    /// Listens on a TCP address.
    pub fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        self.build(Listener::Tcp(listener))
    }

    /// Listens on a Unix-domain socket at `path`.
    #[cfg(unix)]
    pub fn bind_unix(self, path: impl AsRef<std::path::Path>) -> io::Result<Server> {
        let listener = std::os::unix::net::UnixListener::bind(path.as_ref())?;
        self.build(Listener::Unix(listener, path.as_ref().to_owned()))
    }

    fn build(self, listener: Listener) -> io::Result<Server> {
        // Known from the start, so that a close before or just after `run` starts still wakes
        // it.
        let wake = match &listener {
            Listener::Tcp(listener) => {
                let mut addr = listener.local_addr()?;
                // A listener on every address is reached through loopback.
                if addr.ip().is_unspecified() {
                    addr.set_ip(match addr {
                        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                WakeAddress::Tcp(addr)
            }
            #[cfg(unix)]
            Listener::Unix(_, path) => WakeAddress::Unix(path.clone()),
        };
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                routes: self.routes,
                config: self.config,
                proxy_protocol: self.proxy_protocol,
                #[cfg(feature = "tls")]
                tls: self.tls,
                closing: AtomicBool::new(false),
                signal: Arc::new(AtomicBool::new(false)),
                clients: Mutex::new(HashMap::new()),
                gone: Condvar::new(),
                next_id: AtomicU64::new(0),
                wake,
            }),
        })
    }
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, std::path::PathBuf),
}

/// How to wake the accepting thread: connect to the listener.
enum WakeAddress {
    Tcp(SocketAddr),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

/// A client's socket, kept to shut it down if its handler does not finish in time.
enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(tcp) => tcp.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.shutdown(Shutdown::Both),
        };
    }
}

struct Shared {
    routes: Routes<Handler>,
    config: Config,
    /// Whether every connection starts with a PROXY protocol header.
    proxy_protocol: bool,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    closing: AtomicBool,
    /// Set when clients are to be closed; every connection watches it.
    signal: Arc<AtomicBool>,
    clients: Mutex<HashMap<u64, Option<Socket>>>,
    gone: Condvar,
    next_id: AtomicU64,
    wake: WakeAddress,
}

/// A bound blocking server. [`run`](Self::run) accepts connections on the calling thread until
/// [`ServerHandle::stop_accepting`] or [`ServerHandle::close`] is called, serving each on a
/// thread of its own.
pub struct Server {
    listener: Listener,
    shared: Arc<Shared>,
}

/// Controls a running blocking [`Server`] from another thread. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
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
            Listener::Unix(..) => None,
        }
    }

    /// A handle to stop or close the server while it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts connections until the server is closed. Returns an error only if the listener
    /// fails.
    pub fn run(self) -> io::Result<()> {
        loop {
            if self.shared.closing.load(Ordering::Acquire) {
                return Ok(());
            }
            let accepted = match &self.listener {
                Listener::Tcp(listener) => listener.accept().map(|(tcp, addr)| {
                    // A socket that cannot take the option is still served.
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY not set");
                    }
                    (Stream::Tcp(tcp), Some(addr))
                }),
                #[cfg(unix)]
                Listener::Unix(listener, _) => listener
                    .accept()
                    .map(|(unix, _)| (Stream::Unix(unix), None)),
            };
            match accepted {
                Ok((stream, peer_addr)) => self.spawn_connection(stream, peer_addr),
                Err(error) if is_transient(&error) => {
                    tracing::warn!(%error, "accept failed");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn spawn_connection(&self, stream: Stream, peer_addr: Option<SocketAddr>) {
        let shared = self.shared.clone();
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let socket = match &stream {
            Stream::Tcp(tcp) => tcp.try_clone().ok().map(Socket::Tcp),
            #[cfg(unix)]
            Stream::Unix(unix) => unix.try_clone().ok().map(Socket::Unix),
            #[cfg(feature = "tls")]
            _ => None,
        };
        let mut clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock `close` takes: a connection accepted as the server closes is
        // either in the table `close` waits on, or not served at all.
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        clients.insert(id, socket);
        drop(clients);
        std::thread::spawn(move || {
            let _gone = Departure {
                shared: &shared,
                id,
            };
            serve(&shared, stream, peer_addr);
        });
    }
}

/// Removes a client from the table when its thread ends, however it ends.
struct Departure<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Departure<'_> {
    fn drop(&mut self) {
        let mut clients = self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        clients.remove(&self.id);
        if clients.is_empty() {
            self.shared.gone.notify_all();
        }
    }
}

/// One connection: its PROXY protocol header if the server expects one, TLS if configured,
/// the handshake with routing, then its handler.
fn serve(shared: &Shared, mut stream: Stream, peer_addr: Option<SocketAddr>) {
    // The PROXY protocol header, the TLS handshake and the request head, together.
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let peer = if shared.proxy_protocol {
        match read_proxy_header(
            &mut stream,
            shared.config.protocol.max_handshake_size,
            deadline,
        ) {
            Ok(header) => Peer::from_header(header, peer_addr),
            Err(error) => {
                tracing::debug!(%error, ?peer_addr, "no valid PROXY protocol header");
                return;
            }
        }
    } else {
        Peer::direct(peer_addr)
    };
    #[cfg(feature = "tls")]
    let stream = match (&shared.tls, stream) {
        (Some(config), Stream::Tcp(tcp)) => {
            let conn = match rustls::ServerConnection::new(config.clone()) {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "cannot start TLS");
                    return;
                }
            };
            let mut tls = super::TlsStream::new(conn, tcp);
            if let Err(error) = tls.handshake(deadline, crate::Phase::Handshake) {
                tracing::debug!(%error, ?peer_addr, "TLS handshake failed");
                return;
            }
            Stream::ServerTls(Box::new(tls))
        }
        (_, stream) => stream,
    };
    let mut stream = stream;
    let incoming = match read_request(&mut stream, &shared.config, deadline) {
        Ok(incoming) => incoming,
        Err(error) => {
            tracing::debug!(%error, ?peer_addr, "connection not served");
            return;
        }
    };
    if let Some(response) = shared.routes.plain_http(&incoming.request) {
        answer_and_close(&mut stream, &response);
        return;
    }
    let mut chosen = None;
    let accepted = respond(stream, incoming, &shared.config, |request| {
        shared.routes.decide(request, &mut chosen)
    });
    let mut ws = match accepted {
        Ok(ws) => ws,
        Err(error) => {
            tracing::debug!(%error, ?peer_addr, "connection not served");
            return;
        }
    };
    let (handler, subprotocol, request) = chosen.expect("accepted requests have a handler");
    ws.set_shutdown_signal(shared.signal.clone());
    handler(
        ws,
        ServerRequest {
            request,
            subprotocol,
            peer_addr: peer.addr,
            proxy_addr: peer.proxy,
        },
    );
}

/// Reads a PROXY protocol header of at most `max_len` bytes from the start of `stream` by
/// `deadline`, and nothing after it.
fn read_proxy_header(
    stream: &mut Stream,
    max_len: usize,
    deadline: Instant,
) -> Result<ProxyHeader, ProxyProtocolError> {
    let mut header = Vec::with_capacity(64);
    let mut step = proxy_protocol::Step::Read(proxy_protocol::PREFIX);
    loop {
        let wanted = match step {
            proxy_protocol::Step::Read(wanted) => wanted,
            proxy_protocol::Step::Done(header) => return Ok(header),
        };
        let start = header.len();
        header.resize(start + wanted, 0);
        let mut filled = start;
        while filled < header.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::from(io::ErrorKind::TimedOut).into());
            }
            stream.set_read_timeout(Some(left))?;
            match stream.read(&mut header[filled..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        step = proxy_protocol::next(&header, max_len)?;
    }
}

impl ServerHandle {
    /// Stops accepting connections and returns at once: [`Server::run`] returns, and the
    /// clients already accepted are served until their handlers finish. A later
    /// [`close`](Self::close) closes them.
    pub fn stop_accepting(&self) {
        self.stop();
    }

    /// Stops accepting connections and closes every client: each is sent a close frame with
    /// 1001 (going away) from its own thread, at its handler's next read (within a quarter of
    /// a second), and this waits until the handlers finish: at most the close timeout and a
    /// second more, after which the remaining clients' sockets are shut down under them,
    /// which ends their handlers' reads and writes with an error. To let the clients finish
    /// on their own, call [`stop_accepting`](Self::stop_accepting) instead.
    pub fn close(&self) {
        self.stop();
        let shared = &self.shared;
        shared.signal.store(true, Ordering::Release);
        let grace = shared.config.protocol.close_timeout + SHUTDOWN_GRACE;
        let clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
        let (clients, waited) = wait_until_empty(&shared.gone, clients, grace);
        if !waited {
            tracing::warn!(
                left = clients.len(),
                "clients did not finish in time; shutting them down"
            );
            for socket in clients.values().flatten() {
                socket.shutdown();
            }
            drop(wait_until_empty(&shared.gone, clients, SHUTDOWN_GRACE));
        }
    }

    /// Marks the server as closing, so that no connection is added after this, and wakes
    /// the accepting thread.
    fn stop(&self) {
        let shared = &self.shared;
        {
            // Under the client table's lock, so no connection is added after this.
            let _clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
            shared.closing.store(true, Ordering::Release);
        }
        // Wake the accepting thread with a connection of our own, without waiting long on a
        // full backlog.
        let _ = match &shared.wake {
            WakeAddress::Tcp(addr) => TcpStream::connect_timeout(addr, WAKE_TIMEOUT).map(drop),
            #[cfg(unix)]
            WakeAddress::Unix(path) => std::os::unix::net::UnixStream::connect(path).map(drop),
        };
    }

    /// How many connections are being served (including those still in their handshake).
    pub fn client_count(&self) -> usize {
        self.shared
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

type Clients<'a> = std::sync::MutexGuard<'a, HashMap<u64, Option<Socket>>>;

/// Waits until the client table is empty or `limit` passes; says whether it emptied.
fn wait_until_empty<'a>(
    gone: &Condvar,
    mut clients: Clients<'a>,
    limit: Duration,
) -> (Clients<'a>, bool) {
    let deadline = Instant::now() + limit;
    while !clients.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (clients, false);
        }
        clients = gone
            .wait_timeout(clients, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    (clients, true)
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
        f.debug_struct("ServerBuilder").finish_non_exhaustive()
    }
}
