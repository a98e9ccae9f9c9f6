//! The `websocket` plugin's blocking client: `WsClient.new(url, [options])`, then
//! `:send(data)` (a string is a text message, a list of byte values a binary one),
//! `:send_binary(data)`, `:receive()` (a table with `type` — `"text"`, `"binary"`, `"ping"`,
//! `"pong"` or `"close"` — and `data`, or `code` and `reason` for a close), `:ping([data])`,
//! `:pong([data])`, `:ready_state()` (`"open"`, `"closing"` or `"closed"`) and `:close()`.
//!
//! Failures raise errors, as that plugin's do: connecting, and sending or receiving on a
//! connection that is closed. Pings are answered by wsio and also handed to `receive`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;
use mlua::{Lua, Table, UserData, UserDataRef, Value};
use wsio::{CloseCode, Message, State};

use crate::args::{error, strings};
use crate::client_options::ClientExtras;
use crate::methods::Methods;
use crate::socket::{Conn, seconds};

/// The handle inside a `WsClient` object.
pub(crate) struct WsClient {
    conn: RefCell<Option<Rc<Conn>>>,
    /// Set once a close arrived or `close` was called: later calls raise errors.
    closed: Cell<bool>,
}

impl UserData for WsClient {}

/// `WsClient.new` and the methods.
pub(crate) fn register(lua: &Lua, methods: &Methods, module: &Table) -> mlua::Result<()> {
    let class = lua.create_table()?;
    class.set("new", methods.function(lua, new)?)?;
    module.set("WsClient", class)?;
    methods.add(lua, "ws_client", "send", send)?;
    methods.add(lua, "ws_client", "send_binary", send_binary)?;
    methods.add(lua, "ws_client", "receive", receive)?;
    methods.add(lua, "ws_client", "ping", ping)?;
    methods.add(lua, "ws_client", "pong", pong)?;
    methods.add(lua, "ws_client", "close", close)?;
    let ready_state = lua.create_function(|_, this: Table| {
        let handle: mlua::AnyUserData = this.raw_get("__handle")?;
        let client = handle.borrow::<WsClient>()?;
        Ok(ready_state(&client))
    })?;
    methods.add_plain(lua, "ws_client", "ready_state", ready_state)
}

/// `WsClient.new(url, [options])`: connects, and raises an error if it cannot.
/// `options.timeout` (seconds) bounds connecting; `options.protocols` (a string or a list),
/// `options.headers` (name to value) and `options.origin` go into the handshake.
async fn new(lua: Lua, (url, options): (String, Option<Table>)) -> mlua::Result<Table> {
    let builder = wsio::ClientBuilder::new(&url).map_err(error)?;
    let mut builder = ClientExtras::read(options.as_ref())?
        .apply(builder)
        .map_err(error)?;
    if let Some(options) = &options {
        if let Some(timeout) = seconds(options.get("timeout")?, "timeout")? {
            builder = builder.connect_timeout(timeout);
        }
        let protocols = strings(options.get("protocols")?, "options.protocols")?;
        if !protocols.is_empty() {
            builder = builder.subprotocols(protocols);
        }
        if let Some(origin) = options.get::<Option<String>>("origin")? {
            builder = builder.origin(origin);
        }
        if let Some(headers) = options.get::<Option<Table>>("headers")? {
            for pair in headers.pairs::<String, String>() {
                let (name, value) = pair?;
                builder = builder.header(name, value);
            }
        }
    }
    let (ws, _) = builder
        .connect()
        .await
        .map_err(|problem| error(format!("cannot connect to {url}: {problem}")))?;
    let handle = lua.create_userdata(WsClient {
        conn: RefCell::new(Some(Conn::new(ws, None))),
        closed: Cell::new(false),
    })?;
    Methods::of(&lua)?.object(&lua, "ws_client", handle)
}

/// The connection, unless it is closed.
fn open(client: &WsClient) -> mlua::Result<Rc<Conn>> {
    match client.conn.borrow().as_ref() {
        Some(conn) if !client.closed.get() => Ok(conn.clone()),
        _ => Err(error("the connection is closed")),
    }
}

/// Bytes from a string, or from a list of byte values.
fn bytes_of(data: Value) -> mlua::Result<Bytes> {
    match data {
        Value::Nil => Ok(Bytes::new()),
        Value::String(text) => Ok(Bytes::copy_from_slice(&text.as_bytes())),
        Value::Table(list) => {
            let mut bytes = Vec::with_capacity(list.raw_len());
            for value in list.sequence_values::<i64>() {
                let value = value?;
                let byte = u8::try_from(value)
                    .map_err(|_| error(format!("{value} is not a byte value (0 to 255)")))?;
                bytes.push(byte);
            }
            Ok(bytes.into())
        }
        other => Err(error(format!(
            "a message is a string or a list of byte values, not a {}",
            other.type_name()
        ))),
    }
}

/// Sends `message`; raises an error if it cannot.
async fn deliver(client: UserDataRef<WsClient>, message: Message) -> mlua::Result<bool> {
    let conn = open(&client)?;
    drop(client);
    let sent = conn.write.lock().await.send(message).await;
    sent.map(|()| true).map_err(error)
}

/// `client:send(data)`: a string as a text message, a list of byte values as a binary one.
async fn send(_: Lua, (client, data): (UserDataRef<WsClient>, Value)) -> mlua::Result<bool> {
    let message = match data {
        Value::String(text) => {
            let bytes = Bytes::copy_from_slice(&text.as_bytes());
            let text = wsio::Utf8Bytes::try_from(bytes)
                .map_err(|_| error("a text message must be UTF-8 (send_binary sends bytes)"))?;
            Message::Text(text)
        }
        other => Message::Binary(bytes_of(other)?),
    };
    deliver(client, message).await
}

/// `client:send_binary(data)`: a binary message from a string or a list of byte values.
async fn send_binary(_: Lua, (client, data): (UserDataRef<WsClient>, Value)) -> mlua::Result<bool> {
    let message = Message::Binary(bytes_of(data)?);
    deliver(client, message).await
}

/// `client:ping([data])`.
async fn ping(_: Lua, (client, data): (UserDataRef<WsClient>, Value)) -> mlua::Result<bool> {
    let message = Message::Ping(bytes_of(data)?);
    deliver(client, message).await
}

/// `client:pong([data])`.
async fn pong(_: Lua, (client, data): (UserDataRef<WsClient>, Value)) -> mlua::Result<bool> {
    let message = Message::Pong(bytes_of(data)?);
    deliver(client, message).await
}

/// `client:receive()`: the next message or control frame as a table.
async fn receive(lua: Lua, client: UserDataRef<WsClient>) -> mlua::Result<Table> {
    let conn = open(&client)?;
    let next = conn.read.lock().await.recv().await;
    let table = lua.create_table()?;
    let (kind, data) = match next {
        Some(Ok(Message::Text(text))) => ("text", Bytes::from(text)),
        Some(Ok(Message::Binary(data))) => ("binary", data),
        Some(Ok(Message::Ping(data))) => ("ping", data),
        Some(Ok(Message::Pong(data))) => ("pong", data),
        Some(Ok(Message::Close(frame))) => {
            // wsio answered it; the rest is the end of the transport.
            client.closed.set(true);
            client.conn.borrow_mut().take();
            conn.drain().await;
            let (code, reason) = match frame {
                Some(frame) => (u16::from(frame.code), frame.reason.as_str().to_owned()),
                None => (1005, String::new()),
            };
            table.set("type", "close")?;
            table.set("code", code)?;
            table.set("reason", reason)?;
            return Ok(table);
        }
        Some(Err(problem)) => {
            client.closed.set(true);
            client.conn.borrow_mut().take();
            return Err(error(problem));
        }
        None => {
            client.closed.set(true);
            client.conn.borrow_mut().take();
            let info = conn.read.lock().await.close_info();
            table.set("type", "close")?;
            table.set(
                "code",
                info.as_ref().map_or(1006, |info| u16::from(info.code)),
            )?;
            let reason = info.map(|info| info.reason.as_str().to_owned());
            table.set("reason", reason.unwrap_or_default())?;
            return Ok(table);
        }
    };
    table.set("type", kind)?;
    table.set("data", lua.create_string(&data)?)?;
    Ok(table)
}

/// `client:close([code], [reason])`: the close handshake (1000 by default), waiting for its
/// end (at most the close timeout); then the connection is closed. Closing twice is fine.
async fn close(
    _: Lua,
    (client, code, reason): (UserDataRef<WsClient>, Option<u16>, Option<String>),
) -> mlua::Result<bool> {
    let code = CloseCode::from(code.unwrap_or(1000));
    let reason = reason.unwrap_or_default();
    // Checked before anything changes: a code that may not be sent, or a reason over 123
    // bytes, is an error and leaves the connection as it was.
    wsio::proto::encode_close_payload(code, &reason).map_err(error)?;
    let Some(conn) = client.conn.borrow_mut().take() else {
        return Ok(true);
    };
    client.closed.set(true);
    drop(client);
    let _ = conn.write.lock().await.send_close(code, &reason).await;
    conn.drain().await;
    Ok(true)
}

/// `"open"`, `"closing"` or `"closed"`.
fn ready_state(client: &WsClient) -> &'static str {
    let Some(conn) = client.conn.borrow().clone() else {
        return "closed";
    };
    let state = match conn.write.try_lock() {
        Ok(write) => write.state(),
        Err(_) => State::Open,
    };
    match state {
        State::Closing => "closing",
        State::Closed => "closed",
        _ if client.closed.get() => "closed",
        _ => "open",
    }
}
