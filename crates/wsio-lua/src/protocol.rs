//! The stateless protocol helpers of the `websocket` plugin: `encode_frame`, `decode_frame`,
//! `build_handshake_request`, `validate_handshake_response`, `generate_key`,
//! `encode_close_frame` and `parse_close_frame` (also as `encode_close` and `parse_close`), and
//! `parse_url` (also as coro-websocket's `parseUrl`), on wsio's protocol core.
//!
//! Helpers that parse what they are given return `nil` and a message when it is wrong; those
//! that build return their result, and raise an error for arguments that cannot be built.

use bytes::Bytes;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};
use wsio::proto::handshake::{self, HandshakeError};
use wsio::proto::{CloseCode, Decoded, Frame, OpCode};

use crate::args::{error, strings};
use crate::methods::Methods;

/// Adds the helpers to the module table.
pub(crate) fn register(lua: &Lua, methods: &Methods, module: &Table) -> mlua::Result<()> {
    let add = |names: &[&str], function: mlua::Function| -> mlua::Result<()> {
        let function = methods.plain(function)?;
        for name in names {
            module.set(*name, &function)?;
        }
        Ok(())
    };
    add(&["encode_frame"], lua.create_function(encode_frame)?)?;
    add(&["decode_frame"], lua.create_function(decode_frame)?)?;
    add(
        &["build_handshake_request"],
        lua.create_function(build_handshake_request)?,
    )?;
    add(
        &["validate_handshake_response"],
        lua.create_function(validate_handshake_response)?,
    )?;
    add(
        &["generate_key"],
        lua.create_function(|_, ()| Ok(handshake::generate_key()))?,
    )?;
    add(
        &["encode_close_frame", "encode_close"],
        lua.create_function(encode_close_frame)?,
    )?;
    add(
        &["parse_close_frame", "parse_close"],
        lua.create_function(parse_close_frame)?,
    )?;
    add(&["parse_url", "parseUrl"], lua.create_function(parse_url)?)?;
    Ok(())
}

/// An opcode from its number.
pub(crate) fn opcode(number: i64) -> mlua::Result<OpCode> {
    u8::try_from(number)
        .ok()
        .and_then(|number| OpCode::try_from(number).ok())
        .ok_or_else(|| error(format!("{number} is not an opcode of RFC 6455")))
}

/// `encode_frame(opcode, [payload], [masked], [fin])`: a frame's bytes; masked (as a client
/// must) with a random key when `masked` is true, final unless `fin` is false.
fn encode_frame(
    lua: &Lua,
    (code, payload, masked, fin): (i64, Option<mlua::String>, Option<bool>, Option<bool>),
) -> mlua::Result<mlua::String> {
    let opcode = opcode(code)?;
    let payload = payload.map_or_else(Bytes::new, |payload| {
        Bytes::copy_from_slice(&payload.as_bytes())
    });
    if opcode.is_control() && payload.len() > wsio::proto::MAX_CONTROL_PAYLOAD {
        return Err(error("a control frame's payload is at most 125 bytes"));
    }
    let frame = Frame::new(fin.unwrap_or(true), opcode, payload);
    let mask = masked.unwrap_or(false).then(wsio::proto::random_mask);
    let bytes = wsio::proto::encode_frame(&frame, mask);
    lua.create_string(&bytes)
}

/// `decode_frame(bytes)`: the first frame of `bytes` as a table (`fin`, `rsv1`-`rsv3`,
/// `opcode`, `masked`, `mask`, `len`, `payload` unmasked, and `size`, the bytes it took); or
/// `nil` and why (too short: how many more bytes it needs; not a valid frame).
fn decode_frame(lua: &Lua, bytes: mlua::String) -> mlua::Result<MultiValue> {
    let bytes = bytes.as_bytes();
    match wsio::proto::decode_frame(&bytes) {
        Ok(Decoded::Complete { value, len }) => {
            let table = frame_table(lua, &value.frame)?;
            table.set("masked", value.mask.is_some())?;
            if let Some(mask) = value.mask {
                table.set("mask", lua.create_string(mask)?)?;
            }
            table.set("size", len)?;
            table.into_lua_multi(lua)
        }
        Ok(Decoded::Incomplete { needed }) => (
            Value::Nil,
            format!("incomplete frame: at least {needed} more bytes needed"),
        )
            .into_lua_multi(lua),
        Err(problem) => (Value::Nil, problem.to_string()).into_lua_multi(lua),
    }
}

/// A frame as a table: `fin`, `rsv1`-`rsv3`, `opcode`, `len` and `payload`.
pub(crate) fn frame_table(lua: &Lua, frame: &Frame) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("fin", frame.fin)?;
    table.set("rsv1", frame.rsv1)?;
    table.set("rsv2", frame.rsv2)?;
    table.set("rsv3", frame.rsv3)?;
    table.set("opcode", frame.opcode.as_u8())?;
    table.set("len", frame.payload.len())?;
    table.set("payload", lua.create_string(&frame.payload)?)?;
    Ok(table)
}

/// `build_handshake_request(host, path, key, [options])`: the HTTP/1.1 upgrade request, with
/// `options.protocols` (a string or a list), `options.origin` and `options.headers` (name to
/// value) added.
fn build_handshake_request(
    lua: &Lua,
    (host, path, key, options): (String, Option<String>, String, Option<Table>),
) -> mlua::Result<mlua::String> {
    let path = path.unwrap_or_else(|| "/".to_owned());
    let mut request = handshake::build_request(&host, &path, &key).map_err(error)?;
    if let Some(options) = options {
        let headers = request.headers_mut();
        let mut add = |name: &str, value: &str| -> mlua::Result<()> {
            let name = http_name(name)?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| error(format!("not a valid value for header {name}: {value:?}")))?;
            headers.append(name, value);
            Ok(())
        };
        let protocols = strings(options.get("protocols")?, "options.protocols")?;
        if !protocols.is_empty() {
            add("sec-websocket-protocol", &protocols.join(", "))?;
        }
        if let Some(origin) = options.get::<Option<String>>("origin")? {
            add("origin", &origin)?;
        }
        if let Some(extra) = options.get::<Option<Table>>("headers")? {
            for pair in extra.pairs::<String, String>() {
                let (name, value) = pair?;
                add(&name, &value)?;
            }
        }
    }
    lua.create_string(handshake::encode_request(&request))
}

/// A header name, checked.
fn http_name(name: &str) -> mlua::Result<http::HeaderName> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| error(format!("not a valid header name: {name:?}")))
}

/// `validate_handshake_response(response, key, [protocols])`: `true` and the subprotocol the
/// server chose (if any) when `response`, the server's whole response head, accepts the
/// request that sent `key` (and offered `protocols`, a string or a list); else `false` and
/// why.
fn validate_handshake_response(
    lua: &Lua,
    (response, key, protocols): (mlua::String, String, Value),
) -> mlua::Result<MultiValue> {
    let offered = strings(protocols, "protocols")?;
    let head = match handshake::parse_response(&response.as_bytes()) {
        Ok(Decoded::Complete { value, .. }) => value,
        Ok(Decoded::Incomplete { .. }) => {
            return (false, "the response head is incomplete").into_lua_multi(lua);
        }
        Err(problem) => return (false, problem.to_string()).into_lua_multi(lua),
    };
    match handshake::validate_response(&head, &key, &offered) {
        Ok(chosen) => (true, chosen).into_lua_multi(lua),
        Err(HandshakeError::Rejected(refusal)) => (
            false,
            format!("the server answered {} instead of 101", refusal.status()),
        )
            .into_lua_multi(lua),
        Err(problem) => (false, problem.to_string()).into_lua_multi(lua),
    }
}

/// `encode_close_frame(code, [reason])`: a close frame's payload, the code in two bytes
/// (big-endian) and the reason. Raises an error for a code that may not be sent or a reason
/// over 123 bytes.
fn encode_close_frame(
    lua: &Lua,
    (code, reason): (u16, Option<String>),
) -> mlua::Result<mlua::String> {
    let reason = reason.unwrap_or_default();
    let payload =
        wsio::proto::encode_close_payload(CloseCode::from(code), &reason).map_err(error)?;
    lua.create_string(&payload)
}

/// `parse_close_frame(payload)`: a table with `code` and `reason` (an empty payload is code
/// 1005, no status); or `nil` and why the payload is not a valid one.
fn parse_close_frame(lua: &Lua, payload: mlua::String) -> mlua::Result<MultiValue> {
    match wsio::proto::parse_close_payload(&payload.as_bytes()) {
        Ok(close) => {
            let table = lua.create_table()?;
            match close {
                Some(close) => {
                    table.set("code", u16::from(close.code))?;
                    table.set("reason", close.reason.as_str())?;
                }
                None => {
                    table.set("code", 1005)?;
                    table.set("reason", "")?;
                }
            }
            table.into_lua_multi(lua)
        }
        Err(problem) => (Value::Nil, problem.to_string()).into_lua_multi(lua),
    }
}

/// `parse_url(url)`: a table with `scheme`, `host`, `port` (80 and 443 by default), `path`
/// (with the query), and coro-websocket's `tls` and `pathname`; or `nil` and why.
fn parse_url(lua: &Lua, url: String) -> mlua::Result<MultiValue> {
    let parsed = match wsio::proto::parse_url(&url) {
        Ok(parsed) => parsed,
        Err(problem) => return (Value::Nil, problem.to_string()).into_lua_multi(lua),
    };
    if parsed.unix_socket().is_some() {
        return (Value::Nil, "not a ws:// or wss:// URL").into_lua_multi(lua);
    }
    let table = lua.create_table()?;
    table.set("scheme", if parsed.is_tls() { "wss" } else { "ws" })?;
    table.set("host", parsed.host())?;
    table.set("port", parsed.port())?;
    table.set("path", parsed.resource())?;
    table.set("pathname", parsed.resource())?;
    table.set("tls", parsed.is_tls())?;
    table.into_lua_multi(lua)
}
