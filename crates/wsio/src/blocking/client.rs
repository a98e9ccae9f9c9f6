//! Opening connections without a runtime: [`connect`] and [`ClientBuilder::connect_blocking`].

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::stream::{BlockingStream, Stream, timeout_or};
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
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(timeout_or(e, Phase::Handshake)),
            };
            if let Some(accepted) = handshake.receive(&buf[..n])? {
                break accepted;
            }
        };
        io.set_read_timeout(None)?;
        io.set_write_timeout(None)?;
        let (response, connection) = Response::from_accepted(accepted);
        let ws = WebSocket::from_connection(io, connection, &self.config);
        Ok((ws, response))
    }

    fn open_blocking(&self) -> Result<Stream> {
        #[cfg(unix)]
        if let Some(path) = self.url.unix_socket() {
            return Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?));
        }
        let tcp = connect_tcp(
            self.url.host(),
            self.url.port(),
            self.config.connect_timeout,
        )?;
        tcp.set_nodelay(true)?;
        if !self.url.is_tls() {
            return Ok(Stream::Tcp(tcp));
        }
        self.tls_blocking(tcp)
    }

    #[cfg(feature = "tls")]
    fn tls_blocking(&self, mut tcp: TcpStream) -> Result<Stream> {
        let config = crate::tls::client_config(&self.trust)?;
        let name = crate::tls::server_name(self.url.host())?;
        let mut conn =
            rustls::ClientConnection::new(config, name).map_err(|e| Error::Tls(Box::new(e)))?;
        // The TLS handshake counts toward the connect timeout.
        tcp.set_read_timeout(Some(self.config.connect_timeout))?;
        tcp.set_write_timeout(Some(self.config.connect_timeout))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| match crate::tls::map_io_error(e) {
                    Error::Io(e) => timeout_or(e, Phase::Connect),
                    other => other,
                })?;
        }
        tcp.set_read_timeout(None)?;
        tcp.set_write_timeout(None)?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_blocking(&self, _tcp: TcpStream) -> Result<Stream> {
        Err(Error::Url(wsio_proto::UrlError::UnsupportedScheme(
            "wss (this build of wsio has no `tls` feature)".into(),
        )))
    }
}

/// Connects to the first address of `host` that answers within `timeout` in all.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let deadline = Instant::now() + timeout;
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
