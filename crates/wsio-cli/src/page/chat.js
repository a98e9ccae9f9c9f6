// The chat page's client: one WebSocket to /chat on the page's own host, a line per message,
// and a reconnect with a growing delay (1 s, doubling, at most 30 s) when the connection ends.
// A server in a cluster names its node in its welcome line; the status line shows it.
"use strict";

const WELCOME_FROM_NODE = /^\* welcome, [^:]+: you are on node ([^;]+);/;

const log = document.getElementById("log");
const form = document.getElementById("form");
const input = document.getElementById("input");
const statusLine = document.getElementById("status");
let socket = null;
let failures = 0;

function roomUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/chat`;
}

function setStatus(text, state) {
  statusLine.textContent = text;
  statusLine.className = state;
}

function show(text) {
  const item = document.createElement("li");
  item.textContent = text;
  if (text.startsWith("* ")) {
    item.className = "news";
  }
  log.appendChild(item);
  item.scrollIntoView({ block: "end" });
}

function connect() {
  setStatus("connecting…", "connecting");
  socket = new WebSocket(roomUrl());
  socket.addEventListener("open", () => {
    failures = 0;
    setStatus("connected", "open");
    input.disabled = false;
    input.focus();
  });
  socket.addEventListener("message", (event) => {
    const text = String(event.data);
    const node = WELCOME_FROM_NODE.exec(text);
    if (node !== null) {
      setStatus(`connected to node ${node[1]}`, "open");
    }
    show(text);
  });
  socket.addEventListener("close", (event) => {
    input.disabled = true;
    const delay = Math.min(30, 2 ** failures);
    failures += 1;
    setStatus(`disconnected (${event.code}); trying again in ${delay} s`, "closed");
    setTimeout(connect, delay * 1000);
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (text !== "" && socket !== null && socket.readyState === WebSocket.OPEN) {
    socket.send(text);
    input.value = "";
  }
});

connect();
