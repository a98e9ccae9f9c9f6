//! WebSocket URLs (RFC 6455 section 3): `ws://`, `wss://`, and Unix-socket targets.
//!
//! ```text
//! ws://user:secret@example.com:9001/chat?room=1
//! wss://[::1]/feed
//! ws+unix:///run/app.sock:/chat?room=1
//! ```
//!
//! [`parse_url`] (or [`str::parse`]) turns one of these into a [`WsUrl`], which tells a client
//! where to connect ([`WsUrl::host`], [`WsUrl::port`], [`WsUrl::unix_socket`]), whether to use
//! TLS, and what to put in the request line and the `Host` header.
//!
//! The rules, in short:
//!
//! - The scheme is `ws`, `wss` or `ws+unix`, in any letter case. Any other scheme is
//!   [`UrlError::UnsupportedScheme`].
//! - A fragment (`#...`) is [`UrlError::Fragment`]: RFC 6455 section 3 forbids it, and a `#`
//!   that belongs in the resource must be written `%23`.
//! - The port defaults to 80 for `ws` and 443 for `wss`. Port 0 is rejected like any port
//!   outside 1-65535, since nothing can be reached on it.
//! - Host names are lowercased; IPv6 literals are written in brackets and stored in their
//!   canonical form (`[0:0::1]` becomes `[::1]`). IPv6 zone identifiers are not supported.
//! - User information (`user:password@`) is kept as written, without percent-decoding, so that
//!   a client can send it as `Authorization: Basic` ([`Credentials::basic_auth`]).
//! - `ws+unix` follows the format of Node's `ws` package: the socket path runs from after
//!   `ws+unix://` up to the first `:`, and the resource follows it (`/` when absent; otherwise
//!   it starts with `/` or `?`). Such a URL has no user information, and its `Host` header is
//!   `localhost`.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::uri::{Authority, PathAndQuery};

/// The default port of `ws://` URLs (RFC 6455 section 3).
const WS_PORT: u16 = 80;
/// The default port of `wss://` URLs (RFC 6455 section 3).
const WSS_PORT: u16 = 443;
/// The `Host` header sent to a Unix-socket target, which has no host name.
const UNIX_HOST: &str = "localhost";

/// A parsed WebSocket URL: where to connect, and what to ask for once connected.
///
/// ```
/// use wsio_proto::url::WsUrl;
///
/// let url: WsUrl = "WSS://Example.com:8443/chat?room=1".parse()?;
/// assert!(url.is_tls());
/// assert_eq!((url.host(), url.port()), ("example.com", 8443));
/// assert_eq!(url.resource(), "/chat?room=1");
/// assert_eq!(url.host_header(), "example.com:8443");
/// assert_eq!(url.to_string(), "wss://example.com:8443/chat?room=1");
///
/// let url: WsUrl = "ws://[::1]/".parse()?;
/// assert_eq!((url.host(), url.port()), ("::1", 80));
/// assert_eq!(url.host_header(), "[::1]");
///
/// let url: WsUrl = "ws+unix:///tmp/app.sock:/chat".parse()?;
/// assert_eq!(url.unix_socket(), Some(std::path::Path::new("/tmp/app.sock")));
/// assert_eq!(url.resource(), "/chat");
/// assert_eq!(url.host_header(), "localhost");
/// # Ok::<(), wsio_proto::url::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsUrl {
    tls: bool,
    target: Target,
    /// Path and query, always starting with `/`.
    resource: String,
    credentials: Option<Credentials>,
}

/// Where a [`WsUrl`] points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    /// A host name or IP address (IPv6 without brackets) and a port.
    Tcp { host: String, port: u16 },
    /// A Unix domain socket.
    Unix(PathBuf),
}

/// The user information of a URL (`user:password@`), kept exactly as written.
///
/// Its `Debug` output hides the password.
///
/// ```
/// use wsio_proto::url::WsUrl;
///
/// let url: WsUrl = "ws://aladdin:opensesame@example.com/".parse()?;
/// let credentials = url.credentials().unwrap();
/// assert_eq!((credentials.user(), credentials.password()), ("aladdin", Some("opensesame")));
/// assert_eq!(credentials.basic_auth(), "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
/// # Ok::<(), wsio_proto::url::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    user: String,
    password: Option<String>,
}

impl Credentials {
    /// Credentials from a user name and an optional password.
    pub fn new(user: impl Into<String>, password: Option<String>) -> Self {
        Credentials {
            user: user.into(),
            password,
        }
    }

    /// The user name, as written in the URL (not percent-decoded).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, as written in the URL (not percent-decoded), if there was a `:` after the
    /// user name.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The value of an `Authorization` header for HTTP Basic authentication (RFC 7617):
    /// `Basic ` and the base64 of `user:password`. A missing password counts as empty.
    pub fn basic_auth(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password.as_deref().unwrap_or(""));
        format!("Basic {}", STANDARD.encode(pair))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Why a string is not a usable WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// There is no `scheme:` at the start.
    #[error("missing scheme: a WebSocket URL starts with ws://, wss:// or ws+unix://")]
    MissingScheme,
    /// The scheme is not `ws`, `wss` or `ws+unix`. Holds the scheme as written.
    #[error("unsupported scheme `{0}`: expected ws, wss or ws+unix")]
    UnsupportedScheme(String),
    /// A `ws` or `wss` URL has no host.
    #[error("missing host")]
    MissingHost,
    /// The host is malformed: an IPv6 literal that does not parse or lacks its closing bracket,
    /// or an unbracketed address with several colons. Holds the host and port as written.
    #[error("invalid host `{0}`")]
    InvalidHost(String),
    /// The port is not a number from 1 to 65535. Holds the port as written.
    #[error("invalid port `{0}`: expected a number from 1 to 65535")]
    InvalidPort(String),
    /// The URL has a fragment, which RFC 6455 section 3 forbids.
    #[error("WebSocket URLs cannot have a fragment; write `#` as %23 (RFC 6455 section 3)")]
    Fragment,
    /// A `ws+unix` URL has no socket path.
    #[error("missing socket path after ws+unix://")]
    MissingSocketPath,
    /// A character or component the URI syntax does not allow, as reported by [`http::Uri`]'s
    /// parser, or a `ws+unix` resource that does not start with `/`. Holds its description.
    #[error("invalid URL: {0}")]
    InvalidSyntax(String),
}

impl WsUrl {
    /// Whether the connection uses TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host to resolve and, with TLS, to name in SNI: lowercase, and without brackets for
    /// an IPv6 address.
    ///
    /// For a Unix-socket target this is `localhost`, the name sent in the `Host` header; check
    /// [`unix_socket`](Self::unix_socket) first.
    pub fn host(&self) -> &str {
        match &self.target {
            Target::Tcp { host, .. } => host,
            Target::Unix(_) => UNIX_HOST,
        }
    }

    /// The port: as written, or 80 for `ws` and 443 for `wss`.
    ///
    /// For a Unix-socket target this is 80, and means nothing.
    pub fn port(&self) -> u16 {
        match self.target {
            Target::Tcp { port, .. } => port,
            Target::Unix(_) => self.default_port(),
        }
    }

    /// The resource name for the request line (RFC 6455 section 3): the path and, if present,
    /// `?` and the query. Never empty; `/` when the URL has no path.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The value of the `Host` header: the host, in brackets if it is an IPv6 address, followed
    /// by `:port` when the port is not the scheme's default. `localhost` for a Unix socket.
    pub fn host_header(&self) -> String {
        match &self.target {
            Target::Tcp { host, port } => {
                let mut out = bracketed(host);
                if *port != self.default_port() {
                    out.push(':');
                    out.push_str(&port.to_string());
                }
                out
            }
            Target::Unix(_) => UNIX_HOST.to_owned(),
        }
    }

    /// The Unix socket to connect to, for a `ws+unix` URL.
    pub fn unix_socket(&self) -> Option<&Path> {
        match &self.target {
            Target::Tcp { .. } => None,
            Target::Unix(path) => Some(path),
        }
    }

    /// The user information of the URL, if it had any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    fn default_port(&self) -> u16 {
        if self.tls { WSS_PORT } else { WS_PORT }
    }
}

/// Writes a host as it appears in a URL: IPv6 addresses in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

impl fmt::Display for WsUrl {
    /// The normalized URL: lowercase scheme and host, no default port, and a resource that
    /// starts with `/`. Parsing it gives back an equal [`WsUrl`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Unix(path) => {
                write!(f, "ws+unix://{}", path.display())?;
                if self.resource != "/" {
                    write!(f, ":{}", self.resource)?;
                }
                Ok(())
            }
            Target::Tcp { .. } => {
                f.write_str(if self.tls { "wss://" } else { "ws://" })?;
                if let Some(credentials) = &self.credentials {
                    f.write_str(&credentials.user)?;
                    if let Some(password) = &credentials.password {
                        write!(f, ":{password}")?;
                    }
                    f.write_str("@")?;
                }
                write!(f, "{}{}", self.host_header(), self.resource)
            }
        }
    }
}

impl FromStr for WsUrl {
    type Err = UrlError;

    /// Same as [`parse_url`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_url(s)
    }
}

/// Parses a `ws://`, `wss://` or `ws+unix://` URL. See the [module documentation](self) for
/// the rules.
///
/// ```
/// use wsio_proto::url::{UrlError, parse_url};
///
/// let url = parse_url("ws://localhost:9001")?;
/// assert_eq!((url.host(), url.port(), url.resource()), ("localhost", 9001, "/"));
///
/// assert_eq!(parse_url("https://example.com/"), Err(UrlError::UnsupportedScheme("https".into())));
/// assert_eq!(parse_url("ws://example.com/#top"), Err(UrlError::Fragment));
/// assert_eq!(parse_url("ws://example.com:70000/"), Err(UrlError::InvalidPort("70000".into())));
/// # Ok::<(), UrlError>(())
/// ```
pub fn parse_url(input: &str) -> Result<WsUrl, UrlError> {
    let (scheme, rest) = split_scheme(input)?;
    let (tls, unix) = if scheme.eq_ignore_ascii_case("ws") {
        (false, false)
    } else if scheme.eq_ignore_ascii_case("wss") {
        (true, false)
    } else if scheme.eq_ignore_ascii_case("ws+unix") {
        (false, true)
    } else {
        return Err(UrlError::UnsupportedScheme(scheme.to_owned()));
    };
    // RFC 6455 section 3: "Fragment identifiers are meaningless in the context of WebSocket
    // URIs and MUST NOT be used on these URIs."
    if input.contains('#') {
        return Err(UrlError::Fragment);
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(if unix {
            UrlError::MissingSocketPath
        } else {
            UrlError::MissingHost
        });
    };
    if unix {
        parse_unix(rest)
    } else {
        parse_tcp(tls, rest)
    }
}

/// Splits `scheme:rest`, checking the scheme's syntax (RFC 3986 section 3.1).
fn split_scheme(input: &str) -> Result<(&str, &str), UrlError> {
    let (scheme, rest) = input.split_once(':').ok_or(UrlError::MissingScheme)?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err(UrlError::MissingScheme);
    }
    Ok((scheme, rest))
}

/// Parses what follows `ws://` or `wss://`: `[userinfo@]host[:port][/path][?query]`.
fn parse_tcp(tls: bool, rest: &str) -> Result<WsUrl, UrlError> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    if host_port.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let (host, port) = split_host_port(host_port)?;
    let port = match port {
        // RFC 3986 section 3.2.3: an empty port means the default.
        None | Some("") => {
            if tls {
                WSS_PORT
            } else {
                WS_PORT
            }
        }
        Some(digits) => parse_port(digits)?,
    };
    // The characters of the user information and host are http's to check.
    authority
        .parse::<Authority>()
        .map_err(|e| UrlError::InvalidSyntax(e.to_string()))?;
    let credentials =
        userinfo
            .filter(|u| !u.is_empty())
            .map(|userinfo| match userinfo.split_once(':') {
                Some((user, password)) => Credentials::new(user, Some(password.to_owned())),
                None => Credentials::new(userinfo, None),
            });
    Ok(WsUrl {
        tls,
        target: Target::Tcp { host, port },
        resource: parse_resource(path_and_query)?,
        credentials,
    })
}

/// Splits `host[:port]` or `[ipv6][:port]`, returning the host lowercased and without brackets.
fn split_host_port(host_port: &str) -> Result<(String, Option<&str>), UrlError> {
    let invalid = || UrlError::InvalidHost(host_port.to_owned());
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        let address: Ipv6Addr = literal.parse().map_err(|_| invalid())?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or_else(invalid)?),
        };
        return Ok((address.to_string(), port));
    }
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    if port.is_some_and(|port| port.contains(':')) {
        // Several colons: most likely an IPv6 address without its brackets.
        return Err(invalid());
    }
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// Parses a port from 1 to 65535.
fn parse_port(digits: &str) -> Result<u16, UrlError> {
    // `u16::from_str` would also take a leading `+`.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort(digits.to_owned()));
    }
    match digits.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(UrlError::InvalidPort(digits.to_owned())),
    }
}

/// Checks a path and query and returns the resource name: `/` for an empty path, and the query
/// after `?` if there is one.
fn parse_resource(path_and_query: &str) -> Result<String, UrlError> {
    if path_and_query.is_empty() {
        return Ok("/".to_owned());
    }
    let parsed: PathAndQuery = path_and_query
        .parse()
        .map_err(|e: http::uri::InvalidUri| UrlError::InvalidSyntax(e.to_string()))?;
    Ok(match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    })
}

/// Parses what follows `ws+unix://`: `socket-path[:resource]`.
fn parse_unix(rest: &str) -> Result<WsUrl, UrlError> {
    let (socket, resource) = rest.split_once(':').unwrap_or((rest, ""));
    if socket.is_empty() {
        return Err(UrlError::MissingSocketPath);
    }
    let resource = parse_resource(resource)?;
    // A request line needs a path: `chat` or the asterisk form `*` will not do.
    if !resource.starts_with('/') {
        return Err(UrlError::InvalidSyntax(format!(
            "the resource `{resource}` after the socket path does not start with `/`"
        )));
    }
    Ok(WsUrl {
        tls: false,
        target: Target::Unix(PathBuf::from(socket)),
        resource,
        credentials: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (input, tls, host, port, resource, host header, display)
    #[rustfmt::skip]
    const VALID: &[(&str, bool, &str, u16, &str, &str, &str)] = &[
        ("ws://example.com", false, "example.com", 80, "/", "example.com", "ws://example.com/"),
        ("wss://example.com/", true, "example.com", 443, "/", "example.com", "wss://example.com/"),
        ("WS://EXAMPLE.com/Chat", false, "example.com", 80, "/Chat", "example.com", "ws://example.com/Chat"),
        ("wSs://h:443/a/b?c=d&e", true, "h", 443, "/a/b?c=d&e", "h", "wss://h/a/b?c=d&e"),
        ("ws://h:443/", false, "h", 443, "/", "h:443", "ws://h:443/"),
        ("wss://h:80/", true, "h", 80, "/", "h:80", "wss://h:80/"),
        ("ws://h:80/", false, "h", 80, "/", "h", "ws://h/"),
        ("ws://h:/", false, "h", 80, "/", "h", "ws://h/"),
        ("ws://h:65535", false, "h", 65535, "/", "h:65535", "ws://h:65535/"),
        ("ws://h?x=1", false, "h", 80, "/?x=1", "h", "ws://h/?x=1"),
        ("ws://h/?", false, "h", 80, "/?", "h", "ws://h/?"),
        ("ws://h/a%23b", false, "h", 80, "/a%23b", "h", "ws://h/a%23b"),
        ("ws://127.0.0.1:9001/x", false, "127.0.0.1", 9001, "/x", "127.0.0.1:9001", "ws://127.0.0.1:9001/x"),
        ("ws://[::1]:9001/x", false, "::1", 9001, "/x", "[::1]:9001", "ws://[::1]:9001/x"),
        ("wss://[::1]", true, "::1", 443, "/", "[::1]", "wss://[::1]/"),
        ("ws://[2001:DB8:0:0::1]/", false, "2001:db8::1", 80, "/", "[2001:db8::1]", "ws://[2001:db8::1]/"),
    ];

    #[test]
    fn valid_urls() {
        for &(input, tls, host, port, resource, host_header, display) in VALID {
            let url = parse_url(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.is_tls(), tls, "{input}");
            assert_eq!(url.host(), host, "{input}");
            assert_eq!(url.port(), port, "{input}");
            assert_eq!(url.resource(), resource, "{input}");
            assert_eq!(url.host_header(), host_header, "{input}");
            assert_eq!(url.unix_socket(), None, "{input}");
            assert_eq!(url.credentials(), None, "{input}");
            assert_eq!(url.to_string(), display, "{input}");
            assert_eq!(input.parse::<WsUrl>().unwrap(), url, "{input}");
        }
    }

    #[test]
    fn invalid_urls() {
        use UrlError::*;
        let cases: &[(&str, UrlError)] = &[
            ("", MissingScheme),
            ("example.com/chat", MissingScheme),
            ("://example.com", MissingScheme),
            ("1ws://example.com", MissingScheme),
            ("http://example.com/", UnsupportedScheme("http".into())),
            ("HTTPS://example.com/", UnsupportedScheme("HTTPS".into())),
            ("ftp://example.com/", UnsupportedScheme("ftp".into())),
            (
                "mailto:someone@example.com",
                UnsupportedScheme("mailto".into()),
            ),
            ("ws://example.com/#frag", Fragment),
            ("ws://example.com#", Fragment),
            ("wss://example.com/?q#f", Fragment),
            ("ws+unix:///tmp/s.sock:/x#f", Fragment),
            ("ws:example.com", MissingHost),
            ("ws://", MissingHost),
            ("ws:///chat", MissingHost),
            ("ws://user@/chat", MissingHost),
            ("ws://:80/", MissingHost),
            ("ws://h:0/", InvalidPort("0".into())),
            ("ws://h:65536/", InvalidPort("65536".into())),
            ("ws://h:99999999999/", InvalidPort("99999999999".into())),
            ("ws://h:+80/", InvalidPort("+80".into())),
            ("ws://h:8o/", InvalidPort("8o".into())),
            ("ws://[::1:80/", InvalidHost("[::1:80".into())),
            ("ws://[::1]x/", InvalidHost("[::1]x".into())),
            ("ws://[not-ipv6]/", InvalidHost("[not-ipv6]".into())),
            ("ws://::1/", InvalidHost("::1".into())),
            ("ws://a:1:2/", InvalidHost("a:1:2".into())),
            ("ws+unix://", MissingSocketPath),
            ("ws+unix://:/x", MissingSocketPath),
            ("ws+unix:/tmp/s.sock", MissingSocketPath),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_url(input).as_ref(), Err(expected), "{input}");
        }
        for input in [
            "ws://exa mple.com/",
            "ws://h/a b",
            "ws://h/\x7f",
            "ws+unix:///s:x y",
        ] {
            assert!(matches!(parse_url(input), Err(InvalidSyntax(_))), "{input}");
        }
        assert!(matches!(
            parse_url("ws+unix:///s:chat"),
            Err(InvalidSyntax(_))
        ));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let message = |input| parse_url(input).unwrap_err().to_string();
        assert!(message("gopher://x").contains("`gopher`"));
        assert!(message("ws://x:0").contains("`0`"));
        assert!(message("ws://x/#a").contains("fragment"));
    }

    #[test]
    fn credentials_are_kept_raw() {
        // (input, user, password, display)
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("ws://alice:s3cret@h/", "alice", Some("s3cret"), "ws://alice:s3cret@h/"),
            ("ws://alice@h:81/", "alice", None, "ws://alice@h:81/"),
            ("ws://alice:@h/", "alice", Some(""), "ws://alice:@h/"),
            ("ws://:pw@h/", "", Some("pw"), "ws://:pw@h/"),
            ("ws://a%40b:p%3Aq@h/", "a%40b", Some("p%3Aq"), "ws://a%40b:p%3Aq@h/"),
            ("wss://u:p:q@[::1]:8443/", "u", Some("p:q"), "wss://u:p:q@[::1]:8443/"),
        ];
        for &(input, user, password, display) in cases {
            let url = parse_url(input).unwrap();
            let credentials = url.credentials().expect(input);
            assert_eq!(
                (credentials.user(), credentials.password()),
                (user, password)
            );
            assert_eq!(url.to_string(), display);
            // Userinfo never reaches the Host header.
            assert!(!url.host_header().contains('@'));
        }
        // An empty userinfo is no userinfo.
        assert_eq!(parse_url("ws://@h/").unwrap().credentials(), None);
        // RFC 7617 section 2's example.
        let credentials = Credentials::new("Aladdin", Some("open sesame".into()));
        assert_eq!(
            credentials.basic_auth(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            Credentials::new("u", None).basic_auth(),
            Credentials::new("u", Some(String::new())).basic_auth()
        );
        assert!(!format!("{credentials:?}").contains("sesame"));
    }

    #[test]
    fn unix_sockets() {
        // (input, socket, resource, display)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, &str)] = &[
            ("ws+unix:///tmp/app.sock:/chat?x=1", "/tmp/app.sock", "/chat?x=1", "ws+unix:///tmp/app.sock:/chat?x=1"),
            ("ws+unix:///tmp/app.sock", "/tmp/app.sock", "/", "ws+unix:///tmp/app.sock"),
            ("WS+UNIX:///tmp/app.sock:", "/tmp/app.sock", "/", "ws+unix:///tmp/app.sock"),
            ("ws+unix:///tmp/app.sock:/", "/tmp/app.sock", "/", "ws+unix:///tmp/app.sock"),
            ("ws+unix:///tmp/app.sock:?q", "/tmp/app.sock", "/?q", "ws+unix:///tmp/app.sock:/?q"),
            ("ws+unix://relative.sock:/a:b", "relative.sock", "/a:b", "ws+unix://relative.sock:/a:b"),
            ("ws+unix:///run/my app/s@1.sock:/x", "/run/my app/s@1.sock", "/x", "ws+unix:///run/my app/s@1.sock:/x"),
        ];
        for &(input, socket, resource, display) in cases {
            let url = parse_url(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.unix_socket(), Some(Path::new(socket)), "{input}");
            assert_eq!(url.resource(), resource, "{input}");
            assert_eq!(url.host_header(), "localhost");
            assert_eq!(url.host(), "localhost");
            assert!(!url.is_tls());
            assert_eq!(url.credentials(), None);
            assert_eq!(url.to_string(), display, "{input}");
            assert_eq!(parse_url(display).unwrap(), url, "{input}");
        }
    }

    fn arb_host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]{1,8}){0,3}",
            any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
        ]
    }

    fn arb_resource() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec("[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}", 0..4),
            proptest::option::of("[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,12}"),
        )
            .prop_map(|(segments, query)| {
                let mut out = String::new();
                for segment in segments {
                    out.push('/');
                    out.push_str(&segment);
                }
                if out.is_empty() {
                    out.push('/');
                }
                if let Some(query) = query {
                    out.push('?');
                    out.push_str(&query);
                }
                out
            })
    }

    fn arb_url() -> impl Strategy<Value = WsUrl> {
        let credentials = proptest::option::of((
            "[A-Za-z0-9._~%!$&'()*+,;=-]{1,8}",
            proptest::option::of("[A-Za-z0-9._~%!$&'()*+,;=:-]{0,8}"),
        ));
        let tcp = (
            any::<bool>(),
            arb_host(),
            1u16..,
            arb_resource(),
            credentials,
        )
            .prop_map(|(tls, host, port, resource, credentials)| WsUrl {
                tls,
                target: Target::Tcp { host, port },
                resource,
                credentials: credentials.map(|(user, password)| Credentials::new(user, password)),
            });
        let unix =
            ("/?[A-Za-z0-9._ @/-]{1,20}", arb_resource()).prop_map(|(socket, resource)| WsUrl {
                tls: false,
                target: Target::Unix(PathBuf::from(socket)),
                resource,
                credentials: None,
            });
        prop_oneof![4 => tcp, 1 => unix]
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(url in arb_url()) {
            let shown = url.to_string();
            let parsed = parse_url(&shown).map_err(|e| TestCaseError::fail(format!("{shown}: {e}")))?;
            prop_assert_eq!(&parsed, &url, "{}", shown);
            prop_assert_eq!(parsed.to_string(), shown);
        }

        #[test]
        fn parsing_never_panics_and_normalizes(input in "(ws|wss|WS|ws\\+unix|http)://[a-z0-9:@\\[\\]/?#%.]{0,24}") {
            if let Ok(url) = parse_url(&input) {
                let again = parse_url(&url.to_string()).unwrap();
                prop_assert_eq!(again, url);
            }
        }
    }
}
