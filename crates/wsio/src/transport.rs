//! The transports a WebSocket runs over, behind one type.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// A TCP, TLS or Unix-socket stream: what [`connect`](crate::connect) opens.
#[derive(Debug)]
#[non_exhaustive]
pub enum Transport {
    /// A TCP connection: to the server, or to the proxy whose tunnel leads to it.
    Tcp(TcpStream),
    /// A Unix-domain socket (`ws+unix://` URLs).
    #[cfg(unix)]
    Unix(UnixStream),
    /// TLS over TCP, client side: `wss://` URLs (through an HTTP or SOCKS proxy's tunnel too),
    /// and `ws://` URLs through an `https://` proxy, whose TLS this then is.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS to the server inside the TLS connection to an `https://` proxy's tunnel.
    #[cfg(feature = "tls")]
    TlsInTls(Box<tokio_rustls::client::TlsStream<tokio_rustls::client::TlsStream<TcpStream>>>),
    /// TLS over TCP, server side (a [`Server`](crate::Server) with a certificate).
    #[cfg(feature = "tls")]
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// One stream of an HTTP/2 connection (RFC 8441): opened by an extended CONNECT that a
    /// [`Server`](crate::Server) with the `http2` feature accepted, or that a client sent on
    /// an [`Http2Connection`](crate::Http2Connection). Its addresses are the connection's
    /// (on a server, in [`ServerRequest::peer_addr`](crate::ServerRequest::peer_addr)); this
    /// type has none of its own.
    #[cfg(feature = "http2")]
    Http2(Box<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>),
}

impl Transport {
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

    /// The TCP connection under the transport, if there is one.
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Transport::Tcp(s) => Some(s),
            #[cfg(unix)]
            Transport::Unix(_) => None,
            #[cfg(feature = "tls")]
            Transport::Tls(s) => Some(s.get_ref().0),
            #[cfg(feature = "tls")]
            Transport::TlsInTls(s) => Some(s.get_ref().0.get_ref().0),
            #[cfg(feature = "tls")]
            Transport::ServerTls(s) => Some(s.get_ref().0),
            #[cfg(feature = "http2")]
            Transport::Http2(_) => None,
        }
    }

    /// The protocol TLS agreed by ALPN, if TLS agreed one.
    #[cfg(feature = "http2")]
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            #[cfg(feature = "tls")]
            Transport::ServerTls(s) => s.get_ref().1.alpn_protocol(),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.get_ref().1.alpn_protocol(),
            #[cfg(feature = "tls")]
            Transport::TlsInTls(s) => s.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }

    /// Makes closing this transport reset the connection (TCP, with `SO_LINGER` of zero):
    /// the kernel then drops the bytes it has not sent yet instead of delivering them later,
    /// after the connection was given up. A Unix socket has nothing in flight.
    pub(crate) fn discard_unsent_on_close(&self) -> io::Result<()> {
        self.tcp().map_or(Ok(()), TcpStream::set_zero_linger)
    }
}

macro_rules! dispatch {
    ($self:ident, $stream:ident => $body:expr) => {
        match $self.get_mut() {
            Transport::Tcp($stream) => $body,
            #[cfg(unix)]
            Transport::Unix($stream) => $body,
            #[cfg(feature = "tls")]
            Transport::Tls($stream) => $body,
            #[cfg(feature = "tls")]
            Transport::TlsInTls($stream) => $body,
            #[cfg(feature = "tls")]
            Transport::ServerTls($stream) => $body,
            #[cfg(feature = "http2")]
            Transport::Http2($stream) => $body,
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Transport::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::TlsInTls(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::ServerTls(s) => s.is_write_vectored(),
            #[cfg(feature = "http2")]
            Transport::Http2(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
