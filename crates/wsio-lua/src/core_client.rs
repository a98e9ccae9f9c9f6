//! The editor's `core.websocket` client: `wsio.core.connect(url, [options])` (also
//! `wsio.core.client.new(url, options)`) returns at once a client that connects, reads and
//! reconnects in a task of the module's scheduler, calling the options' callbacks
//! (`on_connect`, `on_message`, `on_ping`, `on_pong`, `on_close`, `on_error`, `on_reconnect`,
//! `restore_session`, `should_reconnect`, `is_cancelled`) from inside
//! `wsio.poll`/`wsio.run`.
//!
//! `client:send`, `send_text`, `send_binary` and `ping` queue (while connecting or
//! reconnecting too; the queue is sent once open, what `restore_session` sends first) and
//! return `true`, or `nil` and why once the client is closed; `client:close([code],
//! [reason])` closes for good; `client:get_status()` is the status and the last error. The
//! client's fields `status`, `protocol`, `response_info`, `reconnect_attempt`, `error` and
//! `url` follow the connection. Reconnection waits `reconnect_delay` (1 s) times
//! `reconnect_backoff` (2) per attempt, at most `reconnect_delay_max` (30 s), plus up to
//! `reconnect_jitter` (0) at random, for at most `max_reconnect_attempts` (no limit).
//! `ping_interval` (seconds; 0 or none for no pings) sends a ping with `ping_payload`;
//! `timeout` (seconds) bounds connecting and ends a connection that received nothing for that
//! long. At most [`MAX_QUEUE`] messages wait to be sent; past that, `send` returns `nil,
//! "queue full"`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use mlua::{Function, IntoLua, IntoLuaMulti, Lua, MultiValue, Table, UserData, Value};
use tokio::sync::Notify;
use wsio::{CloseCode, Message};

use crate::args::strings;
use crate::client_options::ClientExtras;
use crate::executor::Executor;
use crate::methods::Methods;
use crate::socket::seconds;

/// How many messages may wait to be sent (while connecting or reconnecting, or while the
/// connection is slow) before `send` says `nil, "queue full"`.
const MAX_QUEUE: usize = 1024;

/// What the client is asked to do, in order.
enum Command {
    Send(Message),
    Close(CloseCode, String),
}

/// What the client object's methods and its task share.
struct Shared {
    queue: RefCell<VecDeque<Command>>,
    /// What `restore_session` sends, which goes before the queue.
    restoring: RefCell<Option<VecDeque<Command>>>,
    closed: RefCell<bool>,
    wake: Notify,
}

/// The handle inside a client object.
pub(crate) struct CoreClient(Rc<Shared>);

impl UserData for CoreClient {}

/// The options, read once.
struct Options {
    extras: ClientExtras,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    reconnect: bool,
    delay: f64,
    backoff: f64,
    delay_max: f64,
    jitter: f64,
    max_attempts: Option<u32>,
    ping_interval: Option<Duration>,
    ping_payload: Bytes,
    timeout: Option<Duration>,
}

/// `wsio.core` and the client's methods.
pub(crate) fn register(lua: &Lua, methods: &Methods, module: &Table) -> mlua::Result<()> {
    let core = lua.create_table()?;
    let connect = lua.create_function(|lua, (url, options): (String, Option<Table>)| {
        connect(lua, url, options)
    })?;
    let connect = methods.plain(connect)?;
    // `websocket.client.new(url, options)` makes the same client: there is no other way to
    // start one connecting.
    let class = lua.create_table()?;
    class.set("new", connect.clone())?;
    core.set("client", class)?;
    core.set("connect", connect)?;
    module.set("core", core)?;
    let queueing: [(&str, MessageOf); 4] = [
        ("send", text),
        ("send_text", text),
        ("send_binary", |data| Ok(Message::Binary(data))),
        ("ping", |data| Ok(Message::Ping(data))),
    ];
    for (name, make) in queueing {
        let method =
            lua.create_function(move |lua, (this, data): (Table, Option<mlua::String>)| {
                let data = data.map_or_else(Bytes::new, |d| Bytes::copy_from_slice(&d.as_bytes()));
                let message = make(data)?;
                queue(lua, &this, Command::Send(message))
            })?;
        methods.add_plain(lua, "core_client", name, method)?;
    }
    let close = lua.create_function(
        |lua, (this, code, reason): (Table, Option<u16>, Option<String>)| {
            let code = CloseCode::from(code.unwrap_or(1000));
            queue(lua, &this, Command::Close(code, reason.unwrap_or_default()))
        },
    )?;
    methods.add_plain(lua, "core_client", "close", close)?;
    let status = lua.create_function(|_, this: Table| {
        Ok((
            this.raw_get::<Value>("status")?,
            this.raw_get::<Value>("error")?,
        ))
    })?;
    methods.add_plain(lua, "core_client", "get_status", status)
}

/// Makes a message of a payload.
type MessageOf = fn(Bytes) -> mlua::Result<Message>;

fn text(data: Bytes) -> mlua::Result<Message> {
    wsio::Utf8Bytes::try_from(data)
        .map(Message::Text)
        .map_err(|_| mlua::Error::runtime("wsio: a text message must be UTF-8"))
}

/// Queues `command` for the client `this`: `true`, or `nil, "closed"`.
fn queue(lua: &Lua, this: &Table, command: Command) -> mlua::Result<MultiValue> {
    let handle: mlua::AnyUserData = this.raw_get("__handle")?;
    let client = handle.borrow::<CoreClient>()?;
    let shared = &client.0;
    if *shared.closed.borrow() {
        return (Value::Nil, "closed").into_lua_multi(lua);
    }
    if matches!(command, Command::Close(..)) {
        *shared.closed.borrow_mut() = true;
    } else if shared.queue.borrow().len() >= MAX_QUEUE {
        return (Value::Nil, "queue full").into_lua_multi(lua);
    }
    match shared.restoring.borrow_mut().as_mut() {
        Some(first) if !matches!(command, Command::Close(..)) => first.push_back(command),
        _ => shared.queue.borrow_mut().push_back(command),
    }
    shared.wake.notify_one();
    true.into_lua_multi(lua)
}

/// `wsio.core.connect(url, [options])`.
fn connect(lua: &Lua, url: String, options: Option<Table>) -> mlua::Result<Table> {
    let options = options.unwrap_or(lua.create_table()?);
    let settings = read_options(&options)?;
    wsio::proto::parse_url(&url)
        .map_err(|problem| mlua::Error::runtime(format!("wsio: {problem}")))?;
    let shared = Rc::new(Shared {
        queue: RefCell::new(VecDeque::new()),
        restoring: RefCell::new(None),
        closed: RefCell::new(false),
        wake: Notify::new(),
    });
    let handle = lua.create_userdata(CoreClient(shared.clone()))?;
    let client = Methods::of(lua)?.object(lua, "core_client", handle)?;
    client.raw_set("url", url.as_str())?;
    client.raw_set("status", "connecting")?;
    client.raw_set("reconnect_attempt", 0)?;
    let task = run(lua.weak(), client.clone(), options, settings, shared, url);
    Executor::of(lua)?.spawn(Box::pin(task));
    Ok(client)
}

fn read_options(options: &Table) -> mlua::Result<Options> {
    let mut headers = Vec::new();
    if let Some(table) = options.get::<Option<Table>>("headers")? {
        for pair in table.pairs::<String, String>() {
            headers.push(pair?);
        }
    }
    let protocols = strings(options.get("protocols")?, "options.protocols")?;
    let number = |name: &str, default: f64| -> mlua::Result<f64> {
        let value = options.get::<Option<f64>>(name)?.unwrap_or(default);
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(mlua::Error::runtime(format!(
                "wsio: options.{name} must be a number of seconds, not {value}"
            )))
        }
    };
    Ok(Options {
        extras: ClientExtras::read(Some(options))?,
        headers,
        protocols,
        reconnect: options.get::<Option<bool>>("reconnect")?.unwrap_or(false),
        delay: number("reconnect_delay", 1.0)?,
        backoff: options
            .get::<Option<f64>>("reconnect_backoff")?
            .unwrap_or(2.0)
            .max(1.0),
        delay_max: number("reconnect_delay_max", 30.0)?,
        jitter: number("reconnect_jitter", 0.0)?,
        max_attempts: options.get("max_reconnect_attempts")?,
        // 0 means no pings, as no value does.
        ping_interval: seconds(options.get("ping_interval")?, "options.ping_interval")?
            .filter(|every| !every.is_zero()),
        ping_payload: options
            .get::<Option<mlua::String>>("ping_payload")?
            .map_or_else(Bytes::new, |p| Bytes::copy_from_slice(&p.as_bytes())),
        timeout: seconds(options.get("timeout")?, "options.timeout")?,
    })
}

/// How a session ended.
#[derive(Default, Clone)]
struct Outcome {
    attempt: u32,
    opened: bool,
    was_clean: bool,
    close_code: Option<u16>,
    close_reason: String,
    error: Option<String>,
    /// Closed by `client:close` or `is_cancelled`: no reconnection.
    closed_here: bool,
}

impl Outcome {
    fn table(&self, lua: &Lua) -> mlua::Result<Table> {
        let table = lua.create_table()?;
        table.set("attempt", self.attempt)?;
        table.set("opened", self.opened)?;
        table.set("was_clean", self.was_clean)?;
        table.set("close_code", self.close_code)?;
        table.set("close_reason", self.close_reason.as_str())?;
        table.set("error", self.error.as_deref())?;
        Ok(table)
    }

    /// Adds `previous_*` fields from the outcome before.
    fn previous(table: &Table, previous: Option<&Outcome>) -> mlua::Result<()> {
        table.set("is_reconnect", previous.is_some())?;
        if let Some(previous) = previous {
            table.set("previous_close_code", previous.close_code)?;
            table.set("previous_close_reason", previous.close_reason.as_str())?;
            table.set("previous_error", previous.error.as_deref())?;
            table.set("previous_was_clean", previous.was_clean)?;
        }
        Ok(())
    }
}

/// Calls the option `name` if it is a function; an error it raises goes to `on_error`.
fn callback(client: &Table, options: &Table, name: &str, args: impl IntoLuaMulti) -> Option<Value> {
    let function = options.get::<Option<Function>>(name).ok().flatten()?;
    match function.call::<Value>(args) {
        Ok(value) => Some(value),
        Err(error) => {
            report(client, options, &format!("{name} failed: {error}"));
            None
        }
    }
}

/// Sets the client's `error` and calls `on_error` (or prints, without one).
fn report(client: &Table, options: &Table, message: &str) {
    let _ = client.raw_set("error", message);
    let handler = options.get::<Option<Function>>("on_error").ok().flatten();
    match handler {
        Some(on_error) => {
            if let Err(error) = on_error.call::<()>((client.clone(), message)) {
                eprintln!("wsio: on_error failed: {error}");
            }
        }
        None => eprintln!("wsio: {message}"),
    }
}

/// The client's task: sessions, and the waits between them.
async fn run(
    weak: mlua::WeakLua,
    client: Table,
    options: Table,
    settings: Options,
    shared: Rc<Shared>,
    url: String,
) {
    let mut previous: Option<Outcome> = None;
    let mut attempt = 0u32;
    let mut reconnects = 0u32;
    loop {
        attempt += 1;
        let Some(lua) = weak.try_upgrade() else {
            return;
        };
        let context = Session {
            lua: &lua,
            client: &client,
            options: &options,
            settings: &settings,
            shared: &shared,
        };
        let outcome = session(&context, &url, attempt, previous.as_ref()).await;
        if outcome.opened || outcome.close_code.is_some() {
            callback(
                &client,
                &options,
                "on_close",
                (
                    client.clone(),
                    outcome.close_code,
                    outcome.close_reason.as_str(),
                    outcome.was_clean,
                ),
            );
        }
        if let Some(error) = &outcome.error {
            report(&client, &options, error);
        }
        let stop = outcome.closed_here
            || *shared.closed.borrow()
            || !settings.reconnect
            || settings.max_attempts.is_some_and(|max| reconnects >= max)
            || cancelled(&options);
        let stop = stop || {
            let info = outcome.table(&lua).ok();
            matches!(
                info.and_then(|info| callback(
                    &client,
                    &options,
                    "should_reconnect",
                    (client.clone(), info)
                )),
                Some(Value::Boolean(false))
            )
        };
        if stop {
            let _ = client.raw_set("status", "closed");
            *shared.closed.borrow_mut() = true;
            return;
        }
        reconnects += 1;
        let delay = delay(&settings, reconnects);
        let _ = client.raw_set("status", "reconnecting");
        let _ = client.raw_set("reconnect_attempt", reconnects);
        if let Ok(info) = outcome.table(&lua) {
            let _ = info.set("attempt", reconnects);
            let _ = info.set("delay", delay.as_secs_f64());
            let _ = Outcome::previous(&info, Some(&outcome));
            callback(&client, &options, "on_reconnect", (client.clone(), info));
        }
        let waited = tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = wait_closed(&shared, &options) => false,
        };
        if !waited {
            let _ = client.raw_set("status", "closed");
            return;
        }
        previous = Some(outcome);
    }
}

/// The delay before reconnection `n` (from 1).
fn delay(settings: &Options, n: u32) -> Duration {
    let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
    let base = (settings.delay * settings.backoff.powi(exponent)).min(settings.delay_max);
    let jitter = settings.jitter * random_fraction();
    Duration::try_from_secs_f64(base + jitter).unwrap_or(Duration::from_secs(30))
}

fn random_fraction() -> f64 {
    let [a, b, c, d] = wsio::proto::random_mask();
    f64::from(u32::from_le_bytes([a, b, c, d])) / f64::from(u32::MAX)
}

/// Whether `is_cancelled` says to stop.
fn cancelled(options: &Table) -> bool {
    let Some(is_cancelled) = options
        .get::<Option<Function>>("is_cancelled")
        .ok()
        .flatten()
    else {
        return false;
    };
    matches!(is_cancelled.call::<Value>(()), Ok(value) if value.as_boolean() == Some(true))
}

/// Waits until the client is closed or cancelled (checked every 100 ms).
async fn wait_closed(shared: &Shared, options: &Table) {
    loop {
        if *shared.closed.borrow() || cancelled(options) {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), shared.wake.notified()).await;
    }
}

/// What a session works with.
struct Session<'a> {
    lua: &'a Lua,
    client: &'a Table,
    options: &'a Table,
    settings: &'a Options,
    shared: &'a Shared,
}

/// One connection, from the attempt to its end.
async fn session(
    context: &Session<'_>,
    url: &str,
    attempt: u32,
    previous: Option<&Outcome>,
) -> Outcome {
    let Session {
        lua,
        client,
        options,
        settings,
        shared,
    } = *context;
    let mut outcome = Outcome {
        attempt,
        ..Outcome::default()
    };
    let mut builder = match wsio::ClientBuilder::new(url).and_then(|b| settings.extras.apply(b)) {
        Ok(builder) => builder,
        Err(error) => {
            outcome.error = Some(error.to_string());
            return outcome;
        }
    };
    for (name, value) in &settings.headers {
        builder = builder.header(name.clone(), value.clone());
    }
    if !settings.protocols.is_empty() {
        builder = builder.subprotocols(settings.protocols.clone());
    }
    if let Some(timeout) = settings.timeout {
        builder = builder.connect_timeout(timeout);
    }
    let connected = tokio::select! {
        connected = builder.connect() => Some(connected),
        () = wait_closed(shared, options) => None,
    };
    let (ws, response) = match connected {
        None => {
            outcome.closed_here = true;
            return outcome;
        }
        Some(Err(error)) => {
            outcome.error = Some(error.to_string());
            return outcome;
        }
        Some(Ok(connected)) => connected,
    };
    outcome.opened = true;
    let info = response_info(lua, url, &response);
    let _ = client.raw_set("status", "open");
    let _ = client.raw_set("error", Value::Nil);
    let _ = client.raw_set("protocol", response.subprotocol());
    let _ = client.raw_set("response_info", info.clone().ok());
    let session_info = lua.create_table().and_then(|table| {
        table.set("attempt", attempt)?;
        Outcome::previous(&table, previous)?;
        Ok(table)
    });
    if let (Ok(info), Ok(session_info)) = (&info, &session_info) {
        callback(
            client,
            options,
            "on_connect",
            (client.clone(), info.clone(), session_info.clone()),
        );
        // What restore_session sends goes before what was queued.
        shared.restoring.replace(Some(VecDeque::new()));
        callback(
            client,
            options,
            "restore_session",
            (client.clone(), session_info.clone(), info.clone()),
        );
        let first = shared.restoring.replace(None).unwrap_or_default();
        let mut queue = shared.queue.borrow_mut();
        for command in first.into_iter().rev() {
            queue.push_front(command);
        }
    }
    let (mut read, mut write) = ws.split();
    let mut pings = settings
        .ping_interval
        .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    let mut last_heard = tokio::time::Instant::now();
    loop {
        // Send what is queued.
        loop {
            let next = shared.queue.borrow_mut().pop_front();
            let Some(command) = next else { break };
            match command {
                Command::Send(message) => {
                    if let Err(error) = write.send(message).await {
                        outcome.error = Some(error.to_string());
                    }
                }
                Command::Close(code, reason) => {
                    let _ = client.raw_set("status", "closing");
                    outcome.closed_here = true;
                    let _ = write.send_close(code, &reason).await;
                }
            }
        }
        if cancelled(options) && !outcome.closed_here {
            outcome.closed_here = true;
            *shared.closed.borrow_mut() = true;
            let _ = client.raw_set("status", "closing");
            let _ = write.send_close(CloseCode::GOING_AWAY, "cancelled").await;
        }
        let idle = settings.timeout.map(|timeout| last_heard + timeout);
        tokio::select! {
            message = read.recv() => match message {
                Some(Ok(message)) => {
                    last_heard = tokio::time::Instant::now();
                    deliver(lua, client, options, message);
                }
                Some(Err(error)) => {
                    outcome.error = Some(error.to_string());
                }
                None => break,
            },
            () = shared.wake.notified() => {}
            _ = async { pings.as_mut().unwrap().tick().await }, if pings.is_some() => {
                let _ = write.ping(settings.ping_payload.clone()).await;
            }
            () = async { tokio::time::sleep_until(idle.unwrap()).await }, if idle.is_some() => {
                outcome.error = Some("timeout".to_owned());
                let _ = write.send_close(CloseCode::GOING_AWAY, "timeout").await;
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(100)), if options.contains_key("is_cancelled").unwrap_or(false) => {}
        }
    }
    drop(write);
    if let Some(info) = read.close_info() {
        outcome.was_clean = info.was_clean;
        outcome.close_code = Some(u16::from(info.code));
        outcome.close_reason = info.reason.as_str().to_owned();
        if outcome.error.is_none() && !info.was_clean {
            outcome.error = info.error.map(|error| error.to_string());
        }
    }
    outcome
}

/// Hands a message to the matching callback.
fn deliver(lua: &Lua, client: &Table, options: &Table, message: Message) {
    let string = |data: &[u8]| {
        lua.create_string(data)
            .map(Value::String)
            .unwrap_or(Value::Nil)
    };
    match message {
        Message::Text(text) => {
            callback(
                client,
                options,
                "on_message",
                (client.clone(), string(text.as_bytes()), false),
            );
        }
        Message::Binary(data) => {
            callback(
                client,
                options,
                "on_message",
                (client.clone(), string(&data), true),
            );
        }
        Message::Ping(data) => {
            callback(client, options, "on_ping", (client.clone(), string(&data)));
        }
        Message::Pong(data) => {
            callback(client, options, "on_pong", (client.clone(), string(&data)));
        }
        Message::Close(_) => {}
    }
}

/// The `response_info` table: `status`, `headers`, `protocol`, `url`.
fn response_info(lua: &Lua, url: &str, response: &wsio::Response) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("status", response.status().as_u16())?;
    table.set("url", url)?;
    table.set("protocol", response.subprotocol())?;
    let headers = lua.create_table()?;
    for (name, value) in response.headers() {
        let value = lua.create_string(value.as_bytes())?.into_lua(lua)?;
        match headers.raw_get::<Value>(name.as_str())? {
            Value::Nil => headers.raw_set(name.as_str(), value)?,
            Value::Table(list) => list.push(value)?,
            first => headers.raw_set(name.as_str(), lua.create_sequence_from([first, value])?)?,
        }
    }
    table.set("headers", headers)?;
    Ok(table)
}
