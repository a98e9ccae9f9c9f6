//! Running the opening handshake over an async transport, for both roles, within a timeout.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use http::StatusCode;
use wsio_proto::handshake::{encode_response, reject};
use wsio_proto::{Accepted, ClientHandshake, IncomingRequest, ServerHandshake};

use crate::config::Config;
use crate::error::{Error, Phase, Result};

/// How much one read of a handshake takes at most.
const HANDSHAKE_READ: usize = 4096;

/// How long a refusal may take to write to a client that has already been too slow.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

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
        let mut buf = [0u8; HANDSHAKE_READ];
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

/// Reads a client's request head. A malformed or oversized head is answered with its HTTP
/// error before the error is returned.
pub(crate) async fn read_request<S>(io: &mut S, config: &Config) -> Result<IncomingRequest>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        let mut handshake = ServerHandshake::with_max_head_size(config.protocol.max_handshake_size);
        let mut buf = [0u8; HANDSHAKE_READ];
        loop {
            let n = io.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            match handshake.receive(&buf[..n]) {
                Ok(Some(request)) => return Ok(request),
                Ok(None) => {}
                Err(error) => {
                    io.write_all(&encode_response(&error.response())).await?;
                    io.shutdown().await?;
                    return Err(Error::from(error));
                }
            }
        }
    };
    match tokio::time::timeout(config.handshake_timeout, read).await {
        Ok(result) => result,
        Err(_) => {
            // Tell a slow client why, but do not wait on it for long.
            let refusal =
                encode_response(&reject(StatusCode::REQUEST_TIMEOUT, "handshake timed out"));
            let answer = async {
                io.write_all(&refusal).await?;
                io.shutdown().await
            };
            let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, answer).await;
            Err(Error::Timeout(Phase::Handshake))
        }
    }
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
