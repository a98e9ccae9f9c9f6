//! Accepting one connection without a runtime: [`accept`] and [`accept_with`].

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use wsio_proto::handshake::{encode_response, encode_response_head, reject};
use wsio_proto::{IncomingRequest, ServerHandshake};

use super::stream::{BlockingStream, is_timeout, timeout_or};
use super::websocket::WebSocket;
use crate::accept::{Accept, Reject, UpgradeRequest, answer};
use crate::config::Config;
use crate::error::{Error, Phase, Result};

/// How much one read of a handshake takes at most.
const HANDSHAKE_READ: usize = 4096;

/// How long answering a refused handshake (and draining the client's input) may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Runs the server side of the handshake on a fresh connection, blocking, with default
/// settings, accepting any request and no subprotocol.
///
/// ```no_run
/// let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
/// let (stream, _) = listener.accept()?;
/// let mut ws = wsio::blocking::accept(stream)?;
/// loop {
///     let message = ws.recv()?;
///     if message.is_data() {
///         ws.send(message)?;
///     } else if let wsio::Message::Close(_) = message {
///         break;
///     }
/// }
/// # Ok::<(), wsio::Error>(())
/// ```
pub fn accept<S: BlockingStream>(stream: S) -> Result<WebSocket<S>> {
    accept_with(stream, &Config::default(), |_: &UpgradeRequest<'_>| {
        Ok(Accept::new())
    })
}

/// Runs the server side of the handshake, blocking, letting `decide` accept the request
/// (choosing a subprotocol, adding headers) or refuse it, as [`crate::accept_with`] does.
///
/// Malformed requests get 400 (426 for an unsupported version), oversized ones 431 and slow
/// ones 408, before the error is returned.
pub fn accept_with<S, F>(mut stream: S, config: &Config, decide: F) -> Result<WebSocket<S>>
where
    S: BlockingStream,
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let deadline = Instant::now() + config.handshake_timeout;
    let incoming = read_request(&mut stream, config, deadline)?;
    respond(stream, incoming, config, decide)
}

/// Answers a request already read: with the 101 that `decide` allows, or with its refusal.
pub(crate) fn respond<S, F>(
    mut stream: S,
    incoming: IncomingRequest,
    config: &Config,
    decide: F,
) -> Result<WebSocket<S>>
where
    S: BlockingStream,
    F: FnOnce(&UpgradeRequest<'_>) -> Result<Accept, Reject>,
{
    let answered = answer(&incoming.request, None, &incoming.leftover, config, decide);
    let (response, connection) = match answered {
        Ok(answer) => answer,
        Err(refusal) => {
            answer_and_close(&mut stream, &refusal.response);
            return Err(refusal.error);
        }
    };
    stream.write_all(&encode_response_head(&response))?;
    stream.flush()?;
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(WebSocket::from_connection(stream, connection, config))
}

/// Reads a request head by `deadline` (the end of the handshake timeout), refusing what
/// cannot be served.
pub(crate) fn read_request<S: BlockingStream>(
    stream: &mut S,
    config: &Config,
    deadline: Instant,
) -> Result<IncomingRequest> {
    let mut handshake = ServerHandshake::with_max_head_size(config.protocol.max_handshake_size);
    let mut buf = [0u8; HANDSHAKE_READ];
    stream.set_write_timeout(Some(config.handshake_timeout))?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            answer_and_close(
                stream,
                &reject(StatusCode::REQUEST_TIMEOUT, "handshake timed out"),
            );
            return Err(Error::Timeout(Phase::Handshake));
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => match timeout_or(e, Phase::Handshake) {
                // The loop's next turn answers with 408.
                Error::Timeout(_) => continue,
                other => return Err(other),
            },
        };
        match handshake.receive(&buf[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => {
                answer_and_close(stream, &error.response());
                return Err(error.into());
            }
        }
    }
}

/// Answers with an HTTP response (a refusal, or a server's plain HTTP answer) and ends the
/// connection within a bounded time: after the answer
/// the writing side is shut down and the client's input drained until it closes, so that the
/// kernel does not reset the connection (and lose the answer) over unread bytes.
pub(crate) fn answer_and_close<S: BlockingStream>(
    stream: &mut S,
    response: &http::Response<Bytes>,
) {
    let deadline = Instant::now() + REFUSAL_TIME;
    let _ = stream.set_write_timeout(Some(REFUSAL_TIME));
    if stream
        .write_all(&encode_response(response))
        .and_then(|()| stream.flush())
        .is_err()
        || stream.shutdown_write().is_err()
    {
        return;
    }
    let mut sink = [0u8; HANDSHAKE_READ];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            // A timed-out read, or a TLS record not complete yet: the deadline decides.
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
