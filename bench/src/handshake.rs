//! A bare HTTP/1.1 upgrade for both sides, for the libraries that leave the handshake to
//! their caller (fastwebsockets without hyper) and for the generator's own connections.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads until the end of an HTTP head; returns the head and anything read after it.
async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > 16 << 10 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
    }
}

/// What the generator offers when it sends compressed messages.
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_no_context_takeover";

/// Sends an upgrade request for `/` and waits for `101`, offering permessage-deflate (and
/// insisting on it) if `deflate`. The server must not send frames before the client's first
/// one, so nothing can follow the response yet.
pub async fn client(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    host: &str,
    deflate: bool,
) -> io::Result<()> {
    let extensions = if deflate {
        format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
    } else {
        String::new()
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {extensions}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let (head, _) = read_head(stream).await?;
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("upgrade refused: {}", String::from_utf8_lossy(&head)),
        ));
    }
    if deflate && !String::from_utf8_lossy(&head).contains("permessage-deflate") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server did not accept permessage-deflate",
        ));
    }
    Ok(())
}

/// Connects to `addr` (without Nagle's delay) and upgrades the connection, without
/// extensions: the generator's connections for the fan-out and fixed-rate scenarios.
pub async fn connect(addr: &str) -> io::Result<tokio::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    client(&mut stream, addr, false).await?;
    Ok(stream)
}

/// Answers an upgrade request with `101`; returns the bytes that came after the request.
pub async fn server(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> io::Result<Vec<u8>> {
    server_with_extensions(stream, |_| None)
        .await
        .map(|(rest, _)| rest)
}

/// Answers an upgrade request with `101` and the `Sec-WebSocket-Extensions` value that
/// `agree` makes of the client's offer, if any; returns the bytes that came after the request
/// and the agreed value.
pub async fn server_with_extensions(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    agree: impl FnOnce(Option<&str>) -> Option<String>,
) -> io::Result<(Vec<u8>, Option<String>)> {
    let (head, rest) = read_head(stream).await?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    request
        .parse(&head)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no key"))?;
    let offer = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .and_then(|h| std::str::from_utf8(h.value).ok());
    let agreed = agree(offer);
    let extensions = agreed.as_ref().map_or(String::new(), |value| {
        format!("Sec-WebSocket-Extensions: {value}\r\n")
    });
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extensions}\r\n",
        wsio::proto::handshake::accept_key(key)
    );
    stream.write_all(response.as_bytes()).await?;
    Ok((rest, agreed))
}
