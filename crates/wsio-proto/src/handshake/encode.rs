//! Writing a request or response head as HTTP/1.1 bytes.

use http::header::HeaderMap;
use http::{Request, Response};

/// Writes a request head as HTTP/1.1: the request line, each header on its own line, and the
/// blank line that ends the head.
///
/// The request line names the URI's path and query (`/` if it has none), whatever else the URI
/// holds, and the version is always `HTTP/1.1`. The body is not written: a handshake request
/// has none. Header names are written in their usual capitalization (`Sec-WebSocket-Key`),
/// which HTTP does not require (names are case-insensitive, RFC 9110 section 5.1) but some
/// servers expect; values are written as they are, and a header with several values takes
/// several lines.
///
/// ```
/// use wsio_proto::handshake::{build_request, encode_request};
///
/// let request = build_request("example.com", "/chat", "dGhlIHNhbXBsZSBub25jZQ==")?;
/// assert_eq!(
///     encode_request(&request),
///     b"GET /chat HTTP/1.1\r\n\
///       Host: example.com\r\n\
///       Upgrade: websocket\r\n\
///       Connection: Upgrade\r\n\
///       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///       Sec-WebSocket-Version: 13\r\n\
///       \r\n"
/// );
/// # Ok::<(), wsio_proto::handshake::BuildError>(())
/// ```
pub fn encode_request<B>(request: &Request<B>) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = Vec::with_capacity(head_capacity(request.headers()) + target.len());
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_headers(&mut out, request.headers());
    out
}

/// Writes a response as HTTP/1.1: the status line, each header on its own line, the blank line
/// that ends the head, and the body.
///
/// Headers are written as [`encode_request`] writes them, and the version is always
/// `HTTP/1.1`. Nothing is added: a body needs its `Content-Length` among the headers, as
/// [`reject`](super::reject) and [`HandshakeError::response`](super::HandshakeError::response)
/// set it. For a response without a body type, such as the `Response<()>` of
/// [`accept_response`](super::accept_response), use [`encode_response_head`].
///
/// ```
/// use wsio_proto::handshake::{encode_response, reject};
///
/// let wire = encode_response(&reject(http::StatusCode::FORBIDDEN, "go away"));
/// assert!(wire.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// assert!(wire.ends_with(b"Content-Length: 7\r\nConnection: close\r\n\r\ngo away"));
/// ```
pub fn encode_response<B: AsRef<[u8]>>(response: &Response<B>) -> Vec<u8> {
    let body = response.body().as_ref();
    let mut out = encode_response_head(response);
    out.extend_from_slice(body);
    out
}

/// Writes the head of a response (status line, headers, blank line) as HTTP/1.1, ignoring the
/// body. This is how the `101 Switching Protocols` answer goes on the wire.
///
/// ```
/// use wsio_proto::handshake::{accept_response, encode_response_head};
///
/// let response = accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"));
/// assert_eq!(
///     encode_response_head(&response),
///     b"HTTP/1.1 101 Switching Protocols\r\n\
///       Upgrade: websocket\r\n\
///       Connection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///       Sec-WebSocket-Protocol: chat\r\n\
///       \r\n"
/// );
/// ```
pub fn encode_response_head<B>(response: &Response<B>) -> Vec<u8> {
    let status = response.status();
    let mut out = Vec::with_capacity(head_capacity(response.headers()) + 32);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(&mut out, response.headers());
    out
}

/// A guess at the size of a head, so that writing it allocates once.
fn head_capacity(headers: &HeaderMap) -> usize {
    let fields: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    fields + 32
}

/// Writes `Name: value\r\n` for every header value, then the blank line.
fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        write_name(out, name.as_str());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a (lowercase) header name with each dash-separated word capitalized, and `websocket`
/// spelled `WebSocket` as RFC 6455 does.
fn write_name(out: &mut Vec<u8>, name: &str) {
    for (i, word) in name.split('-').enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        if word.eq_ignore_ascii_case("websocket") {
            out.extend_from_slice(b"WebSocket");
        } else if let Some((first, rest)) = word.as_bytes().split_first() {
            out.push(first.to_ascii_uppercase());
            out.extend_from_slice(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    fn name(raw: &str) -> String {
        let mut out = Vec::new();
        write_name(&mut out, raw);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn header_names_are_capitalized() {
        assert_eq!(name("host"), "Host");
        assert_eq!(name("sec-websocket-extensions"), "Sec-WebSocket-Extensions");
        assert_eq!(name("x-api-key"), "X-Api-Key");
        assert_eq!(name("x--y-"), "X--Y-");
        assert_eq!(name("1st"), "1st");
    }

    #[test]
    fn repeated_headers_take_several_lines() {
        let mut request = Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = "http://example.com/x?y".parse().unwrap();
        request.headers_mut().append("x-a", "1".parse().unwrap());
        request.headers_mut().append("x-a", "2".parse().unwrap());
        assert_eq!(
            encode_request(&request),
            b"GET /x?y HTTP/1.1\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
        );
    }

    #[test]
    fn odd_statuses() {
        let mut response = Response::new(&b"hi"[..]);
        *response.status_mut() = StatusCode::from_u16(599).unwrap();
        assert_eq!(encode_response(&response), b"HTTP/1.1 599 \r\n\r\nhi");
    }
}
