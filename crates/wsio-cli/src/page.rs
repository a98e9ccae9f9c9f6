//! The chat page `wsio serve` gives browsers at `/`: HTML, CSS and JavaScript built into the
//! binary, nothing fetched from elsewhere.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};

const INDEX: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/chat.css");
const SCRIPT: &str = include_str!("page/chat.js");

/// Answers a plain HTTP request: the page and its two files for GET and HEAD, 404 for any
/// other path, 405 for any other method.
pub fn respond(request: &Request<()>) -> Response<Bytes> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    let (body, content_type) = match request.uri().path() {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/chat.css" => (STYLE, "text/css; charset=utf-8"),
        "/chat.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; connect-src 'self' ws: wss:"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: Method, path: &str) -> Response<Bytes> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        respond(&request)
    }

    #[test]
    fn the_page_and_its_files_are_served_and_nothing_else() {
        let page = get(Method::GET, "/");
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            std::str::from_utf8(page.body())
                .unwrap()
                .contains("chat.js")
        );
        assert_eq!(
            get(Method::GET, "/chat.js").headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(get(Method::HEAD, "/chat.css").status(), StatusCode::OK);
        assert_eq!(
            get(Method::GET, "/etc/passwd").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(Method::POST, "/").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
