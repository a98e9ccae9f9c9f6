//! An HTTP/2 client for the tests, on hyper's: a connection over any transport, and
//! WebSockets opened on its streams with extended CONNECTs (RFC 8441).

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{Method, StatusCode, Version};
use http_body_util::Empty;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use wsio::proto::Role;
use wsio::{Config, UpgradedWebSocket, WebSocket};

/// An HTTP/2 connection over `io` (prior knowledge in cleartext, or TLS that agreed `h2`),
/// driven by a task of its own.
pub async fn connect<S>(io: S) -> SendRequest<Empty<Bytes>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// Opens a stream with an extended CONNECT to `url` and returns it raw, for writing frames by
/// hand; panics unless the server accepted.
pub async fn open_raw(sender: &mut SendRequest<Empty<Bytes>>, url: &str) -> TokioIo<Upgraded> {
    sender.ready().await.unwrap();
    let response = sender
        .send_request(connect_request(url, &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    TokioIo::new(hyper::upgrade::on(response).await.unwrap())
}

/// The extended CONNECT for a WebSocket at `url`, with `extra` headers.
fn connect_request(url: &str, extra: &[(&str, &str)]) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri(url)
        .header("sec-websocket-version", "13");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Empty::new()).unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    request
}

/// Opens a WebSocket on a new stream with an extended CONNECT to `url` (`http://` or
/// `https://`, authority and path), with `extra` headers; returns the response's status and
/// headers, and the WebSocket (no extension, 32 MiB frames) if it was accepted.
pub async fn open(
    sender: &mut SendRequest<Empty<Bytes>>,
    url: &str,
    extra: &[(&str, &str)],
) -> (http::response::Parts, Option<UpgradedWebSocket>) {
    sender.ready().await.unwrap();
    let response = sender
        .send_request(connect_request(url, extra))
        .await
        .unwrap();
    if response.status() != StatusCode::OK {
        return (response.into_parts().0, None);
    }
    let (parts, body) = response.into_parts();
    let upgraded = hyper::upgrade::on(http::Response::from_parts(parts.clone(), body))
        .await
        .unwrap();
    let config = Config::default().max_frame_size(32 << 20);
    let ws = WebSocket::from_raw(TokioIo::new(upgraded), Role::Client, &config, Bytes::new());
    (parts, Some(ws))
}

/// A plain request on a new stream; returns the status, headers and body.
pub async fn request(
    sender: &mut SendRequest<Empty<Bytes>>,
    method: Method,
    url: &str,
) -> (http::response::Parts, Bytes) {
    use http_body_util::BodyExt;
    let request = http::Request::builder()
        .method(method)
        .version(Version::HTTP_2)
        .uri(url)
        .body(Empty::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

/// Sends an extended CONNECT to `url` with `extra` headers and returns the status the server
/// answered, or the error if it reset the stream or the connection.
pub async fn try_open(
    sender: &mut SendRequest<Empty<Bytes>>,
    url: &str,
    extra: &[(&str, &str)],
) -> Result<StatusCode, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(connect_request(url, extra)).await?;
    Ok(response.status())
}
