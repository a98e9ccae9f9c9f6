//! Which proxy a URL goes through: the environment's choice, or the caller's.

use wsio_proto::WsUrl;

use super::error::ProxyError;
use super::no_proxy::NoProxy;
use super::proxy_url::Proxy;

/// Which proxy each URL goes through: one for `ws://`, one for `wss://`, and the hosts that go
/// direct. A [`ClientBuilder`](crate::ClientBuilder) starts with
/// [`Proxies::from_env`], read when the builder is made.
///
/// ```
/// use wsio::proxy::{NoProxy, Proxies, Proxy};
///
/// let proxies = Proxies::none()
///     .wss_proxy("http://127.0.0.1:3128".parse::<Proxy>()?)
///     .no_proxy(NoProxy::parse(".internal"));
/// let through = proxies.proxy_for(&"wss://example.com/".parse()?)?;
/// assert_eq!(through.map(|p| p.to_string()), Some("http://127.0.0.1:3128".into()));
/// assert!(proxies.proxy_for(&"wss://chat.internal/".parse()?)?.is_none());
/// assert!(proxies.proxy_for(&"ws://example.com/".parse()?)?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    ws: Option<Setting>,
    wss: Option<Setting>,
    no_proxy: NoProxy,
}

/// A proxy, or why the variable that named it cannot be used: reported when a URL needs it.
#[derive(Debug, Clone)]
enum Setting {
    Proxy(Proxy),
    Invalid {
        variable: &'static str,
        reason: &'static str,
    },
}

impl Proxies {
    /// No proxy for any URL.
    pub fn none() -> Self {
        Proxies::default()
    }

    /// `proxy` for every URL, `ws://` and `wss://`.
    pub fn all(proxy: Proxy) -> Self {
        Proxies::none().ws_proxy(proxy.clone()).wss_proxy(proxy)
    }

    /// The proxies the environment names, read as curl reads them. The first variable set
    /// (and not empty) wins:
    ///
    /// | URL | variables, in order |
    /// |---|---|
    /// | `ws://` | `http_proxy`, `all_proxy`, `ALL_PROXY` |
    /// | `wss://` | `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
    /// | direct | `no_proxy`, `NO_PROXY` (see [`NoProxy`]) |
    ///
    /// Upper-case `HTTP_PROXY` is not read, as curl does not read it: a CGI program gets
    /// each request header `X` as the variable `HTTP_X`, so a request carrying a `Proxy:`
    /// header would set `HTTP_PROXY` and send the program's own connections through a
    /// proxy of the requester's choice ("httpoxy", CVE-2016-5385).
    ///
    /// A variable whose value is not a usable proxy URL fails the connections that would use
    /// it with [`ProxyError::InvalidVariable`], rather than going direct.
    pub fn from_env() -> Self {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), with the variables looked up by `lookup` instead of
    /// in the process's environment.
    ///
    /// ```
    /// use wsio::proxy::Proxies;
    ///
    /// let proxies = Proxies::from_vars(|name| match name {
    ///     "all_proxy" => Some("socks5h://127.0.0.1:1080".to_owned()),
    ///     "no_proxy" => Some("localhost".to_owned()),
    ///     _ => None,
    /// });
    /// let url = "ws://example.com/".parse()?;
    /// assert_eq!(proxies.proxy_for(&url)?.unwrap().to_string(), "socks5h://127.0.0.1:1080");
    /// assert!(proxies.proxy_for(&"ws://localhost:9001/".parse()?)?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                let value = lookup(name).filter(|value| !value.trim().is_empty())?;
                Some(match value.parse::<Proxy>() {
                    Ok(proxy) => Setting::Proxy(proxy),
                    Err(ProxyError::InvalidUrl(reason)) => Setting::Invalid {
                        variable: name,
                        reason,
                    },
                    Err(_) => Setting::Invalid {
                        variable: name,
                        reason: "not a proxy URL",
                    },
                })
            })
        };
        Proxies {
            ws: first(&["http_proxy", "all_proxy", "ALL_PROXY"]),
            wss: first(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
            no_proxy: NoProxy::parse(
                &["no_proxy", "NO_PROXY"]
                    .iter()
                    .find_map(|&name| lookup(name))
                    .unwrap_or_default(),
            ),
        }
    }

    /// Sends `ws://` URLs through `proxy`.
    pub fn ws_proxy(mut self, proxy: Proxy) -> Self {
        self.ws = Some(Setting::Proxy(proxy));
        self
    }

    /// Sends `wss://` URLs through `proxy`.
    pub fn wss_proxy(mut self, proxy: Proxy) -> Self {
        self.wss = Some(Setting::Proxy(proxy));
        self
    }

    /// Sends the hosts `no_proxy` matches direct, replacing the list there was.
    pub fn no_proxy(mut self, no_proxy: NoProxy) -> Self {
        self.no_proxy = no_proxy;
        self
    }

    /// The proxy a connection to `url` goes through: `None` to go direct (no proxy for its
    /// scheme, a host the `no_proxy` list matches, or a `ws+unix://` URL).
    pub fn proxy_for(&self, url: &WsUrl) -> Result<Option<&Proxy>, ProxyError> {
        if url.unix_socket().is_some() || self.no_proxy.matches(url.host(), url.port()) {
            return Ok(None);
        }
        let setting = if url.is_tls() { &self.wss } else { &self.ws };
        match setting {
            None => Ok(None),
            Some(Setting::Proxy(proxy)) => Ok(Some(proxy)),
            Some(Setting::Invalid { variable, reason }) => {
                Err(ProxyError::InvalidVariable { variable, reason })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_vars(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn chosen(proxies: &Proxies, url: &str) -> Option<String> {
        proxies
            .proxy_for(&url.parse().unwrap())
            .unwrap()
            .map(|p| p.to_string())
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        // (variables, url, proxy chosen)
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(Vars, &str, Option<&str>)] = &[
            (&[], "ws://h/", None),
            (&[("http_proxy", "p:1")], "ws://h/", Some("http://p:1")),
            (&[("http_proxy", "p:1")], "wss://h/", None),
            (&[("HTTP_PROXY", "p:1")], "ws://h/", None),
            (&[("https_proxy", "p:2")], "wss://h/", Some("http://p:2")),
            (&[("HTTPS_PROXY", "p:2")], "wss://h/", Some("http://p:2")),
            (
                &[("https_proxy", "p:2"), ("HTTPS_PROXY", "q:2")],
                "wss://h/",
                Some("http://p:2"),
            ),
            (&[("https_proxy", "p:2")], "ws://h/", None),
            (
                &[("all_proxy", "socks5://s")],
                "ws://h/",
                Some("socks5://s:1080"),
            ),
            (
                &[("ALL_PROXY", "socks5://s")],
                "wss://h/",
                Some("socks5://s:1080"),
            ),
            (
                &[("all_proxy", "a:1"), ("ALL_PROXY", "b:1")],
                "ws://h/",
                Some("http://a:1"),
            ),
            (
                &[("http_proxy", "p:1"), ("all_proxy", "a:1")],
                "ws://h/",
                Some("http://p:1"),
            ),
            (
                &[("https_proxy", "p:2"), ("all_proxy", "a:1")],
                "ws://h/",
                Some("http://a:1"),
            ),
            (
                &[("http_proxy", ""), ("all_proxy", "a:1")],
                "ws://h/",
                Some("http://a:1"),
            ),
            (&[("http_proxy", "p:1"), ("no_proxy", "h")], "ws://h/", None),
            (&[("http_proxy", "p:1"), ("NO_PROXY", "h")], "ws://h/", None),
            (
                &[("http_proxy", "p:1"), ("no_proxy", "x"), ("NO_PROXY", "h")],
                "ws://h/",
                Some("http://p:1"),
            ),
            (&[("http_proxy", "p:1"), ("no_proxy", "*")], "ws://h/", None),
            (
                &[("all_proxy", "p:1"), ("no_proxy", "h:8080")],
                "ws://h:8080/",
                None,
            ),
            (
                &[("all_proxy", "p:1"), ("no_proxy", "h:8080")],
                "ws://h/",
                Some("http://p:1"),
            ),
            (&[("all_proxy", "p:1")], "ws+unix:///tmp/s.sock", None),
        ];
        for (vars, url, expected) in cases {
            assert_eq!(
                chosen(&proxies(vars), url).as_deref(),
                *expected,
                "{vars:?} {url}"
            );
        }
    }

    #[test]
    fn a_bad_variable_fails_the_urls_that_use_it_and_names_itself() {
        let proxies = proxies(&[("https_proxy", "ftp://u:hunter2@p"), ("http_proxy", "p:1")]);
        let error = proxies.proxy_for(&"wss://h/".parse().unwrap()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("https_proxy"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(chosen(&proxies, "ws://h/").as_deref(), Some("http://p:1"));
    }
}
