"""A WebSocket client over HTTP/2 (RFC 8441) built on Python's `h2` package, independent of
wsio and hyper, that runs a fixed script against a WebSocket echo server.

Usage: py_h2_client.py URL

URL is http://HOST:PORT/PATH (cleartext, prior knowledge) or https://HOST:PORT/PATH (TLS with
ALPN h2; the certificate is not checked). The client checks that the server's SETTINGS allow
extended CONNECT, then opens two WebSockets on two streams of the one connection, each an
extended CONNECT with :protocol websocket, and on each sends a text message, a binary one and
a text message in two fragments, expecting each echoed, then closes with 1000 and expects the
server's close. Each check prints one JSON line, {"check":NAME,"ok":true} or with "ok":false
and what came back instead. Exits 1 if any check failed.
"""

import json
import os
import socket
import ssl
import struct
import sys
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.settings

# The whole script must finish within this many seconds.
LIMIT = 30

failed = False


def report(check, ok, got=None):
    global failed
    line = {"check": check, "ok": ok}
    if not ok:
        failed = True
        line["got"] = repr(got)[:200]
    print(json.dumps(line, separators=(",", ":")), flush=True)


def client_frame(opcode, payload, fin=True):
    """A masked frame, as a client sends it (RFC 6455 section 5.2)."""
    key = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def parse_frame(buffer):
    """The first whole frame in `buffer`, unmasked as a server sends it: (opcode, payload,
    length of the frame), or None while it is incomplete."""
    if len(buffer) < 2:
        return None
    if buffer[1] & 0x80:
        raise ValueError("a server frame is masked")
    opcode = buffer[0] & 0x0F
    length = buffer[1] & 0x7F
    at = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length = struct.unpack("!H", buffer[2:4])[0]
        at = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length = struct.unpack("!Q", buffer[2:10])[0]
        at = 10
    if len(buffer) < at + length:
        return None
    return opcode, bytes(buffer[at : at + length]), at + length


class Client:
    def __init__(self, url):
        parts = urlsplit(url)
        self.authority = parts.netloc
        self.scheme = parts.scheme
        self.path = parts.path or "/"
        sock = socket.create_connection((parts.hostname, parts.port), timeout=LIMIT)
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
            if sock.selected_alpn_protocol() != "h2":
                raise SystemExit("the server did not agree h2 by ALPN")
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.data = {}
        self.headers = {}
        self.ended = set()
        self.settings_seen = False

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self):
        """Reads once and handles what arrived."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        for event in self.conn.receive_data(chunk):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(event, h2.events.ResponseReceived):
                self.headers[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.data[event.stream_id] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.ended.add(event.stream_id)
        self.flush()

    def open(self):
        stream = self.conn.get_next_available_stream_id()
        self.data[stream] = b""
        self.conn.send_headers(
            stream,
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", self.scheme),
                (":path", self.path),
                (":authority", self.authority),
                ("sec-websocket-version", "13"),
            ],
        )
        self.flush()
        while stream not in self.headers:
            self.pump()
        return stream, self.headers[stream].get(b":status")

    def send(self, stream, frame):
        """Sends `frame` on `stream` in DATA frames the server's frame size and flow-control
        windows allow, waiting for window updates when they are spent."""
        while frame:
            room = min(
                self.conn.local_flow_control_window(stream),
                self.conn.max_outbound_frame_size,
                len(frame),
            )
            if room == 0:
                self.pump()
                continue
            self.conn.send_data(stream, frame[:room])
            frame = frame[room:]
            self.flush()

    def next_frame(self, stream):
        """The next whole frame the server sent on `stream`: (opcode, payload)."""
        while True:
            parsed = parse_frame(self.data[stream])
            if parsed:
                opcode, payload, length = parsed
                self.data[stream] = self.data[stream][length:]
                return opcode, payload
            self.pump()


def main(url):
    client = Client(url)
    while not client.settings_seen:
        client.pump()
    allowed = client.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
    report("settings", allowed == 1, allowed)
    streams = []
    for _ in range(2):
        stream, status = client.open()
        report("open", status == b"200", status)
        streams.append(stream)
    for n, stream in enumerate(streams):
        text = f"hello over h2, stream {n}".encode()
        client.send(stream, client_frame(0x1, text))
        got = client.next_frame(stream)
        report("text", got == (0x1, text), got)
        binary = bytes(range(256)) * 300
        client.send(stream, client_frame(0x2, binary))
        got = client.next_frame(stream)
        report("binary", got == (0x2, binary), got[0])
        client.send(stream, client_frame(0x1, b"frag", fin=False))
        client.send(stream, client_frame(0x0, b"mented"))
        got = client.next_frame(stream)
        report("fragmented", got == (0x1, b"fragmented"), got)
    for stream in streams:
        client.send(stream, client_frame(0x8, struct.pack("!H", 1000) + b"bye"))
        got = client.next_frame(stream)
        code = struct.unpack("!H", got[1][:2])[0] if got[0] == 0x8 and len(got[1]) >= 2 else None
        report("close", code == 1000, got)
        client.conn.end_stream(stream)
        client.flush()
    client.conn.close_connection()
    client.flush()
    client.sock.close()


if __name__ == "__main__":
    main(sys.argv[1])
    sys.exit(1 if failed else 0)
