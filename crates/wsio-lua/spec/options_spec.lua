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

describe("TLS", function()
  local url, stop, folder
  setup(function()
    folder = os.tmpname()
    os.remove(folder)
    assert(os.execute("mkdir -p " .. folder))
    local made = os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 " ..
      "-nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 " ..
      "-keyout " .. folder .. "/key.pem -out " .. folder .. "/cert.pem 2>/dev/null")
    assert(made == true or made == 0, "openssl could not make a certificate")
    url, stop = support.serve("--cert " .. folder .. "/cert.pem --key " .. folder .. "/key.pem")
  end)
  teardown(function()
    stop()
    os.execute("rm -rf " .. folder)
  end)

  it("connects over wss:// with insecure = true, and refuses an unknown certificate without", function()
    assert.truthy(url:find("^wss://"), url)
    local client = websocket.client.sync({ timeout = 5, insecure = true })
    assert.is_true(client:connect(url .. "/echo"))
    client:send("secret")
    assert.are.equal("secret", (client:receive()))
    client:close()
    local strict = websocket.client.sync({ timeout = 5 })
    local ok, err = strict:connect(url .. "/echo")
    assert.is_nil(ok)
    assert.truthy(err:lower():find("certificate"), err)
    local ws = websocket.WsClient.new(url .. "/echo", { insecure = true })
    ws:send("plugin")
    assert.are.equal("plugin", ws:receive().data)
    ws:close()
  end)
end)
