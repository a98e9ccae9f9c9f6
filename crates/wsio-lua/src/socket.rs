//! The client and server connections of lua-websockets: `client.sync{timeout}` (alias
//! `client.new`, and `client.copas`), `:connect(url, protocol)`, `:receive()`,
//! `:send(message, opcode)` and `:close(code, reason)`, with its return conventions. The same
//! object serves a server's connections (without `connect`).
//!
//! Each method blocks when called from plain Lua code, and yields when called from a task's
//! coroutine (a server handler, `wsio.spawn`), so that one Lua state serves many connections.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{AnyUserData, IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataRef, Value};
use tokio::sync::{Mutex as AsyncMutex, oneshot};
use wsio::{CloseCode, CloseInfo, Message, ReadHalf, Transport, WebSocket, WriteHalf};

use crate::client_options::ClientExtras;
use crate::methods::Methods;

/// lua-websockets' opcodes, as the module exports them.
pub(crate) const TEXT: i64 = 1;
pub(crate) const BINARY: i64 = 2;

/// One open connection: its halves, so that one coroutine may send while another waits in
/// `receive`.
pub(crate) struct Conn {
    pub(crate) read: AsyncMutex<ReadHalf<Transport>>,
    pub(crate) write: AsyncMutex<WriteHalf<Transport>>,
    /// Held by a server connection: dropped with the connection, it ends the server's
    /// handler for it.
    _served: Option<oneshot::Sender<()>>,
}

impl Conn {
    /// A connection, and, for a server's, what ends the server's handler when it is dropped.
    pub(crate) fn new(ws: WebSocket<Transport>, served: Option<oneshot::Sender<()>>) -> Rc<Self> {
        let (read, write) = ws.split();
        Rc::new(Conn {
            read: AsyncMutex::new(read),
            write: AsyncMutex::new(write),
            _served: served,
        })
    }

    /// How the connection ended, once it has.
    fn ended(&self) -> Option<CloseInfo> {
        match self.read.try_lock() {
            Ok(read) => read.close_info(),
            Err(_) => None,
        }
    }

    /// Reads until the connection ends, dropping what arrives: how it ended.
    pub(crate) async fn drain(&self) -> Option<CloseInfo> {
        let mut read = self.read.lock().await;
        while read.recv().await.is_some() {}
        read.close_info()
    }

    /// Sends a close frame with `code` and `reason` (as far as they may be sent), without
    /// waiting for the answer.
    pub(crate) async fn send_close(&self, code: CloseCode, reason: &str) {
        let _ = self.write.lock().await.send_close(code, reason).await;
    }
}

/// The handle inside a connection object: the connection once there is one, the options it
/// was made with, and how it ended if this side gave it up.
pub(crate) struct Socket {
    conn: RefCell<Option<Rc<Conn>>>,
    timeout: Option<Duration>,
    extras: ClientExtras,
    /// How the connection ended, once it has: later calls say so, and `connect` may be
    /// called again.
    ended: RefCell<Option<Ended>>,
}

/// How a connection ended: `was_clean, code, reason`.
#[derive(Clone)]
struct Ended {
    clean: bool,
    code: u16,
    reason: String,
}

impl Ended {
    fn of(info: Option<CloseInfo>) -> Self {
        match info {
            Some(info) => Ended {
                clean: info.was_clean,
                code: u16::from(info.code),
                reason: info.reason.as_str().to_owned(),
            },
            None => Ended {
                clean: false,
                code: 1006,
                reason: "ended".to_owned(),
            },
        }
    }

    /// `nils` nils, then `was_clean, code, reason`.
    fn values(&self, lua: &Lua, nils: usize) -> mlua::Result<MultiValue> {
        let mut values: Vec<Value> = vec![Value::Nil; nils];
        values.push(Value::Boolean(self.clean));
        values.push(Value::Integer(self.code.into()));
        values.push(Value::String(lua.create_string(&self.reason)?));
        Ok(MultiValue::from_iter(values))
    }
}

impl UserData for Socket {}

impl Socket {
    /// A connection object around `conn` (a server's), or not connected yet.
    pub(crate) fn object(
        lua: &Lua,
        conn: Option<Rc<Conn>>,
        timeout: Option<Duration>,
        extras: ClientExtras,
    ) -> mlua::Result<Table> {
        let handle = lua.create_userdata(Socket {
            conn: RefCell::new(conn),
            timeout,
            extras,
            ended: RefCell::new(None),
        })?;
        Methods::of(lua)?.object(lua, "socket", handle)
    }

    /// The connection, if there is one.
    pub(crate) fn conn(&self) -> Option<Rc<Conn>> {
        self.conn.borrow().clone()
    }

    /// Forgets the connection: it ends once no call uses it.
    pub(crate) fn release(&self) {
        self.conn.borrow_mut().take();
    }

    /// Records how the connection ended and forgets it (its transport closes once no call
    /// uses it): `ended`'s values after `nils` nils.
    fn end(&self, lua: &Lua, nils: usize, ended: Ended) -> mlua::Result<MultiValue> {
        let values = ended.values(lua, nils);
        self.ended.replace(Some(ended));
        self.release();
        values
    }

    /// What a call on a socket without a connection returns, after `nils` nils.
    fn not_open(&self, lua: &Lua, nils: usize) -> mlua::Result<MultiValue> {
        match &*self.ended.borrow() {
            Some(ended) => ended.values(lua, nils),
            None => failed(lua, nils, "not connected"),
        }
    }
}

/// `websocket.client.sync([options])`: a client, not connected yet. `options.timeout`, in
/// seconds, bounds connecting, each receive and each send; wsio's extra options apply.
pub(crate) fn new_client(lua: &Lua, options: Option<Table>) -> mlua::Result<Table> {
    let timeout = match &options {
        Some(options) => seconds(options.get::<Option<f64>>("timeout")?, "timeout")?,
        None => None,
    };
    let extras = ClientExtras::read(options.as_ref())?;
    Socket::object(lua, None, timeout, extras)
}

/// Longer durations count as this long (about a century): a wait that ends after the program
/// does, which still adds to a clock's reading.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration from a number of seconds, which must not be negative (nor NaN); a very large
/// one counts as [`LONGEST`].
pub(crate) fn seconds(value: Option<f64>, what: &str) -> mlua::Result<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(value) if value >= LONGEST.as_secs_f64() => Ok(Some(LONGEST)),
        Some(value) => Duration::try_from_secs_f64(value).map(Some).map_err(|_| {
            mlua::Error::runtime(format!(
                "wsio: {what} must be a number of seconds, not {value}"
            ))
        }),
    }
}

/// The methods, each an `async` function that the module wraps into a blocking and a
/// yielding form.
pub(crate) fn register(lua: &Lua, methods: &Methods) -> mlua::Result<()> {
    methods.add(lua, "socket", "connect", connect)?;
    methods.add(lua, "socket", "receive", receive)?;
    methods.add(lua, "socket", "send", send)?;
    methods.add(lua, "socket", "close", close)?;
    Ok(())
}

/// `client:connect(url, [protocol])`: `true`, or `nil` and an error.
async fn connect(
    lua: Lua,
    (handle, url, protocol): (AnyUserData, String, Option<String>),
) -> mlua::Result<MultiValue> {
    let socket = handle.borrow::<Socket>()?;
    if socket.conn().is_some() {
        return (Value::Nil, "already connected").into_lua_multi(&lua);
    }
    let timeout = socket.timeout;
    let extras = socket.extras.clone();
    socket.ended.replace(None);
    drop(socket);
    let mut builder = match wsio::ClientBuilder::new(&url).and_then(|builder| extras.apply(builder))
    {
        Ok(builder) => builder,
        Err(error) => return (Value::Nil, error.to_string()).into_lua_multi(&lua),
    };
    if let Some(protocol) = protocol {
        builder = builder.subprotocol(protocol);
    }
    if let Some(timeout) = timeout {
        builder = builder.connect_timeout(timeout);
    }
    match builder.connect().await {
        Ok((ws, _)) => {
            *handle.borrow::<Socket>()?.conn.borrow_mut() = Some(Conn::new(ws, None));
            true.into_lua_multi(&lua)
        }
        Err(error) => (Value::Nil, error.to_string()).into_lua_multi(&lua),
    }
}

/// `ws:receive()`: the message and its opcode; or `nil, nil, was_clean, code, reason` once the
/// connection has ended (or failed).
async fn receive(lua: Lua, handle: UserDataRef<Socket>) -> mlua::Result<MultiValue> {
    let Some(conn) = handle.conn() else {
        return handle.not_open(&lua, 2);
    };
    let timeout = handle.timeout;
    let mut read = conn.read.lock().await;
    loop {
        let next = match timeout {
            Some(timeout) => match tokio::time::timeout(timeout, read.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    // Told, then dropped: nothing here would read the peer's answer.
                    drop(read);
                    conn.send_close(CloseCode::GOING_AWAY, "timeout").await;
                    return handle.end(&lua, 2, gave_up("timeout"));
                }
            },
            None => read.recv().await,
        };
        return match next {
            Some(Ok(Message::Text(text))) => {
                (lua.create_string(text.as_bytes())?, TEXT).into_lua_multi(&lua)
            }
            Some(Ok(Message::Binary(data))) => {
                (lua.create_string(&data)?, BINARY).into_lua_multi(&lua)
            }
            // Pings are answered by wsio; the close arrives as the end, below.
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                // wsio failed the connection with the error's close code (1009 for a message
                // too big, 1002 for a protocol error...): that is the code to tell.
                while read.recv().await.is_some() {}
                let sent = match &error {
                    wsio::Error::Connection(failure) => failure.close_code(),
                    _ => None,
                };
                let ended = Ended {
                    clean: false,
                    code: sent.map_or(1006, u16::from),
                    reason: error.to_string(),
                };
                handle.end(&lua, 2, ended)
            }
            None => handle.end(&lua, 2, Ended::of(read.close_info())),
        };
    }
}

/// `ws:send(message, [opcode])`: `true`, or `nil, was_clean, code, reason`.
async fn send(
    lua: Lua,
    (handle, message, opcode): (UserDataRef<Socket>, mlua::String, Option<i64>),
) -> mlua::Result<MultiValue> {
    let Some(conn) = handle.conn() else {
        return handle.not_open(&lua, 1);
    };
    let timeout = handle.timeout;
    let payload = bytes::Bytes::copy_from_slice(&message.as_bytes());
    let mut write = conn.write.lock().await;
    let sending = async {
        match opcode.unwrap_or(TEXT) {
            TEXT => match wsio::Utf8Bytes::try_from(payload) {
                Ok(text) => write.send_text(text).await,
                Err(_) => Err(wsio::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a text message must be UTF-8",
                ))),
            },
            BINARY => write.send_binary(payload).await,
            other => Err(wsio::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("opcode {other} is not TEXT (1) or BINARY (2)"),
            ))),
        }
    };
    let sent = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, sending)
            .await
            .unwrap_or_else(|_| {
                Err(wsio::Error::Io(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )))
            }),
        None => sending.await,
    };
    drop(write);
    match sent {
        Ok(()) => true.into_lua_multi(&lua),
        Err(wsio::Error::Io(error)) if error.kind() == std::io::ErrorKind::InvalidInput => {
            Err(mlua::Error::runtime(format!("wsio: {error}")))
        }
        // A write that timed out may still go out later: the connection is given up.
        Err(wsio::Error::Io(error)) if error.kind() == std::io::ErrorKind::TimedOut => {
            handle.end(&lua, 1, gave_up("timeout"))
        }
        Err(error) => match conn.ended() {
            Some(info) => handle.end(&lua, 1, Ended::of(Some(info))),
            None => failed(&lua, 1, &error.to_string()),
        },
    }
}

/// `ws:close([code], [reason])`: starts the close handshake and waits for its end:
/// `was_clean, code, reason`.
async fn close(
    lua: Lua,
    (handle, code, reason): (UserDataRef<Socket>, Option<u16>, Option<String>),
) -> mlua::Result<MultiValue> {
    let Some(conn) = handle.conn() else {
        return handle.not_open(&lua, 0);
    };
    let code = CloseCode::from(code.unwrap_or(1000));
    let reason = reason.unwrap_or_default();
    if let Err(error) = conn.write.lock().await.send_close(code, &reason).await {
        if matches!(error, wsio::Error::Send(_)) {
            return Err(mlua::Error::runtime(format!("wsio: {error}")));
        }
    }
    // Whoever reads (this, or a coroutine waiting in `receive`) sees the peer's answer.
    let info = conn.drain().await;
    handle.end(&lua, 0, Ended::of(info))
}

/// An unclean end (1006) that this side chose, for `reason`.
fn gave_up(reason: &str) -> Ended {
    Ended {
        clean: false,
        code: 1006,
        reason: reason.to_owned(),
    }
}

/// `nils` nils, then an unclean end with code 1006 and `reason`.
fn failed(lua: &Lua, nils: usize, reason: &str) -> mlua::Result<MultiValue> {
    let mut values: Vec<Value> = vec![Value::Nil; nils];
    values.push(Value::Boolean(false));
    values.push(Value::Integer(1006));
    values.push(Value::String(lua.create_string(reason)?));
    Ok(MultiValue::from_iter(values))
}
