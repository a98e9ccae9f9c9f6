//! The streams the blocking front-end runs over, and what it needs from them beyond
//! `Read + Write`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

#[cfg(feature = "tls")]
use super::tls_stream::TlsStream;
pub(crate) use crate::error::is_timeout;
use crate::error::{Error, Phase};

/// A timed-out I/O error as [`Error::Timeout`] of `phase`; any other as it is.
pub(crate) fn timeout_or(error: io::Error, phase: Phase) -> Error {
    if is_timeout(&error) {
        Error::Timeout(phase)
    } else {
        Error::Io(error)
    }
}

/// What the blocking front-end needs from a stream beyond [`Read`] and [`Write`].
///
/// Keepalive pings, the pong timeout and the close timeout are decided by the protocol core
/// and reached through read timeouts: a stream that cannot time out its reads (the default
/// methods) still works, but those timers then act only when data arrives. Implement it for
/// your own stream to run WebSocket over it:
///
/// ```
/// use std::io::{Read, Write};
/// use wsio::blocking::BlockingStream;
///
/// struct Pipe(std::net::TcpStream);
/// # impl Read for Pipe { fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) } }
/// # impl Write for Pipe {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.write(b) }
/// #     fn flush(&mut self) -> std::io::Result<()> { self.0.flush() }
/// # }
/// impl BlockingStream for Pipe {
///     fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
///         self.0.set_read_timeout(timeout)
///     }
/// }
/// ```
pub trait BlockingStream: Read + Write {
    /// Sets how long one read may block; `None` blocks until data arrives. A read that times
    /// out returns an error of kind `WouldBlock` or `TimedOut`. The default does nothing.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Sets how long one write may block; `None` blocks until the peer takes the bytes. The
    /// default does nothing.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Shuts down the writing side (sends FIN), keeping the reading side open. The default
    /// does nothing; the stream is then closed when it is dropped.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The read timeout set, `None` for none. The default says `None`. A stream that layers
    /// over another (as [`TlsStream`] does) asks the one underneath.
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(None)
    }

    /// The write timeout set, `None` for none. The default says `None`.
    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(None)
    }
}

impl BlockingStream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::write_timeout(self)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl BlockingStream for UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::read_timeout(self)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::write_timeout(self)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A TCP, TLS or Unix-socket stream: what [`connect`](super::connect) opens, and what a server
/// hands to [`accept`](super::accept).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection: to the peer, or to the proxy whose tunnel leads to it.
    Tcp(TcpStream),
    /// A Unix-domain socket.
    #[cfg(unix)]
    Unix(UnixStream),
    /// TLS over TCP, client side: `wss://` (through an HTTP or SOCKS proxy's tunnel too), and
    /// `ws://` through an `https://` proxy, whose TLS this then is. With a read timeout set, a read may end early with an error
    /// of kind `WouldBlock` when only part of a TLS record came: see [`TlsStream`].
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream<rustls::ClientConnection>>),
    /// TLS to the server inside the TLS connection to an `https://` proxy's tunnel, read as
    /// [`Stream::Tls`] is.
    #[cfg(feature = "tls")]
    TlsInTls(Box<TlsStream<rustls::ClientConnection, TlsStream<rustls::ClientConnection>>>),
    /// TLS over TCP, server side, read as [`Stream::Tls`] is.
    #[cfg(feature = "tls")]
    ServerTls(Box<TlsStream<rustls::ServerConnection>>),
}

impl Stream {
    /// The address of the peer: `None` for a Unix-domain socket, or if the system cannot tell.
    /// Through a proxy, the proxy's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp().and_then(|tcp| tcp.peer_addr().ok())
    }

    /// The local address of the connection: `None` for a Unix-domain socket, or if the system
    /// cannot tell.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp().and_then(|tcp| tcp.local_addr().ok())
    }

    /// The TCP connection under the stream, if there is one.
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(tcp) => Some(tcp),
            #[cfg(unix)]
            Stream::Unix(_) => None,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Some(tls.get_ref()),
            #[cfg(feature = "tls")]
            Stream::TlsInTls(tls) => Some(tls.get_ref().get_ref()),
            #[cfg(feature = "tls")]
            Stream::ServerTls(tls) => Some(tls.get_ref()),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $stream:ident => $body:expr) => {
        match $self {
            Stream::Tcp($stream) => $body,
            #[cfg(unix)]
            Stream::Unix($stream) => $body,
            #[cfg(feature = "tls")]
            Stream::Tls($stream) => $body,
            #[cfg(feature = "tls")]
            Stream::TlsInTls($stream) => $body,
            #[cfg(feature = "tls")]
            Stream::ServerTls($stream) => $body,
        }
    };
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        dispatch!(self, s => s.read(buf))
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        dispatch!(self, s => s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        dispatch!(self, s => s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        dispatch!(self, s => s.flush())
    }
}

impl BlockingStream for Stream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        dispatch!(self, s => s.set_read_timeout(timeout))
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        dispatch!(self, s => s.set_write_timeout(timeout))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        dispatch!(self, s => s.shutdown_write())
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        dispatch!(self, s => s.read_timeout())
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        dispatch!(self, s => s.write_timeout())
    }
}

/// Any `Read + Write` stream, used as it is: reads and writes block without timeouts, and the
/// writing side is not shut down separately (the stream closes when dropped). Keepalive and
/// the close timeout then act only when data arrives; implement [`BlockingStream`] for your
/// stream instead if it can time out its reads.
///
/// ```no_run
/// use wsio::blocking::Plain;
///
/// // Any Read + Write: here a TCP stream, standing in for a tunnel the caller set up.
/// let stream = std::net::TcpStream::connect("127.0.0.1:9001")?;
/// let (mut ws, _) = wsio::ClientBuilder::new("ws://example.test/chat")?
///     .connect_blocking_on(Plain(stream))?;
/// ws.send_text("hello")?;
/// # Ok::<(), wsio::Error>(())
/// ```
#[derive(Debug)]
pub struct Plain<S>(pub S);

impl<S: Read> Read for Plain<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Plain<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> BlockingStream for Plain<S> {}
