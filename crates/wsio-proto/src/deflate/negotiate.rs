//! Offers, answers and their checks (RFC 7692 sections 5 and 7.1).

use super::{DeflateConfig, DeflateParams, NAME};
use crate::extension::Item;
use crate::handshake::HandshakeError;

/// The parameters of one offer or answer, read and checked for form.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: named without a value, which only an offer may do (section 7.1.2.2).
    client_max_window_bits: Option<Option<u8>>,
}

/// What is wrong with an offer or answer.
enum Problem {
    /// A parameter RFC 7692 does not define.
    Unknown(String),
    /// A parameter given twice, or with a value it may not have.
    Malformed(String),
}

impl Problem {
    fn describe(self) -> String {
        match self {
            Problem::Unknown(name) => format!("{NAME}: unknown parameter `{name}`"),
            Problem::Malformed(why) => format!("{NAME}: {why}"),
        }
    }
}

/// Reads the parameters of an offer (`offer`) or of an answer.
fn read(item: &Item, offer: bool) -> Result<Params, Problem> {
    let mut params = Params::default();
    for (i, (name, value)) in item.params.iter().enumerate() {
        if item.params[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Problem::Malformed(format!("`{name}` given twice")));
        }
        match (name.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
            ("server_max_window_bits", Some(value)) => {
                params.server_max_window_bits = Some(window_bits(name, value)?);
            }
            ("client_max_window_bits", Some(value)) => {
                params.client_max_window_bits = Some(Some(window_bits(name, value)?));
            }
            ("client_max_window_bits", None) if offer => params.client_max_window_bits = Some(None),
            (
                "server_no_context_takeover"
                | "client_no_context_takeover"
                | "server_max_window_bits"
                | "client_max_window_bits",
                _,
            ) => {
                let what = if value.is_some() { "with" } else { "without" };
                return Err(Problem::Malformed(format!("`{name}` {what} a value")));
            }
            _ => return Err(Problem::Unknown(name.clone())),
        }
    }
    Ok(params)
}

/// A window size: a decimal integer from 8 to 15 without leading zeros (section 7.1.2).
fn window_bits(name: &str, value: &str) -> Result<u8, Problem> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => {
            Ok(value.parse().expect("one of the listed numbers"))
        }
        _ => Err(Problem::Malformed(format!(
            "`{name}={value}` is not a window size from 8 to 15"
        ))),
    }
}

/// The client's `Sec-WebSocket-Extensions` offer: its settings, and unless they already say
/// so, the same again with `client_no_context_takeover`.
pub(crate) fn client_offer(config: &DeflateConfig) -> String {
    let mut base = String::from(NAME);
    if config.server_no_context_takeover {
        base.push_str("; server_no_context_takeover");
    }
    if config.server_bits() < 15 {
        base.push_str(&format!(
            "; server_max_window_bits={}",
            config.server_bits()
        ));
    }
    // Always named, so that the server may limit the client's window (section 7.1.2.2).
    let client_bits = match config.client_bits() {
        15 => "; client_max_window_bits".to_owned(),
        bits => format!("; client_max_window_bits={bits}"),
    };
    let without_takeover = format!("{base}; client_no_context_takeover{client_bits}");
    if config.client_no_context_takeover {
        without_takeover
    } else {
        format!("{base}{client_bits}, {without_takeover}")
    }
}

/// Checks the server's answer against the client's offers; the agreed parameters, or
/// [`HandshakeError::UnacceptableExtensions`] (RFC 7692 section 5.2 and 7.1).
pub(crate) fn client_accept(
    config: &DeflateConfig,
    answer: &Item,
) -> Result<DeflateParams, HandshakeError> {
    let refuse = |why: String| HandshakeError::UnacceptableExtensions(why.into());
    let params = read(answer, false).map_err(|problem| refuse(problem.describe()))?;
    if config.server_no_context_takeover && !params.server_no_context_takeover {
        return Err(refuse(format!(
            "{NAME}: server_no_context_takeover was asked for, not agreed"
        )));
    }
    let server_bits = match params.server_max_window_bits {
        Some(bits) if bits > config.server_bits() => {
            return Err(refuse(format!(
                "{NAME}: server_max_window_bits={bits} is more than the {} offered",
                config.server_bits()
            )));
        }
        Some(bits) => bits,
        None if config.server_bits() < 15 => {
            return Err(refuse(format!(
                "{NAME}: server_max_window_bits was asked for, not agreed"
            )));
        }
        None => 15,
    };
    let client_bits = match params.client_max_window_bits.flatten() {
        Some(bits) if bits > config.client_bits() => {
            return Err(refuse(format!(
                "{NAME}: client_max_window_bits={bits} is more than the {} offered",
                config.client_bits()
            )));
        }
        Some(bits) => bits,
        None => config.client_bits(),
    };
    Ok(DeflateParams {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        answer_server_bits: params.server_max_window_bits.is_some(),
        answer_client_bits: params.client_max_window_bits.is_some(),
    })
}

/// The server's choice among the client's permessage-deflate offers: the first it can honour.
///
/// Section 5.1 says which offers a server must decline, and they are: an offer with a
/// parameter RFC 7692 does not define, a repeated parameter or an invalid value, and an offer
/// without `client_max_window_bits` when the server requires a smaller client window. Declining
/// every offer is not an error: the connection goes on without compression.
pub(crate) fn server_select<'a>(
    config: &DeflateConfig,
    offers: impl Iterator<Item = &'a Item>,
) -> Option<DeflateParams> {
    for offer in offers {
        let Ok(params) = read(offer, true) else {
            continue;
        };
        let client_bits = match params.client_max_window_bits {
            None if config.client_bits() < 15 => continue,
            None => 15,
            Some(None) => config.client_bits(),
            Some(Some(bits)) => bits.min(config.client_bits()),
        };
        let server_bits = params
            .server_max_window_bits
            .map_or(config.server_bits(), |bits| bits.min(config.server_bits()));
        return Some(DeflateParams {
            server_no_context_takeover: params.server_no_context_takeover
                || config.server_no_context_takeover,
            // A client that offers it promises it; saying so lets this end free its
            // decompressor between messages.
            client_no_context_takeover: params.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            answer_server_bits: params.server_max_window_bits.is_some(),
            answer_client_bits: matches!(params.client_max_window_bits, Some(Some(_))),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::parse;

    fn select(config: &DeflateConfig, header: &str) -> Option<String> {
        let items = parse(header).unwrap();
        let offers = items.iter().filter(|item| item.name == NAME);
        server_select(config, offers).map(|params| params.to_string())
    }

    fn accept(config: &DeflateConfig, answer: &str) -> Result<DeflateParams, HandshakeError> {
        client_accept(config, &parse(answer).unwrap()[0])
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
            answer_server_bits: sbits < 15,
            answer_client_bits: cbits < 15,
        }
    }

    #[test]
    fn client_offers() {
        let default = DeflateConfig::default();
        assert_eq!(
            client_offer(&default),
            "permessage-deflate; client_max_window_bits, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits"
        );
        let all = DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(8)
            .client_max_window_bits(10);
        assert_eq!(
            client_offer(&all),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
             client_no_context_takeover; client_max_window_bits=10"
        );
        // Out-of-range settings are taken as the nearest valid size.
        let clamped = DeflateConfig::default()
            .server_max_window_bits(3)
            .client_max_window_bits(99);
        assert!(
            client_offer(&clamped).starts_with(
                "permessage-deflate; server_max_window_bits=8; client_max_window_bits, "
            )
        );
    }

    #[test]
    fn server_takes_the_first_offer_it_can_honour() {
        let default = DeflateConfig::default();
        assert_eq!(
            select(&default, "permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(select(&default, "x-other"), None);
        assert_eq!(
            select(
                &default,
                "permessage-deflate; x=1, permessage-deflate; server_max_window_bits=8; \
                 client_max_window_bits=9, permessage-deflate"
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=9")
        );
        // A client's request for 15 is answered, so that it knows it was heard.
        assert_eq!(
            select(&default, "permessage-deflate; server_max_window_bits=15").as_deref(),
            Some("permessage-deflate; server_max_window_bits=15")
        );
        // The client's promise not to take over context is accepted.
        assert_eq!(
            select(
                &default,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
    }

    #[test]
    fn server_policy_applies() {
        let strict = DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(10)
            .client_max_window_bits(12);
        // Without client_max_window_bits the client's window cannot be limited: declined.
        assert_eq!(select(&strict, "permessage-deflate"), None);
        assert_eq!(
            select(
                &strict,
                "permessage-deflate; client_max_window_bits; server_max_window_bits=14"
            )
            .as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=12"
            )
        );
        assert_eq!(
            select(&strict, "permessage-deflate; client_max_window_bits=9").as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=9"
            )
        );
    }

    #[test]
    fn server_declines_malformed_offers() {
        // RFC 7692 section 5.1: a repeated parameter or an invalid value makes the server
        // decline that offer; the connection goes on without it, or with a later offer.
        let default = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
        ] {
            assert_eq!(select(&default, bad), None, "{bad}");
            let then_good = format!("{bad}, permessage-deflate; server_no_context_takeover");
            assert_eq!(
                select(&default, &then_good).as_deref(),
                Some("permessage-deflate; server_no_context_takeover"),
                "{then_good}"
            );
        }
        // A malformed offer after an acceptable one is not looked at.
        assert!(
            select(
                &default,
                "permessage-deflate, permessage-deflate; server_max_window_bits=1"
            )
            .is_some()
        );
    }

    #[test]
    fn client_checks_answers() {
        let default = DeflateConfig::default();
        assert_eq!(
            accept(&default, "permessage-deflate").unwrap(),
            params(false, false, 15, 15)
        );
        assert_eq!(
            accept(
                &default,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8; client_max_window_bits=8"
            )
            .unwrap(),
            params(true, true, 8, 8)
        );
        let asking = DeflateConfig::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(10)
            .client_max_window_bits(11)
            .client_no_context_takeover(true);
        let mut expected = params(true, true, 9, 11);
        // The client's own limit, which the answer does not name.
        expected.answer_client_bits = false;
        assert_eq!(
            accept(
                &asking,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
            )
            .unwrap(),
            expected
        );
        for bad in [
            // Not what was asked for.
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=12",
            // Malformed.
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover; \
             server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; x",
        ] {
            let error = accept(&asking, bad).unwrap_err();
            assert!(
                matches!(error, HandshakeError::UnacceptableExtensions(_)),
                "{bad}: {error:?}"
            );
            assert_eq!(error.status(), 502);
        }
    }
}
