-- Each of the module's clients against the echo servers of Python's `websockets` and Node's
-- `ws` (tests/peers, installed by scripts/setup-peers.sh).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

for _, kind in ipairs({ "python", "node" }) do
  describe("against " .. kind .. "'s echo server", function()
    local url, stop
    setup(function() url, stop = support.peer(kind) end)
    teardown(function() stop() end)

    it("lua-websockets' client echoes text and binary, and sees the server's close", function()
      local client = websocket.client.sync({ timeout = 5 })
      assert.is_true(client:connect(url))
      assert.is_true(client:send("héllo"))
      assert.are.same({ "héllo", websocket.TEXT }, { client:receive() })
      local bytes = string.rep("\0\255", 40000)
      assert.is_true(client:send(bytes, websocket.BINARY))
      assert.are.same({ bytes, websocket.BINARY }, { client:receive() })
      client:send("close:4003:bye")
      assert.are.same({ nil, nil, true, 4003, "bye" }, { client:receive() })
    end)

    it("the websocket plugin's client pings and closes", function()
      local ws = websocket.WsClient.new(url)
      ws:ping("p")
      assert.are.same({ type = "pong", data = "p" }, ws:receive())
      ws:send("text")
      assert.are.same({ type = "text", data = "text" }, ws:receive())
      assert.is_true(ws:close())
    end)

    it("eco's connection echoes a message sent in fragments", function()
      local ws = assert(websocket.eco.connect(url, { timeout = 5 }))
      ws:send_frame(false, 1, "frag")
      ws:send_frame(true, 0, "ments")
      local data, typ = ws:recv_frame(5)
      -- Each peer echoes the whole message as one frame.
      assert.are.same({ "fragments", "text" }, { data, typ })
      ws:send_close(1000, "")
      assert.are.equal("close", select(2, ws:recv_frame(5)))
      assert.are.same({ nil, nil, "closed" }, { ws:recv_frame(5) })
    end)

    it("core.websocket's client calls back", function()
      local got, closed
      local client = websocket.core.connect(url, {
        on_message = function(_, message) got = message end,
        on_close = function(_, code) closed = code end,
      })
      client:send("through the queue")
      support.run_until(function() return got ~= nil end)
      assert.are.equal("through the queue", got)
      client:close()
      support.run_until(function() return closed ~= nil end)
      assert.are.equal(1000, closed)
    end)
  end)
end
