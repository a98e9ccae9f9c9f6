//! [`HandshakeError`]: every way an opening handshake can fail, in either role; and
//! [`BuildError`]: what a caller gave a request builder that a handshake cannot carry.

use bytes::Bytes;
use http::header::{ALLOW, HeaderValue, SEC_WEBSOCKET_VERSION};
use http::{Response, StatusCode};

use super::server::reject;

/// Why an opening handshake failed.
///
/// A server answers a failure with [`response`](Self::response), whose status is
/// [`status`](Self::status): 400 for a request that breaks RFC 6455 section 4.2.1 (or RFC 8441
/// section 4 over HTTP/2), 405 for the wrong method, 426 for a protocol version other than 13,
/// and 431 for a head over the size limit.
///
/// The variants a client meets when checking a response (RFC 6455 section 4.1) have status 502
/// Bad Gateway, which is what a gateway relaying the handshake would answer; the variants both
/// roles share keep their server-side status. [`AlreadyFinished`](Self::AlreadyFinished) is the
/// calling program's mistake, not the peer's, and has status 500.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    // --- Reading a head, either role.
    /// The head did not end within `limit` bytes. Status 431.
    #[error("the HTTP head is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The size limit in bytes.
        limit: usize,
    },
    /// The head is not valid HTTP/1.x; holds httparse's description. Status 400, or 431 for
    /// [`httparse::Error::TooManyHeaders`].
    #[error("malformed HTTP head: {0}")]
    Malformed(#[from] httparse::Error),
    /// The request target is not a valid URI. Status 400.
    #[error("invalid request target")]
    InvalidTarget,

    // --- Checking a request (server), RFC 6455 section 4.2.1.
    /// The method is not GET (item 1). Status 405, and the response says `Allow: GET`.
    #[error("the method of a WebSocket handshake must be GET")]
    NotGet,
    /// An HTTP/2 request for a WebSocket does not use the CONNECT method (RFC 8441 section 4).
    /// Status 405, and the response says `Allow: CONNECT`.
    #[error("a WebSocket over HTTP/2 is opened with an extended CONNECT")]
    NotConnect,
    /// An extended CONNECT whose `:protocol` is missing or is not `websocket` (RFC 8441
    /// section 4): a plain CONNECT asks for a tunnel, not a WebSocket. Status 400.
    #[error("the CONNECT request's :protocol is not websocket")]
    MissingProtocol,
    /// The request is older than HTTP/1.1 (item 1). Status 400.
    #[error("a WebSocket handshake needs HTTP/1.1 or later")]
    UnsupportedHttpVersion,
    /// There is no `Host` header (item 2). Status 400.
    #[error("missing Host header")]
    MissingHost,
    /// There is more than one `Host` header (RFC 9112 section 3.2). Status 400.
    #[error("more than one Host header")]
    DuplicateHost,
    /// The `Upgrade` header is missing or does not name `websocket`: in a request it must hold
    /// the token (item 3), in a response it must be exactly that (section 4.1). Status 400.
    #[error("the Upgrade header does not name websocket")]
    MissingUpgrade,
    /// The `Connection` header is missing or lacks the token `upgrade` (item 4; section 4.1 for
    /// a response). Status 400.
    #[error("the Connection header does not include upgrade")]
    MissingConnectionUpgrade,
    /// There is no `Sec-WebSocket-Key` header (item 5). Status 400.
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    /// There is more than one `Sec-WebSocket-Key` header (section 11.3.1). Status 400.
    #[error("more than one Sec-WebSocket-Key header")]
    DuplicateKey,
    /// The `Sec-WebSocket-Key` is not base64 of exactly 16 bytes (item 5). Status 400.
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    InvalidKey,
    /// There is no `Sec-WebSocket-Version` header (item 6). Status 426, since the clients that
    /// send none speak a draft of the protocol older than version 13.
    #[error("missing Sec-WebSocket-Version header; this server speaks version 13")]
    MissingVersion,
    /// The `Sec-WebSocket-Version` is not 13 (item 6). Status 426, and the response names the
    /// version this side speaks (section 4.2.2).
    #[error("unsupported Sec-WebSocket-Version; this server speaks version 13")]
    UnsupportedVersion,
    /// A header the handshake reads has a value that is not text. Holds the header's name.
    /// Status 400.
    #[error("invalid {0} header")]
    InvalidHeader(Box<str>),
    /// The request's `Sec-WebSocket-Extensions` does not follow the grammar of RFC 6455
    /// section 9.1, or an offer of an extension this server negotiates repeats a parameter or
    /// gives one an invalid value. Says what is wrong. Status 400.
    #[error("malformed Sec-WebSocket-Extensions: {0}")]
    MalformedExtensions(Box<str>),

    // --- Checking a response (client), RFC 6455 section 4.1.
    /// The server answered with a status other than 101. Holds its status, headers and as much
    /// of its body as arrived (see [`ClientHandshake::receive`](super::ClientHandshake::receive)).
    /// Status 502.
    #[error("the server refused the WebSocket upgrade with status {}", .0.status())]
    Rejected(Box<Response<Bytes>>),
    /// The response has no `Sec-WebSocket-Accept` header. Status 502.
    #[error("missing Sec-WebSocket-Accept header")]
    MissingAccept,
    /// The `Sec-WebSocket-Accept` does not answer the key that was sent, or appears more than
    /// once. Status 502.
    #[error("Sec-WebSocket-Accept does not match the key")]
    AcceptMismatch,
    /// The server chose a subprotocol that was not offered, or several. Holds what it sent.
    /// Status 502.
    #[error("the server chose subprotocol `{0}`, which was not offered")]
    UnexpectedProtocol(Box<str>),
    /// The server answered with `Sec-WebSocket-Extensions` although none were offered.
    /// Status 502.
    #[error("the server chose extensions, but none were offered")]
    UnexpectedExtensions,
    /// The server's `Sec-WebSocket-Extensions` answer to the client's offer is malformed, names
    /// an extension that was not offered, or agrees to parameters that fit no offer (RFC 7692
    /// section 5.2). Says what is wrong. Status 502.
    #[error("unacceptable Sec-WebSocket-Extensions answer: {0}")]
    UnacceptableExtensions(Box<str>),

    // --- Misuse, either role.
    /// [`ClientHandshake::receive`](super::ClientHandshake::receive) or
    /// [`ServerHandshake::receive`](super::ServerHandshake::receive) was called again after it
    /// had returned a result or an error. The handshake reads nothing more; its outcome is the
    /// one already returned. Status 500: the program driving the handshake is at fault, not the
    /// peer.
    #[error("the handshake has already finished")]
    AlreadyFinished,
}

impl HandshakeError {
    /// The status a server answers this error with. See [`HandshakeError`].
    pub fn status(&self) -> StatusCode {
        use HandshakeError::*;
        match self {
            TooLarge { .. } | Malformed(httparse::Error::TooManyHeaders) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            MissingVersion | UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            NotGet | NotConnect => StatusCode::METHOD_NOT_ALLOWED,
            AlreadyFinished => StatusCode::INTERNAL_SERVER_ERROR,
            Rejected(_)
            | MissingAccept
            | AcceptMismatch
            | UnexpectedProtocol(_)
            | UnexpectedExtensions
            | UnacceptableExtensions(_) => StatusCode::BAD_GATEWAY,
            Malformed(_)
            | InvalidTarget
            | MissingProtocol
            | UnsupportedHttpVersion
            | MissingHost
            | DuplicateHost
            | MissingUpgrade
            | MissingConnectionUpgrade
            | MissingKey
            | DuplicateKey
            | InvalidKey
            | InvalidHeader(_)
            | MalformedExtensions(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The response that refuses the handshake: [`status`](Self::status), a one-line
    /// plain-text body saying what was wrong, `Content-Length`, `Connection: close`, for 426
    /// the `Sec-WebSocket-Version: 13` that RFC 6455 section 4.2.2 asks for, and for 405 the
    /// `Allow` that RFC 9110 section 15.5.6 asks for.
    ///
    /// Encode it with [`encode_response`](super::encode_response), then close the connection.
    ///
    /// ```
    /// use wsio_proto::handshake::HandshakeError;
    ///
    /// let response = HandshakeError::UnsupportedVersion.response();
    /// assert_eq!(response.status(), 426);
    /// assert_eq!(response.headers()["sec-websocket-version"], "13");
    /// assert_eq!(response.headers()["connection"], "close");
    /// ```
    pub fn response(&self) -> Response<Bytes> {
        let mut response = reject(self.status(), format!("{self}\n"));
        let headers = response.headers_mut();
        match self {
            Self::MissingVersion | Self::UnsupportedVersion => {
                headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Self::NotGet => {
                headers.insert(ALLOW, HeaderValue::from_static("GET"));
            }
            Self::NotConnect => {
                headers.insert(ALLOW, HeaderValue::from_static("CONNECT"));
            }
            _ => {}
        }
        response
    }
}

/// A value a caller gave a request builder ([`ClientHandshake`](super::ClientHandshake),
/// [`build_request`](super::build_request)) that a handshake cannot carry. It is the caller's
/// mistake, found before anything is sent: no peer is involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A header name or value that HTTP does not allow. Holds the header's name.
    #[error("invalid {0} header")]
    InvalidHeader(Box<str>),
    /// A subprotocol that is not an HTTP token, or that is given twice (RFC 6455 section 4.1,
    /// client step 10). Holds the subprotocol.
    #[error("invalid or repeated subprotocol `{0}`")]
    InvalidSubprotocol(Box<str>),
    /// A resource that is not a path and query.
    #[error("invalid resource: not a path and query")]
    InvalidTarget,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small() {
        assert!(
            size_of::<HandshakeError>() <= 24,
            "{}",
            size_of::<HandshakeError>()
        );
        assert!(size_of::<Result<(), HandshakeError>>() <= 24);
    }

    #[test]
    fn responses_say_what_was_wrong() {
        let response = HandshakeError::MissingKey.response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(&response.body()[..], b"missing Sec-WebSocket-Key header\n");
        assert_eq!(
            response.headers()["content-length"],
            response.body().len().to_string()
        );
        assert_eq!(response.headers()["connection"], "close");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert!(!response.headers().contains_key(SEC_WEBSOCKET_VERSION));

        let response = HandshakeError::TooLarge { limit: 8192 }.response();
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert!(
            std::str::from_utf8(response.body())
                .unwrap()
                .contains("8192")
        );

        let response = HandshakeError::MissingVersion.response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
    }

    #[test]
    fn statuses() {
        use HandshakeError::*;
        let too_many = Malformed(httparse::Error::TooManyHeaders);
        assert_eq!(too_many.status(), 431);
        assert_eq!(Malformed(httparse::Error::Token).status(), 400);
        assert_eq!(NotGet.status(), 405);
        assert_eq!(NotGet.response().headers()["allow"], "GET");
        assert_eq!(NotConnect.response().headers()["allow"], "CONNECT");
        assert_eq!(MissingProtocol.status(), 400);
        assert_eq!(UnsupportedVersion.status(), 426);
        assert_eq!(AcceptMismatch.status(), 502);
        assert_eq!(AlreadyFinished.status(), 500);
        let rejected = Rejected(Box::new(Response::new(Bytes::new())));
        assert_eq!(rejected.status(), 502);
        assert_eq!(
            rejected.to_string(),
            "the server refused the WebSocket upgrade with status 200 OK"
        );
    }
}
