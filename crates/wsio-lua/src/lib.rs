//! wsio for Lua: `require "wsio"` gives Lua programs the documented APIs of the Lua WebSocket
//! libraries they already use, on top of wsio.
//!
//! - lua-websockets: `client.sync{timeout}` (`client.new`, `client.copas`), `:connect`,
//!   `:receive`, `:send`, `:close`, `TEXT`/`BINARY`, and `server.listen` (`server.copas.listen`)
//!   with `protocols`, `default` and `server:close(keep_clients)` ([`socket`], [`server`]);
//! - the `websocket` plugin: `encode_frame`, `decode_frame`, `build_handshake_request`,
//!   `validate_handshake_response`, `generate_key`, `encode_close_frame`, `parse_close_frame`,
//!   `parse_url` ([`protocol`]), and its blocking client `WsClient` ([`ws_client`]);
//! - raw frames: eco.websocket's `connect` and connection (`wsio.eco`), coro-websocket's
//!   `connect`, `wrapIo` and `parseUrl` (`wsio.coro`) ([`frames`]); eco.websocket's
//!   `upgrade`, with an HTTP server for it (`wsio.eco.http.listen`, [`http_server`]);
//! - the editor's `core.websocket` client with its callbacks, send queue and reconnection
//!   (`wsio.core.connect`, [`core_client`]).
//!
//! Every client also takes wsio's own options as extra fields of its options table
//! ([`client_options`]): `deflate`, `insecure`, `cafile`, `certificate` and `key`,
//! `max_message_size`, `max_frame_size`.
//!
//! **Event loop.** Server handlers and `wsio.spawn`ed functions run as coroutines that the
//! module schedules ([`executor`]), only inside calls the program makes: `wsio.poll([timeout])`
//! runs what is ready (waiting up to `timeout` seconds for something to be, 0 by default) and
//! returns how many tasks ran; `wsio.run()` loops until no task is left; `wsio.fd()` is a file
//! descriptor that is readable while `poll` has work (now and then also when it has none: a
//! wake-up for a task that has just finished), for programs with a loop of their own.
//! Methods block when plain Lua code calls them (running the ready tasks while they wait) and
//! yield inside those coroutines. Nothing calls into Lua from another thread.

mod args;
mod client_options;
mod core_client;
mod executor;
mod frames;
mod http_server;
mod methods;
mod protocol;
mod runtime;
mod server;
mod socket;
mod ws_client;

use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table};

use crate::executor::Executor;
use crate::methods::Methods;
use crate::socket::seconds;

/// `require "wsio.eco"`: the module's `eco` table, found by Lua's all-in-one loader in
/// `wsio.so` as `luaopen_wsio_eco`.
#[mlua::lua_module(name = "wsio_eco")]
fn open_eco(lua: &Lua) -> mlua::Result<Table> {
    open(lua)?.get("eco")
}

/// `require "wsio.eco.http.server"`: the HTTP server whose requests eco's `upgrade` takes
/// (`listen`).
#[mlua::lua_module(name = "wsio_eco_http_server")]
fn open_eco_http_server(lua: &Lua) -> mlua::Result<Table> {
    open(lua)?.get::<Table>("eco")?.get("http")
}

/// `require "wsio.coro"`: the module's `coro` table.
#[mlua::lua_module(name = "wsio_coro")]
fn open_coro(lua: &Lua) -> mlua::Result<Table> {
    open(lua)?.get("coro")
}

/// `require "wsio.core"`: the module's `core` table (`core.websocket`'s `connect`).
#[mlua::lua_module(name = "wsio_core")]
fn open_core(lua: &Lua) -> mlua::Result<Table> {
    open(lua)?.get("core")
}

/// The module's entry point, `luaopen_wsio`.
#[mlua::lua_module(name = "wsio")]
fn open(lua: &Lua) -> mlua::Result<Table> {
    runtime::start().map_err(mlua::Error::external)?;
    if lua.app_data_ref::<Executor>().is_none() {
        lua.set_app_data(Executor::new().map_err(mlua::Error::external)?);
        Methods::install(lua)?;
        let methods = Methods::of(lua)?;
        socket::register(lua, &methods)?;
        server::register(lua, &methods)?;
    }
    let methods = Methods::of(lua)?;
    let module = lua.create_table()?;
    for (name, opcode) in [
        ("CONTINUATION", 0),
        ("TEXT", socket::TEXT),
        ("BINARY", socket::BINARY),
        ("CLOSE", 8),
        ("PING", 9),
        ("PONG", 10),
    ] {
        module.set(name, opcode)?;
    }
    let poll = lua.create_function(|lua, timeout: Option<f64>| {
        let timeout = seconds(timeout, "the timeout")?.unwrap_or(Duration::ZERO);
        Executor::of(lua)?.poll(Some(timeout))
    })?;
    module.set("poll", methods.plain(poll)?)?;
    let run = lua.create_function(|lua, ()| Executor::of(lua)?.run())?;
    module.set("run", methods.plain(run)?)?;
    let fd = lua.create_function(|lua, ()| Ok(Executor::of(lua)?.fd()))?;
    module.set("fd", methods.plain(fd)?)?;
    let spawn = lua.create_function(|lua, (function, args): (Function, MultiValue)| {
        Executor::of(lua)?.spawn_lua(lua, function, args, report)
    })?;
    module.set("spawn", methods.plain(spawn)?)?;
    module.set(
        "sleep",
        methods.function(lua, |_, time: f64| async move {
            let time = seconds(Some(time), "the time")?.unwrap_or_default();
            tokio::time::sleep(time).await;
            Ok(())
        })?,
    )?;
    let new_client =
        lua.create_function(|lua, options: Option<Table>| socket::new_client(lua, options))?;
    let new_client = methods.plain(new_client)?;
    let client = lua.create_table()?;
    client.set("sync", &new_client)?;
    client.set("new", &new_client)?;
    client.set("copas", &new_client)?;
    module.set("client", client)?;
    let listen = lua.create_function(|lua, config: Table| server::listen(lua, config))?;
    let listen = methods.plain(listen)?;
    let copas = lua.create_table()?;
    copas.set("listen", &listen)?;
    let server = lua.create_table()?;
    server.set("listen", listen)?;
    server.set("copas", copas)?;
    module.set("server", server)?;
    protocol::register(lua, &methods, &module)?;
    ws_client::register(lua, &methods, &module)?;
    frames::register(lua, &methods, &module)?;
    http_server::register(lua, &methods, &module.get("eco")?)?;
    core_client::register(lua, &methods, &module)?;
    Ok(module)
}

/// Reports a spawned function's error on stderr.
fn report(_: &Lua, result: mlua::Result<MultiValue>) {
    if let Err(error) = result {
        eprintln!("wsio: a spawned function failed: {error}");
    }
}
