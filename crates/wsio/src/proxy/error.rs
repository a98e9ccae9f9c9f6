//! What can go wrong on the way through a proxy.

use std::io;

/// Why a connection through a proxy failed before the WebSocket handshake began: the proxy's
/// part, kept apart from the server's. It is [`Error::Proxy`](crate::Error::Proxy).
///
/// `proxy` is the proxy's URL without credentials ([`Proxy`](super::Proxy)'s `Display`); no
/// variant holds a password, and none of the messages prints one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A proxy URL, given or read from the environment, cannot be used. Says what is wrong,
    /// without repeating the URL (which may hold a password).
    #[error("invalid proxy URL: {0}")]
    InvalidUrl(&'static str),
    /// A proxy environment variable holds a URL that cannot be used.
    #[error("invalid proxy URL in ${variable}: {reason}")]
    InvalidVariable {
        /// The variable's name, such as `https_proxy`.
        variable: &'static str,
        /// What is wrong with its value.
        reason: &'static str,
    },
    /// The proxy could not be reached: it refused the connection, its name does not resolve,
    /// or its TLS handshake failed.
    #[error("proxy {proxy} unreachable: {source}")]
    Unreachable {
        /// The proxy, without credentials.
        proxy: String,
        /// What connecting to it gave.
        source: Box<crate::Error>,
    },
    /// The connection to the proxy broke, or the proxy closed it, while the tunnel was being
    /// set up.
    #[error("proxy {proxy} closed the connection while the tunnel was being set up: {source}")]
    Lost {
        /// The proxy, without credentials.
        proxy: String,
        /// What the connection gave.
        source: io::Error,
    },
    /// An HTTP proxy answered `407 Proxy Authentication Required`, or `401 Unauthorized`
    /// (which some proxies, tinyproxy among them, send for wrong credentials; to a `CONNECT`
    /// only the proxy can answer): it wants credentials, or did not accept those given.
    #[error(
        "proxy {proxy} requires authentication ({}){}",
        .status.as_u16(),
        if *.credentials_sent { ": the credentials given were refused" } else { ": none were given" }
    )]
    AuthenticationRequired {
        /// The proxy, without credentials.
        proxy: String,
        /// 407, or 401.
        status: http::StatusCode,
        /// Whether credentials were sent (and refused).
        credentials_sent: bool,
    },
    /// An HTTP proxy refused the tunnel with a status other than 2xx, 401 and 407 (403 for a port
    /// it does not allow, 502 when it cannot reach the server, …).
    #[error("proxy {proxy} refused the tunnel with status {status}")]
    Refused {
        /// The proxy, without credentials.
        proxy: String,
        /// The status it answered.
        status: http::StatusCode,
    },
    /// A SOCKS proxy refused the tunnel, or the authentication.
    #[error("SOCKS proxy {proxy}: {failure}")]
    Socks {
        /// The proxy, without credentials.
        proxy: String,
        /// What it said, in words.
        failure: SocksFailure,
    },
    /// The proxy's answer broke its protocol (an HTTP response that does not parse, one
    /// longer than the handshake limit, a SOCKS reply of the wrong version).
    #[error("proxy {proxy} answered outside its protocol: {what}")]
    InvalidResponse {
        /// The proxy, without credentials.
        proxy: String,
        /// What was wrong.
        what: &'static str,
    },
    /// This build of wsio cannot use the proxy: `socks*://` without the `socks` feature,
    /// `https://` without `tls`.
    #[error("this build of wsio cannot use proxy {proxy}: it lacks the `{feature}` feature")]
    Unsupported {
        /// The proxy, without credentials.
        proxy: String,
        /// The missing cargo feature.
        feature: &'static str,
    },
}

/// What a SOCKS proxy said when it refused, in words: the reply codes of RFC 1928 section 6
/// (SOCKS5), of the SOCKS4 protocol, and the failures of the authentication step (RFC 1929).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocksFailure {
    /// SOCKS5 reply 1, SOCKS4 reply 91: the request failed.
    #[error("general SOCKS server failure (SOCKS5 reply 1, SOCKS4 reply 91)")]
    GeneralFailure,
    /// SOCKS5 reply 2: its rules forbid this connection.
    #[error("connection not allowed by its rules (reply 2)")]
    NotAllowed,
    /// SOCKS5 reply 3.
    #[error("network unreachable (reply 3)")]
    NetworkUnreachable,
    /// SOCKS5 reply 4: it could not reach (or resolve) the host.
    #[error("host unreachable (reply 4)")]
    HostUnreachable,
    /// SOCKS5 reply 5: the server refused the proxy's connection.
    #[error("connection refused by the server (reply 5)")]
    ConnectionRefused,
    /// SOCKS5 reply 6.
    #[error("TTL expired (reply 6)")]
    TtlExpired,
    /// SOCKS5 reply 7.
    #[error("command not supported (reply 7)")]
    CommandNotSupported,
    /// SOCKS5 reply 8: SOCKS5 with a host name it will not resolve, or an IPv6 address to a
    /// SOCKS4 proxy.
    #[error("address type not supported (reply 8)")]
    AddressTypeNotSupported,
    /// A reply code neither protocol defines.
    #[error("a reply code SOCKS does not define")]
    Rejected,
    /// It accepts none of the authentication methods offered: it wants a user name and
    /// password and none were given, or the reverse.
    #[error("no acceptable authentication method (credentials missing or not wanted)")]
    NoAcceptableMethod,
    /// It refused the user name and password (SOCKS5), or the user id (SOCKS4 replies 92
    /// and 93).
    #[error("the user name and password were refused")]
    AuthenticationFailed,
    /// The user name or password is empty or longer than 255 bytes, which SOCKS cannot
    /// carry.
    #[error("the user name and password must be 1 to 255 bytes each")]
    InvalidCredentials,
}
