//! The chat of `wsio serve` (its page at `/`, its room on `/chat`) in an axum application,
//! through wsio's extractor `wsio::axum::WebSocketUpgrade`, with permessage-deflate when the
//! browser offers it.
//!
//! ```sh
//! cargo run -p wsio-cli --example axum_chat -- 127.0.0.1:8080
//! cargo run -p wsio-cli --example axum_chat -- 127.0.0.1:8443 cert.pem key.pem
//! ```
//!
//! The address is the first argument (`127.0.0.1:8080` without one; port 0 takes a free
//! port). Without a certificate it runs `axum::serve`: HTTP/1.1, and HTTP/2 for clients that
//! start with it. With a certificate chain and key (PEM files) it serves TLS, offering `h2` by
//! ALPN as browsers expect, so that a browser opens the chat's WebSocket on its HTTP/2
//! connection with an extended CONNECT (RFC 8441). The first line on stderr is
//! `listening on http://ADDRESS` (or `https://`); each chat request is logged with its HTTP
//! version.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use wsio::axum::WebSocketUpgrade;
use wsio::{Config, DeflateConfig};
use wsio_cli::page;
use wsio_cli::room::Room;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("info")
        .with_ansi(false)
        .init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let certificate = args.next().zip(args.next());
    let app = Router::new()
        .route("/chat", any(chat))
        .fallback(files)
        .with_state(Room::new());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    match certificate {
        None => {
            eprintln!("listening on http://{local}");
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await?;
        }
        Some((cert, key)) => {
            let acceptor = tls_acceptor(&cert, &key)?;
            eprintln!("listening on https://{local}");
            serve_tls(listener, acceptor, app).await?;
        }
    }
    Ok(())
}

/// `/chat`: joins the room, compressed when the browser offers it.
async fn chat(
    State(room): State<Arc<Room>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    version: http::Version,
    upgrade: WebSocketUpgrade,
) -> Response {
    tracing::info!(?peer, ?version, "chat requested");
    upgrade
        .config(Config::default().deflate(DeflateConfig::default()))
        .on_upgrade(move |ws| room.join(ws, Some(peer)))
}

/// Everything else: the page and its files, as `wsio serve` answers them.
async fn files(request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    page::respond(&http::Request::from_parts(parts, ())).map(Body::from)
}

/// TLS with the certificate chain and key of these PEM files, offering HTTP/2 and HTTP/1.1.
fn tls_acceptor(cert: &str, key: &str) -> Result<tokio_rustls::TlsAcceptor, BoxError> {
    let (chain, key) = (wsio::pem::certificates(cert)?, wsio::pem::private_key(key)?);
    let provider = Arc::new(wsio::rustls::crypto::ring::default_provider());
    let mut config = wsio::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS, each connection in HTTP/1.1 or HTTP/2 as ALPN agreed, with
/// extended CONNECT allowed on HTTP/2 (which `axum::serve` does for cleartext).
async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
) -> std::io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(error) => return tracing::debug!(?peer, %error, "TLS handshake failed"),
            };
            let service = TowerToHyperService::new(app.layer(Extension(ConnectInfo(peer))));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let served = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(error) = served.await {
                tracing::debug!(?peer, %error, "connection failed");
            }
        });
    }
}
