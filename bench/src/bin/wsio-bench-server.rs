//! An echo server on one library, for the benchmark: every text and binary message comes back.
//!
//! ```sh
//! wsio-bench-server --lib tungstenite --mode batched --addr 127.0.0.1:0
//! ```
//!
//! It prints `listening ADDR` once it accepts connections. Each server runs on a tokio
//! current-thread runtime, without compression, with limits well above the scenarios' sizes.
//! `--mode` says how it echoes:
//!
//! - `plain` (the default): each message is sent as it comes, one send (a write and a flush)
//!   per echo, as the libraries' own echo examples do; for wsio, `ws.send(message)`;
//! - `batched`: each library at its best. Echoes are queued (`feed`) while the next message is
//!   already decoded, and flushed once none is, as wsio's `echo_server` example does; for
//!   every library with a `Sink` (wsio, tokio-tungstenite, tokio-websockets, yawc and
//!   sockudo-ws). fastwebsockets cannot batch (see [`Lib::modes`]) and refuses this mode;
//!   tokio-websockets writes queued echoes out before each read, so its batched echo still
//!   writes each echo on its own.

use std::io::Write as _;

use clap::Parser;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsio_bench::{BoxError, Lib, Mode, Received, frames, handshake};

/// An echo server for the benchmark.
#[derive(Parser)]
struct Args {
    /// The library to serve with.
    #[arg(long, value_enum)]
    lib: Lib,
    /// How to echo: one send per message, or queued and flushed once none is at hand.
    #[arg(long, value_enum, default_value_t = Mode::Plain)]
    mode: Mode,
    /// Where to listen; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// Accept permessage-deflate (wsio only: the Rust peers here are built without it).
    #[arg(long)]
    deflate: bool,
}

/// The largest message or frame any scenario sends is 1 MiB; the limits leave room above it.
const LIMIT: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    wsio_bench::run_current_thread(serve(Args::parse()))?
}

fn announce(addr: std::net::SocketAddr) {
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
}

async fn serve(args: Args) -> std::io::Result<()> {
    if !args.lib.modes().contains(&args.mode) {
        return Err(std::io::Error::other(format!(
            "{} has no {} mode",
            args.lib.name(),
            args.mode.name()
        )));
    }
    if args.lib == Lib::Wsio {
        return serve_wsio(&args.addr, args.deflate, args.mode).await;
    }
    if args.deflate || args.lib == Lib::NodeWs {
        return Err(std::io::Error::other(
            "only wsio is built here with permessage-deflate; run bench/ws_echo.js with node",
        ));
    }
    let listener = TcpListener::bind(&args.addr).await?;
    announce(listener.local_addr()?);
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
        let (lib, mode) = (args.lib, args.mode);
        tokio::spawn(async move {
            let _ = match lib {
                Lib::Tungstenite => tungstenite(stream, mode).await,
                Lib::Fastwebsockets => fastwebsockets(stream).await,
                Lib::TokioWebsockets => tokio_websockets(stream, mode).await,
                Lib::Yawc => yawc(stream, mode).await,
                Lib::SockudoWs => sockudo_ws(stream, mode).await,
                Lib::Tcp => tcp(stream).await,
                Lib::Raw => raw(stream).await,
                Lib::Wsio | Lib::NodeWs => unreachable!("served above or refused"),
            };
        });
    }
}

async fn serve_wsio(addr: &str, deflate: bool, mode: Mode) -> std::io::Result<()> {
    let mut config = wsio::Config::default();
    config.protocol = config
        .protocol
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT);
    if deflate {
        config.protocol.deflate = Some(wsio::DeflateConfig::default());
    }
    let server = wsio::Server::builder()
        .config(config)
        .fallback(
            move |mut ws: wsio::WebSocket<wsio::Transport>, _| async move {
                let _ = match mode {
                    Mode::Plain => wsio_echo_plain(&mut ws).await,
                    Mode::Batched => wsio_echo(&mut ws).await,
                };
            },
        )
        .bind(addr)
        .await?;
    announce(server.local_addr().expect("a TCP server has an address"));
    server.run().await
}

/// wsio, plain: each echo sent, and written, as its message comes.
async fn wsio_echo_plain(ws: &mut wsio::WebSocket<wsio::Transport>) -> wsio::Result<()> {
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// wsio, batched: echoes queued while more messages are decoded, flushed once none is.
async fn wsio_echo(ws: &mut wsio::WebSocket<wsio::Transport>) -> wsio::Result<()> {
    loop {
        // The next message if it is already decoded; otherwise flush the echoes queued so far
        // and wait. Receiving is cancel-safe.
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

async fn tungstenite(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT));
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// Echoes through a library's `Stream` + `Sink` of messages. Plain: one send (a write and a
/// flush) per message. Batched: each echo is fed while the next message is already decoded,
/// and the echoes are flushed once none is, as `wsio_echo` does; receiving through `Stream` is
/// cancel-safe, so polling it once and dropping it loses nothing.
async fn echo_stream<W, M, E>(
    mut ws: W,
    mode: Mode,
    is_data: fn(&M) -> bool,
) -> Result<(), BoxError>
where
    W: futures_util::Stream + futures_util::Sink<M, Error = E> + Unpin,
    W::Item: Received<Message = M>,
    E: Into<BoxError>,
{
    loop {
        let next = match mode {
            Mode::Plain => ws.next().await,
            Mode::Batched => match ws.next().now_or_never() {
                Some(next) => next,
                None => {
                    ws.flush().await.map_err(Into::into)?;
                    ws.next().await
                }
            },
        };
        let Some(message) = next else { return Ok(()) };
        let message = message.into_message()?;
        if is_data(&message) {
            match mode {
                Mode::Plain => ws.send(message).await,
                Mode::Batched => ws.feed(message).await,
            }
            .map_err(Into::into)?;
        }
    }
}

/// fastwebsockets, plain only: it cannot batch (see [`Lib::modes`]).
async fn fastwebsockets(mut stream: TcpStream) -> Result<(), BoxError> {
    use fastwebsockets::{OpCode, Role, WebSocket};
    let leftover = handshake::server(&mut stream).await?;
    if !leftover.is_empty() {
        return Err("frames before the handshake completed".into());
    }
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    ws.set_max_message_size(LIMIT);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn tokio_websockets(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .config(tokio_websockets::Config::default().frame_size(LIMIT))
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(LIMIT)))
        .accept(stream)
        .await?;
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// yawc over the benchmark's own handshake (yawc's server handshake needs a hyper server):
/// `WebSocket::from_stream` wraps an upgraded stream, as its docs show. Text is checked for
/// UTF-8, as the other libraries do.
async fn yawc(mut stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    use yawc::{OpCode, Options, Role, WebSocket};
    let leftover = handshake::server(&mut stream).await?;
    if !leftover.is_empty() {
        return Err("frames before the handshake completed".into());
    }
    let options = Options::default().with_limits(LIMIT, LIMIT).with_utf8();
    let ws = WebSocket::from_stream(stream, Role::Server, options)?;
    echo_stream(ws, mode, |f| {
        matches!(f.opcode(), OpCode::Text | OpCode::Binary)
    })
    .await
}

/// sockudo-ws: its HTTP/1.1 server's handshake, on the `TcpStream` itself (`accept_raw`).
async fn sockudo_ws(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    use sockudo_ws::{Config, Http1, server::WebSocketServer};
    let config = Config::builder()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
        .build();
    let (ws, _) = WebSocketServer::<Http1>::new(config)
        .accept_raw(stream)
        .await?;
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// Plain TCP: every byte back as it came, through a 1 MiB buffer (as large as the largest
/// read a WebSocket server here makes), so that it is a ceiling for the others.
async fn tcp(mut stream: TcpStream) -> Result<(), BoxError> {
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// The benchmark's own minimal WebSocket echo: every frame of one read back in one write.
async fn raw(mut stream: TcpStream) -> Result<(), BoxError> {
    let leftover = handshake::server(&mut stream).await?;
    let mut input = bytes::BytesMut::from(&leftover[..]);
    let mut out = Vec::new();
    loop {
        input.reserve(64 << 10);
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        if frames::echo_frames(&mut input, &mut out) > 0 {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}
