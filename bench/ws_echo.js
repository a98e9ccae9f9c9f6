// Node's `ws` as an echo server with permessage-deflate on (its defaults), for the benchmark's
// scenario 6: the peer wsio's compression is measured against. Prints `listening ADDR`.
// Needs `ws` in tests/peers/node_modules (scripts/setup-peers.sh); the runner sets NODE_PATH.
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: true,
  maxPayload: 64 << 20,
});
server.on('listening', () => {
  console.log(`listening 127.0.0.1:${server.address().port}`);
});
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
