-- lua-websockets' API (seed 003): the sync client against `wsio serve`, and the server with
-- its protocol handlers, both as that library documents them.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

describe("lua-websockets' sync client, against wsio serve", function()
  local url, stop
  setup(function() url, stop = support.serve() end)
  teardown(function() stop() end)

  it("connects, sends and receives text and binary, and closes cleanly", function()
    local client = websocket.client.sync({ timeout = 5 })
    assert.is_true(client:connect(url .. "/echo"))
    assert.is_true(client:send("hello", websocket.TEXT))
    local message, opcode = client:receive()
    assert.are.equal("hello", message)
    assert.are.equal(websocket.TEXT, opcode)
    local bytes = "\0\1\2\255"
    assert.is_true(client:send(bytes, websocket.BINARY))
    message, opcode = client:receive()
    assert.are.equal(bytes, message)
    assert.are.equal(websocket.BINARY, opcode)
    local was_clean, code, reason = client:close(4001, "lost interest")
    assert.is_true(was_clean)
    assert.are.equal(4001, code)
    assert.are.equal("", reason)
  end)

  it("has client.new as client.sync, sends text by default and closes with 1000", function()
    local client = websocket.client.new()
    assert.is_true(client:connect(url .. "/echo"))
    assert.is_true(client:send("default type"))
    assert.are.same({ "default type", websocket.TEXT }, { client:receive() })
    assert.are.same({ true, 1000, "" }, { client:close() })
    -- Closed: sending and receiving tell how it ended.
    assert.are.same({ nil, true, 1000, "" }, { client:send("late") })
    assert.are.same({ nil, nil, true, 1000, "" }, { client:receive() })
  end)

  it("returns nil and an error when it cannot connect", function()
    local client = websocket.client.sync({ timeout = 2 })
    local ok, err = client:connect("ws://127.0.0.1:1/echo")
    assert.is_nil(ok)
    assert.is_string(err)
    ok, err = client:connect("http://127.0.0.1/")
    assert.is_nil(ok)
    assert.truthy(err:find("scheme"), err)
  end)

  it("offers the protocol given to connect", function()
    local client = websocket.client.sync({ timeout = 5 })
    -- wsio serve chooses no subprotocol; the handshake still succeeds without one.
    assert.is_true(client:connect(url .. "/echo", "echo"))
    client:close()
  end)

  it("gives up a receive after the timeout, closing the connection", function()
    local client = websocket.client.sync({ timeout = 0.2 })
    assert.is_true(client:connect(url .. "/echo"))
    local message, opcode, was_clean, code, reason = client:receive()
    assert.is_nil(message)
    assert.is_nil(opcode)
    assert.is_false(was_clean)
    assert.are.equal(1006, code)
    assert.are.equal("timeout", reason)
    assert.are.same({ nil, nil, false, 1006, "timeout" }, { client:receive() })
    -- The same client may connect again.
    assert.is_true(client:connect(url .. "/echo"))
    assert.is_true(client:send("again"))
    assert.are.equal("again", (client:receive()))
    client:close()
  end)

  it("returns the server's close details from receive and send", function()
    local client = websocket.client.sync({ timeout = 5 })
    assert.is_true(client:connect(url .. "/chat"))
    local welcome = client:receive()
    assert.truthy(welcome:find("^%* welcome, "), welcome)
    -- The chat room takes text only: binary is closed with 1003.
    assert.is_true(client:send("\1\2", websocket.BINARY))
    local message, opcode, was_clean, code, reason
    repeat
      message, opcode, was_clean, code, reason = client:receive()
    until message == nil
    assert.is_nil(opcode)
    assert.is_true(was_clean)
    assert.are.equal(1003, code)
    assert.are.equal("text only", reason)
    assert.are.same({ nil, true, 1003, "text only" }, { client:send("anyone?") })
  end)

  it("may connect again after a close, and keeps telling how the last one ended", function()
    local client = websocket.client.sync({ timeout = 5 })
    assert.is_true(client:connect(url .. "/echo"))
    assert.are.same({ true, 1000, "" }, { client:close() })
    assert.are.same({ nil, nil, true, 1000, "" }, { client:receive() })
    assert.is_true(client:connect(url .. "/echo"))
    assert.is_true(client:send("second"))
    assert.are.equal("second", (client:receive()))
    client:close()
  end)

  it("closes from plain code while a task waits in receive on the same client", function()
    local client = websocket.client.sync({ timeout = 5 })
    assert.is_true(client:connect(url .. "/echo"))
    local ended
    websocket.spawn(function() ended = { client:receive() } end)
    websocket.poll(0.1)
    -- The blocking close runs the waiting task meanwhile, which sees the end.
    assert.are.same({ true, 1000, "" }, { client:close() })
    websocket.run()
    assert.are.same({ nil, nil, true, 1000, "" }, ended)
  end)

  it("raises clear errors for bad arguments", function()
    assert.has_error(function() websocket.client.sync({ timeout = -1 }) end,
      "wsio: timeout must be a number of seconds, not -1")
    local client = websocket.client.sync({ timeout = 5 })
    assert.are.same({ nil, nil, false, 1006, "not connected" }, { client:receive() })
    assert.is_true(client:connect(url .. "/echo"))
    assert.has_error(function() client:send("x", 7) end,
      "wsio: opcode 7 is not TEXT (1) or BINARY (2)")
    assert.has_error(function() client:send("\255", websocket.TEXT) end,
      "wsio: a text message must be UTF-8")
    assert.has_error(function() client.send("x") end,
      "wsio: call this method on its object, with ':'")
    -- The connection is still fine.
    assert.is_true(client:send("still here"))
    assert.are.equal("still here", (client:receive()))
    client:close()
  end)
end)

describe("lua-websockets' server", function()
  local function listen(config)
    config.port = 0
    config.interface = "127.0.0.1"
    local server = websocket.server.copas.listen(config)
    return server, ("ws://127.0.0.1:%d"):format(server:port())
  end

  local function echo(transform)
    return function(ws)
      while true do
        local message = ws:receive()
        if message then
          ws:send(transform(message))
        else
          ws:close()
          return
        end
      end
    end
  end

  it("routes each client by protocol to its handler, others to the default", function()
    local server, url = listen({
      protocols = {
        ["echo"] = echo(function(message) return message end),
        ["echo-uppercase"] = echo(string.upper),
      },
      default = function(ws)
        ws:send("goodbye strange client")
        ws:close()
      end,
    })
    local got = support.in_task(function()
      local results = {}
      for _, protocol in ipairs({ "echo", "echo-uppercase" }) do
        local client = websocket.client.sync({ timeout = 5 })
        assert(client:connect(url, protocol))
        client:send("hello")
        results[protocol] = client:receive()
        client:close()
      end
      local stranger = websocket.client.sync({ timeout = 5 })
      assert(stranger:connect(url))
      results.default = stranger:receive()
      results.after = { stranger:receive() }
      return results
    end)[1]
    server:close()
    assert.are.equal("hello", got.echo)
    assert.are.equal("HELLO", got["echo-uppercase"])
    assert.are.equal("goodbye strange client", got.default)
    assert.are.same({ nil, nil, true, 1000, "" }, got.after)
  end)

  it("serves many connections at once from one Lua state", function()
    local server, url = listen({ default = echo(function(message) return message end) })
    local finished, replies = 0, {}
    for i = 1, 50 do
      websocket.spawn(function()
        local client = websocket.client.sync({ timeout = 5 })
        assert(client:connect(url))
        client:send("client " .. i)
        replies[i] = client:receive()
        client:close()
        finished = finished + 1
      end)
    end
    support.run_until(function() return finished == 50 end)
    server:close()
    for i = 1, 50 do assert.are.equal("client " .. i, replies[i]) end
  end)

  it("closes only the connection of a handler that fails, with 1011", function()
    local server, url = listen({
      protocols = { broken = function(ws) error("no such thing") end },
      default = echo(function(message) return message end),
    })
    local got = support.in_task(function()
      local broken = websocket.client.sync({ timeout = 5 })
      assert(broken:connect(url, "broken"))
      local fine = websocket.client.sync({ timeout = 5 })
      assert(fine:connect(url))
      local ended = { broken:receive() }
      fine:send("still served")
      local reply = fine:receive()
      fine:close()
      return ended, reply
    end)
    server:close()
    local ended, reply = got[1], got[2]
    assert.is_nil(ended[1])
    assert.are.equal(1011, ended[4])
    assert.are.equal("still served", reply)
  end)

  it("closes its clients with 1001, or keeps them when asked", function()
    for _, keep in ipairs({ false, true }) do
      local server, url = listen({ default = echo(function(message) return message end) })
      local got = support.in_task(function()
        local client = websocket.client.sync({ timeout = 5 })
        assert(client:connect(url))
        client:send("before")
        assert(client:receive() == "before")
        server:close(keep)
        if keep then
          client:send("after")
          local reply = client:receive()
          client:close()
          return reply
        end
        return { client:receive() }
      end)[1]
      if keep then
        assert.are.equal("after", got)
      else
        assert.are.same({ nil, nil, true, 1001, "server shutting down" }, got)
      end
      -- Closed: nobody may connect any more.
      local late = websocket.client.sync({ timeout = 2 })
      assert.is_nil((late:connect(url)))
    end
  end)

  it("frees its port by the time close returns, for a server started again on it", function()
    local server = listen({ default = echo(function(message) return message end) })
    local port = server:port()
    for round = 1, 20 do
      server:close()
      local listened
      listened, server = pcall(websocket.server.listen, {
        port = port,
        interface = "127.0.0.1",
        default = echo(function(message) return message:upper() end),
      })
      assert(listened, ("round %d: %s"):format(round, tostring(server)))
    end
    local got = support.in_task(function()
      local client = websocket.client.sync({ timeout = 5 })
      assert(client:connect(("ws://127.0.0.1:%d"):format(port)))
      client:send("again")
      local reply = client:receive()
      client:close()
      return reply
    end)[1]
    server:close()
    assert.are.equal("AGAIN", got)
  end)
end)

describe("the event loop", function()
  it("runs tasks only inside poll, and has a descriptor for other loops", function()
    websocket.run() -- what earlier specs left
    local ran = false
    websocket.spawn(function() ran = true end)
    assert.is_false(ran)
    assert.is_number(websocket.fd())
    assert.are.equal(1, websocket.poll(1))
    assert.is_true(ran)
    assert.are.equal(0, websocket.poll())
  end)

  it("runs its tasks from a luv loop that waits on its descriptor", function()
    -- A program with a loop of its own (luv's, as editors and luvit programs have) watches
    -- the descriptor and polls when it is readable; the task's connection, sleep and close
    -- all make progress that way alone.
    local uv = require "luv"
    local url, stop = support.serve()
    local echoed, closed
    websocket.spawn(function()
      local client = websocket.client.sync({ timeout = 5 })
      assert(client:connect(url .. "/echo"))
      websocket.sleep(0.1)
      assert(client:send("through luv"))
      echoed = client:receive()
      closed = client:close()
    end)
    local watch, guard = uv.new_poll(websocket.fd()), uv.new_timer()
    local wakes = 0
    local function finish()
      watch:stop()
      watch:close()
      guard:stop()
      guard:close()
    end
    watch:start("r", function(err)
      assert(not err, err)
      wakes = wakes + 1
      websocket.poll()
      if closed ~= nil then finish() end
    end)
    guard:start(10000, 0, finish)
    uv.run()
    stop()
    assert.are.equal("through luv", echoed)
    assert.is_true(closed)
    assert.is_true(wakes >= 2)
  end)

  it("sleeps by yielding in a task, and by blocking outside one", function()
    local order = {}
    websocket.spawn(function()
      websocket.sleep(0.2)
      order[#order + 1] = "slow"
    end)
    websocket.spawn(function()
      order[#order + 1] = "quick"
    end)
    support.run_until(function() return #order == 2 end)
    assert.are.same({ "quick", "slow" }, order)
    websocket.sleep(0.01)
  end)

  it("refuses to block in a coroutine of the program's own inside a task", function()
    local url, stop = support.serve()
    local client = websocket.client.sync({ timeout = 5 })
    assert.is_true(client:connect(url .. "/echo"))
    local refused
    websocket.spawn(function()
      local inner = coroutine.wrap(function() return pcall(client.receive, client) end)
      refused = select(2, inner())
    end)
    websocket.run()
    client:close()
    stop()
    assert.truthy(tostring(refused):find("would block inside a wsio task"), tostring(refused))
  end)

  it("takes very long and zero durations without failing", function()
    local ran = false
    websocket.spawn(function() ran = true end)
    assert.are.equal(1, websocket.poll(1e19))
    assert.is_true(ran)
    local client = websocket.client.sync({ timeout = 1e19 })
    assert.is_nil((client:connect("ws://127.0.0.1:1/")))
  end)

  it("refuses poll and run from inside a task, and reports a task's error", function()
    local refused
    websocket.spawn(function()
      refused = select(2, pcall(websocket.poll))
    end)
    websocket.run()
    assert.truthy(tostring(refused):find("cannot be called from a wsio task"), tostring(refused))
    websocket.spawn(function() error("reported, not raised") end)
    websocket.run()
  end)
end)

describe("memory", function()
  -- The process's resident memory, KiB.
  local function rss()
    for line in io.lines("/proc/self/status") do
      local kib = line:match("^VmRSS:%s+(%d+) kB")
      if kib then return tonumber(kib) end
    end
  end

  it("stays flat while connections are opened and closed", function()
    local server = websocket.server.listen({
      port = 0, interface = "127.0.0.1",
      default = function(ws)
        local message = ws:receive()
        if message then ws:send(message) end
        ws:close()
      end,
    })
    local url = ("ws://127.0.0.1:%d"):format(server:port())
    local function rounds(count)
      support.in_task(function()
        for i = 1, count do
          local client = websocket.client.sync({ timeout = 5 })
          assert(client:connect(url))
          client:send(string.rep("x", 1000))
          assert(#client:receive() == 1000)
          client:close()
        end
      end, 60)
      -- The server's handlers finish closing; the server itself runs on.
      for _ = 1, 10 do websocket.poll(0.01) end
      collectgarbage()
      collectgarbage()
    end
    -- Warm up: the allocators' pools (Lua's, malloc's on the module's I/O thread, LuaJIT's
    -- machine code) grow to what this load needs over the first 2,000 connections (by about
    -- 1.8 MB). After that, a leak grows the process in every thousand; the pools' noise (up
    -- to 2 MB now and then, measured) does not. So one of three thousands must add less than
    -- 512 KiB: a leak of half a KiB a connection fails.
    rounds(1000)
    rounds(1000)
    local growth = {}
    for batch = 1, 3 do
      local before = rss()
      rounds(1000)
      growth[batch] = rss() - before
    end
    server:close()
    print(("memory: grew by %d, %d and %d KiB over three thousand connections"):format(
      growth[1], growth[2], growth[3]))
    assert.is_true(math.min(growth[1], growth[2], growth[3]) < 512,
      ("grew in every thousand: %d, %d, %d KiB"):format(growth[1], growth[2], growth[3]))
  end)
end)
