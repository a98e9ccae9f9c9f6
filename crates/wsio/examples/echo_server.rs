//! An echo server: every text and binary message comes back as it was sent.
//!
//! ```sh
//! cargo run --release -p wsio --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Echoes are queued without flushing while more messages are already decoded, and flushed
//! when the stream has nothing ready, so that a burst of messages goes back in one write.

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpListener;
use wsio::{Config, WebSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echo server listening on ws://{}", listener.local_addr()?);
    let config = Config::default();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let config = config.clone();
        tokio::spawn(async move {
            match wsio::accept_with(stream, &config, |_: &wsio::UpgradeRequest<'_>| {
                Ok(wsio::Accept::new())
            })
            .await
            {
                Ok(ws) => {
                    if let Err(error) = echo(ws).await {
                        eprintln!("connection ended: {error}");
                    }
                }
                Err(error) => eprintln!("handshake failed: {error}"),
            }
        });
    }
}

async fn echo<S>(mut ws: WebSocket<S>) -> wsio::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        // Take the next message if it is already decoded; otherwise flush the echoes fed so
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
