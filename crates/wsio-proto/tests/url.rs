//! URL parsing, through the public API.

use wsio_proto::handshake::ClientHandshake;
use wsio_proto::{UrlError, parse_url};

/// Found by fuzzing (`url`): a `ws+unix` resource that did not start with `/` (the asterisk
/// form `*`) was accepted, and `ClientHandshake::new` then panicked on it, since a request
/// line needs a path.
#[test]
fn unix_socket_resource_must_start_with_a_slash() {
    for input in [
        "ws+unix://s:chat",
        "ws+unix://s:*",
        "ws+unix:///run/a.sock:x/y?z",
    ] {
        assert!(
            matches!(parse_url(input), Err(UrlError::InvalidSyntax(_))),
            "{input}: {:?}",
            parse_url(input)
        );
    }
    for (input, resource) in [
        ("ws+unix://s", "/"),
        ("ws+unix://s:", "/"),
        ("ws+unix://s:/chat", "/chat"),
        ("ws+unix://s:?room=1", "/?room=1"),
    ] {
        let url = parse_url(input).unwrap();
        assert_eq!(url.resource(), resource, "{input}");
        let handshake = ClientHandshake::new(&url);
        assert_eq!(handshake.request().uri(), resource, "{input}");
    }
}
