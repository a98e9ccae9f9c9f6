//! A broadcast server on [`wsio::Server`]: every text or binary message any client sends goes
//! to every connected client, the sender included.
//!
//! ```sh
//! cargo run --release -p wsio --example broadcast_server -- 127.0.0.1:9002 [--deflate]
//! ```
//!
//! `--deflate` accepts permessage-deflate, with the server resetting its compressor after each
//! message (`server_no_context_takeover`), so that a message is compressed once for all.
//!
//! Each message is prepared once ([`PreparedMessage`]): framed (and compressed) once, the same
//! bytes queued on every connection. Each client's writer takes every message waiting for it
//! and writes them with one flush.
//!
//! Slow clients: a client may fall at most [`BACKLOG`] messages behind the newest. One that
//! falls further (it reads too slowly, or its network does) is closed with 1013 (try again
//! later) and a reason that says so, within the close timeout even if it reads nothing more;
//! the others are not held back by it, and the server's memory for the backlog stays bounded
//! (the hub keeps the last [`BACKLOG`] messages, shared by all). Ctrl-C closes every client
//! with 1001 and exits.

use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use wsio::{
    CloseCode, DeflateConfig, Message, PreparedMessage, Server, Transport, WebSocket, WriteHalf,
};

/// How many messages a client may fall behind before it is closed.
const BACKLOG: usize = 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9002".into());
    let (hub, _) = broadcast::channel::<PreparedMessage>(BACKLOG);
    let mut builder = Server::builder().fallback(move |ws, _| member(ws, hub.clone()));
    if args.any(|arg| arg == "--deflate") {
        builder = builder.deflate(DeflateConfig::default().server_no_context_takeover(true));
    }
    let server = builder.bind(&addr).await?;
    let addr = server.local_addr().expect("a TCP server has an address");
    eprintln!("broadcast server listening on ws://{addr}");
    let handle = server.handle();
    tokio::select! {
        result = server.run() => result,
        _ = tokio::signal::ctrl_c() => {
            handle.close().await;
            Ok(())
        }
    }
}

/// One client: what it sends goes to the hub, what the hub carries goes to it.
async fn member(ws: WebSocket<Transport>, hub: broadcast::Sender<PreparedMessage>) {
    let inbox = hub.subscribe();
    let (mut read, write) = ws.split();
    let writer = tokio::spawn(forward(inbox, write));
    while let Some(Ok(message)) = read.recv().await {
        let prepared = match message {
            Message::Text(text) => PreparedMessage::text(text),
            Message::Binary(data) => PreparedMessage::binary(data),
            _ => continue,
        };
        // Fails only when no client listens, which cannot be while this one does.
        let _ = hub.send(prepared);
    }
    // The connection is over: its writer has nothing left to do.
    writer.abort();
}

/// Writes what the hub carries to one client: every message already waiting, then one flush.
async fn forward(mut inbox: broadcast::Receiver<PreparedMessage>, mut write: WriteHalf<Transport>) {
    loop {
        let first = match inbox.recv().await {
            Ok(message) => message,
            Err(RecvError::Lagged(missed)) => return too_slow(write, missed).await,
            Err(RecvError::Closed) => return,
        };
        if write.feed_prepared(&first).await.is_err() {
            return;
        }
        loop {
            match inbox.try_recv() {
                Ok(message) => {
                    if write.feed_prepared(&message).await.is_err() {
                        return;
                    }
                }
                Err(TryRecvError::Lagged(missed)) => return too_slow(write, missed).await,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        // A client that reads too slowly leaves this flush waiting while messages pile up
        // for it: it is closed once it is more than the backlog behind.
        tokio::select! {
            flushed = write.flush() => if flushed.is_err() { return },
            missed = fallen_behind(&inbox) => return too_slow(write, missed).await,
        }
    }
}

/// Waits until `inbox` is more than [`BACKLOG`] messages behind the newest; how far.
async fn fallen_behind(inbox: &broadcast::Receiver<PreparedMessage>) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if inbox.len() > BACKLOG {
            return (inbox.len() - BACKLOG) as u64;
        }
    }
}

/// Closes a client that fell more than [`BACKLOG`] messages behind.
async fn too_slow(mut write: WriteHalf<Transport>, missed: u64) {
    eprintln!("closing a client {missed} messages behind");
    let _ = write
        .close(CloseCode::TRY_AGAIN_LATER, "too slow: fell too far behind")
        .await;
}
