//! A proxy's address, protocol and credentials, parsed from a proxy URL.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use wsio_proto::Credentials;

use super::error::ProxyError;

/// The protocol a proxy speaks, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyScheme {
    /// `http://`: an HTTP proxy reached over TCP, asked for a tunnel with `CONNECT`. Also what
    /// a proxy URL without a scheme means (`proxy.example:3128`), as in curl.
    Http,
    /// `https://`: an HTTP proxy reached over TLS, asked for a tunnel with `CONNECT`. The
    /// proxy's certificate is checked as the client's TLS settings say.
    Https,
    /// `socks4://`: SOCKS4, the client resolving the host name (IPv4 only).
    Socks4,
    /// `socks4a://`: SOCKS4a, the proxy resolving the host name.
    Socks4a,
    /// `socks5://`: SOCKS5, the client resolving the host name.
    Socks5,
    /// `socks5h://`: SOCKS5, the proxy resolving the host name.
    Socks5h,
}

impl ProxyScheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks4 => "socks4",
            ProxyScheme::Socks4a => "socks4a",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    /// The port a proxy URL without one means: 80 for `http`, 443 for `https`, 1080 for
    /// SOCKS. (curl takes 1080 for an `http://` proxy without a port; wsio follows the scheme,
    /// as browsers and Python do.)
    pub fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            _ => 1080,
        }
    }

    fn parse(scheme: &str) -> Option<Self> {
        let all = [
            ProxyScheme::Http,
            ProxyScheme::Https,
            ProxyScheme::Socks4,
            ProxyScheme::Socks4a,
            ProxyScheme::Socks5,
            ProxyScheme::Socks5h,
        ];
        all.into_iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(scheme))
    }
}

/// A proxy: its protocol, host, port, and the credentials to give it.
///
/// Parsed from a URL, `scheme://[user[:password]@]host[:port][/]`, where the scheme is one of
/// [`ProxyScheme`]'s (none means `http`), the user and password are percent-decoded, and a
/// missing port is the scheme's [default](ProxyScheme::default_port). An HTTP proxy gets the
/// credentials as `Proxy-Authorization: Basic` (RFC 7617); a SOCKS5 proxy as its
/// username/password method (RFC 1929); a SOCKS4 proxy gets the user name as its user id.
///
/// `Display` writes the URL without the credentials, and `Debug` hides the password:
///
/// ```
/// use wsio::proxy::{Proxy, ProxyScheme};
///
/// let proxy: Proxy = "socks5h://alice:s%40cret@[::1]:1080".parse()?;
/// assert_eq!(proxy.scheme(), ProxyScheme::Socks5h);
/// assert_eq!((proxy.host(), proxy.port()), ("::1", 1080));
/// assert_eq!(proxy.user(), Some("alice"));
/// assert_eq!(proxy.to_string(), "socks5h://[::1]:1080");
/// assert!(!format!("{proxy:?}").contains("s@cret"));
///
/// let proxy: Proxy = "proxy.internal:3128".parse()?;
/// assert_eq!(proxy.to_string(), "http://proxy.internal:3128");
/// # Ok::<(), wsio::proxy::ProxyError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    scheme: ProxyScheme,
    /// Lowercase, IPv6 without brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

impl Proxy {
    /// A proxy speaking `scheme` at `host` (a name or an IP address, IPv6 with or without
    /// brackets) and `port`, without credentials.
    pub fn new(scheme: ProxyScheme, host: &str, port: u16) -> Result<Self, ProxyError> {
        Ok(Proxy {
            scheme,
            host: parse_host(host)?,
            port,
            credentials: None,
        })
    }

    /// Gives the proxy these credentials, replacing any the URL had.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::new(user, Some(password.into())));
        self
    }

    /// The protocol the proxy speaks.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host: lowercase, IPv6 addresses without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name given to the proxy, if any.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(Credentials::user)
    }

    /// The user name and password (empty if the URL had none after the user name).
    #[cfg(any(feature = "socks", test))]
    pub(crate) fn user_and_password(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|c| (c.user(), c.password().unwrap_or("")))
    }

    /// The `Proxy-Authorization` value for these credentials, if there are any.
    pub(crate) fn basic_auth(&self) -> Option<String> {
        self.credentials.as_ref().map(Credentials::basic_auth)
    }
}

impl FromStr for Proxy {
    type Err = ProxyError;

    fn from_str(url: &str) -> Result<Self, ProxyError> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (
                ProxyScheme::parse(scheme)
                    .ok_or(ProxyError::InvalidUrl("unsupported proxy scheme"))?,
                rest,
            ),
            None => (ProxyScheme::Http, url),
        };
        // What follows the authority (a `/`, as in `http://proxy:3128/`) means nothing to a
        // proxy, as in curl.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        let port = match port {
            None | Some("") => scheme.default_port(),
            Some(digits) => digits
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0 && digits.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(ProxyError::InvalidUrl("the proxy's port is not 1 to 65535"))?,
        };
        let credentials = match userinfo.filter(|userinfo| !userinfo.is_empty()) {
            None => None,
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(percent_decode(password)?)),
                    None => (userinfo, None),
                };
                Some(Credentials::new(percent_decode(user)?, password))
            }
        };
        Ok(Proxy {
            scheme,
            host: parse_host(host)?,
            port,
            credentials,
        })
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(host_port: &str) -> Result<(&str, Option<&str>), ProxyError> {
    if host_port.starts_with('[') {
        let end = host_port.find(']').ok_or(ProxyError::InvalidUrl(
            "the proxy's IPv6 address lacks its `]`",
        ))?;
        let (host, after) = host_port.split_at(end + 1);
        return match after {
            "" => Ok((host, None)),
            after => Ok((
                host,
                Some(after.strip_prefix(':').ok_or(ProxyError::InvalidUrl(
                    "unexpected text after the proxy's host",
                ))?),
            )),
        };
    }
    Ok(match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    })
}

/// Checks a host name or address and gives it lowercase, IPv6 without brackets.
fn parse_host(host: &str) -> Result<String, ProxyError> {
    if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let address: Ipv6Addr = literal
            .parse()
            .map_err(|_| ProxyError::InvalidUrl("the proxy's IPv6 address does not parse"))?;
        return Ok(address.to_string());
    }
    if let Ok(address) = host.parse::<Ipv6Addr>() {
        return Ok(address.to_string());
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if host.is_empty() || !host.bytes().all(valid) {
        return Err(ProxyError::InvalidUrl(
            "the proxy's host is missing or not a host name",
        ));
    }
    Ok(host.to_ascii_lowercase())
}

/// Decodes `%XX` escapes (RFC 3986 section 2.1), as curl does for a proxy's user and password.
fn percent_decode(text: &str) -> Result<String, ProxyError> {
    let invalid =
        || ProxyError::InvalidUrl("the proxy's user or password is not percent-encoded UTF-8");
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .ok_or_else(invalid)?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| invalid())
}

impl fmt::Display for Proxy {
    /// The proxy's URL without its credentials: what error messages and logs show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_str();
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.to_string())
            .field("user", &self.user())
            .field("password", &self.credentials.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_as_curl_reads_them() {
        let cases = [
            ("http://127.0.0.1:3128", "http://127.0.0.1:3128", None),
            ("127.0.0.1:3128", "http://127.0.0.1:3128", None),
            ("HTTP://Proxy.Example/", "http://proxy.example:80", None),
            ("https://proxy.example", "https://proxy.example:443", None),
            ("socks5://[::1]", "socks5://[::1]:1080", None),
            ("socks5h://u:p@h:1", "socks5h://h:1", Some(("u", "p"))),
            ("socks4a://h", "socks4a://h:1080", None),
            ("socks4://id@h:9", "socks4://h:9", Some(("id", ""))),
            (
                "http://a%40b:p%3Aw%25@h:8",
                "http://h:8",
                Some(("a@b", "p:w%")),
            ),
            (
                "http://user:pa@ss@h:8",
                "http://h:8",
                Some(("user", "pa@ss")),
            ),
        ];
        for (url, shown, credentials) in cases {
            let proxy: Proxy = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(proxy.to_string(), shown, "{url}");
            assert_eq!(proxy.user_and_password(), credentials, "{url}");
        }
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_echoing_them() {
        for url in [
            "ftp://h:1",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://h:+80",
            "http://[::1",
            "http://[nope]:1",
            "http://u:%zz@h",
            "http://ho st:1",
        ] {
            let error = url.parse::<Proxy>().unwrap_err();
            assert!(matches!(error, ProxyError::InvalidUrl(_)), "{url}");
        }
        let error = "http://alice:hunter2@h:0".parse::<Proxy>().unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn neither_display_nor_debug_shows_the_password() {
        let proxy: Proxy = "http://alice:hunter2@h:8".parse().unwrap();
        assert!(!proxy.to_string().contains("hunter2"));
        assert!(!format!("{proxy:?}").contains("hunter2"));
        assert!(format!("{proxy:?}").contains("alice"));
        let proxy = proxy.credentials("bob", "swordfish");
        assert_eq!(proxy.user_and_password(), Some(("bob", "swordfish")));
        assert!(!format!("{proxy:?}").contains("swordfish"));
    }
}
