-- eco.websocket's upgrade (seed 004), with the HTTP server the module has for it
-- (wsio.eco.http.listen): the module's own clients, Python's and Node's scripted clients
-- (tests/peers), and plain HTTP requests through a raw TCP client (tests/peers/raw_exchange.py).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio
local eco = websocket.eco

-- Echoes frames as they come, fragments as fragments; `close:CODE:REASON` makes it close.
local opcodes = { continuation = 0, text = 1, binary = 2 }
local function echo_frames(ws)
  while true do
    local data, typ, err = ws:recv_frame()
    if not data or typ == "close" then return end
    local code, reason = data:match("^close:(%d+):(.*)$")
    if typ == "text" and err ~= "again" and code then
      ws:send_close(tonumber(code), reason)
      ws:recv_frame()
      return
    end
    if opcodes[typ] then ws:send_frame(err ~= "again", opcodes[typ], data) end
  end
end

describe("eco.websocket's upgrade", function()
  local server, port
  local refused
  setup(function()
    server = assert(require("wsio.eco.http.server").listen("127.0.0.1", 0, { reuseaddr = true },
      function(con, req)
        if req.path == "/ws" then
          local ws, err = eco.upgrade(con, req, { max_payload_len = 32 * 1024 * 1024 })
          if not ws then
            refused = err
            return nil, err
          end
          echo_frames(ws)
        elseif req.path == "/fail" then
          error("this handler fails")
        else
          con:set_status(404)
          con:add_header("X-Seen", req.method .. " " .. req.path .. "?" .. tostring(req.query))
          con:send("nothing at ", req.path, "\n")
        end
      end))
    port = server:port()
  end)
  teardown(function() server:close() end)

  it("upgrades a request its handler picks, and the connection is eco's", function()
    local results = support.in_task(function()
      local ws = assert(eco.connect(("ws://127.0.0.1:%d/ws"):format(port), { timeout = 5 }))
      ws:send_text("hello")
      local text, typ = ws:recv_frame(5)
      ws:send_ping("p")
      local pong, pong_typ = ws:recv_frame(5)
      ws:send_frame(false, 2, "frag")
      ws:send_frame(true, 0, "ment")
      local first, _, again = ws:recv_frame(5)
      local second, second_typ, last = ws:recv_frame(5)
      ws:send_close(1000, "")
      local _, close_typ, code = ws:recv_frame(5)
      return { text, typ, pong, pong_typ, first, again, second, second_typ, last, close_typ, code }
    end)
    assert.are.same({ "hello", "text", "p", "pong", "frag", "again", "ment", "continuation", nil,
      "close", 1000 }, results[1])
  end)

  for _, kind in ipairs({ "python", "node" }) do
    it("serves every check of " .. kind .. "'s client", function()
      support.scripted_client(kind, ("ws://127.0.0.1:%d/ws"):format(port))
    end)
  end

  it("answers other requests with what the handler set", function()
    local reply = support.exchange(port, { "GET /page?x=1 HTTP/1.1\r\nHost: h\r\n\r\n" })
    assert.truthy(reply:find("^HTTP/1.1 404 Not Found\r\n"), reply)
    assert.truthy(reply:find("\r\nX%-Seen: GET /page%?x=1\r\n"), reply)
    assert.truthy(reply:find("\r\nContent%-Length: 17\r\n"), reply)
    assert.truthy(reply:find("\r\n\r\nnothing at /page\n$"), reply)
    reply = support.exchange(port, { "HEAD /page HTTP/1.1\r\nHost: h\r\n\r\n" })
    assert.truthy(reply:find("\r\nContent%-Length: 17\r\n"), reply)
    assert.truthy(reply:find("\r\n\r\n$"), reply)
  end)

  it("refuses a handshake it cannot accept, and upgrade says why", function()
    refused = nil
    local reply = support.exchange(port, {
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
        "Sec-WebSocket-Version: 13\r\n\r\n",
    })
    assert.truthy(reply:find("^HTTP/1.1 400 "), reply)
    assert.is_string(refused)
    assert.truthy(refused:lower():find("sec%-websocket%-key"), refused)
  end)

  it("answers 500 when the handler fails, and serves on", function()
    local reply = support.exchange(port, { "GET /fail HTTP/1.1\r\nHost: h\r\n\r\n" })
    assert.truthy(reply:find("^HTTP/1.1 500 "), reply)
    reply = support.exchange(port, { "GET /again HTTP/1.1\r\nHost: h\r\n\r\n" })
    assert.truthy(reply:find("^HTTP/1.1 404 "), reply)
  end)

  it("serves until closed, whether the program keeps the server or not", function()
    -- In a Lua process of its own, whose server would otherwise serve on in this one.
    local script = os.tmpname()
    local file = assert(io.open(script, "w"))
    file:write([[
      package.cpath = ]] .. ("%q"):format(package.cpath) .. [[
      local wsio = require "wsio"
      local served = false
      local port = require("wsio.eco.http.server").listen("127.0.0.1", 0, {}, function(con)
        con:send("kept")
        served = true
      end):port()
      collectgarbage()
      collectgarbage()
      print(port)
      io.stdout:flush()
      local deadline = os.time() + 10
      while not served and os.time() < deadline do wsio.poll(0.05) end
      for _ = 1, 10 do wsio.poll(0.05) end
    ]])
    file:close()
    local interpreter = jit and "luajit" or "lua5.4"
    local process = assert(io.popen(interpreter .. " " .. script))
    local other_port = tonumber(process:read("*l"))
    local reply = support.exchange(other_port, { "GET / HTTP/1.1\r\nHost: h\r\n\r\n" })
    process:close()
    os.remove(script)
    assert.truthy(reply:find("\r\n\r\nkept$"), reply)
  end)

  it("takes subprotocols as a string of names joined by commas or as a list, both ways", function()
    local http = require "wsio.eco.http.server"
    local offered = {}
    local chat = assert(http.listen("127.0.0.1", 0, {}, function(con, req)
      offered[#offered + 1] = req.headers["sec-websocket-protocol"]
      local supported = req.path == "/list" and { "other", "superchat" } or "other , superchat"
      local ws = assert(eco.upgrade(con, req, { protocols = supported }))
      echo_frames(ws)
    end))
    local base = ("ws://127.0.0.1:%d"):format(chat:port())
    -- The server picks superchat: wsio's client would refuse a name it did not offer.
    local echoed = support.in_task(function()
      local replies = {}
      local cases = { { "/string", "chat, superchat" }, { "/list", { "chat", "superchat" } } }
      for _, case in ipairs(cases) do
        local ws = assert(eco.connect(base .. case[1], { protocols = case[2], timeout = 5 }))
        ws:send_text("via " .. case[1])
        replies[#replies + 1] = ws:recv_frame(5)
        ws:send_close(1000, "")
        ws:recv_frame(5)
      end
      return replies
    end)[1]
    assert.are.same({ "via /string", "via /list" }, echoed)
    assert.are.same({ "chat, superchat", "chat, superchat" }, offered)
    local reply = support.exchange(chat:port(), {
      "GET /string HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" ..
        "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
    })
    chat:close()
    assert.truthy(reply:find("^HTTP/1.1 101 "), reply)
    assert.truthy(reply:lower():find("\r\nsec%-websocket%-protocol: superchat\r\n"), reply)
  end)

  it("frees its port by the time close returns, for a server started again on it", function()
    local http = require "wsio.eco.http.server"
    local function answer(text)
      return function(con) con:send(text) end
    end
    local again = assert(http.listen("127.0.0.1", 0, {}, answer("first")))
    local again_port = again:port()
    for round = 1, 20 do
      again:close()
      local err
      again, err = http.listen("127.0.0.1", again_port, {}, answer("round " .. round))
      assert(again, ("round %d: %s"):format(round, tostring(err)))
    end
    local reply = support.exchange(again_port, { "GET / HTTP/1.1\r\nHost: h\r\n\r\n" })
    again:close()
    assert.truthy(reply:find("\r\n\r\nround 20$"), reply)
  end)

  it("raises clear errors for bad arguments", function()
    assert.has_error(function() require("wsio.eco.http.server").listen("127.0.0.1", 0, {}) end)
    local ok, err = require("wsio.eco.http.server").listen("256.0.0.1", 0, {}, print)
    assert.is_nil(ok)
    assert.truthy(err:find("cannot listen on 256.0.0.1:0", 1, true), err)
  end)
end)
