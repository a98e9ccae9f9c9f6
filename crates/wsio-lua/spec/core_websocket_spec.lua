-- The editor's core.websocket client (seed 000): callbacks, the send queue, the status, and
-- reconnection with restore_session, against `wsio serve` (restarted on the same port).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

-- A client of `url` whose callbacks record what they are given in `events`.
local function recorded(url, options)
  local events = {}
  options = options or {}
  local function record(name)
    return function(client, ...)
      events[#events + 1] = { name, ... }
      if options["then_" .. name] then options["then_" .. name](client, ...) end
    end
  end
  for _, name in ipairs({ "on_connect", "on_message", "on_ping", "on_pong", "on_close",
    "on_error", "on_reconnect", "restore_session" }) do
    options[name] = record(name)
  end
  return websocket.core.connect(url, options), events
end

local function named(events, name)
  local found = {}
  for _, event in ipairs(events) do
    if event[1] == name then found[#found + 1] = event end
  end
  return found
end

describe("core.websocket's client", function()
  local url, stop
  setup(function() url, stop = support.serve() end)
  teardown(function() stop() end)

  it("connects in the background, queues sends, and calls back", function()
    local client, events = recorded(url .. "/echo")
    assert.are.equal("connecting", client.status)
    -- Queued before the connection is open, sent once it is.
    assert.is_true(client:send("early"))
    support.run_until(function() return #named(events, "on_message") == 1 end)
    assert.are.equal("open", client.status)
    assert.are.same({ "open" }, { client:get_status() })
    local connected = named(events, "on_connect")[1]
    assert.are.equal(101, connected[2].status)
    assert.are.equal(url .. "/echo", connected[2].url)
    assert.are.equal(1, connected[3].attempt)
    assert.is_false(connected[3].is_reconnect)
    assert.are.same({ "on_message", "early", false }, named(events, "on_message")[1])
    assert.is_true(client:send_binary("\0\1"))
    assert.is_true(client:ping("are you there"))
    support.run_until(function() return #named(events, "on_pong") == 1 end)
    assert.are.same({ "on_message", "\0\1", true }, named(events, "on_message")[2])
    assert.are.same({ "on_pong", "are you there" }, named(events, "on_pong")[1])
    assert.is_true(client:close(4001, "done"))
    support.run_until(function() return client.status == "closed" end)
    assert.are.same({ "on_close", 4001, "", true }, named(events, "on_close")[1])
    assert.are.same({ nil, "closed" }, { client:send("late") })
    assert.are.equal(0, #named(events, "on_reconnect"))
  end)

  it("reports a connection it cannot make, and gives up after max_reconnect_attempts", function()
    local client, events = recorded("ws://127.0.0.1:1/", {
      reconnect = true, reconnect_delay = 0.05, max_reconnect_attempts = 2,
    })
    support.run_until(function() return client.status == "closed" end)
    assert.are.equal(3, #named(events, "on_error"))
    assert.are.equal(2, #named(events, "on_reconnect"))
    assert.are.equal(2, client.reconnect_attempt)
    assert.is_string(client.error)
    local second = named(events, "on_reconnect")[2][2]
    assert.are.equal(2, second.attempt)
    assert.are.equal(0.1, second.delay)
    assert.is_false(second.opened)
  end)

  it("stops when should_reconnect says so, or is_cancelled does", function()
    local asked
    local client = websocket.core.connect("ws://127.0.0.1:1/", {
      reconnect = true, reconnect_delay = 0.05,
      should_reconnect = function(_, info) asked = info return false end,
      on_error = function() end,
    })
    support.run_until(function() return client.status == "closed" end)
    assert.are.equal(1, asked.attempt)
    assert.is_false(asked.opened)
    local cancel = false
    local other = websocket.core.connect(url .. "/echo", { is_cancelled = function() return cancel end })
    support.run_until(function() return other.status == "open" end)
    cancel = true
    support.run_until(function() return other.status == "closed" end)
  end)

  it("closes an inactive connection after its timeout", function()
    local client, events = recorded(url .. "/echo", { timeout = 0.3 })
    support.run_until(function() return client.status == "closed" end)
    assert.are.equal("timeout", client.error)
    assert.are.equal(1, #named(events, "on_close"))
  end)

  it("pings every ping_interval with ping_payload, and hands callback errors to on_error", function()
    local pongs, errors = 0, {}
    local core = require "wsio.core"
    local client = core.connect(url .. "/echo", {
      ping_interval = 0.05,
      ping_payload = "tick",
      on_pong = function(_, payload)
        assert(payload == "tick")
        pongs = pongs + 1
      end,
      on_message = function() error("a bug in on_message") end,
      on_error = function(_, err) errors[#errors + 1] = err end,
    })
    client:send("boom")
    support.run_until(function() return pongs >= 3 and #errors == 1 end)
    assert.truthy(errors[1]:find("on_message failed: .*a bug in on_message"), errors[1])
    -- The connection went on.
    assert.are.equal("open", client.status)
    client:close()
    support.run_until(function() return client.status == "closed" end)
  end)

  it("takes ping_interval = 0 as no pings, and bounds its queue", function()
    local client = websocket.core.connect("ws://127.0.0.1:1/", {
      ping_interval = 0, reconnect = true, reconnect_delay = 10, on_error = function() end,
    })
    for i = 1, 1024 do assert.is_true(client:send("message " .. i)) end
    assert.are.same({ nil, "queue full" }, { client:send("one too many") })
    assert.is_true(client:close())
    support.run_until(function() return client.status == "closed" end)
  end)

  it("has client.new, which connects as connect does", function()
    local got
    local client = websocket.core.client.new(url .. "/echo", {
      on_message = function(_, message) got = message end,
    })
    client:send("new")
    support.run_until(function() return got ~= nil end)
    assert.are.equal("new", got)
    client:close()
    support.run_until(function() return client.status == "closed" end)
  end)

  it("raises clear errors for bad arguments", function()
    assert.has_error(function() websocket.core.connect("http://example.test/") end)
    assert.has_error(function() websocket.core.connect(url, { ping_interval = -1 }) end,
      "wsio: options.ping_interval must be a number of seconds, not -1")
  end)
end)

describe("core.websocket's reconnection", function()
  it("reconnects when the server comes back, restores the session, then sends the queue", function()
    local url, stop = support.serve()
    local stopped, stop_again = false, nil
    finally(function()
      if not stopped then stop() end
      if stop_again then stop_again() end
    end)
    local port = url:match(":(%d+)$")
    local restored = 0
    local client, events = recorded(url .. "/echo", {
      reconnect = true, reconnect_delay = 0.1, reconnect_delay_max = 0.2,
      then_restore_session = function(client)
        restored = restored + 1
        client:send("restored " .. restored)
      end,
    })
    client:send("queued first")
    support.run_until(function() return #named(events, "on_message") == 2 end)
    -- What restore_session sent went before what was queued.
    assert.are.equal("restored 1", named(events, "on_message")[1][2])
    assert.are.equal("queued first", named(events, "on_message")[2][2])

    stop() -- wsio serve closes its clients with 1001 as it stops
    stopped = true
    support.run_until(function() return client.status == "reconnecting" end)
    assert.are.same({ "on_close", 1001, "server shutting down", true }, named(events, "on_close")[1])
    assert.is_true(client:send("while away"))
    support.run_until(function() return #named(events, "on_reconnect") >= 2 end)
    local reconnect = named(events, "on_reconnect")[1][2]
    assert.are.equal(1, reconnect.attempt)
    assert.is_true(reconnect.opened)
    assert.are.equal(1001, reconnect.close_code)

    _, stop_again = support.serve(nil, port)
    support.run_until(function() return #named(events, "on_message") == 4 end)
    assert.are.equal("open", client.status)
    local session = named(events, "on_connect")[2][3]
    assert.is_true(session.is_reconnect)
    assert.is_true(session.attempt > 2)
    -- The attempt before this one found nobody listening.
    assert.is_string(session.previous_error)
    assert.is_nil(session.previous_close_code)
    assert.are.equal("restored 2", named(events, "on_message")[3][2])
    assert.are.equal("while away", named(events, "on_message")[4][2])
    client:close()
    support.run_until(function() return client.status == "closed" end)
  end)
end)
