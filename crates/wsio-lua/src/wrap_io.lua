-- coro-websocket's `wrapIo(rawRead, rawWrite, options)`: WebSocket manners around a reader and
-- a writer of frames that someone else made (a coro-channel with WebSocket codecs, say).
-- `rawRead()` gives the next frame as a table (`opcode`, `payload`, ...) or nil at the end;
-- `rawWrite(frame)` sends one, and `rawWrite()` ends the stream. The `read` returned gives
-- every frame, after answering a ping with a pong and a close with a close; the `write`
-- returned sends a frame (`mask` set as `options.mask` says; `opcode` 2 unless given), and
-- `write()` sends a close if none was sent, then ends the stream. With `options.heartbeat`
-- (milliseconds), a ping goes out that often from a task of the module (so only while the
-- program runs the module's tasks) until the close, the end of either stream, or a write
-- that fails. Needs no coroutine of its own.
local wsio = ...

return function(rawRead, rawWrite, options)
  if type(rawRead) ~= "function" or type(rawWrite) ~= "function" then
    error("wsio: wrapIo(rawRead, rawWrite, [options]) takes two functions", 2)
  end
  options = options or {}
  if type(options) ~= "table" then error("wsio: wrapIo's options are a table", 2) end
  local heartbeat = options.heartbeat
  if heartbeat ~= nil and (type(heartbeat) ~= "number" or heartbeat <= 0) then
    error("wsio: options.heartbeat is a number of milliseconds above 0", 2)
  end
  -- Whether a close was sent, the stream ended by `write()`, and the peer's stream over.
  local closing, ended, drained = false, false, false

  local function write(message)
    if ended then return false, "closed" end
    if message == nil then
      if not closing then
        closing = true
        rawWrite({ opcode = 8, payload = "", mask = options.mask })
      end
      ended = true
      return rawWrite()
    end
    if type(message) ~= "table" then error("wsio: write takes a message table, or nothing", 2) end
    -- A copy, so that the caller's table stays as it was.
    local frame = {}
    for key, value in pairs(message) do frame[key] = value end
    if frame.opcode == nil then frame.opcode = 2 end
    if options.mask ~= nil then frame.mask = options.mask end
    if frame.opcode == 8 then
      if closing then return true end
      closing = true
    end
    return rawWrite(frame)
  end

  local function read()
    local message = rawRead()
    if message == nil then
      drained = true
      return nil
    end
    if message.opcode == 9 and not closing then
      write({ opcode = 10, payload = message.payload })
    elseif message.opcode == 8 and not closing then
      -- Echo the peer's close code (the first two bytes), as RFC 6455 asks.
      write({ opcode = 8, payload = (message.payload or ""):sub(1, 2) })
    end
    return message
  end

  if heartbeat then
    wsio.spawn(function()
      while true do
        wsio.sleep(heartbeat / 1000)
        if closing or ended or drained then return end
        -- A writer that fails, or raises, is done with: no more pings.
        local sent, ok = pcall(write, { opcode = 9, payload = "" })
        if not sent or not ok then return end
      end
    end)
  end
  return read, write
end
