//! The HTTP `CONNECT` exchange (RFC 9110 section 9.3.6): asking an HTTP proxy for a tunnel.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::ProxyError;
use super::proxy_url::Proxy;
use super::tunnel::{Target, lost};
use crate::error::Result;

/// Asks `proxy`, at the other end of `io`, for a tunnel to `target`, and reads its answer:
/// `Ok` once it said 2xx, when the next byte on `io` is the server's. The answer may take up to
/// `max_response` bytes.
pub(super) async fn connect<S>(
    io: &mut S,
    proxy: &Proxy,
    target: &Target<'_>,
    max_response: usize,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&request(proxy, target))
        .await
        .map_err(|e| lost(proxy, e))?;
    io.flush().await.map_err(|e| lost(proxy, e))?;
    // One byte at a time: what follows the answer's blank line belongs to the server, and the
    // answer is read only up to there.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= max_response {
            return Err(invalid(
                proxy,
                "its answer is longer than the handshake limit",
            ));
        }
        let byte = io.read_u8().await.map_err(|e| lost(proxy, e))?;
        head.push(byte);
    }
    check_response(proxy, &head)?;
    tracing::debug!(%proxy, "tunnel open");
    Ok(())
}

/// The `CONNECT` request for `target`, with `Proxy-Authorization` if the proxy has
/// credentials.
fn request(proxy: &Proxy, target: &Target<'_>) -> Vec<u8> {
    let authority = target.authority();
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = proxy.basic_auth() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&credentials);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Reads the proxy's answer: `Ok` for 2xx, the matching [`ProxyError`] otherwise.
fn check_response(proxy: &Proxy, head: &[u8]) -> Result<()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(invalid(proxy, "its answer is not an HTTP response"));
        }
    }
    let status = response
        .code
        .and_then(|code| http::StatusCode::from_u16(code).ok())
        .ok_or_else(|| invalid(proxy, "its answer has no valid status"))?;
    let error = match status.as_u16() {
        200..=299 => return Ok(()),
        401 | 407 => ProxyError::AuthenticationRequired {
            proxy: proxy.to_string(),
            status,
            credentials_sent: proxy.basic_auth().is_some(),
        },
        _ => ProxyError::Refused {
            proxy: proxy.to_string(),
            status,
        },
    };
    Err(error.into())
}

fn invalid(proxy: &Proxy, what: &'static str) -> crate::Error {
    ProxyError::InvalidResponse {
        proxy: proxy.to_string(),
        what,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn proxy(url: &str) -> Proxy {
        url.parse().unwrap()
    }

    fn answer(proxy: &Proxy, head: &str) -> Result<()> {
        check_response(proxy, head.as_bytes())
    }

    #[test]
    fn the_request_names_the_target_and_carries_basic_credentials() {
        let plain = request(&proxy("http://p:1"), &Target::Name("example.com", 443));
        assert_eq!(
            plain,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        let v6 = request(&proxy("http://p:1"), &Target::Name("::1", 9001));
        assert!(v6.starts_with(b"CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n"));
        let authed = request(
            &proxy("http://aladdin:open%20sesame@p:1"),
            &Target::Name("h", 80),
        );
        let authed = String::from_utf8(authed).unwrap();
        // base64("aladdin:open sesame")
        assert!(authed.contains("\r\nProxy-Authorization: Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
    }

    #[test]
    fn answers_become_typed_errors_that_hide_the_password() {
        let with = proxy("http://u:hunter2@p:1");
        let without = proxy("http://p:1");
        assert!(answer(&with, "HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
        assert!(answer(&with, "HTTP/1.0 200 OK\r\nVia: x\r\n\r\n").is_ok());
        let error =
            answer(&with, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").unwrap_err();
        assert!(matches!(
            &error,
            Error::Proxy(e) if matches!(**e, ProxyError::AuthenticationRequired { credentials_sent: true, .. })
        ));
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
        let error = answer(&without, "HTTP/1.1 407 No\r\n\r\n").unwrap_err();
        assert!(error.to_string().contains("none were given"), "{error}");
        let error = answer(&without, "HTTP/1.1 403 Forbidden\r\n\r\n").unwrap_err();
        assert!(matches!(
            &error,
            Error::Proxy(e) if matches!(**e, ProxyError::Refused { status, .. } if status == 403)
        ));
        for garbage in ["SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 abc\r\n\r\n"] {
            let error = answer(&without, garbage).unwrap_err();
            assert!(
                matches!(&error, Error::Proxy(e) if matches!(**e, ProxyError::InvalidResponse { .. })),
                "{garbage}: {error}"
            );
        }
    }
}
