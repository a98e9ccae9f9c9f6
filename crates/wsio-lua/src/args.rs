//! What the module's functions share in reading their arguments: errors in the module's own
//! words, the options that take a string or a list of strings, and PEM files' problems.

use mlua::Value;

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

/// A problem with a PEM file named in the options (or with what it holds), as a Lua error in
/// the words of wsio's, which name the file.
pub(crate) fn pem_error(problem: &wsio::Error) -> mlua::Error {
    match problem {
        wsio::Error::Io(why) => error(why),
        other => error(other),
    }
}
