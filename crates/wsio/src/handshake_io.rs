//! Running the opening handshake over an async transport, for both roles, within a timeout.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use http::StatusCode;
use wsio_proto::handshake::{encode_response, reject};
use wsio_proto::{Accepted, ClientHandshake, IncomingRequest, ServerHandshake};

use crate::config::Config;
use crate::error::{Error, Phase, Result};

/// How much one read of a handshake takes at most. Handshake buffers are on the heap: one in
/// the future itself would stay in the connection task's memory for the connection's life.
const HANDSHAKE_READ: usize = 4096;

/// How long answering a refused handshake (and draining the client's input) may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Sends the client's request and reads the server's answer.
pub(crate) async fn client<S>(
    io: &mut S,
    mut handshake: ClientHandshake,
    config: &Config,
) -> Result<Accepted>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let exchange = async {
        io.write_all(&handshake.encode_request()).await?;
        io.flush().await?;
        let mut buf = vec![0u8; HANDSHAKE_READ];
        loop {
            let n = io.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            if let Some(accepted) = handshake.receive(&buf[..n])? {
                return Ok(accepted);
            }
        }
    };
    tokio::time::timeout(config.handshake_timeout, exchange)
        .await
        .map_err(|_| Error::Timeout(Phase::Handshake))?
}

/// The first bytes of every HTTP/2 connection (RFC 9113 section 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a connection to a server begins.
pub(crate) enum Head {
    /// With an HTTP/1 request head.
    Http1(Box<IncomingRequest>),
    /// With the HTTP/2 preface: the bytes read, the preface first.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Http2(bytes::Bytes),
}

/// Reads a client's request head. A malformed or oversized head is answered with its HTTP
/// error before the error is returned.
pub(crate) async fn read_request<S>(io: &mut S, config: &Config) -> Result<IncomingRequest>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match read_head_or_preface(io, config, false).await? {
        Head::Http1(incoming) => Ok(*incoming),
        Head::Http2(_) => unreachable!("only a read that looks for the preface finds it"),
    }
}

/// Reads how a connection to a server begins: an HTTP/1 request head, read and answered as
/// [`read_request`] does, or the HTTP/2 preface (prior knowledge, `h2c`).
#[cfg(feature = "http2")]
pub(crate) async fn read_head<S>(io: &mut S, config: &Config) -> Result<Head>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    read_head_or_preface(io, config, true).await
}

async fn read_head_or_preface<S>(io: &mut S, config: &Config, preface: bool) -> Result<Head>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        let mut handshake = ServerHandshake::with_max_head_size(config.protocol.max_handshake_size);
        let mut buf = Vec::with_capacity(HANDSHAKE_READ);
        // Bytes that may still be the preface are held back until they no longer can be.
        let mut undecided = preface;
        loop {
            if !undecided {
                buf.clear();
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            if undecided {
                if buf.len() < HTTP2_PREFACE.len() && HTTP2_PREFACE.starts_with(&buf) {
                    continue;
                }
                if buf.starts_with(HTTP2_PREFACE) {
                    return Ok(Head::Http2(buf.into()));
                }
                undecided = false;
            }
            match handshake.receive(&buf) {
                Ok(Some(request)) => return Ok(Head::Http1(Box::new(request))),
                Ok(None) => {}
                Err(error) => {
                    answer_and_close(io, &error.response()).await;
                    return Err(Error::from(error));
                }
            }
        }
    };
    match tokio::time::timeout(config.handshake_timeout, read).await {
        Ok(result) => result,
        Err(_) => {
            // Tell a slow client why; `answer_and_close` bounds the time this takes.
            answer_and_close(
                io,
                &reject(StatusCode::REQUEST_TIMEOUT, "handshake timed out"),
            )
            .await;
            Err(Error::Timeout(Phase::Handshake))
        }
    }
}

/// Answers with an HTTP response (a refused handshake, or a server's plain HTTP answer) and
/// ends the connection, within a bounded time.
///
/// After the answer the writing side is shut down and what the client still sends is read and
/// dropped until it closes (a lingering close): closing a socket with unread input would make
/// the kernel reset the connection, which can destroy the answer before the client reads it.
pub(crate) async fn answer_and_close<S>(io: &mut S, response: &http::Response<bytes::Bytes>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = async {
        io.write_all(&encode_response(response)).await?;
        io.shutdown().await?;
        let mut sink = vec![0u8; HANDSHAKE_READ];
        while io.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    // The client has already misbehaved: whatever happens here, the connection is over.
    let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
}

/// Writes a server's response head (and body, for a refusal).
pub(crate) async fn write_response<S>(io: &mut S, bytes: &[u8]) -> Result<()>
where
    S: AsyncWrite + Unpin,
{
    io.write_all(bytes).await?;
    io.flush().await?;
    Ok(())
}
