-- Every client of the module, and the websocket plugin's helpers through a raw TCP client
-- (tests/peers/raw_exchange.py), against three servers: `wsio serve`'s echo, and the echo
-- servers of Python's `websockets` and Node's `ws` (tests/peers, installed by
-- scripts/setup-peers.sh); and the module's server against those libraries' clients.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

local servers = {
  { "wsio serve", function()
    local url, stop = support.serve()
    return url .. "/echo", stop
  end },
  { "python", function() return support.peer("python") end },
  { "node", function() return support.peer("node") end },
}

for _, server in ipairs(servers) do
  local kind, start = server[1], server[2]
  describe("against " .. kind .. "'s echo server", function()
    local url, stop, port
    setup(function()
      url, stop = start()
      port = tonumber(url:match(":(%d+)"))
    end)
    teardown(function() stop() end)

    it("lua-websockets' client echoes text and binary, and closes cleanly", function()
      local client = websocket.client.sync({ timeout = 5 })
      assert.is_true(client:connect(url))
      assert.is_true(client:send("héllo"))
      assert.are.same({ "héllo", websocket.TEXT }, { client:receive() })
      local bytes = string.rep("\0\255", 40000)
      assert.is_true(client:send(bytes, websocket.BINARY))
      assert.are.same({ bytes, websocket.BINARY }, { client:receive() })
      assert.are.same({ true, 1000, "" }, { client:close() })
    end)

    it("lua-websockets' client runs in tasks, several at once", function()
      local done = 0
      for i = 1, 5 do
        websocket.spawn(function()
          local client = websocket.client.sync({ timeout = 5 })
          assert(client:connect(url))
          for j = 1, 20 do
            client:send(i .. ":" .. j)
            assert.are.equal(i .. ":" .. j, (client:receive()))
          end
          client:close()
          done = done + 1
        end)
      end
      support.run_until(function() return done == 5 end)
    end)

    it("the websocket plugin's client sends, pings and closes", function()
      local ws = websocket.WsClient.new(url, { timeout = 5 })
      assert.are.equal("open", ws:ready_state())
      ws:send("text")
      assert.are.same({ type = "text", data = "text" }, ws:receive())
      ws:send({ 0, 1, 255 })
      assert.are.same({ type = "binary", data = "\0\1\255" }, ws:receive())
      ws:send_binary("raw")
      assert.are.same({ type = "binary", data = "raw" }, ws:receive())
      ws:ping("p")
      assert.are.same({ type = "pong", data = "p" }, ws:receive())
      ws:pong("unasked")
      assert.is_true(ws:close())
      assert.are.equal("closed", ws:ready_state())
    end)

    it("eco's connection sends each kind of frame and reads them one by one", function()
      local ws = assert(websocket.eco.connect(url, { timeout = 5 }))
      assert.is_number(ws:send_text("text"))
      assert.are.same({ "text", "text" }, { ws:recv_frame(5) })
      assert.is_number(ws:send_binary("\0bin"))
      assert.are.same({ "\0bin", "binary" }, { ws:recv_frame(5) })
      assert.is_number(ws:send_ping("ping"))
      assert.are.same({ "ping", "pong" }, { ws:recv_frame(5) })
      assert.is_number(ws:send_pong("unasked"))
      ws:send_frame(false, 1, "frag")
      ws:send_frame(true, 0, "ments")
      -- Each server echoes the whole message as one frame.
      assert.are.same({ "fragments", "text" }, { ws:recv_frame(5) })
      assert.is_number(ws:send_close(1000, "bye"))
      local _, typ, code = ws:recv_frame(5)
      assert.are.same({ "close", 1000 }, { typ, code })
      assert.are.same({ nil, nil, "closed" }, { ws:recv_frame(5) })
    end)

    it("eco's connection runs in eco's loop", function()
      local got
      websocket.eco.run(function()
        local ws = assert(websocket.eco.connect(url))
        ws:send_text("in the loop")
        got = ws:recv_frame()
        ws:send_close()
        ws:recv_frame()
      end)
      websocket.eco.loop()
      assert.are.equal("in the loop", got)
    end)

    it("coro-websocket's connect reads and writes messages, and closes", function()
      local results = support.in_task(function()
        local res, read, write = websocket.coro.connect({
          host = "127.0.0.1", port = port, pathname = url:match("^ws://[^/]+(/?.*)$"),
          timeout = 5000,
        })
        assert(res, read)
        write({ opcode = 1, payload = "coro" })
        local text = read()
        write({ payload = "\1\2" })
        local binary = read()
        write()
        local close = read()
        return text.payload, text.opcode, binary.payload, binary.opcode, close.opcode
      end)
      assert.are.same({ "coro", 1, "\1\2", 2, 8 }, results)
    end)

    it("coro-websocket's wrapIo puts a heartbeat on a connection", function()
      local res, raw_read, raw_write = websocket.coro.connect({
        host = "127.0.0.1", port = port, pathname = url:match("^ws://[^/]+(/?.*)$"),
      })
      assert(res, raw_read)
      local read, write = websocket.coro.wrapIo(raw_read, raw_write, { heartbeat = 20 })
      local results = support.in_task(function()
        local pongs = 0
        while pongs < 2 do
          if read().opcode == 10 then pongs = pongs + 1 end
        end
        write({ opcode = 1, payload = "still here" })
        local echoed
        repeat echoed = read() until echoed.opcode == 1
        write()
        -- Whatever came before the server's close, then the end.
        while read() do end
        return pongs, echoed.payload
      end)
      assert.are.same({ 2, "still here" }, results)
    end)

    it("core.websocket's client calls back for messages, pongs and the close", function()
      local messages, pong, closed = {}, nil, nil
      local client = websocket.core.connect(url, {
        on_message = function(_, message, binary) messages[#messages + 1] = { message, binary } end,
        on_pong = function(_, payload) pong = payload end,
        on_close = function(_, code, _, was_clean) closed = { code, was_clean } end,
      })
      client:send("through the queue")
      client:send_text("text")
      client:send_binary("\0")
      client:ping("core")
      support.run_until(function() return #messages == 3 and pong ~= nil end)
      assert.are.same({ { "through the queue", false }, { "text", false }, { "\0", true } }, messages)
      assert.are.equal("core", pong)
      assert.are.equal("open", client:get_status())
      client:close()
      support.run_until(function() return closed ~= nil end)
      assert.are.same({ 1000, true }, closed)
    end)

    it("the websocket plugin's helpers make a handshake and frames the server takes", function()
      local key = websocket.generate_key()
      local path = url:match("^ws://[^/]+(/?.*)$")
      if path == "" then path = "/" end
      -- The handshake, a message, and a close, each sent once the one before was answered.
      local parts = {
        websocket.build_handshake_request("127.0.0.1:" .. port, path, key),
        websocket.encode_frame(1, "built by hand", true),
        websocket.encode_frame(8, websocket.encode_close_frame(1000, "done"), true),
      }
      local reply = support.exchange(port, parts)
      local head_end = assert(reply:find("\r\n\r\n", 1, true), reply)
      assert.is_true(websocket.validate_handshake_response(reply:sub(1, head_end + 3), key))
      local rest = reply:sub(head_end + 4)
      local echoed = assert(websocket.decode_frame(rest))
      assert.are.same({ 1, "built by hand", false }, { echoed.opcode, echoed.payload, echoed.masked })
      local close = assert(websocket.decode_frame(rest:sub(echoed.size + 1)))
      assert.are.equal(8, close.opcode)
      assert.are.equal(1000, websocket.parse_close_frame(close.payload).code)
    end)

    if kind ~= "wsio serve" then
      it("every client hears the server's close code and reason", function()
        local client = websocket.client.sync({ timeout = 5 })
        assert.is_true(client:connect(url))
        client:send("close:4003:bye")
        assert.are.same({ nil, nil, true, 4003, "bye" }, { client:receive() })
        local ws = websocket.WsClient.new(url)
        ws:send("close:4004:plugin")
        assert.are.same({ type = "close", code = 4004, reason = "plugin" }, ws:receive())
        local eco = assert(websocket.eco.connect(url, { timeout = 5 }))
        eco:send_text("close:4005:eco")
        assert.are.same({ "eco", "close", 4005 }, { eco:recv_frame(5) })
        local closed
        local core = websocket.core.connect(url, {
          on_close = function(_, code, reason) closed = { code, reason } end,
        })
        core:send("close:4006:core")
        support.run_until(function() return closed ~= nil end)
        assert.are.same({ 4006, "core" }, closed)
      end)
    end
  end)
end

-- The module's server, with lua-websockets' API, serving the scripted clients of Python's
-- `websockets` and Node's `ws` (tests/peers): text, binary, 16 MiB, fragments, ping, and the
-- close both ways.
describe("lua-websockets' server, serving the Python and Node clients", function()
  local server, url
  setup(function()
    server = websocket.server.listen({
      port = 0, interface = "127.0.0.1",
      default = function(ws)
        while true do
          local message, opcode = ws:receive()
          if not message then return end
          local code, reason = message:match("^close:(%d+):(.*)$")
          if opcode == websocket.TEXT and code then
            ws:close(tonumber(code), reason)
            return
          end
          ws:send(message, opcode)
        end
      end,
    })
    url = ("ws://127.0.0.1:%d/"):format(server:port())
  end)
  teardown(function() server:close() end)

  for _, kind in ipairs({ "python", "node" }) do
    it("passes every check of " .. kind .. "'s client", function()
      support.scripted_client(kind, url)
    end)
  end
end)
