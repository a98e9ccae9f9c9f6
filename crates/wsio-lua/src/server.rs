//! lua-websockets' server: `server.listen{port, interface, protocols, default}` (also
//! `server.copas.listen`), whose handlers get each connection as an object with the client's
//! methods, in a coroutine of their own; and `server:close([keep_clients])`.
//!
//! A connection goes to the handler of the first subprotocol it offers that `protocols` names
//! (which is then chosen), else to `default`; without `default`, such a connection is
//! refused. When a handler returns, its connection is closed (1000), and when it raises an
//! error, the error is printed on stderr and the connection closed with 1011; the other
//! connections go on. The server serves until `server:close()` (which returns once its port
//! is free again), whether the program keeps the object or not; connections accepted while
//! the program does not poll wait, up to [`ACCEPT_BACKLOG`], and past that are dropped.

use std::net::SocketAddr;
use std::rc::Rc;

use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, Table, UserData};
use tokio::sync::{mpsc, oneshot};
use wsio::{CloseCode, ServerHandle, ServerRequest, Transport, WebSocket};

use crate::args::{certificate_and_key, pem_error};
use crate::client_options::ClientExtras;
use crate::executor::Executor;
use crate::methods::{Methods, handle_of};
use crate::runtime;
use crate::socket::{Conn, Socket};

/// How many accepted connections may wait for the program to poll before more are dropped.
const ACCEPT_BACKLOG: usize = 1024;

/// A connection the server accepted, on its way to the Lua thread.
struct Accepted {
    ws: WebSocket<Transport>,
    subprotocol: Option<String>,
    served: oneshot::Sender<()>,
}

/// The handle inside a server object.
pub(crate) struct Listener {
    handle: ServerHandle,
    addr: Option<SocketAddr>,
    /// Dropped by `close`: the server's task on the Lua thread ends.
    stop: std::cell::RefCell<Option<oneshot::Sender<()>>>,
    /// The end of the accept loop, which `close` waits for.
    released: runtime::Released,
}

impl UserData for Listener {}

/// The server object's methods.
pub(crate) fn register(lua: &Lua, methods: &Methods) -> mlua::Result<()> {
    let close = lua.create_function(|_, (this, keep_clients): (Table, Option<bool>)| {
        let listener = handle_of(&this)?;
        let listener = listener.borrow::<Listener>()?;
        listener.handle.stop_accepting();
        listener.stop.borrow_mut().take();
        listener.released.wait();
        if !keep_clients.unwrap_or(false) {
            let handle = listener.handle.clone();
            runtime::handle().spawn(async move { handle.close().await });
        }
        Ok(())
    })?;
    methods.add_plain(lua, "server", "close", close)?;
    let port = lua.create_function(|_, this: Table| {
        let listener = handle_of(&this)?;
        let port = listener.borrow::<Listener>()?.addr.map(|addr| addr.port());
        Ok(port)
    })?;
    methods.add_plain(lua, "server", "port", port)?;
    Ok(())
}

/// `server.listen(config)`: listens on `config.interface` (`'*'`, the default, for every
/// interface) and `config.port` (80 by default; 0 for a free port, see `server:port()`).
/// wsio's own options are extra fields: `deflate = true` (accept permessage-deflate),
/// `max_message_size` and `max_frame_size` (bytes), `certificate` and `key` (PEM files: the
/// server then speaks `wss://`).
pub(crate) fn listen(lua: &Lua, config: Table) -> mlua::Result<Table> {
    let port = config.get::<Option<u16>>("port")?.unwrap_or(80);
    let interface = config
        .get::<Option<String>>("interface")?
        .unwrap_or_else(|| "*".to_owned());
    let host = if interface == "*" {
        "0.0.0.0".to_owned()
    } else if interface.contains(':') && !interface.starts_with('[') {
        format!("[{interface}]")
    } else {
        interface
    };
    let protocols = config.get::<Option<Table>>("protocols")?;
    let default = config.get::<Option<Function>>("default")?;
    let (sender, accepted) = mpsc::channel(ACCEPT_BACKLOG);
    let mut builder = wsio::Server::builder();
    // wsio's own options: permessage-deflate for the clients that offer it, and limits.
    if config.get::<Option<bool>>("deflate")?.unwrap_or(false) {
        builder = builder.deflate(wsio::DeflateConfig::default());
    }
    if let Some(size) = config.get::<Option<usize>>("max_message_size")? {
        builder = builder.max_message_size(size);
    }
    if let Some(size) = config.get::<Option<usize>>("max_frame_size")? {
        builder = builder.max_frame_size(size);
    }
    builder = with_certificate(builder, &config)?;
    if let Some(protocols) = &protocols {
        for pair in protocols.pairs::<String, Function>() {
            let (name, _) = pair.map_err(|error| {
                mlua::Error::runtime(format!(
                    "wsio: config.protocols maps names to handler functions: {error}"
                ))
            })?;
            builder = builder.subprotocol(name.clone(), forward(sender.clone(), Some(name)));
        }
    }
    if default.is_some() {
        builder = builder.fallback(forward(sender, None));
    }
    let addr = format!("{host}:{port}");
    let executor = Executor::of(lua)?;
    let server = executor
        .block_on(builder.bind(&addr))
        .map_err(|error| mlua::Error::runtime(format!("wsio: cannot listen on {addr}: {error}")))?;
    let (stop, stopped) = oneshot::channel();
    let (handle, local_addr) = (server.handle(), server.local_addr());
    let released = runtime::spawn_listener(async move {
        if let Err(problem) = server.run().await {
            eprintln!("wsio: the server on {addr} stopped accepting: {problem}");
        }
    });
    let listener = Listener {
        handle,
        addr: local_addr,
        stop: std::cell::RefCell::new(Some(stop)),
        released,
    };
    let handle = lua.create_userdata(listener)?;
    let handlers = Handlers {
        protocols,
        default,
        _listener: handle.clone(),
    };
    executor.spawn(Box::pin(dispatch(lua.weak(), accepted, stopped, handlers)));
    Methods::of(lua)?.object(lua, "server", handle)
}

/// `builder` serving `wss://` with `config.certificate` and `config.key` (PEM files), if
/// given; both or neither.
fn with_certificate(
    builder: wsio::ServerBuilder,
    config: &Table,
) -> mlua::Result<wsio::ServerBuilder> {
    match certificate_and_key(config)? {
        Some((chain, key)) => builder
            .tls_certificate(chain, key)
            .map_err(|problem| pem_error(&problem)),
        None => Ok(builder),
    }
}

/// A server handler that hands each connection to the Lua thread, and lasts as long as the
/// Lua side keeps the connection.
fn forward(
    sender: mpsc::Sender<Accepted>,
    subprotocol: Option<String>,
) -> impl Fn(WebSocket<Transport>, ServerRequest) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    move |ws, _request| {
        let (served, done) = oneshot::channel();
        let accepted = Accepted {
            ws,
            subprotocol: subprotocol.clone(),
            served,
        };
        // Past the backlog (the program has not polled for a while), or once the server is
        // closed, the connection is dropped.
        let handed = sender.try_send(accepted).is_ok();
        Box::pin(async move {
            if handed {
                // Ends when the Lua side drops the connection.
                let _ = done.await;
            }
        })
    }
}

/// The handlers of a server's connections, and the server object's handle, which lives as
/// long as the server serves whether the program keeps the object or not.
struct Handlers {
    protocols: Option<Table>,
    default: Option<Function>,
    _listener: AnyUserData,
}

impl Handlers {
    /// The handler of a connection that chose `subprotocol`.
    fn of(&self, subprotocol: Option<&str>) -> Option<Function> {
        let named = match (subprotocol, &self.protocols) {
            (Some(name), Some(protocols)) => protocols.get::<Option<Function>>(name).ok().flatten(),
            _ => None,
        };
        named.or_else(|| self.default.clone())
    }
}

/// The server's task on the Lua thread: starts a handler coroutine for each connection, until
/// the server is closed.
async fn dispatch(
    weak: mlua::WeakLua,
    mut accepted: mpsc::Receiver<Accepted>,
    mut stopped: oneshot::Receiver<()>,
    handlers: Handlers,
) {
    loop {
        let next = tokio::select! {
            next = accepted.recv() => next,
            _ = &mut stopped => None,
        };
        let Some(next) = next else { return };
        let Some(lua) = weak.try_upgrade() else {
            return;
        };
        let handler = handlers.of(next.subprotocol.as_deref());
        let Some(handler) = handler else { continue };
        if let Err(error) = start(&lua, handler, next) {
            eprintln!("wsio: a server connection could not start its handler: {error}");
        }
    }
}

/// Runs `handler` on one connection, and closes the connection after it.
fn start(lua: &Lua, handler: Function, accepted: Accepted) -> mlua::Result<()> {
    let conn = Conn::new(accepted.ws, Some(accepted.served));
    let object = Socket::object(lua, Some(conn), None, ClientExtras::default())?;
    let handle: AnyUserData = object.raw_get("__handle")?;
    let args = object.into_lua_multi(lua)?;
    Executor::of(lua)?.spawn_lua(lua, handler, args, move |lua, result| {
        finish(lua, &handle, result)
    })
}

/// After a handler: the connection is closed, with 1011 if the handler failed.
fn finish(lua: &Lua, handle: &AnyUserData, result: mlua::Result<MultiValue>) {
    let (code, reason) = match result {
        Ok(_) => (CloseCode::NORMAL, ""),
        Err(error) => {
            eprintln!("wsio: a server handler failed: {error}");
            (CloseCode::INTERNAL_ERROR, "handler failed")
        }
    };
    let Ok(socket) = handle.borrow::<Socket>() else {
        return;
    };
    let Some(conn) = socket.conn() else {
        return;
    };
    socket.release();
    drop(socket);
    if let Ok(executor) = Executor::of(lua) {
        executor.spawn(Box::pin(close_after_handler(conn, code, reason)));
    }
}

/// Closes a connection its handler left, and waits for the end of the handshake.
async fn close_after_handler(conn: Rc<Conn>, code: CloseCode, reason: &'static str) {
    conn.send_close(code, reason).await;
    conn.drain().await;
}
