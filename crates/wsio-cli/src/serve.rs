//! `wsio serve`: a chat page, a chat room and an echo endpoint on one port.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use wsio::{DeflateConfig, Server, ServerRequest, Transport, WebSocket};

use wsio_cli::page;
use wsio_cli::room::{MAX_NAME, Room, valid_name};

use crate::cluster::{Cluster, random_node_name};
use crate::exit::Exit;
use crate::output;
use crate::signal::Shutdown;

const EXIT_STATUS: &str = "\
Routes:
  /       the chat page, for a browser
  /chat   the chat room (WebSocket): each text message goes to everyone, /nick NAME renames
  /echo   echoes every text and binary message (WebSocket)

HTTP/2: on the same port, a client may speak HTTP/2 (by ALPN h2 with TLS, or from its first
bytes in cleartext) and open WebSockets as extended CONNECTs (RFC 8441), as browsers do over
HTTP/2 connections.

Clusters: with --cluster, several `wsio serve` nodes (behind a load balancer, no sticky
sessions needed) are one chat room: each node publishes its room's lines to the broker
(Redis pub/sub or NATS) and takes the others' from it. Guests are named guest-N@NODE and
each member is told which node it is on. Delivery between nodes is at most once: while a
node cannot reach the broker, its members still talk among themselves, and lines from the
other nodes are missed (stdout says `cluster: disconnected; reconnecting`, then
`cluster: connected`). The node retries from 250 ms, doubling, at most every 5 s.

Compression: permessage-deflate (RFC 7692) is accepted from every client that offers it, as
browsers do, unless --no-deflate is given. A compressing connection holds about 400 KiB
(its compressor and decompressor) while it is open; clients that do not offer it are not
affected.

The first line on stdout is `listening on ws://HOST:PORT` (wss:// with TLS); with --cluster,
a line `cluster: node NAME through URL` follows, then the broker connection's changes.
Ctrl-C or SIGTERM closes every client with 1001 (going away) and exits.

Exit status:
  0  stopped by Ctrl-C or SIGTERM
  1  the listener failed
  2  bad arguments, a certificate or key that cannot be read, or a bad --cluster URL
  3  cannot listen on the address";

/// Serve a chat page at /, a chat room on /chat and an echo endpoint on /echo.
///
/// Each connection is logged with -v (or RUST_LOG=info).
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS)]
pub(crate) struct Args {
    /// Where to listen: HOST:PORT (port 0 takes a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Serve TLS (wss://, https://) with this certificate chain, a PEM file; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The certificate's private key, a PEM file.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Decline permessage-deflate: every connection goes uncompressed.
    #[arg(long)]
    no_deflate: bool,
    /// Expect a PROXY protocol header (version 1 or 2, HAProxy's send-proxy or
    /// send-proxy-v2) on every connection, and take the client's address from it. Only behind
    /// a load balancer that sends one: connections without it are closed, and anyone who can
    /// reach the port directly could claim any address.
    #[arg(long)]
    proxy_protocol: bool,
    /// Make this node's chat room one with the rooms of the other nodes given the same
    /// broker: redis://[:PASSWORD@]HOST:PORT or nats://[USER:PASSWORD@]HOST:PORT.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// This node's name in the cluster, shown to its members: 1 to 32 letters, digits, '-',
    /// '_' or '.'. By default node- and four random hexadecimal digits.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    node: Option<String>,
}

/// Runs `wsio serve`.
pub(crate) async fn run(args: Args) -> Exit {
    let mut shutdown = match Shutdown::catch() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            output::error(format_args!("cannot catch signals: {error}"));
            return Exit::Failed;
        }
    };
    let Some((room, cluster)) = room(&args) else {
        return Exit::Usage;
    };
    let hub = room.hub().clone();
    let mut builder = Server::builder()
        .http(page::respond)
        .proxy_protocol(args.proxy_protocol)
        .route("/chat", move |ws, request: ServerRequest| {
            let (peer, version) = (request.peer_addr, request.request.version());
            tracing::info!(?peer, proxy = ?request.proxy_addr, ?version, "chat requested");
            room.clone().join(ws, peer)
        })
        .route("/echo", echo);
    if !args.no_deflate {
        builder = builder.deflate(DeflateConfig::default());
    }
    let secure = args.cert.is_some();
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let certified = wsio::pem::certificates(cert).and_then(|chain| {
            let key = wsio::pem::private_key(key)?;
            builder.clone().tls_certificate(chain, key)
        });
        builder = match certified {
            Ok(builder) => builder,
            Err(error) => {
                output::error(format_args!("{error}"));
                return Exit::Usage;
            }
        };
    }
    let server = match builder.bind(&args.addr).await {
        Ok(server) => server,
        Err(error) => {
            output::error(format_args!("cannot listen on {}: {error}", args.addr));
            return Exit::Unreachable;
        }
    };
    if let Some(addr) = server.local_addr() {
        let (ws, http) = if secure {
            ("wss", "https")
        } else {
            ("ws", "http")
        };
        let mut stdout = std::io::stdout().lock();
        // Tests and scripts read the port from the first line.
        let _ = writeln!(stdout, "listening on {ws}://{addr}");
        let _ = writeln!(stdout, "chat page: {http}://{addr}/");
        let _ = stdout.flush();
    }
    // The backplane starts once the server listens, so that its state follows the first
    // line on stdout.
    let backplane = match &cluster {
        Some(ClusterNode { cluster, node }) => match cluster.join(&hub) {
            Ok(backplane) => {
                println!("cluster: node {node} through {cluster}");
                crate::cluster::report(&backplane);
                Some(backplane)
            }
            Err(error) => {
                output::error(format_args!("{error}"));
                return Exit::Usage;
            }
        },
        None => None,
    };
    let handle = server.handle();
    let mut running = tokio::spawn(server.run());
    tokio::select! {
        result = &mut running => return match result {
            Ok(Ok(())) => Exit::Ok,
            Ok(Err(error)) => {
                output::error(format_args!("the listener failed: {error}"));
                Exit::Failed
            }
            Err(error) => {
                output::error(format_args!("the server stopped: {error}"));
                Exit::Failed
            }
        },
        () = shutdown.recv() => {}
    }
    tracing::info!(clients = handle.client_count(), "shutting down");
    handle.close().await;
    if let Some(backplane) = backplane {
        // The members' departures, published as they closed, go to the other nodes first.
        backplane.stop();
        let stopped = backplane.wait_for(wsio_hub::BackplaneState::Stopped);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), stopped).await;
    }
    let _ = running.await;
    Exit::Ok
}

/// The chat room, on one node or this node's part of a cluster (with its broker and node
/// name); `None` after telling what is wrong with the arguments.
fn room(args: &Args) -> Option<(Arc<Room>, Option<ClusterNode>)> {
    let Some(url) = &args.cluster else {
        return Some((Room::new(), None));
    };
    let cluster = match Cluster::parse(url) {
        Ok(cluster) => cluster,
        Err(error) => {
            output::error(format_args!("{error}"));
            return None;
        }
    };
    let node = args.node.clone().unwrap_or_else(random_node_name);
    if !valid_name(&node) {
        output::error(format_args!(
            "--node: a name has 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"
        ));
        return None;
    }
    let room = Room::in_cluster(node.clone());
    Some((room, Some(ClusterNode { cluster, node })))
}

/// This server as a node of a cluster: the broker, and its name.
struct ClusterNode {
    cluster: Cluster,
    node: String,
}

/// `/echo`: sends every text and binary message back.
async fn echo(mut ws: WebSocket<Transport>, request: ServerRequest) {
    let peer = request.peer_addr;
    let compression = output::compression(&ws.negotiated());
    let proxy = request.proxy_addr;
    tracing::info!(?peer, ?proxy, ?compression, "echo connected");
    while let Some(message) = ws.next().await {
        match message {
            Ok(message) if message.is_data() => {
                if let Err(error) = ws.send(message).await {
                    tracing::debug!(?peer, %error, "echo failed");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(?peer, %error, "echo connection failed"),
        }
    }
    let code = ws.close_info().map(|close| u16::from(close.code));
    tracing::info!(?peer, ?code, "echo disconnected");
}
