//! Functions that block when plain Lua code calls them and yield when a task's coroutine does
//! ([`crate::executor`]), and the objects whose methods they are.
//!
//! Each operation is written once, as an `async` Rust function. The module makes two Lua
//! functions of it, one that runs it to its end on the spot and one that yields until it is
//! done, and a small Lua function that picks one by where it is called from. Objects are Lua
//! tables holding their Rust handle in the field `__handle`, with one metatable per kind of
//! object whose `__index` holds the methods.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use mlua::{AnyUserData, FromLuaMulti, Function, IntoLuaMulti, Lua, Table};

use crate::executor::Executor;

/// Makes a dispatcher out of the predicate `in_task`, the blocking function, the yielding
/// function, and whether it is a method (its first argument the object, replaced by the
/// object's handle); with `nil` instead, it wraps a plain function. Either way, errors are
/// raised as plain strings.
const DISPATCH: &str = r#"
local in_task, blocking, yielding, method, polling = ...
local tostring, error, pcall, type, rawget = tostring, error, pcall, type, rawget
local running = coroutine.running
-- Errors reach Lua as strings, without mlua's prefix and traceback, as Lua's own do; called
-- as a tail call, so that level 2 is the caller of the function that failed.
local function plain(ok, ...)
  if ok then return ... end
  local message = tostring((...))
  message = message:gsub("^runtime error: ", "")
  message = message:gsub("\nstack traceback:.*$", "")
  error(message, 2)
end
-- Blocking is refused in a coroutine of the program's own inside a task: the task is out of
-- the scheduler then, and whatever it holds would never be let go.
local function may_block()
  local co, main = running()
  if polling() and co ~= nil and not main then
    error("wsio: this call would block inside a wsio task; make it from the task's own " ..
      "coroutine", 3)
  end
end
if method == nil then
  return function(...) return plain(pcall(blocking, ...)) end
end
if method then
  return function(self, ...)
    local handle = type(self) == "table" and rawget(self, "__handle")
    if not handle then
      error("wsio: call this method on its object, with ':'", 2)
    end
    if in_task() then return plain(pcall(yielding, handle, ...)) end
    may_block()
    return plain(pcall(blocking, handle, ...))
  end
end
return function(...)
  if in_task() then return plain(pcall(yielding, ...)) end
  may_block()
  return plain(pcall(blocking, ...))
end
"#;

/// The dispatcher factory and each kind of object's metatable, kept in the state's app data.
pub(crate) struct Methods {
    dispatch: Function,
    in_task: Function,
    polling: Function,
    metatables: RefCell<HashMap<&'static str, Table>>,
}

impl Methods {
    /// Sets up the state's methods; once, when the module is loaded.
    pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
        let dispatch = lua
            .load(DISPATCH)
            .set_name("=wsio.dispatch")
            .into_function()?;
        let in_task = lua.create_function(|lua, ()| Ok(Executor::of(lua)?.in_task(lua)))?;
        let polling = lua.create_function(|lua, ()| Ok(Executor::of(lua)?.polling()))?;
        lua.set_app_data(Methods {
            dispatch,
            in_task,
            polling,
            metatables: RefCell::new(HashMap::new()),
        });
        Ok(())
    }

    /// The state's methods.
    pub(crate) fn of(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, Methods>> {
        lua.app_data_ref::<Methods>()
            .ok_or_else(|| mlua::Error::runtime("wsio: the module is not loaded in this state"))
    }

    /// Adds method `name` to the objects of kind `class`: `operation` gets the object's
    /// handle first.
    pub(crate) fn add<A, F, Fut, R>(
        &self,
        lua: &Lua,
        class: &'static str,
        name: &str,
        operation: F,
    ) -> mlua::Result<()>
    where
        A: FromLuaMulti + 'static,
        F: Fn(Lua, A) -> Fut + Clone + 'static,
        Fut: Future<Output = mlua::Result<R>> + 'static,
        R: IntoLuaMulti,
    {
        let function = self.dual(lua, operation, true)?;
        self.methods(lua, class)?.set(name, function)
    }

    /// A free function that blocks or yields as its caller allows.
    pub(crate) fn function<A, F, Fut, R>(&self, lua: &Lua, operation: F) -> mlua::Result<Function>
    where
        A: FromLuaMulti + 'static,
        F: Fn(Lua, A) -> Fut + Clone + 'static,
        Fut: Future<Output = mlua::Result<R>> + 'static,
        R: IntoLuaMulti,
    {
        self.dual(lua, operation, false)
    }

    /// Adds a plain method, which neither blocks nor yields: `function` gets the object
    /// itself.
    pub(crate) fn add_plain(
        &self,
        lua: &Lua,
        class: &'static str,
        name: &str,
        function: Function,
    ) -> mlua::Result<()> {
        let function = self.plain(function)?;
        self.methods(lua, class)?.set(name, function)
    }

    /// `function`, raising its errors as plain strings.
    pub(crate) fn plain(&self, function: Function) -> mlua::Result<Function> {
        self.dispatch.call((
            self.in_task.clone(),
            function,
            mlua::Value::Nil,
            mlua::Value::Nil,
        ))
    }

    /// An object of kind `class` around `handle`.
    pub(crate) fn object(
        &self,
        lua: &Lua,
        class: &'static str,
        handle: AnyUserData,
    ) -> mlua::Result<Table> {
        let metatable = self
            .metatables
            .borrow()
            .get(class)
            .cloned()
            .ok_or_else(|| mlua::Error::runtime(format!("wsio: no objects of kind {class}")))?;
        let object = lua.create_table()?;
        object.raw_set("__handle", handle)?;
        object.set_metatable(Some(metatable))?;
        Ok(object)
    }

    /// The methods table (`__index`) of `class`, made on first use.
    fn methods(&self, lua: &Lua, class: &'static str) -> mlua::Result<Table> {
        if let Some(metatable) = self.metatables.borrow().get(class) {
            return metatable.raw_get("__index");
        }
        let methods = lua.create_table()?;
        let metatable = lua.create_table()?;
        metatable.raw_set("__index", &methods)?;
        metatable.raw_set("__name", format!("wsio.{class}"))?;
        self.metatables.borrow_mut().insert(class, metatable);
        Ok(methods)
    }

    fn dual<A, F, Fut, R>(&self, lua: &Lua, operation: F, method: bool) -> mlua::Result<Function>
    where
        A: FromLuaMulti + 'static,
        F: Fn(Lua, A) -> Fut + Clone + 'static,
        Fut: Future<Output = mlua::Result<R>> + 'static,
        R: IntoLuaMulti,
    {
        let yielding = lua.create_async_function(operation.clone())?;
        let blocking = lua.create_function(move |lua, args: A| {
            let future = operation(lua.clone(), args);
            Executor::of(lua)?.block_on(future)
        })?;
        self.dispatch.call((
            self.in_task.clone(),
            blocking,
            yielding,
            method,
            self.polling.clone(),
        ))
    }
}

/// The Rust handle of `object`, an object [`Methods::object`] made: what a method called with
/// `.` instead of `:` (or on another value) does not have.
pub(crate) fn handle_of(object: &Table) -> mlua::Result<AnyUserData> {
    object
        .raw_get::<Option<AnyUserData>>("__handle")?
        .ok_or_else(|| mlua::Error::runtime("wsio: call this method on its object, with ':'"))
}
