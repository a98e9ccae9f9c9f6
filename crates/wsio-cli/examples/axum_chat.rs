//! The chat of `wsio serve` (its page at `/`, its room on `/chat`) in an axum application,
//! through wsio's extractor `wsio::axum::WebSocketUpgrade`: browsers reach the room over
//! HTTP/1.1 or, on HTTP/2 connections, with an extended CONNECT (RFC 8441), with
//! permessage-deflate when they offer it.
//!
//! ```sh
//! cargo run -p wsio-cli --example axum_chat -- 127.0.0.1:8080
//! ```
//!
//! The address is the first argument (`127.0.0.1:8080` without one; port 0 takes a free
//! port); the first line on stdout is `listening on http://ADDRESS`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::any;
use wsio::axum::WebSocketUpgrade;
use wsio::{Config, DeflateConfig};
use wsio_cli::page;
use wsio_cli::room::Room;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let app = Router::new()
        .route("/chat", any(chat))
        .fallback(files)
        .with_state(Room::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}

/// `/chat`: joins the room, compressed when the browser offers it.
async fn chat(
    State(room): State<Arc<Room>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .config(Config::default().deflate(DeflateConfig::default()))
        .on_upgrade(move |ws| room.join(ws, Some(peer)))
}

/// Everything else: the page and its files, as `wsio serve` answers them.
async fn files(request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    page::respond(&http::Request::from_parts(parts, ())).map(Body::from)
}
