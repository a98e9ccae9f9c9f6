// An echo server on Node's `ws`, for wsio's interop tests.
//
// Usage: node node_echo_server.js PORT   (0 picks a free port)
//
// Binds 127.0.0.1 only, prints `listening PORT` once bound, and echoes every message with its
// type (text stays text, binary stays binary). A text message `close:CODE:REASON` makes it close
// the connection with that code and reason instead. Pings are answered by the library. The
// process exits by itself after LIFETIME_MS, so nothing outlives a test that died. With the
// environment variable PEER_DEFLATE set, it accepts permessage-deflate and compresses every
// message; otherwise it declines it.
'use strict';

const { WebSocketServer } = require('ws');

const LIFETIME_MS = 60_000;

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2]),
  perMessageDeflate: process.env.PEER_DEFLATE ? { threshold: 0 } : false,
});

server.on('listening', () => {
  console.log(`listening ${server.address().port}`);
});

server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text !== null && text.startsWith('close:')) {
      const [, code, ...reason] = text.split(':');
      ws.close(Number(code), reason.join(':'));
      return;
    }
    ws.send(data, { binary: isBinary });
  });
});

setTimeout(() => process.exit(0), LIFETIME_MS);
