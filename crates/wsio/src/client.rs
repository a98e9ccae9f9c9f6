//! Opening connections: [`connect`] and [`ClientBuilder`].

use std::time::Duration;

use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wsio_proto::handshake::ReasonPhrase;
use wsio_proto::{Accepted, ClientHandshake, Connection, Negotiated, WsUrl};

use crate::config::Config;
use crate::error::{Error, Phase, Result};
use crate::handshake_io;
use crate::proxy::{Proxies, Proxy, ProxyError, ProxyScheme, Target};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// Connects to a `ws://`, `wss://` (feature `tls`, on by default) or `ws+unix://` URL with
/// default settings. [`ClientBuilder`] sets everything else.
///
/// ```no_run
/// # async fn demo() -> wsio::Result<()> {
/// let (mut ws, response) = wsio::connect("ws://127.0.0.1:9001/chat").await?;
/// assert_eq!(response.status(), 101);
/// ws.send_text("hello").await?;
/// if let Some(reply) = ws.recv().await {
///     println!("{:?}", reply?);
/// }
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<Transport>, Response)> {
    ClientBuilder::new(url)?.connect().await
}

/// The server's answer to a successful handshake.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) http: http::Response<()>,
    pub(crate) subprotocol: Option<String>,
    pub(crate) negotiated: Negotiated,
    url: WsUrl,
}

impl Response {
    /// The status: always 101 Switching Protocols.
    pub fn status(&self) -> http::StatusCode {
        self.http.status()
    }

    /// The reason phrase of the status line as the server sent it (`Switching Protocols` in
    /// `HTTP/1.1 101 Switching Protocols`, or whatever phrase it chose); `None` if it sent
    /// none, or one that is not valid UTF-8.
    pub fn reason(&self) -> Option<&str> {
        self.http
            .extensions()
            .get::<ReasonPhrase>()
            .map(ReasonPhrase::as_str)
    }

    /// The URL connected to, as given to [`ClientBuilder::new`] (normalized: see
    /// [`WsUrl`]'s `Display`).
    pub fn url(&self) -> &WsUrl {
        &self.url
    }

    /// The headers the server sent.
    pub fn headers(&self) -> &HeaderMap {
        self.http.headers()
    }

    /// The WebSocket subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The extensions the server agreed to (such as permessage-deflate), with their
    /// parameters; empty if none.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// The whole response.
    pub fn http(&self) -> &http::Response<()> {
        &self.http
    }

    /// The response of a handshake with `url` that the server accepted, and the connection it
    /// ended in.
    pub(crate) fn from_accepted(accepted: Accepted, url: &WsUrl) -> (Self, Connection) {
        let response = Response {
            http: accepted.response,
            subprotocol: accepted.subprotocol,
            negotiated: accepted.negotiated,
            url: url.clone(),
        };
        (response, accepted.connection)
    }
}

/// Options for a client connection, then [`connect`](Self::connect) (async) or
/// [`connect_blocking`](Self::connect_blocking).
///
/// ```no_run
/// # async fn demo() -> wsio::Result<()> {
/// use std::time::Duration;
///
/// let (ws, response) = wsio::ClientBuilder::new("ws://127.0.0.1:9001/chat")?
///     .subprotocols(["chat.v2", "chat.v1"])
///     .origin("http://127.0.0.1")
///     .header("Authorization", "Bearer token")
///     .ping_interval(Some(Duration::from_secs(20)))
///     .connect()
///     .await?;
/// println!("speaking {:?}", response.subprotocol());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) url: WsUrl,
    pub(crate) config: Config,
    subprotocols: Vec<String>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    pub(crate) proxies: Proxies,
    #[cfg(feature = "tls")]
    pub(crate) tls: crate::tls::ClientTls,
    /// Whether [`connect`](Self::connect) opens the WebSocket over HTTP/2.
    #[cfg(feature = "http2")]
    http2: bool,
}

impl ClientBuilder {
    /// Options for a connection to `url` (`ws://`, `wss://` or `ws+unix://`). The proxies
    /// are the environment's ([`Proxies::from_env`]), read now; [`proxy`](Self::proxy),
    /// [`proxies`](Self::proxies) and [`no_proxy`](Self::no_proxy) change them.
    pub fn new(url: &str) -> Result<Self> {
        Ok(ClientBuilder {
            url: url.parse()?,
            config: Config::default(),
            subprotocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
            proxies: Proxies::from_env(),
            #[cfg(feature = "tls")]
            tls: crate::tls::ClientTls::default(),
            #[cfg(feature = "http2")]
            http2: false,
        })
    }

    /// Opens the WebSocket over HTTP/2 (feature `http2`): [`connect`](Self::connect) opens an
    /// [`Http2Connection`](crate::Http2Connection) (prior knowledge for `ws://`, ALPN `h2` for
    /// `wss://`) and the WebSocket as one stream of it, with an extended CONNECT (RFC 8441).
    /// To open several WebSockets on one connection, use
    /// [`Http2Connection::open`](crate::Http2Connection::open). A server that does not take
    /// WebSockets over HTTP/2 fails it with [`Error::Http2Unavailable`], and
    /// the caller may then connect again without this. Not for `ws+unix://`.
    #[cfg(feature = "http2")]
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// For `wss://`: uses this rustls configuration (its roots, client certificate, versions)
    /// instead of the default, which trusts the webpki roots. The server name sent (SNI) is
    /// the URL's host either way. It replaces what [`tls_root_certificates`] and
    /// [`tls_client_certificate`] set.
    ///
    /// [`tls_root_certificates`]: Self::tls_root_certificates
    /// [`tls_client_certificate`]: Self::tls_client_certificate
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls.trust = crate::tls::TlsTrust::Custom(config);
        self
    }

    /// For `wss://`: trusts exactly these root certificates instead of the webpki roots — a
    /// private CA's, or a self-signed server certificate that is not itself marked as a CA
    /// (webpki refuses a CA certificate used as a server's own). An error if one of them
    /// cannot be parsed, or if there are none. [`wsio::pem`](crate::pem) reads them from a
    /// PEM file.
    ///
    /// ```no_run
    /// # async fn demo() -> wsio::Result<()> {
    /// let (ws, _) = wsio::ClientBuilder::new("wss://internal.example:8443/feed")?
    ///     .tls_root_certificates(wsio::pem::certificates("ca.pem")?)?
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_root_certificates(
        mut self,
        certificates: impl IntoIterator<Item = rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates {
            roots.add(certificate).map_err(crate::tls::tls_error)?;
        }
        if roots.is_empty() {
            return Err(Error::Tls(Box::new(rustls::Error::General(
                "no root certificate given".into(),
            ))));
        }
        self.tls.trust = crate::tls::TlsTrust::Roots(std::sync::Arc::new(roots));
        Ok(self)
    }

    /// For `wss://`: shows this certificate chain (leaf first) and proves it with `key` when
    /// the server asks for a client certificate (mutual TLS). Whom the client trusts is
    /// unchanged. [`wsio::pem`](crate::pem) reads both from PEM files. A configuration given
    /// to [`tls_config`](Self::tls_config) has its own client certificate (or none), and this
    /// one is not used with it.
    ///
    /// ```no_run
    /// # async fn demo() -> wsio::Result<()> {
    /// let (ws, _) = wsio::ClientBuilder::new("wss://internal.example:8443/feed")?
    ///     .tls_client_certificate(
    ///         wsio::pem::certificates("client.pem")?,
    ///         wsio::pem::private_key("client-key.pem")?,
    ///     )
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_client_certificate(
        mut self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Self {
        self.tls.identity = Some(std::sync::Arc::new(crate::tls::Identity { chain, key }));
        self
    }

    /// For `wss://`: trusts the operating system's root certificates instead of the webpki
    /// roots.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self) -> Self {
        self.tls.trust = crate::tls::TlsTrust::Native;
        self
    }

    /// For `wss://`: accepts any server certificate, expired, self-signed or for another
    /// name. **This removes the server's authentication**: anyone on the path can pretend to
    /// be the server. Meant for tests and development against self-signed certificates.
    /// While on, it takes precedence over the other TLS settings; turned off again, the trust
    /// set before (the webpki roots, given roots, a configuration) applies again.
    #[cfg(feature = "tls")]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_anything = accept;
        self
    }

    /// Connects through `proxy`, whatever the URL's host and scheme (the environment's
    /// proxies and `no_proxy` are then not read). See [`proxy`](crate::proxy) for what each
    /// kind of proxy does.
    ///
    /// ```no_run
    /// # async fn demo() -> wsio::Result<()> {
    /// let (ws, _) = wsio::ClientBuilder::new("wss://example.com/feed")?
    ///     .proxy("socks5h://127.0.0.1:1080".parse()?)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy(self, proxy: Proxy) -> Self {
        self.proxies(Proxies::all(proxy))
    }

    /// Chooses the proxy by these rules instead of the environment's
    /// ([`Proxies::from_env`], read when the builder was made, is the default).
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Connects directly, through no proxy, whatever the environment says.
    pub fn no_proxy(self) -> Self {
        self.proxies(Proxies::none())
    }

    /// Replaces every setting with `config`; the setters below change one each.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Offers one WebSocket subprotocol (`Sec-WebSocket-Protocol`), after those already
    /// offered.
    pub fn subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.subprotocols.push(subprotocol.into());
        self
    }

    /// Offers several WebSocket subprotocols, in order of preference, after those already
    /// offered.
    pub fn subprotocols<I>(mut self, subprotocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.subprotocols
            .extend(subprotocols.into_iter().map(Into::into));
        self
    }

    /// Sends an `Origin` header.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds a header to the handshake request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`Config::connect_timeout`]: how long opening the transport may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.connect_timeout(timeout);
        self
    }

    crate::config::builder_setters!();

    /// Opens the transport the URL names, through a proxy if one applies, and runs the
    /// handshake over it (over HTTP/2 with [`http2`](Self::http2)).
    pub async fn connect(self) -> Result<(WebSocket<Transport>, Response)> {
        #[cfg(feature = "http2")]
        if self.http2 {
            let connection = crate::Http2Connection::connect(&self).await?;
            return connection.open(self).await;
        }
        let transport = self.open_transport(&[b"http/1.1"]).await?;
        self.connect_on(transport).await
    }

    /// Runs the handshake over a transport the caller opened (a proxy tunnel, an in-memory
    /// pipe, a TLS stream of its own): the URL gives only the request's host and path.
    pub async fn connect_on<S>(self, mut io: S) -> Result<(WebSocket<S>, Response)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = self.handshake()?;
        let accepted = handshake_io::client(&mut io, handshake, &self.config).await?;
        let (response, connection) = Response::from_accepted(accepted, &self.url);
        let ws = WebSocket::from_connection(io, connection, &self.config);
        Ok((ws, response))
    }

    /// The handshake these options describe: its request, and the settings of the connection
    /// it ends in.
    pub(crate) fn handshake(&self) -> Result<ClientHandshake> {
        let mut handshake = ClientHandshake::new(&self.url).config(self.config.protocol.clone());
        if !self.subprotocols.is_empty() {
            handshake = handshake.subprotocols(&self.subprotocols)?;
        }
        if let Some(origin) = &self.origin {
            handshake = handshake.origin(origin)?;
        }
        for (name, value) in &self.headers {
            handshake = handshake.header(name, value)?;
        }
        Ok(handshake)
    }

    /// TLS over `io` to `host`, offering the `alpn` protocols.
    #[cfg(feature = "tls")]
    async fn tls<IO>(
        &self,
        io: IO,
        host: &str,
        alpn: &[&[u8]],
    ) -> Result<tokio_rustls::client::TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let config = crate::tls::client_config(&self.tls, alpn)?;
        let name = crate::tls::server_name(host)?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, io)
            .await
            .map_err(crate::tls::map_io_error)
    }

    /// The transport over `tcp`, a connection to the server or a tunnel to it: TCP as it is
    /// for `ws://`, TLS over it for `wss://`.
    async fn over_tcp(&self, tcp: TcpStream, alpn: &[&[u8]]) -> Result<Transport> {
        if !self.url.is_tls() {
            return Ok(Transport::Tcp(tcp));
        }
        #[cfg(feature = "tls")]
        return Ok(Transport::Tls(Box::new(
            self.tls(tcp, self.url.host(), alpn).await?,
        )));
        #[cfg(not(feature = "tls"))]
        {
            let _ = alpn;
            Err(Error::Url(wsio_proto::UrlError::UnsupportedScheme(
                "wss (this build of wsio has no `tls` feature)".into(),
            )))
        }
    }

    /// Opens the transport the URL names, through the proxy [`Proxies`] chooses for it,
    /// offering the `alpn` protocols if it is TLS.
    pub(crate) async fn open_transport(&self, alpn: &[&[u8]]) -> Result<Transport> {
        let open = async {
            #[cfg(unix)]
            if let Some(path) = self.url.unix_socket() {
                return Ok(Transport::Unix(
                    tokio::net::UnixStream::connect(path).await?,
                ));
            }
            if let Some(proxy) = self.proxies.proxy_for(&self.url)? {
                return self.through(proxy, alpn).await;
            }
            let tcp = TcpStream::connect((self.url.host(), self.url.port())).await?;
            tcp.set_nodelay(true)?;
            self.over_tcp(tcp, alpn).await
        };
        tokio::time::timeout(self.config.connect_timeout, open)
            .await
            .map_err(|_| Error::Timeout(Phase::Connect))?
    }

    /// Opens the transport through a tunnel of `proxy`.
    async fn through(&self, proxy: &Proxy, alpn: &[&[u8]]) -> Result<Transport> {
        let unreachable = |error: Error| ProxyError::Unreachable {
            proxy: proxy.to_string(),
            source: Box::new(error),
        };
        let tcp = TcpStream::connect((proxy.host(), proxy.port()))
            .await
            .map_err(|error| unreachable(error.into()))?;
        tcp.set_nodelay(true)?;
        let target = match proxy.scheme().resolves_locally() {
            true => Target::Address(self.resolve(proxy).await?),
            false => Target::Name(self.url.host(), self.url.port()),
        };
        let limit = self.config.protocol.max_handshake_size;
        if proxy.scheme() != ProxyScheme::Https {
            let mut tcp = tcp;
            crate::proxy::handshake(&mut tcp, proxy, target, limit).await?;
            return self.over_tcp(tcp, alpn).await;
        }
        #[cfg(feature = "tls")]
        {
            let mut tls = self
                .tls(tcp, proxy.host(), &[b"http/1.1"])
                .await
                .map_err(unreachable)?;
            crate::proxy::handshake(&mut tls, proxy, target, limit).await?;
            if !self.url.is_tls() {
                return Ok(Transport::Tls(Box::new(tls)));
            }
            let inner = self.tls(tls, self.url.host(), alpn).await?;
            Ok(Transport::TlsInTls(Box::new(inner)))
        }
        #[cfg(not(feature = "tls"))]
        Err(ProxyError::Unsupported {
            proxy: proxy.to_string(),
            feature: "tls",
        }
        .into())
    }

    /// The server's address, resolved here for a proxy that takes only addresses.
    async fn resolve(&self, proxy: &Proxy) -> Result<std::net::SocketAddr> {
        let addresses = tokio::net::lookup_host((self.url.host(), self.url.port())).await?;
        crate::proxy::choose_address(proxy, self.url.host(), addresses)
    }
}
