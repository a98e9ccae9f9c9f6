//! The broadcast servers of the fan-out scenario, one per library: every text or binary
//! message any client sends goes to every connected client, the sender included, like wsio's
//! `broadcast_server` example.
//!
//! Each library at its best:
//!
//! - wsio: its `Server`; each message is a [`wsio::PreparedMessage`], framed once, the same
//!   bytes queued on every connection; a writer task per connection takes every message
//!   waiting (`WriteHalf::feed_prepared`) and flushes once.
//! - tokio-tungstenite, tokio-websockets, yawc and sockudo-ws: a tokio broadcast channel of
//!   the library's own message type, whose payload is a shared `Bytes` (no copy per
//!   connection, but framed on each); one task per connection races its next message against
//!   the channel, and feeds every message waiting before one flush. Receiving through their
//!   `Stream` and from the channel are both cancel-safe.
//! - fastwebsockets: a channel of payloads (`Bytes`, the one copy made of each message as it
//!   is read); its read and write halves (`unstable-split`) in a task each, since `read_frame`
//!   is not cancel-safe and cannot be raced against the channel. It writes each frame at once
//!   (`write_frame`, no write buffer of its own; see `Lib::modes`).
//!
//! Slow clients, the same for every library, as in wsio's example: the channel keeps the last
//! [`BACKLOG`] messages; a client that falls further behind is dropped (its connection closed,
//! without a close handshake) when it next looks at the channel, or while a write to it waits
//! (looked at every 50 ms), so the servers' memory stays bounded. The generator reads as fast
//! as it can, so this should not happen in the scenario.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, Receiver, Sender, error::TryRecvError};

use crate::{BoxError, Lib, Received, handshake};

/// How many messages a client may fall behind before it is dropped.
pub const BACKLOG: usize = 1024;

/// Serves `lib`'s broadcast server on `addr`, calling `announce` once it listens.
pub async fn serve(lib: Lib, addr: &str, announce: fn(SocketAddr)) -> Result<(), BoxError> {
    if lib == Lib::Wsio {
        return Ok(wsio(addr, announce).await?);
    }
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?);
    match lib {
        Lib::Tungstenite => {
            accept(listener, |stream, hub| async move {
                let ws = tokio_tungstenite::accept_async(stream).await?;
                member(ws, hub, |m| m.is_text() || m.is_binary()).await
            })
            .await
        }
        Lib::Fastwebsockets => accept(listener, fastwebsockets).await,
        Lib::TokioWebsockets => {
            accept(listener, |stream, hub| async move {
                let (_request, ws) = tokio_websockets::ServerBuilder::new()
                    .accept(stream)
                    .await?;
                member(ws, hub, |m| m.is_text() || m.is_binary()).await
            })
            .await
        }
        Lib::Yawc => {
            accept(listener, |mut stream, hub| async move {
                use yawc::{OpCode, Options, Role, WebSocket};
                handshake::server(&mut stream).await?;
                let options = Options::default().with_utf8();
                let ws = WebSocket::from_stream(stream, Role::Server, options)?;
                member(ws, hub, |f| {
                    matches!(f.opcode(), OpCode::Text | OpCode::Binary)
                })
                .await
            })
            .await
        }
        Lib::SockudoWs => {
            accept(listener, |stream, hub| async move {
                use sockudo_ws::{Config, Http1, server::WebSocketServer};
                let (ws, _) = WebSocketServer::<Http1>::new(Config::default())
                    .accept_raw(stream)
                    .await?;
                member(ws, hub, |m| m.is_text() || m.is_binary()).await
            })
            .await
        }
        Lib::Wsio | Lib::Tcp | Lib::Raw | Lib::NodeWs => {
            Err(format!("no broadcast server on {}", lib.name()).into())
        }
    }
}

/// Accepts connections for ever, each handled by `handle` with its own sender on one
/// channel of `T`.
async fn accept<T, F, Fut>(listener: TcpListener, handle: F) -> Result<(), BoxError>
where
    T: Clone + Send + 'static,
    F: Fn(TcpStream, Sender<T>) -> Fut,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let (hub, _) = broadcast::channel::<T>(BACKLOG);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors for a moment: let connections finish.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // A connection's failure (the generator exits without closing) ends only that task.
        tokio::spawn(handle(stream, hub.clone()));
    }
}

/// wsio's broadcast server, as its `broadcast_server` example (less its close handshake for
/// slow clients: dropped here, as for the other libraries).
async fn wsio(addr: &str, announce: fn(SocketAddr)) -> std::io::Result<()> {
    let (hub, _) = broadcast::channel::<wsio::PreparedMessage>(BACKLOG);
    let server = wsio::Server::builder()
        .fallback(move |ws, _| wsio_member(ws, hub.clone()))
        .bind(addr)
        .await?;
    announce(server.local_addr().expect("a TCP server has an address"));
    server.run().await
}

/// One wsio client: what it sends goes to the hub, prepared once; what the hub carries goes
/// to it, through its own writer task. The connection ends when either side does (the writer
/// ends when the client falls too far behind).
async fn wsio_member(ws: wsio::WebSocket<wsio::Transport>, hub: Sender<wsio::PreparedMessage>) {
    let inbox = hub.subscribe();
    let (read, write) = ws.split();
    let writer = tokio::spawn(wsio_forward(inbox, write));
    // Sending fails only when no client listens, which cannot be while this one does.
    relay(read, writer, |message| drop(hub.send(message))).await;
}

/// Hands each text and binary message a wsio client sends to `publish`, prepared once,
/// until the client or its `writer` task ends; then stops the writer.
pub(crate) async fn relay<T>(
    mut read: wsio::ReadHalf<wsio::Transport>,
    mut writer: tokio::task::JoinHandle<T>,
    mut publish: impl FnMut(wsio::PreparedMessage),
) {
    loop {
        // Receiving is cancel-safe.
        let message = tokio::select! {
            message = read.recv() => message,
            _ = &mut writer => return,
        };
        match message {
            Some(Ok(wsio::Message::Text(text))) => publish(wsio::PreparedMessage::text(text)),
            Some(Ok(wsio::Message::Binary(data))) => publish(wsio::PreparedMessage::binary(data)),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break,
        }
    }
    writer.abort();
}

/// Writes what the hub carries to one wsio client: every message waiting, then one flush.
async fn wsio_forward(
    mut inbox: Receiver<wsio::PreparedMessage>,
    mut write: wsio::WriteHalf<wsio::Transport>,
) -> Result<(), BoxError> {
    loop {
        let first = inbox.recv().await?;
        write.feed_prepared(&first).await?;
        while let Some(message) = waiting(&mut inbox)? {
            write.feed_prepared(&message).await?;
        }
        unless_behind(&inbox, write.flush()).await?;
    }
}

/// The next message already in `inbox`, if any; an error if the client fell more than
/// [`BACKLOG`] behind (or the hub is gone).
fn waiting<T: Clone>(inbox: &mut Receiver<T>) -> Result<Option<T>, BoxError> {
    match inbox.try_recv() {
        Ok(message) => Ok(Some(message)),
        Err(TryRecvError::Empty) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Waits for `write` (a write or flush to one client) unless the client falls more than
/// [`BACKLOG`] messages behind first, as one that reads too slowly does while its write
/// waits: then an error, which drops it.
async fn unless_behind<T, E: Into<BoxError>>(
    inbox: &Receiver<T>,
    write: impl Future<Output = Result<(), E>>,
) -> Result<(), BoxError> {
    tokio::select! {
        // The write first: most are done at once, and then no timer is set.
        biased;
        written = write => written.map_err(Into::into),
        () = fallen_behind(inbox) => Err("fell more than the backlog behind".into()),
    }
}

/// Waits until `inbox` is more than [`BACKLOG`] messages behind the newest, looking every
/// 50 ms.
async fn fallen_behind<T>(inbox: &Receiver<T>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        tick.tick().await;
        if inbox.len() > BACKLOG {
            return;
        }
    }
}

/// One client of a library with a `Stream` + `Sink` of messages: its messages go to the hub
/// as they are; the hub's are fed, every one waiting, then flushed once.
async fn member<W, M, E>(mut ws: W, hub: Sender<M>, is_data: fn(&M) -> bool) -> Result<(), BoxError>
where
    W: futures_util::Stream + futures_util::Sink<M, Error = E> + Unpin,
    W::Item: Received<Message = M>,
    M: Clone,
    E: Into<BoxError>,
{
    let mut inbox = hub.subscribe();
    loop {
        tokio::select! {
            next = ws.next() => {
                let Some(message) = next else { return Ok(()) };
                let message = message.into_message()?;
                if is_data(&message) {
                    let _ = hub.send(message);
                }
            }
            first = inbox.recv() => {
                ws.feed(first?).await.map_err(Into::into)?;
                while let Some(message) = waiting(&mut inbox)? {
                    ws.feed(message).await.map_err(Into::into)?;
                }
                unless_behind(&inbox, ws.flush()).await?;
            }
        }
    }
}

/// A message on fastwebsockets' hub: text or binary, and the payload.
type Payload = (fastwebsockets::OpCode, bytes::Bytes);

/// One fastwebsockets client: its reader sends each message's payload to the hub, copied
/// once out of the read buffer; its writer writes each of the hub's, one `write_frame` each.
/// The connection ends when either side does (the writer ends when the client falls too far
/// behind; a frame being read then is lost with the connection).
async fn fastwebsockets(mut stream: TcpStream, hub: Sender<Payload>) -> Result<(), BoxError> {
    use fastwebsockets::{OpCode, Role, WebSocketError, after_handshake_split};
    handshake::server(&mut stream).await?;
    let (read, write) = stream.into_split();
    let (mut read, write) = after_handshake_split(read, write, Role::Server);
    let mut writer = tokio::spawn(fastwebsockets_forward(hub.subscribe(), write));
    // The benchmark's clients send no pings or closes, so nothing is owed in return.
    let mut owed = |_| std::future::ready(Ok::<(), WebSocketError>(()));
    let result = loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut owed) => frame,
            _ = &mut writer => return Ok(()),
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => break Err(error.into()),
        };
        match frame.opcode {
            OpCode::Close => break Ok(()),
            OpCode::Text | OpCode::Binary => {
                let _ = hub.send((frame.opcode, bytes::Bytes::copy_from_slice(&frame.payload)));
            }
            _ => {}
        }
    };
    writer.abort();
    result
}

/// Writes what the hub carries to one fastwebsockets client, a frame at a time.
async fn fastwebsockets_forward(
    mut inbox: Receiver<Payload>,
    mut write: fastwebsockets::WebSocketWrite<OwnedWriteHalf>,
) -> Result<(), BoxError> {
    use fastwebsockets::{Frame, Payload};
    loop {
        let (opcode, payload) = inbox.recv().await?;
        let frame = Frame::new(true, opcode, None, Payload::Borrowed(&payload));
        unless_behind(&inbox, write.write_frame(frame)).await?;
    }
}
