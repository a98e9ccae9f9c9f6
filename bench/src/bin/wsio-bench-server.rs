//! An echo server on one library, for the benchmark: every text and binary message comes back.
//!
//! ```sh
//! wsio-bench-server --lib tungstenite --mode batched --addr 127.0.0.1:0
//! ```
//!
//! It prints `listening ADDR` once it accepts connections. Each server runs on a tokio
//! current-thread runtime, with limits well above the scenarios' sizes, and without
//! compression unless `--deflate` asks for it (wsio, yawc and sockudo-ws). `--tls DIR` serves
//! `wss://`: every library is handed the tokio-rustls stream of an accepted connection (any
//! `AsyncRead + AsyncWrite` stream will do for each), wsio through its `Server`'s own TLS.
//! `--fanout` serves a broadcast server instead of an echo server (`wsio_bench::broadcast`);
//! `--hub`, wsio's fan-out through `wsio-hub`, joined to other nodes with `--cluster URL`
//! (`wsio_bench::hub`).
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
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use wsio_bench::{BoxError, Lib, Mode, Received, broadcast, frames, handshake, tls};

/// An echo server, or a broadcast server (`--fanout`), for the benchmark.
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
    /// Accept permessage-deflate (wsio, yawc and sockudo-ws: see `Lib::deflates`).
    #[arg(long)]
    deflate: bool,
    /// Serve `wss://` with the certificate and key the runner wrote into this directory.
    #[arg(long)]
    tls: Option<PathBuf>,
    /// Broadcast instead of echoing: every message to every connection (the fan-out
    /// scenario; see `wsio_bench::broadcast`). The library's best means; `--mode` is ignored.
    #[arg(long)]
    fanout: bool,
    /// Broadcast through a wsio-hub `Hub` instead (wsio only; see `wsio_bench::hub`).
    #[arg(long)]
    hub: bool,
    /// With `--hub`: join the hubs of other nodes through this broker, `redis://HOST:PORT` or
    /// `nats://HOST:PORT`.
    #[arg(long, value_name = "URL", requires = "hub")]
    cluster: Option<String>,
}

/// The largest message or frame any scenario sends is 1 MiB; the limits leave room above it.
const LIMIT: usize = 64 << 20;

fn main() -> Result<(), BoxError> {
    wsio_bench::run_current_thread(serve(Args::parse()))?
}

fn announce(addr: std::net::SocketAddr) {
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
}

async fn serve(args: Args) -> Result<(), BoxError> {
    if !args.lib.modes().contains(&args.mode) {
        return Err(format!("{} has no {} mode", args.lib.name(), args.mode.name()).into());
    }
    if args.lib == Lib::NodeWs {
        return Err("Node's `ws` is bench/ws_echo.js, run with node".into());
    }
    if args.hub {
        if args.lib != Lib::Wsio || args.fanout || args.deflate || args.tls.is_some() {
            return Err("--hub is wsio's plain fan-out server: no other flag".into());
        }
        return wsio_bench::hub::serve(&args.addr, args.cluster.as_deref(), announce).await;
    }
    if args.fanout {
        if args.deflate || args.tls.is_some() {
            return Err("the broadcast servers are plain: no --deflate or --tls".into());
        }
        return broadcast::serve(args.lib, &args.addr, announce).await;
    }
    if args.deflate && !args.lib.deflates() {
        return Err(format!(
            "{} is not built here with permessage-deflate (Node's `ws`: run bench/ws_echo.js)",
            args.lib.name()
        )
        .into());
    }
    let tls = args.tls.as_deref().map(tls::server_config).transpose()?;
    if args.lib == Lib::Wsio {
        return Ok(serve_wsio(&args.addr, args.deflate, args.mode, tls).await?);
    }
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
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
        let (lib, mode, deflate, acceptor) = (args.lib, args.mode, args.deflate, acceptor.clone());
        tokio::spawn(async move {
            let _ = match acceptor {
                None => echo(stream, lib, mode, deflate).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => echo(stream, lib, mode, deflate).await,
                    Err(error) => Err(error.into()),
                },
            };
        });
    }
}

/// Echoes on one accepted connection, plain TCP or TLS, with `lib`.
async fn echo<S>(stream: S, lib: Lib, mode: Mode, deflate: bool) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match lib {
        Lib::Tungstenite => tungstenite(stream, mode).await,
        Lib::Fastwebsockets => fastwebsockets(stream).await,
        Lib::TokioWebsockets => tokio_websockets(stream, mode).await,
        Lib::Yawc => yawc(stream, mode, deflate).await,
        Lib::SockudoWs if deflate => sockudo_ws_deflate(stream, mode).await,
        Lib::SockudoWs => sockudo_ws(stream, mode).await,
        Lib::Tcp => tcp(stream).await,
        Lib::Raw => raw(stream).await,
        Lib::Wsio | Lib::NodeWs => Err("served apart, or not here".into()),
    }
}

async fn serve_wsio(
    addr: &str,
    deflate: bool,
    mode: Mode,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut config = wsio::Config::default();
    config.protocol = config
        .protocol
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT);
    if deflate {
        config.protocol.deflate = Some(wsio::DeflateConfig::default());
    }
    let mut builder = wsio::Server::builder().config(config);
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let server = builder
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

async fn tungstenite<S>(stream: S, mode: Mode) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
async fn fastwebsockets<S>(mut stream: S) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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

async fn tokio_websockets<S>(stream: S, mode: Mode) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .config(tokio_websockets::Config::default().frame_size(LIMIT))
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(LIMIT)))
        .accept(stream)
        .await?;
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// yawc over the benchmark's own handshake (yawc's server handshake needs a hyper server):
/// `WebSocket::from_stream_with_extensions` wraps an upgraded stream, as its docs show. Text is
/// checked for UTF-8, as the other libraries do. With `deflate`, the handshake agrees the
/// generator's offer (`client_no_context_takeover`) and yawc compresses at its balanced
/// preset (zlib's default level, 6, as for wsio, sockudo-ws and Node's `ws`).
async fn yawc<S>(mut stream: S, mode: Mode, deflate: bool) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use yawc::{OpCode, Options, Role, WebSocket};
    let (leftover, agreed) = handshake::server_with_extensions(&mut stream, |offer| {
        offer
            .filter(|offer| deflate && offer.contains("permessage-deflate"))
            .map(|_| handshake::DEFLATE_OFFER.to_string())
    })
    .await?;
    if !leftover.is_empty() {
        return Err("frames before the handshake completed".into());
    }
    let mut options = Options::default().with_limits(LIMIT, LIMIT).with_utf8();
    if deflate {
        options = options.with_balanced_compression();
    }
    let ws =
        WebSocket::from_stream_with_extensions(stream, Role::Server, agreed.as_deref(), options)?;
    echo_stream(ws, mode, |f| {
        matches!(f.opcode(), OpCode::Text | OpCode::Binary)
    })
    .await
}

/// sockudo-ws's configuration for the echo servers: limits above the scenarios' sizes.
fn sockudo_config() -> sockudo_ws::Config {
    sockudo_ws::Config::builder()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
        .build()
}

/// sockudo-ws: its HTTP/1.1 server's handshake, on the stream itself (`accept_raw`).
async fn sockudo_ws<S>(stream: S, mode: Mode) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use sockudo_ws::{Http1, server::WebSocketServer};
    let (ws, _) = WebSocketServer::<Http1>::new(sockudo_config())
        .accept_raw(stream)
        .await?;
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// sockudo-ws with permessage-deflate: its HTTP/1.1 server does not negotiate compression (only
/// its axum integration does), so the benchmark's handshake agrees the offer with sockudo-ws's
/// own `negotiate_server_deflate` (its default policy: level 6, context takeover where the
/// client allows it) and wraps the stream in its `CompressedWebSocketStream`, as that
/// integration does.
async fn sockudo_ws_deflate<S>(mut stream: S, mode: Mode) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use sockudo_ws::deflate::negotiate_server_deflate;
    use sockudo_ws::{CompressedWebSocketStream, DeflateConfig};
    let mut negotiated = None;
    let (leftover, _) = handshake::server_with_extensions(&mut stream, |offer| {
        let negotiation = negotiate_server_deflate(offer?, &DeflateConfig::default())?;
        let answer = negotiation.to_response_header();
        negotiated = Some(negotiation.config);
        Some(answer)
    })
    .await?;
    let deflate = negotiated.ok_or("the client offered no permessage-deflate")?;
    let leftover = (!leftover.is_empty()).then(|| bytes::Bytes::from(leftover));
    let ws = CompressedWebSocketStream::server_with_leftover(
        stream,
        sockudo_config(),
        deflate,
        leftover,
    );
    echo_stream(ws, mode, |m| m.is_text() || m.is_binary()).await
}

/// Plain TCP: every byte back as it came, through a 1 MiB buffer (as large as the largest
/// read a WebSocket server here makes), so that it is a ceiling for the others.
async fn tcp<S>(mut stream: S) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
async fn raw<S>(mut stream: S) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
