//! Reading the header fields of the handshake: comma-separated lists and single values.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::HandshakeError;

/// The elements of a list-valued header (RFC 9110 section 5.6.1) across all of its lines:
/// split at commas, with surrounding whitespace trimmed and empty elements skipped.
pub(crate) fn list_items<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
}

/// Whether a list-valued header holds `token`, compared case-insensitively.
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list_items(headers, name).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

/// How many lines a header has, and the value of the first.
pub(crate) fn first_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> (usize, Option<&'a HeaderValue>) {
    let all = headers.get_all(name);
    (all.iter().count(), all.iter().next())
}

/// All lines of a header as text, joined with `", "` (RFC 9110 section 5.3); `None` if the
/// header is absent.
pub(crate) fn joined(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Option<String>, HandshakeError> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| invalid(name))?;
        match &mut out {
            Some(out) => {
                out.push_str(", ");
                out.push_str(text);
            }
            None => out = Some(text.to_owned()),
        }
    }
    Ok(out)
}

/// The elements of a list-valued header as text; [`HandshakeError::InvalidHeader`] if one
/// is not ASCII.
pub(crate) fn list_strings(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Vec<String>, HandshakeError> {
    list_items(headers, name)
        .map(|item| match std::str::from_utf8(item) {
            Ok(text) if text.is_ascii() => Ok(text.to_owned()),
            _ => Err(invalid(name)),
        })
        .collect()
}

/// [`HandshakeError::InvalidHeader`] naming `name`.
pub(crate) fn invalid(name: &HeaderName) -> HandshakeError {
    HandshakeError::InvalidHeader(name.as_str().into())
}

/// Whether `s` is an HTTP token (RFC 9110 section 5.6.2), which is what RFC 6455 section 4.1
/// requires of a subprotocol name.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONNECTION, SEC_WEBSOCKET_PROTOCOL};

    fn map(lines: &[(&HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn tokens_in_lists_across_lines() {
        let headers = map(&[(&CONNECTION, "keep-alive"), (&CONNECTION, " , UpGrade ,")]);
        assert!(has_token(&headers, &CONNECTION, "upgrade"));
        assert!(!has_token(&headers, &CONNECTION, "close"));
        assert!(!has_token(
            &map(&[(&CONNECTION, "upgrades")]),
            &CONNECTION,
            "upgrade"
        ));
        assert!(!has_token(&HeaderMap::new(), &CONNECTION, "upgrade"));
        let items: Vec<_> = list_items(&headers, &CONNECTION).collect();
        assert_eq!(items, [&b"keep-alive"[..], b"UpGrade"]);
    }

    #[test]
    fn joining_and_splitting() {
        let headers = map(&[
            (&SEC_WEBSOCKET_PROTOCOL, "a, b"),
            (&SEC_WEBSOCKET_PROTOCOL, "c"),
        ]);
        assert_eq!(
            joined(&headers, &SEC_WEBSOCKET_PROTOCOL)
                .unwrap()
                .as_deref(),
            Some("a, b, c")
        );
        assert_eq!(
            list_strings(&headers, &SEC_WEBSOCKET_PROTOCOL).unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(
            joined(&HeaderMap::new(), &SEC_WEBSOCKET_PROTOCOL).unwrap(),
            None
        );
        assert_eq!(first_value(&headers, &SEC_WEBSOCKET_PROTOCOL).0, 2);

        let mut headers = HeaderMap::new();
        headers.insert(
            &SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_bytes(b"caf\xE9").unwrap(),
        );
        assert!(matches!(
            joined(&headers, &SEC_WEBSOCKET_PROTOCOL),
            Err(HandshakeError::InvalidHeader(name)) if &*name == "sec-websocket-protocol"
        ));
        assert!(list_strings(&headers, &SEC_WEBSOCKET_PROTOCOL).is_err());
    }

    #[test]
    fn token_syntax() {
        for ok in ["chat", "v1.json.api", "a!#$%&'*+-.^_`|~9"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in ["", "a b", "a,b", "a;b", "\"a\"", "é", "a/b", "(a)"] {
            assert!(!is_token(bad), "{bad}");
        }
    }
}
