//! A [`Server`](crate::Server)'s HTTP/2 connections (feature `http2`): hyper's HTTP/2 server
//! runs the connection, each extended CONNECT (RFC 8441) that routing accepts becomes a
//! WebSocket on its own stream, handed to the same handlers as an HTTP/1.1 upgrade, and
//! other requests go to the server's HTTP handler.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::CONNECTION;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::accept::{Refusal, answer, copy_head};
use crate::server::{Peer, ServerShared, run_handler};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// Serves one HTTP/2 connection until it ends, or until the server stops: then the
/// connection is shut down gracefully (GOAWAY), which lets its open streams finish. `read` is
/// what was read of it already (the preface, for a cleartext connection).
pub(crate) async fn serve(
    shared: &Arc<ServerShared>,
    transport: Transport,
    read: Bytes,
    peer: Peer,
) {
    let io = TokioIo::new(Prefixed {
        prefix: read,
        io: transport,
    });
    let service = {
        let shared = shared.clone();
        service_fn(move |request| {
            std::future::ready(Ok::<_, Infallible>(respond(&shared, request, peer)))
        })
    };
    // The same bound on a request head as over HTTP/1.1.
    let max_head = u32::try_from(shared.config.protocol.max_handshake_size).unwrap_or(u32::MAX);
    let connection = http2::Builder::new(TokioExecutor::new())
        .enable_connect_protocol()
        .max_concurrent_streams(shared.http2_max_streams)
        .max_header_list_size(max_head)
        .serve_connection(io, service);
    tokio::pin!(connection);
    loop {
        // Listen for the stop signal before looking at the flag, so that a stop between the
        // two is not missed.
        let stop = shared.stop_accepting.notified();
        tokio::pin!(stop);
        stop.as_mut().enable();
        if shared.closing.load(Ordering::Acquire) {
            connection.as_mut().graceful_shutdown();
            break;
        }
        tokio::select! {
            result = connection.as_mut() => return log_end(result, peer),
            () = stop => {}
        }
    }
    log_end(connection.await, peer);
}

fn log_end(result: Result<(), hyper::Error>, peer: Peer) {
    if let Err(error) = result {
        tracing::debug!(%error, ?peer, "HTTP/2 connection failed");
    }
}

/// Answers one request of the connection: the HTTP handler's response for a request that
/// asks for no WebSocket (when there is a handler), else the handshake's answer, `200` with a
/// WebSocket for the chosen handler once hyper hands the stream over, or the refusal.
fn respond(
    shared: &Arc<ServerShared>,
    mut request: Request<Incoming>,
    peer: Peer,
) -> Response<Full<Bytes>> {
    let head = copy_head(&request);
    if request.method() != Method::CONNECT {
        if let Some(response) = shared.routes.http_response(&head) {
            return response.map(Full::new);
        }
    }
    let protocol = crate::upgrade::protocol(request.extensions());
    let mut chosen = None;
    let answered = answer(&head, protocol, &[], &shared.config, |request| {
        shared.routes.decide(request, &mut chosen)
    });
    let (response, connection) = match answered {
        Ok(answered) => answered,
        Err(refusal) => return refused(*refusal),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return refused(Refusal::not_upgradable());
    };
    let route = chosen.expect("accepted requests have a handler");
    let server = shared.clone();
    ServerShared::spawn_client(shared, move |departure| async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let stream = Transport::Http2(Box::new(TokioIo::new(upgraded)));
                let ws = WebSocket::from_connection(stream, connection, &server.config);
                run_handler(&server, departure, ws, route, peer).await;
            }
            Err(error) => tracing::debug!(%error, ?peer, "HTTP/2 stream not handed over"),
        }
    });
    response.map(|()| Full::new(Bytes::new()))
}

/// A refusal as an HTTP/2 response, which carries no connection-specific headers.
fn refused(refusal: Refusal) -> Response<Full<Bytes>> {
    tracing::debug!(error = %refusal.error, "HTTP/2 WebSocket refused");
    let mut response = refusal.response;
    response.headers_mut().remove(CONNECTION);
    response.map(Full::new)
}

/// A transport whose first bytes were read already: reads give those back first.
struct Prefixed {
    prefix: Bytes,
    io: Transport,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
