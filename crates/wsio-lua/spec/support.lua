-- What the specs share: the module built for the running interpreter (WSIO_LUA_CPATH, set by
-- scripts/lua-tests.sh), `wsio serve` (WSIO_BIN) and the Python and Node echo servers of
-- tests/peers on free loopback ports, and a bounded loop. Run from the repository's root.
local support = {}

local cpath = assert(os.getenv("WSIO_LUA_CPATH"), "WSIO_LUA_CPATH: run scripts/lua-tests.sh")
package.cpath = cpath .. ";" .. package.cpath
support.wsio = require "wsio"

-- Whether process `pid` is still running.
local function alive(pid)
  local ok, _, code = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  -- Lua 5.4 gives true/nil and an exit code; LuaJIT (5.1) a status number.
  if type(ok) == "number" then return ok == 0 end
  return ok == true and (code == nil or code == 0)
end

-- Runs `command` (a shell command that prints its server's first line), and returns that
-- line and a function that stops it (SIGTERM), running the module's tasks meanwhile so that
-- its clients here answer the server's close.
local function start(command)
  local pipe = assert(io.popen("sh -c '" .. command .. " & echo $!; wait'"))
  local pid = assert(pipe:read("*l"), "no pid")
  local first = assert(pipe:read("*l"), "the server did not start: " .. command)
  return first, function()
    os.execute("kill " .. pid)
    local deadline = os.time() + 20
    while os.time() < deadline and alive(pid) do support.wsio.poll(0.05) end
    pipe:close()
  end
end

-- Starts `wsio serve` on 127.0.0.1 (port `port`, a free one unless given) with `extra`
-- arguments: its URL (ws://127.0.0.1:PORT) and a function that stops it (SIGTERM: it closes
-- its clients with 1001).
function support.serve(extra, port)
  local bin = assert(os.getenv("WSIO_BIN"), "WSIO_BIN: run scripts/lua-tests.sh")
  local first, stop = start("exec \"" .. bin .. "\" serve --addr 127.0.0.1:" .. (port or 0) ..
    " " .. (extra or ""))
  return assert(first:match("^listening on (%S+)$"), first), stop
end

-- Starts the echo server of tests/peers on Python's `websockets` ("python") or Node's `ws`
-- ("node"), on a free loopback port, with the environment variables of `env` (a table, for
-- one PEER_TLS_CERT): its URL and a function that stops it. A text message
-- `close:CODE:REASON` makes them close with that code and reason.
function support.peer(kind, env)
  local command = kind == "python" and "exec .venv/bin/python tests/peers/py_echo_server.py 0"
    or "exec node tests/peers/node_echo_server.js 0"
  for name, value in pairs(env or {}) do
    command = name .. "=\"" .. value .. "\" " .. command
  end
  local first, stop = start(command)
  local port = assert(first:match("^listening (%d+)$"), first)
  return "ws://127.0.0.1:" .. port, stop
end

-- Polls the module's tasks until `done()` is true; fails after `limit` seconds (10 unless
-- given).
function support.run_until(done, limit)
  local deadline = os.time() + (limit or 10)
  while not done() do
    if os.time() > deadline then error("not done in time", 2) end
    support.wsio.poll(0.05)
  end
end

-- Runs `body` as a task of the module, to its end: what it returned, or its error raised here.
function support.in_task(body, limit)
  local finished, results, failure = false, nil, nil
  support.wsio.spawn(function()
    local ok, a, b, c, d, e = pcall(body)
    if ok then results = { a, b, c, d, e } else failure = a end
    finished = true
  end)
  support.run_until(function() return finished end, limit)
  if failure then error(failure, 2) end
  return results
end

return support
