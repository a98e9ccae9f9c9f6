//! An echo server on [`wsio::Server`]: every text and binary message comes back as it was sent.
//!
//! ```sh
//! cargo run --release -p wsio --example echo_server -- 127.0.0.1:9001 [--deflate]
//! ```
//!
//! `--deflate` accepts permessage-deflate from clients that offer it.
//!
//! Echoes are queued without flushing while more messages are already decoded, and flushed
//! when the stream has nothing ready, so that a burst of messages goes back in one write.
//! Ctrl-C closes every client with 1001 and exits.

use futures_util::{FutureExt, SinkExt, StreamExt};
use wsio::{DeflateConfig, Server, Transport, WebSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    // The handshake request is not needed: dropped at once rather than kept (headers and
    // all) for as long as the connection lasts.
    let mut builder = Server::builder().fallback(|ws, _| echo(ws));
    if args.any(|arg| arg == "--deflate") {
        builder = builder.deflate(DeflateConfig::default());
    }
    let server = builder.bind(&addr).await?;
    eprintln!("echo server listening on ws://{addr}");
    let handle = server.handle();
    tokio::select! {
        result = server.run() => result,
        _ = tokio::signal::ctrl_c() => {
            handle.close().await;
            Ok(())
        }
    }
}

async fn echo(mut ws: WebSocket<Transport>) {
    if let Err(error) = echo_messages(&mut ws).await {
        eprintln!("connection ended: {error}");
    }
}

async fn echo_messages(ws: &mut WebSocket<Transport>) -> wsio::Result<()> {
    loop {
        // Take the next message if it is already decoded; otherwise flush the echoes queued so
        // far, then wait. Receiving is cancel-safe, so the abandoned attempt loses nothing.
        let next = match ws.next().now_or_never() {
            Some(next) => next,
            None => {
                ws.flush().await?;
                ws.next().await
            }
        };
        let Some(message) = next else { return Ok(()) };
        let message = message?;
        if message.is_data() {
            ws.feed(message).await?;
        }
    }
}
