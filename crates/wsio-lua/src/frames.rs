//! Raw frames, as eco.websocket and coro-websocket have them.
//!
//! - `wsio.eco.connect(uri, [opts])` (eco.websocket's `connect`): a connection with
//!   `recv_frame([timeout])` (`data, typ, err`: `err` is `'again'` while a fragmented message
//!   has more frames to come, the close code for a close frame; `nil, nil, err` on failure),
//!   `send_frame(fin, opcode, [payload])`, `send_text`, `send_binary`, `send_close([code,
//!   [msg]])`, `send_ping` and `send_pong`, each returning the bytes sent or `nil, err`. The
//!   options are eco's: `headers`, `protocols`, `origin`, `insecure`, `timeout` (seconds),
//!   `max_payload_len` (65535 by default). `wsio.eco.run(f)` and `wsio.eco.loop()` are
//!   `wsio.spawn` and `wsio.run`, for programs written around eco's loop.
//! - `wsio.coro.connect(options)` (coro-websocket's `connect`): `res, read, write`, with
//!   `host`, `port`, `tls`, `pathname`, `path` (a Unix socket), `subprotocol`, `headers` (a list
//!   of `{name, value}`), `timeout` and `heartbeat` (milliseconds). `read()` returns the next
//!   frame as a table (`fin`, `rsv1`-`rsv3`, `opcode`, `mask`, `len`, `payload`), or `nil` once
//!   the connection has ended; `write(message)` sends one (`opcode` 2 unless given, `fin`
//!   unless false) and returns `true`, or `false` and why; `write()` closes (1000).
//!   `res.socket:shutdown()` closes too.
//! - `wsio.coro.wrapIo(rawRead, rawWrite, [options])`: see `wrap_io.lua`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataRef, Value};
use tokio::sync::Mutex as AsyncMutex;
use wsio::proto::{CloseCode, Frame, OpCode};
use wsio::{FrameReadHalf, Transport, WriteHalf};

use crate::args::eco_protocols;
use crate::client_options::ClientExtras;
use crate::methods::Methods;
use crate::protocol::{frame_table, opcode};
use crate::runtime;
use crate::socket::seconds;

/// eco.websocket's default limit on a frame's payload, both ways.
pub(crate) const ECO_MAX_PAYLOAD: usize = 65535;

/// A connection read and written frame by frame.
pub(crate) struct FrameConn {
    /// `None` once the close frame arrived: the rest is read in the background.
    read: AsyncMutex<Option<FrameReadHalf<Transport>>>,
    write: AsyncMutex<WriteHalf<Transport>>,
    max_payload: usize,
    /// Whether this side masks its frames (a client's).
    masks: bool,
    /// Set by coro's `socket:shutdown()`: `read` ends.
    shut: Cell<bool>,
}

impl UserData for FrameConn {}

impl FrameConn {
    fn new(ws: wsio::WebSocket<Transport>, max_payload: usize, masks: bool) -> Self {
        let (read, write) = ws.into_frames().split();
        FrameConn {
            read: AsyncMutex::new(Some(read)),
            write: AsyncMutex::new(write),
            max_payload,
            masks,
            shut: Cell::new(false),
        }
    }

    /// An eco.websocket connection object over `ws`, whose frames' payloads are limited to
    /// `max_payload` bytes; `masks` for a client's.
    pub(crate) fn eco_object(
        lua: &Lua,
        ws: wsio::WebSocket<Transport>,
        max_payload: usize,
        masks: bool,
    ) -> mlua::Result<Table> {
        let handle = lua.create_userdata(FrameConn::new(ws, max_payload, masks))?;
        Methods::of(lua)?.object(lua, "eco_connection", handle)
    }

    /// Sends one frame: the bytes it took on the wire.
    async fn send(&self, frame: Frame) -> Result<usize, String> {
        if frame.payload.len() > self.max_payload {
            return Err(format!(
                "a payload of {} bytes is over the limit of {}",
                frame.payload.len(),
                self.max_payload
            ));
        }
        // A client masks every frame: its headers have four bytes of key.
        let key = self.masks.then_some([0; 4]);
        let size = frame.header(key).encoded_len() + frame.payload.len();
        let sent = self.write.lock().await.send_frame(frame).await;
        sent.map(|()| size).map_err(|problem| problem.to_string())
    }

    /// Sends a close frame with `code` and `reason`.
    async fn send_close(&self, code: CloseCode, reason: &str) -> Result<(), String> {
        let closed = self.write.lock().await.send_close(code, reason).await;
        closed.map_err(|problem| problem.to_string())
    }

    /// The next frame, at most `timeout` from now: `None` once the connection has ended.
    /// After the close frame, the rest of the connection is read by a task of the runtime, so
    /// that the connection ends (and its socket is closed) whether the program reads on or not.
    async fn recv(&self, timeout: Option<Duration>) -> Result<Option<Frame>, String> {
        let mut guard = self.read.lock().await;
        let Some(read) = guard.as_mut() else {
            return Ok(None);
        };
        let next = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, read.recv_frame())
                .await
                .map_err(|_| "timeout".to_owned())?,
            None => read.recv_frame().await,
        };
        let next = next.transpose().map_err(|problem| problem.to_string())?;
        if next
            .as_ref()
            .is_none_or(|frame| frame.opcode == OpCode::Close)
        {
            drain(guard.take());
        }
        Ok(next)
    }
}

/// Reads what is left of `read` in the background: after a close frame, that ends within the
/// connection's close timeout (`Config::close_timeout`, 10 s by default).
fn drain(read: Option<FrameReadHalf<Transport>>) {
    if let Some(mut read) = read {
        runtime::handle().spawn(async move { while read.recv_frame().await.is_some() {} });
    }
}

/// `wsio.eco` and `wsio.coro`, and their methods.
pub(crate) fn register(lua: &Lua, methods: &Methods, module: &Table) -> mlua::Result<()> {
    let eco = lua.create_table()?;
    eco.set("connect", methods.function(lua, eco_connect)?)?;
    // eco's own `eco.run(f)` and `eco.loop()`, which its examples use around the connection.
    eco.set("run", module.get::<mlua::Function>("spawn")?)?;
    eco.set("loop", module.get::<mlua::Function>("run")?)?;
    module.set("eco", eco)?;
    methods.add(lua, "eco_connection", "recv_frame", recv_frame)?;
    methods.add(lua, "eco_connection", "send_frame", send_frame)?;
    for (name, code) in [
        ("send_text", OpCode::Text),
        ("send_binary", OpCode::Binary),
        ("send_ping", OpCode::Ping),
        ("send_pong", OpCode::Pong),
    ] {
        methods.add(
            lua,
            "eco_connection",
            name,
            move |lua, (conn, data): (UserDataRef<FrameConn>, Option<mlua::String>)| async move {
                let payload =
                    data.map_or_else(Bytes::new, |d| Bytes::copy_from_slice(&d.as_bytes()));
                sent(&lua, conn.send(Frame::new(true, code, payload)).await)
            },
        )?;
    }
    methods.add(lua, "eco_connection", "send_close", send_close)?;

    let coro = lua.create_table()?;
    coro.set("connect", methods.function(lua, coro_connect)?)?;
    coro.set("parseUrl", module.get::<mlua::Function>("parseUrl")?)?;
    let wrap_io = lua
        .load(include_str!("wrap_io.lua"))
        .set_name("=wsio.coro.wrapIo")
        .call::<mlua::Function>(module.clone())?;
    coro.set("wrapIo", wrap_io)?;
    module.set("coro", coro)?;
    methods.add(lua, "coro_socket", "shutdown", shutdown)?;
    methods.add(lua, "coro_socket", "close", shutdown)?;
    Ok(())
}

/// `bytes`, or `nil, err`.
fn sent(lua: &Lua, result: Result<usize, String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(bytes) => bytes.into_lua_multi(lua),
        Err(problem) => (Value::Nil, problem).into_lua_multi(lua),
    }
}

/// `eco.connect(uri, [opts])`: a connection, or `nil, err`.
async fn eco_connect(lua: Lua, (uri, opts): (String, Option<Table>)) -> mlua::Result<MultiValue> {
    let mut builder = match wsio::ClientBuilder::new(&uri) {
        Ok(builder) => builder,
        Err(problem) => return (Value::Nil, problem.to_string()).into_lua_multi(&lua),
    };
    let mut max_payload = ECO_MAX_PAYLOAD;
    if let Some(opts) = &opts {
        if let Some(headers) = opts.get::<Option<Table>>("headers")? {
            for pair in headers.pairs::<String, String>() {
                let (name, value) = pair?;
                builder = builder.header(name, value);
            }
        }
        let names = eco_protocols(opts.get("protocols")?, "opts.protocols")?;
        if !names.is_empty() {
            builder = builder.subprotocols(names);
        }
        if let Some(origin) = opts.get::<Option<String>>("origin")? {
            builder = builder.origin(origin);
        }
        if let Some(timeout) = seconds(opts.get("timeout")?, "timeout")? {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(limit) = opts.get::<Option<usize>>("max_payload_len")? {
            max_payload = limit;
        }
    }
    builder = builder
        .max_frame_size(max_payload)
        .max_message_size(max_payload.max(1 << 20));
    // wsio's own options (`insecure` among them, which eco has too) come last, over eco's.
    builder = match ClientExtras::read(opts.as_ref())?.apply(builder) {
        Ok(builder) => builder,
        Err(problem) => return (Value::Nil, problem.to_string()).into_lua_multi(&lua),
    };
    match builder.connect().await {
        Ok((ws, _)) => FrameConn::eco_object(&lua, ws, max_payload, true)?.into_lua_multi(&lua),
        Err(problem) => (Value::Nil, problem.to_string()).into_lua_multi(&lua),
    }
}

/// `connection:recv_frame([timeout])`: `data, typ, err`, or `nil, nil, err`.
async fn recv_frame(
    lua: Lua,
    (conn, timeout): (UserDataRef<FrameConn>, Option<f64>),
) -> mlua::Result<MultiValue> {
    let timeout = seconds(timeout, "the timeout")?;
    let frame = match conn.recv(timeout).await {
        Ok(Some(frame)) => frame,
        Ok(None) => return (Value::Nil, Value::Nil, "closed").into_lua_multi(&lua),
        Err(problem) => return (Value::Nil, Value::Nil, problem).into_lua_multi(&lua),
    };
    let typ = match frame.opcode {
        OpCode::Continuation => "continuation",
        OpCode::Text => "text",
        OpCode::Binary => "binary",
        OpCode::Close => "close",
        OpCode::Ping => "ping",
        OpCode::Pong => "pong",
    };
    if frame.opcode == OpCode::Close {
        return match frame.close_frame() {
            Some(close) => (close.reason.as_str(), typ, u16::from(close.code)).into_lua_multi(&lua),
            None => ("", typ).into_lua_multi(&lua),
        };
    }
    let data = lua.create_string(&frame.payload)?;
    if frame.fin {
        (data, typ).into_lua_multi(&lua)
    } else {
        (data, typ, "again").into_lua_multi(&lua)
    }
}

/// `connection:send_frame(fin, opcode, [payload])`.
async fn send_frame(
    lua: Lua,
    (conn, fin, code, payload): (UserDataRef<FrameConn>, bool, i64, Option<Value>),
) -> mlua::Result<MultiValue> {
    let code = opcode(code)?;
    let payload = match payload {
        None | Some(Value::Nil) => Bytes::new(),
        Some(value) => match lua.coerce_string(value)? {
            Some(text) => Bytes::copy_from_slice(&text.as_bytes()),
            None => return Err(mlua::Error::runtime("wsio: the payload is not a string")),
        },
    };
    sent(&lua, conn.send(Frame::new(fin, code, payload)).await)
}

/// `connection:send_close([code, [msg]])`.
async fn send_close(
    lua: Lua,
    (conn, code, msg): (UserDataRef<FrameConn>, Option<u16>, Option<String>),
) -> mlua::Result<MultiValue> {
    let code = CloseCode::from(code.unwrap_or(1000));
    let msg = msg.unwrap_or_default();
    // The header, the code, the reason, and a client's four bytes of mask key.
    let size = 2 + 2 + msg.len() + if conn.masks { 4 } else { 0 };
    let closed = conn.send_close(code, &msg).await;
    sent(&lua, closed.map(|()| size))
}

/// coro-websocket's `connect(options)`: `res, read, write`, or `nil, err`.
async fn coro_connect(lua: Lua, options: Table) -> mlua::Result<MultiValue> {
    // `true`, or a table of TLS settings (coro's), means wss://.
    let tls = matches!(
        options.get::<Value>("tls")?,
        Value::Boolean(true) | Value::Table(_)
    );
    let pathname = options
        .get::<Option<String>>("pathname")?
        .unwrap_or_default();
    let pathname = if pathname.starts_with('/') {
        pathname
    } else {
        format!("/{pathname}")
    };
    let url = match (
        options.get::<Option<String>>("host")?,
        options.get::<Option<u16>>("port")?,
        options.get::<Option<String>>("path")?,
    ) {
        (host, Some(port), _) => {
            let host = host.unwrap_or_else(|| "127.0.0.1".to_owned());
            let scheme = if tls { "wss" } else { "ws" };
            format!("{scheme}://{}:{port}{pathname}", bracketed(&host))
        }
        (Some(host), None, _) => {
            let scheme = if tls { "wss" } else { "ws" };
            format!("{scheme}://{}{pathname}", bracketed(&host))
        }
        (None, None, Some(pipe)) => format!("ws+unix://{pipe}:{pathname}"),
        (None, None, None) => {
            return (Value::Nil, "options need host and port, or path").into_lua_multi(&lua);
        }
    };
    let extras = ClientExtras::read(Some(&options))?;
    let made = wsio::ClientBuilder::new(&url).and_then(|builder| extras.apply(builder));
    let mut builder = match made.map_err(|problem| problem.to_string()) {
        Ok(builder) => builder,
        Err(problem) => return (Value::Nil, problem).into_lua_multi(&lua),
    };
    if let Some(protocol) = options.get::<Option<String>>("subprotocol")? {
        builder = builder.subprotocol(protocol);
    }
    if let Some(headers) = options.get::<Option<Table>>("headers")? {
        for header in headers.sequence_values::<Table>() {
            let header = header?;
            builder = builder.header(header.get::<String>(1)?, header.get::<String>(2)?);
        }
    }
    if let Some(ms) = options.get::<Option<f64>>("timeout")? {
        let timeout = seconds(Some(ms / 1000.0), "timeout")?.unwrap_or_default();
        builder = builder.connect_timeout(timeout);
    }
    if let Some(ms) = options.get::<Option<f64>>("heartbeat")? {
        builder = builder.heartbeat_interval(seconds(Some(ms / 1000.0), "heartbeat")?);
    }
    let (ws, response) = match builder.connect().await {
        Ok(connected) => connected,
        Err(problem) => return (Value::Nil, problem.to_string()).into_lua_multi(&lua),
    };
    let conn = Rc::new(FrameConn::new(ws, usize::MAX, true));
    let res = lua.create_table()?;
    res.set("code", response.status().as_u16())?;
    res.set("reason", response.reason().unwrap_or("Switching Protocols"))?;
    res.set("version", 1.1)?;
    res.set("keepAlive", false)?;
    for (name, value) in response.headers() {
        let header = lua.create_sequence_from([
            lua.create_string(name.as_str())?,
            lua.create_string(value.as_bytes())?,
        ])?;
        res.push(header)?;
    }
    let methods = Methods::of(&lua)?;
    let socket = lua.create_userdata(CoroSocket(conn.clone()))?;
    res.set("socket", methods.object(&lua, "coro_socket", socket)?)?;
    let reading = conn.clone();
    let read = methods.function(&lua, move |lua, ()| {
        let conn = reading.clone();
        async move { coro_read(&lua, &conn).await }
    })?;
    let write = methods.function(&lua, move |lua, message: Option<Table>| {
        let conn = conn.clone();
        async move { coro_write(&lua, &conn, message).await }
    })?;
    (res, read, write).into_lua_multi(&lua)
}

fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `read()`: the next frame as a table, `nil` once the connection has ended, or `false, err`.
async fn coro_read(lua: &Lua, conn: &FrameConn) -> mlua::Result<MultiValue> {
    if conn.shut.get() {
        return Value::Nil.into_lua_multi(lua);
    }
    match conn.recv(None).await {
        Ok(Some(frame)) => {
            let table = frame_table(lua, &frame)?;
            table.set("mask", false)?;
            table.into_lua_multi(lua)
        }
        Ok(None) => Value::Nil.into_lua_multi(lua),
        Err(problem) => (false, problem).into_lua_multi(lua),
    }
}

/// `write(message)`: `true`, or `false, err`; `write()` closes (1000).
async fn coro_write(
    lua: &Lua,
    conn: &FrameConn,
    message: Option<Table>,
) -> mlua::Result<MultiValue> {
    let Some(message) = message else {
        return match conn.send_close(CloseCode::NORMAL, "").await {
            Ok(()) => true.into_lua_multi(lua),
            Err(problem) => (false, problem).into_lua_multi(lua),
        };
    };
    let code = opcode(message.get::<Option<i64>>("opcode")?.unwrap_or(2))?;
    let fin = message.get::<Option<bool>>("fin")?.unwrap_or(true);
    let payload = message
        .get::<Option<mlua::String>>("payload")?
        .map_or_else(Bytes::new, |payload| {
            Bytes::copy_from_slice(&payload.as_bytes())
        });
    let mut frame = Frame::new(fin, code, payload);
    frame.rsv1 = message.get::<Option<bool>>("rsv1")?.unwrap_or(false);
    frame.rsv2 = message.get::<Option<bool>>("rsv2")?.unwrap_or(false);
    frame.rsv3 = message.get::<Option<bool>>("rsv3")?.unwrap_or(false);
    match conn.send(frame).await {
        Ok(_) => true.into_lua_multi(lua),
        Err(problem) => (false, problem).into_lua_multi(lua),
    }
}

/// `res.socket`: what coro-websocket's response holds as its TCP handle.
struct CoroSocket(Rc<FrameConn>);

impl UserData for CoroSocket {}

/// `res.socket:shutdown()` (and `:close()`): sends a close frame; `read` then ends. A task
/// reads the rest, so that the close handshake ends whether the program reads or not.
async fn shutdown(_: Lua, socket: UserDataRef<CoroSocket>) -> mlua::Result<()> {
    let conn = socket.0.clone();
    drop(socket);
    if !conn.shut.replace(true) {
        let _ = conn.send_close(CloseCode::NORMAL, "").await;
        drain(conn.read.lock().await.take());
    }
    Ok(())
}
