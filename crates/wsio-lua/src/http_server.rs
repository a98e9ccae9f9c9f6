//! An HTTP server whose handlers may upgrade a request to WebSocket, for eco.websocket's
//! `upgrade(con, req, [opts])`: `wsio.eco.http.listen(ipaddr, port, [options], handler)`
//! (also `require "wsio.eco.http.server"`), in the shape of eco.http.server's, as far as
//! eco.websocket's documented use of it goes.
//!
//! Each request runs `handler(con, req)` in a task of its own. `req` holds `method`, `path`,
//! `query` (the target after `?`, or `nil`), `http_version` (`1.1`, or `1.0`) and `headers`
//! (names in lower case; repeated headers joined with `", "`). Unless the handler upgrades,
//! the server answers once it returns, with what it set through `con:set_status(code)`,
//! `con:add_header(name, value)` and `con:send(data, ...)` (200 and an empty body by
//! default; no body to `HEAD`), and closes the connection; a handler that raises an error is
//! reported and answered with 500. `upgrade(con, req, [opts])` validates the handshake,
//! answers `101` and returns an eco.websocket connection (see [`crate::frames`]), or `nil`
//! and why (the client is then answered 400, 426 or the like). Its options: eco's
//! `max_payload_len` (65535 by default), and wsio's `protocols` (the subprotocols the server
//! speaks, a list or a string joined with commas: the first of them the client offers is
//! chosen) and `deflate = true`.
//!
//! Limits: the request head is read within 10 s and may be up to 16 KiB
//! (`options.max_head_size`); at most 1,024 connections send their head at once, and 1,024
//! requests wait for the program (more are answered 503); a response is written within 10 s.
//! Requests are not read past their head (what follows is read and dropped for a second
//! after the answer, so that the close does not destroy it), and one connection carries one
//! request.
//!
//! `listen` returns a server object at once (the server runs in the background, and its
//! handlers inside `wsio.poll`/`wsio.run`, as eco's run inside `eco.loop()`), with
//! `server:port()` and `server:close()` (which stops accepting and reading requests at
//! once, and returns once the port is free again); `nil, err` if it cannot listen.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, Table, UserData, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use wsio::Transport;
use wsio::proto::handshake::{
    HandshakeError, ServerHandshake, encode_response, encode_response_head, select_subprotocol,
};

use crate::args::{eco_protocols, error};
use crate::executor::Executor;
use crate::frames::{ECO_MAX_PAYLOAD, FrameConn};
use crate::methods::{Methods, handle_of};
use crate::runtime;

/// How many requests may wait for the program to poll before more are refused with 503.
const REQUEST_BACKLOG: usize = 1024;

/// How many connections may be sending their request head at once; more wait to be accepted.
const MAX_PENDING_HEADS: usize = 1024;

/// How long writing a response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long what a client still sends after its answer is read and dropped before the
/// connection is closed, so that unread bytes do not turn the close into a reset that could
/// destroy the answer on its way.
const LINGER: Duration = Duration::from_secs(1);

/// How long the server waits before accepting again after accepting failed (out of file
/// descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The default limit on a request head.
const MAX_HEAD_SIZE: usize = 16 * 1024;

/// A request read on the runtime, on its way to the Lua thread.
struct Incoming {
    stream: TcpStream,
    request: Request<()>,
    leftover: Bytes,
}

/// `con`: one request's connection, until it is answered or upgraded.
struct HttpConn {
    /// Taken by the answer or by `upgrade`.
    io: RefCell<Option<(TcpStream, Bytes)>>,
    request: Request<()>,
    status: Cell<u16>,
    headers: RefCell<HeaderMap>,
    body: RefCell<Vec<u8>>,
}

impl UserData for HttpConn {}

/// The server object's handle.
struct HttpListener {
    port: u16,
    /// Set by `close`: the server stops accepting, reading heads and running handlers.
    stop: watch::Sender<bool>,
    /// The end of the accept loop, which `close` waits for.
    released: runtime::Released,
}

impl UserData for HttpListener {}

/// `wsio.eco.http` (`listen`), `wsio.eco.upgrade`, and the objects' methods.
pub(crate) fn register(lua: &Lua, methods: &Methods, eco: &Table) -> mlua::Result<()> {
    let http = lua.create_table()?;
    let listen = lua.create_function(
        |lua, (ipaddr, port, options, handler): (Option<String>, u16, Option<Table>, Function)| {
            listen(lua, ipaddr, port, options, handler)
        },
    )?;
    http.set("listen", methods.plain(listen)?)?;
    eco.set("http", http)?;
    eco.set("upgrade", methods.function(lua, upgrade)?)?;
    let set_status = lua.create_function(|_, (this, code): (Table, u16)| {
        let conn = handle_of(&this)?;
        let conn = conn.borrow::<HttpConn>()?;
        StatusCode::from_u16(code).map_err(|_| error(format!("{code} is not an HTTP status")))?;
        conn.status.set(code);
        Ok(())
    })?;
    methods.add_plain(lua, "http_conn", "set_status", set_status)?;
    let add_header = lua.create_function(|_, (this, name, value): (Table, String, String)| {
        let conn = handle_of(&this)?;
        let conn = conn.borrow::<HttpConn>()?;
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| error(format!("{name:?} is not a header name")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| error(format!("{value:?} is not a header value")))?;
        conn.headers.borrow_mut().append(name, value);
        Ok(())
    })?;
    methods.add_plain(lua, "http_conn", "add_header", add_header)?;
    let send = lua.create_function(|_, (this, parts): (Table, mlua::Variadic<mlua::String>)| {
        let conn = handle_of(&this)?;
        let conn = conn.borrow::<HttpConn>()?;
        for part in parts.iter() {
            conn.body.borrow_mut().extend_from_slice(&part.as_bytes());
        }
        Ok(true)
    })?;
    methods.add_plain(lua, "http_conn", "send", send)?;
    let port =
        lua.create_function(|_, this: Table| Ok(handle_of(&this)?.borrow::<HttpListener>()?.port))?;
    methods.add_plain(lua, "http_server", "port", port)?;
    let close = lua.create_function(|_, this: Table| {
        let handle = handle_of(&this)?;
        let listener = handle.borrow::<HttpListener>()?;
        listener.stop.send_replace(true);
        listener.released.wait();
        Ok(())
    })?;
    methods.add_plain(lua, "http_server", "close", close)?;
    Ok(())
}

/// `listen(ipaddr, port, [options], handler)`: the server object, or `nil, err`.
fn listen(
    lua: &Lua,
    ipaddr: Option<String>,
    port: u16,
    options: Option<Table>,
    handler: Function,
) -> mlua::Result<MultiValue> {
    let max_head_size = match &options {
        Some(options) => options.get::<Option<usize>>("max_head_size")?,
        None => None,
    }
    .unwrap_or(MAX_HEAD_SIZE);
    let host = match ipaddr.as_deref() {
        None | Some("*") => "0.0.0.0".to_owned(),
        Some(ip) if ip.contains(':') && !ip.starts_with('[') => format!("[{ip}]"),
        Some(ip) => ip.to_owned(),
    };
    let addr = format!("{host}:{port}");
    let executor = Executor::of(lua)?;
    let listener = match executor.block_on(TcpListener::bind(&addr)) {
        Ok(listener) => listener,
        Err(problem) => {
            return (Value::Nil, format!("cannot listen on {addr}: {problem}")).into_lua_multi(lua);
        }
    };
    let port = listener.local_addr().map(|addr| addr.port())?;
    let (sender, requests) = mpsc::channel(REQUEST_BACKLOG);
    let (stop, stopped) = watch::channel(false);
    let released =
        runtime::spawn_listener(accept(listener, sender, stopped.clone(), max_head_size));
    let handle = lua.create_userdata(HttpListener {
        port,
        stop,
        released,
    })?;
    // The task keeps the server's handle: the server serves until closed, whether the program
    // keeps the object or not.
    let dispatching = dispatch(lua.weak(), requests, stopped, handler, handle.clone());
    executor.spawn(Box::pin(dispatching));
    Methods::of(lua)?
        .object(lua, "http_server", handle)?
        .into_lua_multi(lua)
}

/// Whether `stop` is set; waits for it (or for the server object to be gone) otherwise.
async fn stopping(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Accepts connections until the server is closed, reading each request head in a task of its
/// own, [`MAX_PENDING_HEADS`] at a time.
async fn accept(
    listener: TcpListener,
    sender: mpsc::Sender<Incoming>,
    stop: watch::Receiver<bool>,
    max_head_size: usize,
) {
    let heads = std::sync::Arc::new(Semaphore::new(MAX_PENDING_HEADS));
    loop {
        let next = async {
            let permit = heads.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        let (permit, accepted) = tokio::select! {
            next = next => next,
            () = stopping(stop.clone()) => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(ACCEPT_RETRY).await;
            continue;
        };
        let (sender, stop) = (sender.clone(), stop.clone());
        tokio::spawn(async move {
            let read = tokio::time::timeout(HEAD_TIMEOUT, read_head(stream, max_head_size));
            let read = tokio::select! {
                read = read => read,
                () = stopping(stop) => return,
            };
            drop(permit);
            if let Ok(Some(incoming)) = read {
                if let Err(refused) = sender.try_send(incoming) {
                    let busy = plain_response(StatusCode::SERVICE_UNAVAILABLE, "busy\n");
                    respond(refused.into_inner().stream, busy).await;
                }
            }
        });
    }
}

/// Writes `response` (within [`WRITE_TIMEOUT`]) and closes the connection, reading what the
/// client still sends for up to [`LINGER`] first.
async fn respond(mut stream: TcpStream, mut response: Response<Bytes>) {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    let write = async {
        stream.write_all(&encode_response(&response)).await?;
        stream.shutdown().await
    };
    if !matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0; 4096];
    let rest = async { while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {} };
    let _ = tokio::time::timeout(LINGER, rest).await;
}

/// Reads a request head; a malformed or oversized one is answered here (400, 431).
async fn read_head(mut stream: TcpStream, max_head_size: usize) -> Option<Incoming> {
    let mut handshake = ServerHandshake::with_max_head_size(max_head_size);
    let mut buffer = vec![0; 4096];
    loop {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        match handshake.receive(&buffer[..read]) {
            Ok(None) => {}
            Ok(Some(incoming)) => {
                return Some(Incoming {
                    stream,
                    request: incoming.request,
                    leftover: incoming.leftover,
                });
            }
            Err(problem) => {
                respond(stream, problem.response()).await;
                return None;
            }
        }
    }
}

/// The server's task on the Lua thread: runs the handler for each request, until the server
/// is closed.
async fn dispatch(
    weak: mlua::WeakLua,
    mut requests: mpsc::Receiver<Incoming>,
    stop: watch::Receiver<bool>,
    handler: Function,
    _listener: AnyUserData,
) {
    loop {
        let next = tokio::select! {
            next = requests.recv() => next,
            () = stopping(stop.clone()) => None,
        };
        let Some(incoming) = next else { return };
        let Some(lua) = weak.try_upgrade() else {
            return;
        };
        if let Err(problem) = start(&lua, &handler, incoming) {
            eprintln!("wsio: an HTTP request could not start its handler: {problem}");
        }
    }
}

/// Runs `handler(con, req)` for one request, and answers it after unless it was upgraded.
fn start(lua: &Lua, handler: &Function, incoming: Incoming) -> mlua::Result<()> {
    let req = request_table(lua, &incoming.request)?;
    let conn = HttpConn {
        io: RefCell::new(Some((incoming.stream, incoming.leftover))),
        request: incoming.request,
        status: Cell::new(200),
        headers: RefCell::new(HeaderMap::new()),
        body: RefCell::new(Vec::new()),
    };
    let handle = lua.create_userdata(conn)?;
    let con = Methods::of(lua)?.object(lua, "http_conn", handle.clone())?;
    let args = (con, req).into_lua_multi(lua)?;
    Executor::of(lua)?.spawn_lua(lua, handler.clone(), args, move |_, result| {
        answer(&handle, result);
    })
}

/// `req`: the request as the handler sees it.
fn request_table(lua: &Lua, request: &Request<()>) -> mlua::Result<Table> {
    let req = lua.create_table()?;
    req.set("method", request.method().as_str())?;
    req.set("path", request.uri().path())?;
    req.set("query", request.uri().query())?;
    let version = if request.version() == http::Version::HTTP_10 {
        1.0
    } else {
        1.1
    };
    req.set("http_version", version)?;
    let headers = lua.create_table()?;
    for name in request.headers().keys() {
        // The values as they came, bytes and all.
        let values: Vec<&[u8]> = request
            .headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        headers.set(name.as_str(), lua.create_string(values.join(&b", "[..]))?)?;
    }
    req.set("headers", headers)?;
    Ok(req)
}

/// After the handler: answers with what it set (500 if it failed), unless it upgraded.
fn answer(handle: &AnyUserData, result: mlua::Result<MultiValue>) {
    let Ok(conn) = handle.borrow::<HttpConn>() else {
        return;
    };
    let Some((stream, _)) = conn.io.borrow_mut().take() else {
        return;
    };
    let response = match result {
        Ok(_) => {
            let mut response = Response::new(Bytes::from(conn.body.take()));
            *response.status_mut() = StatusCode::from_u16(conn.status.get()).unwrap_or_default();
            *response.headers_mut() = conn.headers.take();
            let length = HeaderValue::from(response.body().len());
            response
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, length);
            // A response to HEAD says how long the body is, and leaves it out.
            if conn.request.method() == http::Method::HEAD {
                *response.body_mut() = Bytes::new();
            }
            response
        }
        Err(problem) => {
            eprintln!("wsio: an HTTP handler failed: {problem}");
            plain_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    };
    runtime::handle().spawn(respond(stream, response));
}

/// A short plain-text response with `status`.
fn plain_response(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    response
}

/// `upgrade(con, req, [opts])`: an eco.websocket connection, or `nil, err`.
async fn upgrade(
    lua: Lua,
    (con, _req, opts): (Table, Value, Option<Table>),
) -> mlua::Result<MultiValue> {
    // The options first: a bad one raises an error while the request can still be answered.
    let mut max_payload = ECO_MAX_PAYLOAD;
    let mut config = wsio::Config::default();
    let mut supported = Vec::new();
    if let Some(opts) = &opts {
        if let Some(limit) = opts.get::<Option<usize>>("max_payload_len")? {
            max_payload = limit;
        }
        if opts.get::<Option<bool>>("deflate")?.unwrap_or(false) {
            config = config.deflate(wsio::DeflateConfig::default());
        }
        supported = eco_protocols(opts.get("protocols")?, "opts.protocols")?;
        supported.retain(|name| !name.is_empty());
    }
    config = config
        .max_frame_size(max_payload)
        .max_message_size(max_payload.max(1 << 20));
    let handle = handle_of(&con)?;
    let (offer, io) = {
        let conn = handle.borrow::<HttpConn>()?;
        let Some(io) = conn.io.borrow_mut().take() else {
            return (Value::Nil, "this request was already upgraded or answered")
                .into_lua_multi(&lua);
        };
        (wsio::proto::handshake::validate_request(&conn.request), io)
    };
    let (mut stream, leftover) = io;
    let offer = match offer {
        Ok(offer) => offer,
        Err(problem) => return refuse(&lua, stream, &problem),
    };
    let subprotocol = select_subprotocol(&offer.subprotocols, &supported);
    let (response, connection) =
        match offer.accept_connection(subprotocol, config.protocol.clone(), &leftover) {
            Ok(accepted) => accepted,
            Err(problem) => return refuse(&lua, stream, &problem),
        };
    let head = encode_response_head(&response);
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&head)).await {
        Ok(Ok(())) => {}
        Ok(Err(problem)) => return (Value::Nil, problem.to_string()).into_lua_multi(&lua),
        Err(_) => return (Value::Nil, "timeout").into_lua_multi(&lua),
    }
    let ws = wsio::WebSocket::from_connection(Transport::Tcp(stream), connection, &config);
    FrameConn::eco_object(&lua, ws, max_payload, false)?.into_lua_multi(&lua)
}

/// Answers a handshake that cannot be accepted, and says why.
fn refuse(lua: &Lua, stream: TcpStream, problem: &HandshakeError) -> mlua::Result<MultiValue> {
    runtime::handle().spawn(respond(stream, problem.response()));
    (Value::Nil, problem.to_string()).into_lua_multi(lua)
}
