//! Reading an HTTP/1.1 head (start line and header fields) that arrives in pieces.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};

use super::HandshakeError;
use crate::frame::Decoded;

/// The most header lines a head may have. More is [`httparse::Error::TooManyHeaders`].
const MAX_HEADERS: usize = 128;

/// The bytes of a head received so far. It never holds more than its limit.
#[derive(Debug)]
pub(crate) struct HeadBuffer {
    buf: Vec<u8>,
    limit: usize,
    /// Whether the bytes may hold a whole head, or have never been looked at: only then is
    /// parsing worth it. A peer that sends one byte at a time then costs one scan of a few
    /// bytes per piece, not a parse of everything so far.
    worth_parsing: bool,
}

impl HeadBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        HeadBuffer {
            buf: Vec::new(),
            limit,
            worth_parsing: true,
        }
    }

    /// Whether parsing may find something new since the last look: the first piece (so that
    /// bytes that are not HTTP at all are refused at once), or a piece that may end the head.
    pub(crate) fn worth_parsing(&mut self) -> bool {
        std::mem::take(&mut self.worth_parsing) || self.is_full()
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Appends as much of `data` as fits under the limit and returns how much that was.
    pub(crate) fn fill(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(self.limit - self.buf.len());
        // A head ends with an empty line: "\n\r\n", or "\n\n" as httparse also accepts.
        // Look at the new bytes and the two before them.
        let scan_from = self.buf.len().saturating_sub(2);
        self.buf.extend_from_slice(&data[..take]);
        let fresh = &self.buf[scan_from..];
        if fresh.windows(2).any(|w| w == b"\n\n") || fresh.windows(3).any(|w| w == b"\n\r\n") {
            self.worth_parsing = true;
        }
        take
    }

    /// Everything buffered.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the buffer holds as much as the limit allows.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() >= self.limit
    }

    /// The buffered bytes from `from` on, followed by `rest`: what came after a head.
    pub(crate) fn leftover(&self, from: usize, rest: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(self.buf.len() - from + rest.len());
        out.extend_from_slice(&self.buf[from..]);
        out.extend_from_slice(rest);
        Bytes::from(out)
    }

    /// The error for a head that is still incomplete when the buffer is full.
    pub(crate) fn too_large(&self) -> HandshakeError {
        HandshakeError::TooLarge { limit: self.limit }
    }
}

/// Parses an HTTP/1.x request head from the start of `buf`.
///
/// Returns the request and the length of its head (the bytes after it are not part of it), or
/// [`Decoded::Incomplete`] with `needed: 1` while the blank line that ends the head has not
/// arrived: HTTP does not say how much more to expect. There is no size limit here;
/// [`ServerHandshake`](super::ServerHandshake) adds one.
///
/// ```
/// use wsio_proto::Decoded;
/// use wsio_proto::handshake::parse_request;
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n";
/// let Decoded::Complete { value: request, len } = parse_request(head)? else { unreachable!() };
/// assert_eq!((request.uri().path(), len), ("/chat", head.len()));
/// assert!(matches!(parse_request(&head[..20])?, Decoded::Incomplete { needed: 1 }));
/// # Ok::<(), wsio_proto::handshake::HandshakeError>(())
/// ```
pub fn parse_request(buf: &[u8]) -> Result<Decoded<Request<()>>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = parsed.parse(buf)? else {
        return Ok(Decoded::Incomplete { needed: 1 });
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        unreachable!("httparse fills in the request line of a complete head")
    };
    // httparse has checked that the method is a token, which is all `Method` asks.
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| httparse::Error::Token)?;
    let uri: Uri = target.parse().map_err(|_| HandshakeError::InvalidTarget)?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = http_version(version);
    copy_headers(parsed.headers, request.headers_mut())?;
    Ok(Decoded::Complete {
        value: request,
        len,
    })
}

/// The reason phrase of a response's status line (the `Switching Protocols` of
/// `HTTP/1.1 101 Switching Protocols`) as the server sent it, which [`parse_response`] keeps
/// in the response's [extensions](http::Response::extensions): an [`http::Response`] has no
/// place of its own for it, and servers may send any phrase, not only the standard one.
///
/// ```
/// use wsio_proto::Decoded;
/// use wsio_proto::handshake::{ReasonPhrase, parse_response};
///
/// let head = b"HTTP/1.1 101 Welcome Aboard\r\n\r\n";
/// let Decoded::Complete { value: response, .. } = parse_response(head)? else {
///     unreachable!()
/// };
/// let reason = response.extensions().get::<ReasonPhrase>().unwrap();
/// assert_eq!(reason.as_str(), "Welcome Aboard");
/// # Ok::<(), wsio_proto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonPhrase(String);

impl ReasonPhrase {
    /// The phrase, without the status code before it or the line end after it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses an HTTP/1.x response head from the start of `buf`.
///
/// Like [`parse_request`]: returns the response and the length of its head, or
/// [`Decoded::Incomplete`] with `needed: 1`. Bytes after the head (a body, or WebSocket
/// frames after a `101`) are not read. A non-empty reason phrase that is valid UTF-8 is kept
/// as a [`ReasonPhrase`] in the response's extensions.
///
/// ```
/// use wsio_proto::Decoded;
/// use wsio_proto::handshake::parse_response;
///
/// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
/// let Decoded::Complete { value: response, len } = parse_response(head)? else {
///     unreachable!()
/// };
/// assert_eq!((response.status().as_u16(), len), (101, head.len() - 2));
/// # Ok::<(), wsio_proto::handshake::HandshakeError>(())
/// ```
pub fn parse_response(buf: &[u8]) -> Result<Decoded<Response<()>>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = parsed.parse(buf)? else {
        return Ok(Decoded::Incomplete { needed: 1 });
    };
    let (Some(code), Some(version)) = (parsed.code, parsed.version) else {
        unreachable!("httparse fills in the status line of a complete head")
    };
    let status = StatusCode::from_u16(code).map_err(|_| httparse::Error::Status)?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = http_version(version);
    copy_headers(parsed.headers, response.headers_mut())?;
    if let Some(reason) = parsed.reason.filter(|reason| !reason.is_empty()) {
        response
            .extensions_mut()
            .insert(ReasonPhrase(reason.to_owned()));
    }
    Ok(Decoded::Complete {
        value: response,
        len,
    })
}

/// httparse's minor version of HTTP/1.x.
fn http_version(minor: u8) -> Version {
    if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

/// Copies parsed header lines into a map, in order. A name or value that `http` refuses is
/// reported as the matching httparse error.
fn copy_headers(
    parsed: &[httparse::Header<'_>],
    map: &mut HeaderMap,
) -> Result<(), HandshakeError> {
    map.reserve(parsed.len());
    for header in parsed {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| httparse::Error::HeaderName)?;
        let value =
            HeaderValue::from_bytes(header.value).map_err(|_| httparse::Error::HeaderValue)?;
        map.append(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete<T: std::fmt::Debug>(decoded: Decoded<T>) -> (T, usize) {
        match decoded {
            Decoded::Complete { value, len } => (value, len),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn the_reason_phrase_is_kept_as_sent() {
        let reason = |head: &[u8]| {
            let (response, _) = complete(parse_response(head).unwrap());
            response
                .extensions()
                .get::<ReasonPhrase>()
                .map(|r| r.as_str().to_owned())
        };
        assert_eq!(
            reason(b"HTTP/1.1 101 Go Ahead, Switch\r\n\r\n").as_deref(),
            Some("Go Ahead, Switch")
        );
        assert_eq!(reason(b"HTTP/1.1 101 \r\n\r\n"), None);
        assert_eq!(reason(b"HTTP/1.1 101\r\n\r\n"), None);
    }

    #[test]
    fn request_fields() {
        let head = b"GET /a/b?c=d HTTP/1.1\r\nHost: h\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\nrest";
        let (request, len) = complete(parse_request(head).unwrap());
        assert_eq!(len, head.len() - 4);
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path_and_query().unwrap().as_str(), "/a/b?c=d");
        assert_eq!(request.version(), Version::HTTP_11);
        let twice: Vec<_> = request.headers().get_all("x-twice").iter().collect();
        assert_eq!(twice, ["1", "2"]);

        let (request, _) = complete(parse_request(b"POST * HTTP/1.0\r\n\r\n").unwrap());
        assert_eq!(
            (request.method(), request.version()),
            (&Method::POST, Version::HTTP_10)
        );
    }

    #[test]
    fn response_fields() {
        let head = b"HTTP/1.0 404 Nope\r\nContent-Length: 3\r\n\r\nabc";
        let (response, len) = complete(parse_response(head).unwrap());
        assert_eq!(len, head.len() - 3);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.version(), Version::HTTP_10);
        assert_eq!(response.headers()["content-length"], "3");
    }

    #[test]
    fn incomplete_heads() {
        let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        for cut in 0..head.len() {
            assert!(matches!(
                parse_request(&head[..cut]),
                Ok(Decoded::Incomplete { needed: 1 })
            ));
        }
        let head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        for cut in 0..head.len() {
            assert!(matches!(
                parse_response(&head[..cut]),
                Ok(Decoded::Incomplete { needed: 1 })
            ));
        }
    }

    #[test]
    fn malformed_heads() {
        use HandshakeError::{InvalidTarget, Malformed};
        let cases: &[(&[u8], httparse::Error)] = &[
            (b"GET / HTTP/2.0\r\n\r\n", httparse::Error::Version),
            (b"GE(T / HTTP/1.1\r\n\r\n", httparse::Error::Token),
            (
                b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                httparse::Error::HeaderName,
            ),
            (
                b"GET / HTTP/1.1\r\nName: a\x01b\r\n\r\n",
                httparse::Error::HeaderValue,
            ),
        ];
        for (head, kind) in cases {
            assert!(
                matches!(parse_request(head), Err(Malformed(k)) if k == *kind),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        assert!(matches!(
            parse_response(b"HTTP/1.1 1O1 x\r\n\r\n"),
            Err(Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 099 x\r\n\r\n"),
            Err(Malformed(_))
        ));
        assert!(matches!(
            parse_request(b"GET http://[x/ HTTP/1.1\r\n\r\n"),
            Err(InvalidTarget)
        ));

        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"a: b\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_request(&many),
            Err(Malformed(httparse::Error::TooManyHeaders))
        ));
    }

    #[test]
    fn buffer_never_exceeds_its_limit() {
        let mut buffer = HeadBuffer::new(5);
        assert_eq!(buffer.fill(b"abc"), 3);
        assert!(!buffer.is_full());
        assert_eq!(buffer.fill(b"defg"), 2);
        assert!(buffer.is_full());
        assert_eq!(buffer.fill(b"h"), 0);
        assert_eq!(buffer.bytes(), b"abcde");
        assert_eq!(&buffer.leftover(3, b"fg")[..], b"defg");
        assert_eq!(buffer.limit(), 5);
    }
}
