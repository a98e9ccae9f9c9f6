//! What the module's functions share in reading their arguments: errors in the module's own
//! words, the options that take a string or a list of strings, and the PEM files of a
//! certificate and its key.

use mlua::{Table, Value};
use wsio::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A Lua error whose message is `wsio: ` and `message`.
pub(crate) fn error(message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("wsio: {message}"))
}

/// The strings of `value`, a string or a list of strings (none for `nil`); `what` names it in
/// the error for anything else (`options.protocols`).
pub(crate) fn strings(value: Value, what: &str) -> mlua::Result<Vec<String>> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text.to_str()?.to_owned()]),
        Value::Table(list) => list.sequence_values().collect(),
        _ => Err(error(format!("{what} is a string or a list of strings"))),
    }
}

/// Subprotocol names as eco.websocket takes them: a string of names joined by commas, or a
/// list of such strings; each name trimmed. `what` names the value in the error.
pub(crate) fn eco_protocols(value: Value, what: &str) -> mlua::Result<Vec<String>> {
    Ok(strings(value, what)?
        .iter()
        .flat_map(|names| names.split(','))
        .map(|name| name.trim().to_owned())
        .collect())
}

/// The certificate chain and private key in the PEM files that `table.certificate` and
/// `table.key` name, if it names them; they go together. A Lua error names a file that
/// cannot be read or holds nothing of the kind.
pub(crate) fn certificate_and_key(
    table: &Table,
) -> mlua::Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    match (
        table.get::<Option<String>>("certificate")?,
        table.get::<Option<String>>("key")?,
    ) {
        (Some(certificate), Some(key)) => {
            let chain = wsio::pem::certificates(&certificate).map_err(|e| pem_error(&e))?;
            let key = wsio::pem::private_key(&key).map_err(|e| pem_error(&e))?;
            Ok(Some((chain, key)))
        }
        (None, None) => Ok(None),
        _ => Err(error(
            "certificate and key go together: give both or neither",
        )),
    }
}

/// A problem with a PEM file named in the options (or with what it holds), as a Lua error in
/// the words of wsio's, which name the file.
pub(crate) fn pem_error(problem: &wsio::Error) -> mlua::Error {
    match problem {
        wsio::Error::Io(why) => error(why),
        other => error(other),
    }
}
