//! WebSockets in axum (feature `axum`): the extractor [`WebSocketUpgrade`], for HTTP/1.1
//! upgrades and HTTP/2 extended CONNECTs (RFC 8441) alike.

use std::fmt;
use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Request, StatusCode};
use hyper::upgrade::OnUpgrade;

use crate::accept::{Accept, Refusal, UpgradeRequest, answer, validate};
use crate::config::Config;
use crate::error::Error;
use crate::upgrade::{UpgradedWebSocket, Upgrading, protocol};
use wsio_proto::UpgradeOffer;

/// A request for a WebSocket, taken by an axum handler: an HTTP/1.1 upgrade (`GET` with
/// `Upgrade: websocket`) or an HTTP/2 extended CONNECT (`:protocol` `websocket`), checked as
/// wsio's own [`Server`](crate::Server) checks one. A request that is not a valid handshake
/// is refused before the handler runs, with an [`UpgradeRejection`] whose response says why.
///
/// The handler chooses the subprotocol ([`subprotocol`](Self::subprotocol)) and the
/// settings ([`config`](Self::config), where permessage-deflate is turned on), then returns
/// [`on_upgrade`](Self::on_upgrade)'s response; the WebSocket arrives in the callback once
/// the client has it. Route it with `axum::routing::any` (or `get` for HTTP/1.1 alone): HTTP/2
/// asks with `CONNECT`. `axum::serve` allows extended CONNECT on HTTP/2 connections.
///
/// ```no_run
/// use axum::Router;
/// use axum::response::Response;
/// use axum::routing::any;
/// use wsio::axum::WebSocketUpgrade;
/// use wsio::{Config, DeflateConfig, UpgradedWebSocket};
///
/// async fn chat(upgrade: WebSocketUpgrade) -> Response {
///     let subprotocol = upgrade.select_subprotocol(&["chat.v1"]);
///     let config = Config::default().deflate(DeflateConfig::default());
///     upgrade
///         .subprotocol(subprotocol)
///         .config(config)
///         .on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
///         .on_upgrade(echo)
/// }
///
/// async fn echo(mut ws: UpgradedWebSocket) {
///     while let Some(Ok(message)) = ws.recv().await {
///         if message.is_data() && ws.send(message).await.is_err() {
///             break;
///         }
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let app = Router::new().route("/chat", any(chat));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub struct WebSocketUpgrade<F = LogFailedUpgrade> {
    /// The request's head, checked, and what it offers.
    head: Request<()>,
    offer: UpgradeOffer,
    /// The `:protocol` of an extended CONNECT.
    protocol: Option<String>,
    on_upgrade: OnUpgrade,
    config: Config,
    subprotocol: Option<String>,
    on_failed_upgrade: F,
}

impl<F> fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("head", &self.head)
            .field("offer", &self.offer)
            .field("subprotocol", &self.subprotocol)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        let protocol = protocol(&parts.extensions).map(str::to_owned);
        let offer = validate(&head, protocol.as_deref())
            .map_err(|error| UpgradeRejection(Refusal::of(error)))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| UpgradeRejection(Box::new(Refusal::not_upgradable())))?;
        Ok(Self {
            head,
            offer,
            protocol,
            on_upgrade,
            config: Config::default(),
            subprotocol: None,
            on_failed_upgrade: LogFailedUpgrade,
        })
    }
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// The WebSocket subprotocols the client offered, in its order.
    pub fn subprotocols(&self) -> &[String] {
        &self.offer.subprotocols
    }

    /// The first of the WebSocket subprotocols `supported` (in the server's order of
    /// preference) that the client offered.
    pub fn select_subprotocol(&self, supported: &[&str]) -> Option<String> {
        self.request().select_subprotocol(supported)
    }

    /// The request as [`accept_with`](crate::accept_with)'s callback sees it: path, query,
    /// headers, offers.
    pub fn request(&self) -> UpgradeRequest<'_> {
        UpgradeRequest {
            request: &self.head,
            offer: &self.offer,
        }
    }

    /// Answers with this subprotocol (by default none); it must be one the client offered.
    pub fn subprotocol(mut self, subprotocol: impl Into<Option<String>>) -> Self {
        self.subprotocol = subprotocol.into();
        self
    }

    /// The settings of the WebSocket (by default [`Config::default`]): limits, timers, buffer
    /// sizes, and permessage-deflate, which is agreed when the client offers it and
    /// `config` turns it on. The handshake timeout does not apply: axum has read the request.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// What to do when the upgrade fails after the handler accepted it: the client went away
    /// before the response reached it, or its extension offer was malformed (then the
    /// response is a 400). By default the failure is logged with `tracing` at debug level.
    pub fn on_failed_upgrade<G: OnFailedUpgrade>(
        self,
        on_failed_upgrade: G,
    ) -> WebSocketUpgrade<G> {
        WebSocketUpgrade {
            head: self.head,
            offer: self.offer,
            protocol: self.protocol,
            on_upgrade: self.on_upgrade,
            config: self.config,
            subprotocol: self.subprotocol,
            on_failed_upgrade,
        }
    }

    /// Accepts the request: returns the response for the handler to return (`101`, or `200`
    /// over HTTP/2, with the agreed subprotocol and extensions) and runs `callback` with the
    /// WebSocket, in a task of its own, once the connection (or the HTTP/2 stream) is handed
    /// over.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(UpgradedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = Accept::new().subprotocol(self.subprotocol);
        let answered = answer(
            &self.head,
            self.protocol.as_deref(),
            &[],
            &self.config,
            |_: &UpgradeRequest<'_>| Ok(accept),
        );
        let (response, connection) = match answered {
            Ok(answered) => answered,
            Err(refusal) => {
                let Refusal { response, error } = *refusal;
                self.on_failed_upgrade.call(error);
                return response.map(Body::from);
            }
        };
        let upgrading = Upgrading::new(self.on_upgrade, self.config, connection);
        let on_failed_upgrade = self.on_failed_upgrade;
        tokio::spawn(async move {
            match upgrading.await {
                Ok(ws) => callback(ws).await,
                Err(error) => on_failed_upgrade.call(error),
            }
        });
        response.map(|()| Body::empty())
    }
}

/// What [`WebSocketUpgrade::on_failed_upgrade`] calls with the error of an upgrade that
/// failed; implemented by every `FnOnce(wsio::Error)` that can be sent to a task.
pub trait OnFailedUpgrade: Send + 'static {
    /// Handles the failure.
    fn call(self, error: Error);
}

impl<F: FnOnce(Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: logs the failure with `tracing` at debug level.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFailedUpgrade;

impl OnFailedUpgrade for LogFailedUpgrade {
    fn call(self, error: Error) {
        tracing::debug!(%error, "WebSocket upgrade failed");
    }
}

/// Why [`WebSocketUpgrade`] refused a request: as a response, the refusal with the status
/// that says why (400; 405 with `Allow` for the wrong method; 426 with
/// `Sec-WebSocket-Version: 13` for another protocol version; 500 when the server cannot hand
/// the connection over), and as [`error`](Self::error), the same as a [`wsio::Error`](Error).
#[derive(Debug)]
pub struct UpgradeRejection(Box<Refusal>);

impl UpgradeRejection {
    /// The status of the refusal.
    pub fn status(&self) -> StatusCode {
        self.0.response.status()
    }

    /// Why the request was refused: [`Error::Handshake`] for a request that is not a valid
    /// handshake, [`Error::Io`] when the server cannot upgrade the connection.
    pub fn error(&self) -> &Error {
        &self.0.error
    }
}

impl fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.error.fmt(f)
    }
}

impl std::error::Error for UpgradeRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.error)
    }
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        self.0.response.map(Body::from)
    }
}
