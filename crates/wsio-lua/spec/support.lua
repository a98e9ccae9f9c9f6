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

-- Runs `command` in the background (the shell's), with its output in a file, while the
-- module's tasks run here, for at most `limit` seconds: its exit status (a string) and output.
local function background(command, limit)
  local out = os.tmpname()
  os.remove(out)
  os.execute("sh -c '" .. command .. " > " .. out .. " 2>&1; echo $? > " .. out .. ".rc' &")
  support.run_until(function()
    local rc = io.open(out .. ".rc")
    if rc then rc:close() end
    return rc ~= nil
  end, limit)
  local output = assert(io.open(out, "rb")):read("*a")
  local rc = assert(io.open(out .. ".rc")):read("*l")
  os.remove(out)
  os.remove(out .. ".rc")
  return rc, output
end

-- Runs the scripted client of tests/peers on Python's `websockets` ("python") or Node's `ws`
-- ("node") against the echo server at `url` (one that closes on `close:CODE:REASON`), and
-- checks that every check passed and both closes went as wsio has them.
function support.scripted_client(kind, url)
  local client = kind == "python" and ".venv/bin/python tests/peers/py_client.py"
    or "node tests/peers/node_client.js"
  local rc, output = background(client .. " " .. url, 60)
  -- (Plain `assert`: this file runs outside busted's environment.)
  assert(rc == "0", output)
  for _, check in ipairs({ "text", "text_non_ascii", "binary", "binary_16_mib",
    "fragmented_text", "fragmented_binary", "ping" }) do
    assert(output:find('{"check":"' .. check .. '","ok":true}', 1, true), output)
  end
  -- wsio answers a close with its code alone, as the Rust interop tests expect too.
  assert(output:find('{"check":"close","code":4001,"reason":""}', 1, true), output)
  assert(output:find('{"check":"server_close","code":4003,"reason":"wsio says bye"}', 1, true),
    output)
end

-- Sends each string of `parts` to 127.0.0.1:`port` over plain TCP, each once the one before
-- was answered (tests/peers/raw_exchange.py), while the module's tasks run here: what the
-- server sent back.
function support.exchange(port, parts)
  local files = {}
  for i, part in ipairs(parts) do
    files[i] = os.tmpname()
    local file = assert(io.open(files[i], "wb"))
    file:write(part)
    file:close()
  end
  local received = os.tmpname()
  local rc, output = background(".venv/bin/python tests/peers/raw_exchange.py " .. port .. " " ..
    received .. " " .. table.concat(files, " "), 10)
  for _, file in ipairs(files) do os.remove(file) end
  assert(rc == "0", output)
  local reply = assert(io.open(received, "rb")):read("*a")
  os.remove(received)
  return reply
end

return support
