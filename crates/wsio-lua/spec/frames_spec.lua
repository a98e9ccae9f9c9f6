-- Raw frames as eco.websocket (seed 004) and coro-websocket (seed 001) have them, against
-- `wsio serve`.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

describe("eco.websocket's connection", function()
  local url, stop
  setup(function() url, stop = support.serve() end)
  teardown(function() stop() end)

  it("sends and receives frames, with the bytes sent", function()
    local ws, err = websocket.eco.connect(url .. "/echo", { timeout = 5 })
    assert(ws, err)
    assert.are.equal(11, ws:send_text("hello"))
    assert.are.same({ "hello", "text" }, { ws:recv_frame(5) })
    assert.are.equal(9, ws:send_binary("\0\1\2"))
    assert.are.same({ "\0\1\2", "binary" }, { ws:recv_frame(5) })
    -- A message sent in two frames comes back whole from the echo.
    assert.are.equal(9, ws:send_frame(false, 1, "hel"))
    assert.are.equal(8, ws:send_frame(true, 0, "lo"))
    assert.are.same({ "hello", "text" }, { ws:recv_frame(5) })
    assert.is_number(ws:send_ping("are you there"))
    assert.are.same({ "are you there", "pong" }, { ws:recv_frame(5) })
    assert.are.same({ nil, nil, "timeout" }, { ws:recv_frame(0.1) })
    assert.is_number(ws:send_close(4000, "bye"))
    -- wsio serve answers with the code alone.
    assert.are.same({ "", "close", 4000 }, { ws:recv_frame(5) })
    assert.are.same({ nil, nil, "closed" }, { ws:recv_frame(5) })
  end)

  it("runs in eco's loop: eco.run(f) then eco.loop()", function()
    -- Also as a module of its own, as eco.websocket is.
    local eco = require "wsio.eco"
    assert.is_function(eco.connect)
    local echoed
    eco.run(function()
      local ws = assert(eco.connect(url .. "/echo"))
      ws:send_text("hello")
      echoed = ws:recv_frame(5)
      ws:send_close()
      while ws:recv_frame(5) do end
    end)
    eco.loop()
    assert.are.equal("hello", echoed)
  end)

  it("keeps to max_payload_len, and reports what it cannot do", function()
    local ws = assert(websocket.eco.connect(url .. "/echo", { max_payload_len = 10 }))
    local sent, err = ws:send_text(string.rep("x", 11))
    assert.is_nil(sent)
    assert.are.equal("a payload of 11 bytes is over the limit of 10", err)
    assert.are.equal(16, ws:send_text(string.rep("x", 10)))
    assert.are.equal(string.rep("x", 10), (ws:recv_frame(5)))
    ws:send_close()
    assert.are.same({ "", "close", 1000 }, { ws:recv_frame(5) })
    assert.are.same({ nil, nil, "closed" }, { ws:recv_frame(5) })
    local none, err2 = websocket.eco.connect("ws://127.0.0.1:1/")
    assert.is_nil(none)
    assert.is_string(err2)
    assert.has_error(function() ws:send_frame(true, 3, "x") end, "wsio: 3 is not an opcode of RFC 6455")
  end)
end)

describe("coro-websocket's connect", function()
  local url, stop, port
  setup(function()
    url, stop = support.serve()
    port = tonumber(url:match(":(%d+)$"))
  end)
  teardown(function() stop() end)

  it("connects by host and port, reads and writes messages as tables", function()
    local res, read, write = websocket.coro.connect({
      host = "127.0.0.1", port = port, pathname = "/echo", timeout = 5000,
      headers = { { "X-Test", "1" } },
    })
    assert(res, read)
    assert.are.equal(101, res.code)
    assert.is_true(write({ payload = "Hello There!" }))
    local msg = read()
    assert.are.equal("Hello There!", msg.payload)
    assert.are.equal(2, msg.opcode)
    assert.is_true(msg.fin)
    assert.is_false(msg.rsv1)
    assert.are.equal(12, msg.len)
    assert.is_true(write({ opcode = 1, payload = "text" }))
    assert.are.equal(1, read().opcode)
    res.socket:shutdown()
    assert.is_nil(read())
  end)

  it("fails with nil and a message, and parses URLs", function()
    local res, err = websocket.coro.connect({ host = "127.0.0.1", port = 1 })
    assert.is_nil(res)
    assert.is_string(err)
    -- tls as a table of settings means wss:// too: the plain server does not speak TLS.
    local tls_res, tls_err = websocket.coro.connect({
      host = "127.0.0.1", port = port, pathname = "/echo", tls = {}, timeout = 5000,
    })
    assert.is_nil(tls_res)
    assert.is_string(tls_err)
    assert.is_nil(tls_err:find("error converting"), tls_err)
    local parsed = websocket.coro.parseUrl("ws://ex.example.org/path/name")
    assert.are.same({ "ex.example.org", 80, "/path/name", false },
      { parsed.host, parsed.port, parsed.pathname, parsed.tls })
  end)

  it("closes with write(), then read sees the close and the end", function()
    local res, read, write = websocket.coro.connect({ host = "127.0.0.1", port = port, pathname = "/echo" })
    assert(res, read)
    assert.is_true(write())
    local close = read()
    assert.are.equal(8, close.opcode)
    assert.are.equal(1000, close.payload:byte(1) * 256 + close.payload:byte(2))
    assert.is_nil(read())
  end)
end)

describe("coro-websocket's wrapIo", function()
  local stop, port
  setup(function()
    local url
    url, stop = support.serve()
    port = tonumber(url:match(":(%d+)$"))
  end)
  teardown(function() stop() end)

  -- A raw reader over the frames of `inbox`, and a raw writer into `outbox` (`false` marks
  -- the end of the stream).
  local function channel(inbox, outbox)
    local function raw_read() return table.remove(inbox, 1) end
    local function raw_write(frame)
      outbox[#outbox + 1] = frame or false
      return true
    end
    return raw_read, raw_write
  end

  it("answers pings and the close, masks what it writes, and ends with write()", function()
    local inbox, outbox = {
      { opcode = 9, payload = "are you there" },
      { opcode = 1, payload = "hello" },
      { opcode = 8, payload = "\3\232bye" },
    }, {}
    local read, write = websocket.coro.wrapIo(channel(inbox, outbox))
    assert.are.equal(9, read().opcode)
    assert.are.same({ opcode = 10, payload = "are you there" }, outbox[1])
    assert.are.equal("hello", read().payload)
    local mine = { payload = "mine" }
    assert.is_true(write(mine))
    assert.are.same({ opcode = 2, payload = "mine" }, outbox[2])
    assert.are.same({ payload = "mine" }, mine)
    assert.are.equal(8, read().opcode)
    assert.are.same({ opcode = 8, payload = "\3\232" }, outbox[3])
    assert.is_nil(read())
    -- The close was sent: write() only ends the stream, and nothing goes after it.
    write()
    assert.are.same({ false }, { outbox[4] })
    assert.are.equal(4, #outbox)
    assert.are.same({ false, "closed" }, { write({ payload = "late" }) })

    local masked_out = {}
    local raw_read, raw_write = channel({}, masked_out)
    local _, masked_write = websocket.coro.wrapIo(raw_read, raw_write, { mask = true })
    masked_write({ opcode = 1, payload = "m" })
    masked_write()
    assert.are.same({ { opcode = 1, payload = "m", mask = true },
      { opcode = 8, payload = "", mask = true }, false }, masked_out)
  end)

  it("sends a heartbeat ping every heartbeat ms while the module's tasks run", function()
    local res, raw_read, raw_write = websocket.coro.connect({
      host = "127.0.0.1", port = port, pathname = "/echo",
    })
    assert(res, raw_read)
    local read, write = websocket.coro.wrapIo(raw_read, raw_write, { heartbeat = 50 })
    local pongs = 0
    support.in_task(function()
      while pongs < 3 do
        if read().opcode == 10 then pongs = pongs + 1 end
      end
      write()
      -- The server's close, then the end.
      assert.are.equal(8, read().opcode)
      assert.is_nil(read())
    end)
    assert.are.equal(3, pongs)
  end)

  it("stops its heartbeat once the writer fails", function()
    local pings = 0
    websocket.coro.wrapIo(function() end, function()
      pings = pings + 1
      return false, "broken"
    end, { heartbeat = 10 })
    support.run_until(function() return pings > 0 end)
    -- Ten more heartbeats' time: none of them pings.
    for _ = 1, 10 do websocket.poll(0.01) end
    assert.are.equal(1, pings)
  end)

  it("raises clear errors for bad arguments", function()
    assert.has_error(function() websocket.coro.wrapIo(nil, print) end,
      "wsio: wrapIo(rawRead, rawWrite, [options]) takes two functions")
    assert.has_error(function() websocket.coro.wrapIo(print, print, { heartbeat = -1 }) end,
      "wsio: options.heartbeat is a number of milliseconds above 0")
  end)
end)
