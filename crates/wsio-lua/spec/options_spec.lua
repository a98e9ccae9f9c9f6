-- wsio's own client options, as extra fields of each library's options: permessage-deflate,
-- TLS with a certificate made for the run (openssl), and message limits.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local support = dofile(dir .. "support.lua")
local websocket = support.wsio

describe("wsio's extra client options", function()
  local url, stop
  setup(function() url, stop = support.serve() end)
  teardown(function() stop() end)

  it("offer permessage-deflate with deflate = true", function()
    local extensions = {}
    for _, deflate in ipairs({ true, false }) do
      local client = websocket.core.connect(url .. "/echo", {
        deflate = deflate,
        on_connect = function(_, info)
          extensions[deflate] = info.headers["sec-websocket-extensions"] or "none"
        end,
      })
      support.run_until(function() return extensions[deflate] ~= nil end)
      client:close()
      support.run_until(function() return client.status == "closed" end)
    end
    assert.truthy(extensions[true]:find("^permessage%-deflate"), extensions[true])
    assert.are.equal("none", extensions[false])
  end)

  it("are taken by the module's server too: deflate, and a message limit", function()
    local server = websocket.server.listen({
      port = 0, interface = "127.0.0.1", deflate = true, max_message_size = 64,
      default = function(ws)
        while true do
          local message = ws:receive()
          if not message then return end
          ws:send(message)
        end
      end,
    })
    local url = ("ws://127.0.0.1:%d"):format(server:port())
    local agreed, closed
    local client = websocket.core.connect(url, {
      deflate = true,
      on_connect = function(_, info) agreed = info.headers["sec-websocket-extensions"] end,
      on_close = function(_, code) closed = code end,
    })
    client:send(string.rep("compressible ", 3))
    client:send(string.rep("x", 65))
    support.run_until(function() return closed ~= nil end)
    server:close()
    assert.truthy(agreed and agreed:find("^permessage%-deflate"), tostring(agreed))
    assert.are.equal(1009, closed)
  end)

  it("limit the size of a message received", function()
    local client = websocket.client.sync({ timeout = 5, max_message_size = 10 })
    assert.is_true(client:connect(url .. "/echo"))
    client:send(string.rep("x", 100))
    local message, opcode, was_clean, code, reason = client:receive()
    assert.is_nil(message)
    assert.is_nil(opcode)
    assert.is_false(was_clean)
    assert.are.equal(1009, code)
    assert.is_string(reason)
  end)
end)

-- Runs `command` in the shell; fails the spec if it fails.
local function sh(command)
  local ok, _, code = os.execute(command)
  assert(ok == true or ok == 0, command .. " failed (" .. tostring(code or ok) .. ")")
end

-- A private CA made for the run, in `folder`: ca.pem; server.pem and server.key for localhost
-- and 127.0.0.1; client.pem and client.key, signed by it; and self.pem/self.key, a
-- self-signed certificate that is no part of it.
local function make_certificates(folder)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
  sh("openssl req -x509 " .. ec .. "-days 1 -subj /CN=wsio-lua-test-ca -keyout " .. folder ..
    "/ca.key -out " .. folder .. "/ca.pem 2>/dev/null")
  for _, name in ipairs({ "server", "client" }) do
    local ext = assert(io.open(folder .. "/" .. name .. ".ext", "w"))
    if name == "server" then
      ext:write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    else
      ext:write("extendedKeyUsage=clientAuth\n")
    end
    ext:close()
    sh("openssl req " .. ec .. "-subj /CN=" .. name .. " -keyout " .. folder .. "/" .. name ..
      ".key -out " .. folder .. "/" .. name .. ".csr 2>/dev/null")
    sh("openssl x509 -req -days 1 -in " .. folder .. "/" .. name .. ".csr -CA " .. folder ..
      "/ca.pem -CAkey " .. folder .. "/ca.key -CAcreateserial -extfile " .. folder .. "/" ..
      name .. ".ext -out " .. folder .. "/" .. name .. ".pem 2>/dev/null")
  end
  sh("openssl req -x509 " .. ec .. "-days 1 -subj /CN=localhost " ..
    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " .. folder ..
    "/self.key -out " .. folder .. "/self.pem 2>/dev/null")
end

-- Echoes what the client sends until it goes.
local function echo(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then return end
    ws:send(message, opcode)
  end
end

describe("TLS", function()
  local folder, url, stop
  setup(function()
    folder = os.tmpname()
    os.remove(folder)
    sh("mkdir -p " .. folder)
    make_certificates(folder)
    url, stop = support.serve("--cert " .. folder .. "/server.pem --key " .. folder .. "/server.key")
    url = url .. "/echo"
  end)
  teardown(function()
    stop()
    os.execute("rm -rf " .. folder)
  end)

  it("connects over wss:// with insecure = true, and refuses an unknown certificate without", function()
    assert.truthy(url:find("^wss://"), url)
    local client = websocket.client.sync({ timeout = 5, insecure = true })
    assert.is_true(client:connect(url))
    client:send("secret")
    assert.are.equal("secret", (client:receive()))
    client:close()
    local strict = websocket.client.sync({ timeout = 5 })
    local ok, err = strict:connect(url)
    assert.is_nil(ok)
    assert.truthy(err:lower():find("certificate"), err)
    local ws = websocket.WsClient.new(url, { insecure = true })
    ws:send("plugin")
    assert.are.equal("plugin", ws:receive().data)
    ws:close()
  end)

  it("trusts a private CA's certificates with cafile, in every client", function()
    local cafile = folder .. "/ca.pem"
    local client = websocket.client.sync({ timeout = 5, cafile = cafile })
    assert.is_true(client:connect(url))
    client:send("sync")
    assert.are.equal("sync", (client:receive()))
    client:close()
    local ws = websocket.WsClient.new(url, { cafile = cafile })
    ws:send("plugin")
    assert.are.equal("plugin", ws:receive().data)
    ws:close()
    local eco = assert(websocket.eco.connect(url, { cafile = cafile, timeout = 5 }))
    eco:send_text("eco")
    assert.are.equal("eco", (eco:recv_frame(5)))
    eco:send_close(1000, "")
    assert.are.equal("close", select(2, eco:recv_frame(5)))
    local port = tonumber(url:match(":(%d+)/"))
    local res, read, write = websocket.coro.connect({
      host = "localhost", port = port, pathname = "/echo", tls = { cafile = cafile },
    })
    assert(res, read)
    write({ opcode = 1, payload = "coro" })
    assert.are.equal("coro", read().payload)
    write()
    assert.are.equal(8, read().opcode)
    local got
    local core = websocket.core.connect(url, {
      cafile = cafile, on_message = function(_, message) got = message end,
    })
    core:send("core")
    support.run_until(function() return got ~= nil end)
    assert.are.equal("core", got)
    core:close()
    support.run_until(function() return core.status == "closed" end)
    -- Trusting another certificate instead refuses this server.
    local other = websocket.client.sync({ timeout = 5, cafile = folder .. "/self.pem" })
    local ok, err = other:connect(url)
    assert.is_nil(ok)
    assert.truthy(err:lower():find("certificate"), err)
  end)

  it("serves wss:// from server.listen with certificate and key", function()
    local server = websocket.server.listen({
      port = 0, interface = "127.0.0.1", default = echo,
      certificate = folder .. "/server.pem", key = folder .. "/server.key",
    })
    local secure = ("wss://localhost:%d/"):format(server:port())
    local finished = false
    support.wsio.spawn(function()
      local client = websocket.client.sync({ timeout = 5, cafile = folder .. "/ca.pem" })
      assert(client:connect(secure))
      client:send("over TLS")
      assert.are.equal("over TLS", (client:receive()))
      client:close()
      finished = true
    end)
    support.run_until(function() return finished end)
    server:close()
  end)

  for _, kind in ipairs({ "python", "node" }) do
    it("shows a client certificate to " .. kind .. "'s server, which asks for one", function()
      local peer, stop_peer = support.peer(kind, {
        PEER_TLS_CERT = folder .. "/server.pem",
        PEER_TLS_KEY = folder .. "/server.key",
        PEER_TLS_CLIENT_CA = folder .. "/ca.pem",
      })
      peer = peer:gsub("^ws://127%.0%.0%.1", "wss://localhost")
      local client = websocket.client.sync({
        timeout = 5, cafile = folder .. "/ca.pem",
        certificate = folder .. "/client.pem", key = folder .. "/client.key",
      })
      local ok, err = client:connect(peer)
      assert(ok, err)
      client:send("mutual")
      assert.are.equal("mutual", (client:receive()))
      client:close()
      -- Without one, the server refuses the connection.
      local anonymous = websocket.client.sync({ timeout = 5, cafile = folder .. "/ca.pem" })
      assert.is_nil((anonymous:connect(peer)))
      stop_peer()
    end)
  end

  it("raises clear errors for TLS files it cannot use", function()
    local ok, err = pcall(websocket.client.sync, { cafile = folder .. "/missing.pem" })
    assert.is_false(ok)
    assert.truthy(err:find("missing.pem", 1, true), err)
    ok, err = pcall(websocket.WsClient.new, url, { certificate = folder .. "/client.pem" })
    assert.is_false(ok)
    assert.truthy(err:find("certificate and key go together", 1, true), err)
    ok, err = pcall(websocket.server.listen, {
      port = 0, interface = "127.0.0.1", default = echo,
      certificate = folder .. "/ca.key", key = folder .. "/ca.key",
    })
    assert.is_false(ok)
    assert.truthy(err:find("ca.key", 1, true), err)
    ok, err = pcall(websocket.server.listen, {
      port = 0, interface = "127.0.0.1", default = echo, key = folder .. "/ca.key",
    })
    assert.is_false(ok)
    assert.truthy(err:find("certificate and key go together", 1, true), err)
  end)
end)
