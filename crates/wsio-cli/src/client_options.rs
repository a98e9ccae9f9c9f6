//! The client options `connect` and `bench` share, and the parsers of their values.

use std::time::Duration;

use wsio::proxy::Proxy;
use wsio::{ClientBuilder, DeflateConfig};

use crate::exit::Exit;
use crate::output;

/// How to open a connection: the options every client subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientOptions {
    /// Add a header to the handshake request (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Offer a subprotocol (repeatable, in order of preference).
    #[arg(short = 'p', long = "protocol", value_name = "PROTOCOL")]
    subprotocols: Vec<String>,
    /// Send this Origin header.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// Accept any TLS certificate, even an invalid or self-signed one (for testing only).
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Offer permessage-deflate compression (RFC 7692) with its default settings. See below
    /// for what happens when the server declines it.
    #[arg(long)]
    pub(crate) deflate: bool,
    /// Open the WebSocket over HTTP/2 (RFC 8441): prior knowledge for ws://, ALPN h2 for
    /// wss://. A server that does not take WebSockets over HTTP/2 is an error (exit 3).
    #[arg(long)]
    pub(crate) http2: bool,
    /// Connect through this proxy: http://, https://, socks5://, socks5h:// (the proxy
    /// resolves the name), socks4:// or socks4a://, with user:password@ for credentials.
    /// Without it, the environment's proxies apply as curl reads them: http_proxy for ws://,
    /// https_proxy for wss://, all_proxy for both, and no_proxy for the hosts that go direct.
    // Parsed later, by `builder`: clap would repeat a value it refuses, password and all.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Connect directly, whatever the proxy environment variables say.
    #[arg(long, conflicts_with = "proxy")]
    no_proxy: bool,
}

impl ClientOptions {
    /// A client for `url` with these options; a URL that cannot be used is reported, and the
    /// error is the exit status it calls for.
    pub(crate) fn builder(&self, url: &str) -> Result<ClientBuilder, Exit> {
        let mut builder = ClientBuilder::new(url)
            .map_err(|error| {
                output::error(format_args!("{error}"));
                Exit::for_connect_error(&error)
            })?
            .subprotocols(self.subprotocols.iter().cloned())
            .danger_accept_invalid_certs(self.insecure);
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(origin) = &self.origin {
            builder = builder.origin(origin.clone());
        }
        if self.deflate {
            builder = builder.deflate(DeflateConfig::default());
        }
        if self.http2 {
            builder = builder.http2();
        }
        if let Some(proxy) = &self.proxy {
            let proxy = parse_proxy(proxy).map_err(|error| {
                output::error(format_args!("--proxy: {error}"));
                Exit::Usage
            })?;
            builder = builder.proxy(proxy);
        } else if self.no_proxy {
            builder = builder.no_proxy();
        }
        Ok(builder)
    }
}

/// Parses `NAME: VALUE` into a valid header name and value.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not NAME: VALUE"))?;
    let (name, value) = (name.trim(), value.trim());
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    http::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Parses a proxy URL. The error does not repeat the URL, which may hold a password.
fn parse_proxy(text: &str) -> Result<Proxy, String> {
    text.parse()
        .map_err(|error: wsio::proxy::ProxyError| error.to_string())
}

/// Parses a number of seconds, such as `5` or `0.25`, into a duration.
pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` seconds is out of range"))
}

/// Parses a positive number of seconds (a zero duration would mean "never" or "at once").
pub(crate) fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        Duration::ZERO => Err("must be more than zero".to_owned()),
        duration => Ok(duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_split_at_the_first_colon_and_checked() {
        assert_eq!(
            parse_header("X-Token: a:b").unwrap(),
            ("X-Token".to_owned(), "a:b".to_owned())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header("X: line\nbreak").is_err());
    }

    #[test]
    fn proxy_urls_are_checked_without_repeating_them() {
        assert_eq!(
            parse_proxy("socks5h://u:p@127.0.0.1:1080")
                .unwrap()
                .to_string(),
            "socks5h://127.0.0.1:1080"
        );
        let error = parse_proxy("gopher://u:hunter2@h").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn seconds_take_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.25").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_seconds("3").unwrap(), Duration::from_secs(3));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_positive_seconds("0").is_err());
    }
}
