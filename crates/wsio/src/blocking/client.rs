//! Opening connections without a runtime: [`connect`] and [`ClientBuilder::connect_blocking`].

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::stream::{BlockingStream, Stream, is_timeout, timeout_or};
use super::websocket::WebSocket;
use crate::client::{ClientBuilder, Response};
use crate::error::{Error, Phase, Result};
use crate::proxy::{Proxy, ProxyError, ProxyScheme, Target};

/// How much one read of a handshake takes at most.
const HANDSHAKE_READ: usize = 4096;

/// Connects to a `ws://`, `wss://` or `ws+unix://` URL with default settings, blocking until
/// the handshake is done.
///
/// ```no_run
/// let (mut ws, response) = wsio::blocking::connect("ws://127.0.0.1:9001/chat")?;
/// ws.send_text("hello")?;
/// println!("{:?}", ws.recv()?);
/// # Ok::<(), wsio::Error>(())
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<Stream>, Response)> {
    ClientBuilder::new(url)?.connect_blocking()
}

impl ClientBuilder {
    /// Opens the transport the URL names and runs the handshake over it, blocking: the same
    /// options as [`connect`](Self::connect), without a runtime.
    pub fn connect_blocking(self) -> Result<(WebSocket<Stream>, Response)> {
        let stream = self.open_blocking()?;
        self.connect_blocking_on(stream)
    }

    /// Runs the handshake, blocking, over a stream the caller opened; the URL gives only the
    /// request's host and path.
    pub fn connect_blocking_on<S: BlockingStream>(
        self,
        mut io: S,
    ) -> Result<(WebSocket<S>, Response)> {
        let mut handshake = self.handshake()?;
        let deadline = Instant::now() + self.config.handshake_timeout;
        io.set_write_timeout(Some(self.config.handshake_timeout))?;
        io.write_all(&handshake.encode_request())
            .map_err(|e| timeout_or(e, Phase::Handshake))?;
        io.flush().map_err(|e| timeout_or(e, Phase::Handshake))?;
        let mut buf = [0u8; HANDSHAKE_READ];
        let accepted = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(Phase::Handshake));
            }
            io.set_read_timeout(Some(left))?;
            let n = match io.read(&mut buf) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => n,
                // A timed-out read, or a TLS record not complete yet: the deadline decides.
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(accepted) = handshake.receive(&buf[..n])? {
                break accepted;
            }
        };
        io.set_read_timeout(None)?;
        io.set_write_timeout(None)?;
        let (response, connection) = Response::from_accepted(accepted, &self.url);
        let ws = WebSocket::from_connection(io, connection, &self.config);
        Ok((ws, response))
    }

    /// Opens the transport within the connect timeout, through the proxy that applies: the
    /// TCP connect, the proxy's tunnel and, for `wss://`, the TLS handshake, under one
    /// deadline.
    fn open_blocking(&self) -> Result<Stream> {
        #[cfg(unix)]
        if let Some(path) = self.url.unix_socket() {
            return Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?));
        }
        let deadline = Instant::now() + self.config.connect_timeout;
        if let Some(proxy) = self.proxies.proxy_for(&self.url)? {
            return self.through_blocking(proxy, deadline);
        }
        let tcp = connect_tcp(self.url.host(), self.url.port(), deadline)?;
        tcp.set_nodelay(true)?;
        self.over_tcp_blocking(tcp, deadline)
    }

    /// The stream over `tcp`, a connection to the server or a tunnel to it: TCP as it is for
    /// `ws://`, TLS over it for `wss://`.
    fn over_tcp_blocking(&self, tcp: TcpStream, deadline: Instant) -> Result<Stream> {
        if !self.url.is_tls() {
            untimed(&tcp)?;
            return Ok(Stream::Tcp(tcp));
        }
        #[cfg(feature = "tls")]
        return Ok(Stream::Tls(Box::new(self.tls_blocking(
            tcp,
            self.url.host(),
            deadline,
        )?)));
        #[cfg(not(feature = "tls"))]
        {
            let _ = deadline;
            Err(Error::Url(wsio_proto::UrlError::UnsupportedScheme(
                "wss (this build of wsio has no `tls` feature)".into(),
            )))
        }
    }

    /// TLS over `io` to `host`, its handshake done by `deadline`, its timeouts cleared.
    #[cfg(feature = "tls")]
    fn tls_blocking<T: BlockingStream>(
        &self,
        io: T,
        host: &str,
        deadline: Instant,
    ) -> Result<super::TlsStream<rustls::ClientConnection, T>> {
        let config = crate::tls::client_config(&self.tls, &[b"http/1.1"])?;
        let name = crate::tls::server_name(host)?;
        let conn =
            rustls::ClientConnection::new(config, name).map_err(|e| Error::Tls(Box::new(e)))?;
        let mut tls = super::TlsStream::new(conn, io);
        tls.handshake(deadline, Phase::Connect)?;
        tls.set_read_timeout(None)?;
        tls.set_write_timeout(None)?;
        Ok(tls)
    }

    /// Opens the stream through a tunnel of `proxy`, by `deadline`.
    fn through_blocking(&self, proxy: &Proxy, deadline: Instant) -> Result<Stream> {
        let unreachable = |error: Error| match error {
            Error::Timeout(_) => error,
            error => ProxyError::Unreachable {
                proxy: proxy.to_string(),
                source: Box::new(error),
            }
            .into(),
        };
        let mut tcp = connect_tcp(proxy.host(), proxy.port(), deadline).map_err(unreachable)?;
        tcp.set_nodelay(true)?;
        let target = if proxy.scheme().resolves_locally() {
            let addresses = (self.url.host(), self.url.port()).to_socket_addrs()?;
            Target::Address(crate::proxy::choose_address(
                proxy,
                self.url.host(),
                addresses,
            )?)
        } else {
            Target::Name(self.url.host(), self.url.port())
        };
        let limit = self.config.protocol.max_handshake_size;
        if proxy.scheme() != ProxyScheme::Https {
            super::tunnel::handshake(&mut tcp, proxy, target, limit, deadline)?;
            return self.over_tcp_blocking(tcp, deadline);
        }
        #[cfg(feature = "tls")]
        {
            let mut tls = self
                .tls_blocking(tcp, proxy.host(), deadline)
                .map_err(unreachable)?;
            super::tunnel::handshake(&mut tls, proxy, target, limit, deadline)?;
            tls.set_read_timeout(None)?;
            tls.set_write_timeout(None)?;
            if !self.url.is_tls() {
                return Ok(Stream::Tls(Box::new(tls)));
            }
            let inner = self.tls_blocking(tls, self.url.host(), deadline)?;
            Ok(Stream::TlsInTls(Box::new(inner)))
        }
        #[cfg(not(feature = "tls"))]
        Err(ProxyError::Unsupported {
            proxy: proxy.to_string(),
            feature: "tls",
        }
        .into())
    }
}

/// Clears the timeouts that connecting and the tunnel set.
fn untimed(tcp: &TcpStream) -> io::Result<()> {
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)
}

/// Connects to the first address of `host` that answers by `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) => timeout_or(error, Phase::Connect),
        None if Instant::now() >= deadline => Error::Timeout(Phase::Connect),
        None => io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")).into(),
    })
}
