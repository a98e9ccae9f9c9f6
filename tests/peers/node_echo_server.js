// An echo server on Node's `ws`, for wsio's interop tests.
//
// Usage: node node_echo_server.js PORT   (0 picks a free port)
//
// Binds 127.0.0.1 only, prints `listening PORT` once bound, and echoes every message with its
// type (text stays text, binary stays binary). A text message `close:CODE:REASON` makes it close
// the connection with that code and reason instead. Pings are answered by the library. The
// process exits by itself after LIFETIME_MS, so nothing outlives a test that died. With the
// environment variable PEER_DEFLATE set, it accepts permessage-deflate and compresses every
// message; otherwise it declines it. With PEER_TLS_CERT and PEER_TLS_KEY (PEM files) it serves
// wss:// with that certificate, and with PEER_TLS_CLIENT_CA too it requires each client to show
// a certificate that CA signed.
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const LIFETIME_MS = 60_000;

const perMessageDeflate = process.env.PEER_DEFLATE ? { threshold: 0 } : false;
const port = Number(process.argv[2]);
let server;
if (process.env.PEER_TLS_CERT) {
  const clientCa = process.env.PEER_TLS_CLIENT_CA;
  const secure = https.createServer({
    cert: fs.readFileSync(process.env.PEER_TLS_CERT),
    key: fs.readFileSync(process.env.PEER_TLS_KEY),
    ca: clientCa ? fs.readFileSync(clientCa) : undefined,
    requestCert: Boolean(clientCa),
    rejectUnauthorized: Boolean(clientCa),
  });
  server = new WebSocketServer({ server: secure, perMessageDeflate });
  secure.listen(port, '127.0.0.1', () => {
    console.log(`listening ${secure.address().port}`);
  });
} else {
  server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate });
  server.on('listening', () => {
    console.log(`listening ${server.address().port}`);
  });
}

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
