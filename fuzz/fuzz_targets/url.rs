//! `parse_url`: only documented errors; an accepted URL is usable (its `Host` header and
//! resource build a handshake) and its normalized form parses back to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_proto::handshake::ClientHandshake;
use wsio_proto::{UrlError, parse_url};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_url(input) {
        Ok(url) => {
            assert!(url.resource().starts_with('/'), "resource of {input:?}");
            if url.unix_socket().is_none() {
                assert!(!url.host().is_empty(), "empty host from {input:?}");
                assert_ne!(url.port(), 0, "port 0 from {input:?}");
            }
            http::HeaderValue::from_str(&url.host_header()).expect("Host header is valid");
            // Panics if the URL's host or resource cannot be sent.
            let _ = ClientHandshake::new(&url);
            let normalized = url.to_string();
            let again = parse_url(&normalized)
                .unwrap_or_else(|e| panic!("{input:?} normalized to {normalized:?}: {e}"));
            assert_eq!(again, url, "{input:?} normalized to {normalized:?}");
        }
        Err(
            UrlError::MissingScheme
            | UrlError::UnsupportedScheme(_)
            | UrlError::MissingHost
            | UrlError::InvalidHost(_)
            | UrlError::InvalidPort(_)
            | UrlError::Fragment
            | UrlError::MissingSocketPath
            | UrlError::InvalidSyntax(_),
        ) => {}
        Err(other) => panic!("undocumented error {other:?}"),
    }
});
