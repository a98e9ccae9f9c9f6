// A client on Node's `ws` that runs a fixed script against a wsio echo server.
//
// Usage: node node_client.js URL
//
// The script makes two connections, one after the other. On the first, each check prints one
// JSON line, {"check":NAME,"ok":true} or with "ok":false and what came back instead, and the
// client then closes with 4001 "done" and prints the code and reason of the server's answer. On
// the second, it sends `close:4003:wsio says bye`, asking the server to close, and prints the
// code and reason of the server's close frame. Exits 1 if any check failed. py_client.py runs
// the same script and prints the same lines. With the environment variable PEER_DEFLATE set,
// it offers permessage-deflate and first prints {"check":"compression","ok":true} if the server
// agreed.
'use strict';

const { once } = require('node:events');
const WebSocket = require('ws');

// The whole script must finish within this many milliseconds.
const LIMIT_MS = 50_000;

const BIG = Buffer.alloc(16 << 20, Buffer.from([...Array(256).keys()])); // 16 MiB
const FRAGMENTED_TEXT = [
  Buffer.from('frag'),
  Buffer.concat([Buffer.from('mented '), Buffer.from([0xce])]),
  Buffer.from([0xba, 0xcf, 0x8c, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5]),
];
const FRAGMENTED_BINARY = [Buffer.from([0, 1]), Buffer.alloc(0), Buffer.from([2, 3, 4])];
const PING = Buffer.from('interop-ping');

let failed = false;

function report(check, ok, got) {
  const line = { check, ok };
  if (!ok) {
    failed = true;
    line.got = String(got).slice(0, 200);
  }
  console.log(JSON.stringify(line));
}

// Received messages, in order, for `next` to hand out one at a time.
function inbox(ws) {
  const queued = [];
  const waiting = [];
  ws.on('message', (data, isBinary) => {
    const message = { data, isBinary };
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queued.push(message);
  });
  return () =>
    queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve));
}

// Sends `fragments` as one message, one frame each.
function sendFragmented(ws, fragments, binary) {
  fragments.forEach((fragment, i) => ws.send(fragment, { binary, fin: i === fragments.length - 1 }));
}

async function echoText(next, check, expected) {
  const { data, isBinary } = await next();
  report(check, !isBinary && data.toString() === expected, data);
}

async function echoBinary(next, check, expected) {
  const { data, isBinary } = await next();
  report(check, isBinary && data.equals(expected), isBinary ? `${data.length} bytes` : data);
}

// With PEER_DEFLATE set, offer permessage-deflate and compress every message.
const DEFLATE = Boolean(process.env.PEER_DEFLATE);
const open = (url) => new WebSocket(url, { perMessageDeflate: DEFLATE ? { threshold: 0 } : false });

async function run(url) {
  const ws = open(url);
  const next = inbox(ws);
  await once(ws, 'open');
  if (DEFLATE) {
    report('compression', ws.extensions.startsWith('permessage-deflate'), ws.extensions);
  }

  ws.send('hello');
  await echoText(next, 'text', 'hello');
  ws.send('κόσμε 😀 ünïcødé');
  await echoText(next, 'text_non_ascii', 'κόσμε 😀 ünïcødé');
  const bytes = Buffer.from([...Array(256).keys()]);
  ws.send(bytes);
  await echoBinary(next, 'binary', bytes);
  ws.send(BIG);
  await echoBinary(next, 'binary_16_mib', BIG);
  // The text is split inside the two bytes of "κ".
  sendFragmented(ws, FRAGMENTED_TEXT, false);
  await echoText(next, 'fragmented_text', 'fragmented κόσμε');
  sendFragmented(ws, FRAGMENTED_BINARY, true);
  await echoBinary(next, 'fragmented_binary', Buffer.from([0, 1, 2, 3, 4]));

  const pong = once(ws, 'pong');
  ws.ping(PING);
  const [payload] = await pong;
  report('ping', payload.equals(PING), payload);

  const closed = once(ws, 'close');
  ws.close(4001, 'done');
  const [code, reason] = await closed;
  console.log(JSON.stringify({ check: 'close', code, reason: reason.toString() }));

  const second = open(url);
  second.on('message', (data) => report('server_close', false, data));
  await once(second, 'open');
  // The 'close' event comes once the TCP connection has ended, which the server closes.
  const serverClosed = once(second, 'close');
  second.send('close:4003:wsio says bye');
  const [serverCode, serverReason] = await serverClosed;
  console.log(JSON.stringify({ check: 'server_close', code: serverCode, reason: serverReason.toString() }));
}

setTimeout(() => {
  console.error(`node_client.js: not done after ${LIMIT_MS} ms`);
  process.exit(2);
}, LIMIT_MS).unref();

run(process.argv[2]).then(
  () => process.exit(failed ? 1 : 0),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
