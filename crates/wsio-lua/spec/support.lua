-- What the specs share: the module built for the running interpreter (WSIO_LUA_CPATH, set by
-- scripts/lua-tests.sh), `wsio serve` on a free loopback port (WSIO_BIN), and a bounded loop.
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

-- Starts `wsio serve` on 127.0.0.1 (port `port`, a free one unless given) with `extra`
-- arguments: its URL (ws://127.0.0.1:PORT) and a function that stops it (SIGTERM: it closes
-- its clients with 1001).
function support.serve(extra, port)
  local bin = assert(os.getenv("WSIO_BIN"), "WSIO_BIN: run scripts/lua-tests.sh")
  local command = "sh -c 'exec \"$0\" serve --addr 127.0.0.1:" .. (port or 0) .. " " .. (extra or "") ..
    " & echo $!; wait' '" .. bin .. "'"
  local pipe = assert(io.popen(command))
  local pid = assert(pipe:read("*l"), "no pid")
  local first = assert(pipe:read("*l"), "wsio serve did not start")
  local url = assert(first:match("^listening on (%S+)$"), first)
  return url, function()
    os.execute("kill " .. pid)
    -- While it shuts down, the module's tasks run, so that its clients here answer its close.
    local deadline = os.time() + 20
    while os.time() < deadline and alive(pid) do support.wsio.poll(0.05) end
    pipe:close()
  end
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
