//! Opening connections without a runtime: [`connect`] and [`ClientBuilder::connect_blocking`].

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::stream::{BlockingStream, Stream, is_timeout, timeout_or};
use super::websocket::WebSocket;
use crate::client::{ClientBuilder, Response};
use crate::error::{Error, Phase, Result};

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

    /// Opens the transport within the connect timeout: the TCP connect and, for `wss://`, the
    /// TLS handshake, under one deadline.
    fn open_blocking(&self) -> Result<Stream> {
        #[cfg(unix)]
        if let Some(path) = self.url.unix_socket() {
            return Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?));
        }
        let deadline = Instant::now() + self.config.connect_timeout;
        let tcp = connect_tcp(self.url.host(), self.url.port(), deadline)?;
        tcp.set_nodelay(true)?;
        if !self.url.is_tls() {
            return Ok(Stream::Tcp(tcp));
        }
        self.tls_blocking(tcp, deadline)
    }

    #[cfg(feature = "tls")]
    fn tls_blocking(&self, tcp: TcpStream, deadline: Instant) -> Result<Stream> {
        let config = crate::tls::client_config(&self.trust, &[b"http/1.1"])?;
        let name = crate::tls::server_name(self.url.host())?;
        let conn =
            rustls::ClientConnection::new(config, name).map_err(|e| Error::Tls(Box::new(e)))?;
        let mut tls = super::TlsStream::new(conn, tcp);
        tls.handshake(deadline, Phase::Connect)?;
        tls.set_read_timeout(None)?;
        tls.set_write_timeout(None)?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_blocking(&self, _tcp: TcpStream, _deadline: Instant) -> Result<Stream> {
        Err(Error::Url(wsio_proto::UrlError::UnsupportedScheme(
            "wss (this build of wsio has no `tls` feature)".into(),
        )))
    }
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
