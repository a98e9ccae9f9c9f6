//! What the module's functions share in reading their arguments: errors in the module's own
//! words, and the options that take a string or a list of strings.

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
