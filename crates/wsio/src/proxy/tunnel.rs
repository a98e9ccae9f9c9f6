//! Opening a tunnel through a proxy over a connection to it, whatever the proxy speaks.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use super::error::ProxyError;
use super::proxy_url::{Proxy, ProxyScheme};
use crate::error::{Error, Phase, Result};

/// Where the tunnel goes.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    /// A host name (or address as text, IPv6 without brackets) for the proxy to resolve, and a
    /// port.
    Name(&'a str, u16),
    /// An address the client resolved: for the proxies that take only addresses
    /// ([`ProxyScheme::resolves_locally`]).
    Address(SocketAddr),
}

impl Target<'_> {
    /// `host:port`, IPv6 in brackets: the request target of a `CONNECT`.
    pub(super) fn authority(&self) -> String {
        match self {
            Target::Name(host, port) if host.contains(':') => format!("[{host}]:{port}"),
            Target::Name(host, port) => format!("{host}:{port}"),
            Target::Address(address) => address.to_string(),
        }
    }
}

impl ProxyScheme {
    /// Whether the client resolves the server's name itself and gives the proxy an address
    /// (`socks4://`, `socks5://`), rather than the name.
    pub(crate) fn resolves_locally(self) -> bool {
        matches!(self, ProxyScheme::Socks4 | ProxyScheme::Socks5)
    }
}

/// The address of `host` to give `proxy`, among those it resolved to: the first, or the first
/// IPv4 one for SOCKS4.
pub(crate) fn choose_address(
    proxy: &Proxy,
    host: &str,
    mut addresses: impl Iterator<Item = SocketAddr>,
) -> Result<SocketAddr> {
    let ipv4_only = proxy.scheme() == ProxyScheme::Socks4;
    addresses
        .find(|address| !ipv4_only || address.is_ipv4())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no usable address"),
            )
            .into()
        })
}

/// Asks `proxy`, at the other end of `io`, for a tunnel to `target`. On `Ok`, `io` carries the
/// server's bytes. An HTTP proxy's answer may take up to `max_response` bytes.
///
/// The async and the blocking front-ends both run this: the blocking one over its stream made
/// to look ready at every poll (`blocking::ready_io`).
pub(crate) async fn handshake<S>(
    io: &mut S,
    proxy: &Proxy,
    target: Target<'_>,
    max_response: usize,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match proxy.scheme() {
        ProxyScheme::Http | ProxyScheme::Https => {
            super::http_connect::connect(io, proxy, &target, max_response).await
        }
        #[cfg(feature = "socks")]
        _ => super::socks::connect(io, proxy, target).await,
        #[cfg(not(feature = "socks"))]
        _ => Err(ProxyError::Unsupported {
            proxy: proxy.to_string(),
            feature: "socks",
        }
        .into()),
    }
}

/// An I/O error on the connection to `proxy` while the tunnel is set up: a timeout as the
/// connect phase's, anything else as [`ProxyError::Lost`].
pub(super) fn lost(proxy: &Proxy, error: io::Error) -> Error {
    if crate::error::is_timeout(&error) {
        return Error::Timeout(Phase::Connect);
    }
    ProxyError::Lost {
        proxy: proxy.to_string(),
        source: error,
    }
    .into()
}
