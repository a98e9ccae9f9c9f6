#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into seeds/<target>/.

Real frames, handshakes, URLs and close payloads, plus a few known-bad ones, laid out the way
each target reads its input (see the targets' doc comments). Run it from any directory; it
replaces what is in seeds/.
"""
import pathlib
import shutil
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parent / "seeds"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def frame(opcode, payload=b"", fin=True, mask=None, rsv=0):
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n <= 125:
        head = bytes([first, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([first, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += bytes(mask)
    return head + payload


def close(code, reason=b""):
    return struct.pack(">H", code) + reason


def write(target, seeds):
    folder = ROOT / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


M = [0x37, 0xFA, 0x21, 0x3D]

write("close_payload", {
    "empty": b"",
    "one-byte": b"\x03",
    "normal-bye": close(1000, b"bye"),
    "no-status": close(1005),
    "private-utf8": close(4000, "déjà vu".encode()),
    "bad-utf8": close(1001, b"\xc3\x28"),
    "longest-reason": close(3000, b"r" * 123),
    "reserved": close(2999),
})

write("frame_header", {
    "text-hello": frame(0x1, b"Hello"),
    "masked-hello": frame(0x1, b"Hello", mask=M),
    "first-fragment": frame(0x1, b"Hel", fin=False),
    "continuation": frame(0x0, b"lo"),
    "masked-ping": frame(0x9, b"Hello", mask=M),
    "binary-256": frame(0x2, bytes(256)),
    "binary-64k-header": frame(0x2, bytes(65536))[:16],
    "close": frame(0x8, close(1000, b"bye")),
    "reserved-opcode": bytes([0x83, 0x00]),
    "long-ping": bytes([0x89, 0x7E, 0x00, 0x7E]) + bytes(126),
    "fragmented-ping": bytes([0x09, 0x00]),
    "rsv-bits": frame(0x1, b"x", rsv=0b111),
    "length-2-63": bytes([0x82, 0xFF, 0x80]) + bytes(7),
    "non-minimal-length": bytes([0x82, 0x7E, 0x00, 0x05]) + b"Hello",
})

write("url", {
    "plain": b"ws://example.com/chat",
    "tls-port-query": b"wss://Example.COM:8443/a/b?x=1&y=%20",
    "ipv6": b"ws://[::1]:9001",
    "credentials": b"wss://user:p%40ss@host/",
    "unix": b"ws+unix:///tmp/ws.sock",
    "unix-resource": b"ws+unix:///run/app.sock:/chat?room=1",
    "fragment": b"ws://host/#top",
    "bad-port": b"ws://host:70000/",
    "https": b"https://example.com/",
    "no-host": b"ws:///path",
    "bad-ipv6": b"ws://[::1/",
})

REQUEST = (
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + "\r\n"
    "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
).encode()


def request(*, limit=0, piece=0, head=REQUEST, after=b""):
    return bytes([limit, piece, 0]) + head + after


write("handshake_request", {
    "rfc-6455": request(),
    "in-pieces": request(piece=7),
    "small-limit": request(limit=20),
    "frames-after": request(after=frame(0x1, b"Hello", mask=M)),
    "extensions": request(head=REQUEST.replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")),
    "version-8": request(head=REQUEST.replace(b"Version: 13", b"Version: 8")),
    "post": request(head=REQUEST.replace(b"GET", b"POST")),
    "absolute-target": request(head=REQUEST.replace(b"GET /chat", b"GET http://h/chat?x=1")),
    "bad-key": request(head=REQUEST.replace(KEY.encode(), b"short")),
    "two-hosts": request(head=REQUEST.replace(b"Host:", b"Host: a\r\nHost:")),
    "http-1.0": request(head=REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0")),
    "lf-only": request(head=REQUEST.replace(b"\r\n", b"\n")),
    "not-http": request(head=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
})

RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: " + ACCEPT + "\r\n\r\n"
).encode()


def response(*, flags=0, piece=0, limit=0, head=RESPONSE, after=b""):
    return bytes([limit, piece, flags]) + head + after


def extra(header):
    return RESPONSE.replace(b"\r\n\r\n", b"\r\n" + header + b"\r\n\r\n")


write("handshake_response", {
    "accepted": response(),
    "in-pieces": response(piece=5, after=frame(0x1, b"hi")),
    "protocol": response(flags=1, head=extra(b"Sec-WebSocket-Protocol: chat")),
    "protocol-not-offered": response(head=extra(b"Sec-WebSocket-Protocol: chat")),
    "extensions": response(flags=2, head=extra(b"Sec-WebSocket-Extensions: permessage-deflate")),
    "extensions-not-offered": response(head=extra(b"Sec-WebSocket-Extensions: x")),
    "wrong-accept": response(head=RESPONSE.replace(ACCEPT.encode(), b"AAAA")),
    "no-upgrade": response(head=RESPONSE.replace(b"Upgrade: websocket\r\n", b"")),
    "refused-with-body": response(
        head=b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\n", after=b"go away\r\n"),
    "refused-no-length": response(piece=3, head=b"HTTP/1.1 503 Busy\r\n\r\n", after=b"later"),
    "too-large": response(limit=4),
})


def setup(max_frame=0xFFFF, max_message=0xFFFF, flags=1, ping_ms=0, heartbeat_ms=0,
          idle_ms=0, pong_ms=500, close_ms=1000, ping_payload=0, deflate=0, threshold=0):
    return struct.pack("<HHBHHHHHBBB", max_frame, max_message, flags, ping_ms, heartbeat_ms,
                       idle_ms, pong_ms, close_ms, ping_payload, deflate, threshold)


# permessage-deflate with a 15-bit window and level 6 (see Setup in src/connection.rs).
DEFLATE = 1 | 7 << 3 | 2 << 6


def compress(data):
    """A message compressed as RFC 7692 section 7.2.1 says: raw DEFLATE, flushed, and the
    final empty block's 00 00 ff ff taken off."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def receive(data):
    out = b""
    while True:
        out += bytes([0, min(len(data), 255)]) + data[:255]
        data = data[255:]
        if not data:
            return out


POLL, WRITE_ALL, WAIT, EOF = b"\x08", b"\x09\x00", b"\x07", b"\x05"


def tick(units):
    return bytes([6, units])


def send_text(text):
    return bytes([10, len(text)]) + text


def send_close(code, reason_len):
    return bytes([13]) + struct.pack("<H", code) + bytes([reason_len])


def send_frame(opcode_index, fin, payload):
    return bytes([14, opcode_index << 1 | fin, len(payload)]) + payload


def scripts(mask):
    f = lambda *a, **k: frame(*a, mask=mask, **k)
    return {
        "hello-and-close": setup() + receive(f(0x1, b"Hello")) + POLL
        + receive(f(0x8, close(1000, b"bye"))) + POLL + WRITE_ALL + EOF + POLL,
        "fragments-with-ping": setup() + receive(f(0x1, b"Hel", fin=False) + f(0x9, b"p")
                                                + f(0x0, b"lo")) + POLL + WRITE_ALL,
        "binary-200": setup() + receive(f(0x2, bytes(range(200)))) + POLL,
        "invalid-utf8": setup() + receive(f(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80"))
        + POLL + WRITE_ALL,
        "we-close-first": setup() + send_text(b"hi") + send_close(1000, 3) + WRITE_ALL
        + receive(f(0x8, close(1000))) + POLL + WAIT + POLL,
        "close-timeout": setup(close_ms=10) + send_close(1001, 0) + tick(10) + POLL,
        "keepalive": setup(flags=5, ping_ms=40, pong_ms=40, ping_payload=4) + tick(10)
        + POLL + WAIT + WRITE_ALL + receive(f(0xA, b"pppp")) + POLL + WAIT + WAIT + POLL,
        "idle-timeout": setup(flags=9, idle_ms=40) + tick(10) + POLL + WRITE_ALL,
        "heartbeat-and-idle": setup(flags=25, heartbeat_ms=300, idle_ms=1000, ping_payload=2)
        + tick(100) + POLL + WRITE_ALL + receive(f(0xA, b"pp")) + POLL + WAIT + POLL
        + WRITE_ALL + tick(255) + POLL + WAIT + POLL,
        "ping-flood": setup() + receive(f(0x9, b"x" * 100)) + b"\x04\xff" + b"\x04\xff"
        + b"\x04\xff" + POLL + WRITE_ALL,
        "frame-mode": setup(flags=3) + receive(f(0x1, b"a", fin=False) + f(0x0, b"b")) + POLL,
        "small-limits": setup(max_frame=4, max_message=6) + receive(
            f(0x2, b"abcd", fin=False) + f(0x0, b"efgh")) + POLL + WRITE_ALL,
        "send-fragments": setup(max_frame=3) + send_text(b"fragmented!")
        + send_frame(2, 0, b"ab") + send_frame(3, 1, b"p") + send_frame(0, 1, b"cd")
        + b"\x09\x01" + WRITE_ALL,
        "eof-mid-frame": setup() + receive(f(0x2, b"abcdef")[:5]) + EOF + POLL,
        "unexpected-continuation": setup() + receive(f(0x0, b"x")) + POLL,
        "deflate-hello": setup(deflate=DEFLATE) + receive(f(0x1, compress(b"Hello"), rsv=4))
        + POLL + send_text(b"Hello, Hello, Hello") + WRITE_ALL,
        "deflate-fragments": setup(deflate=DEFLATE | 6) + receive(
            f(0x2, compress(b"abc" * 40)[:5], fin=False, rsv=4)
            + f(0x0, compress(b"abc" * 40)[5:])) + POLL,
        "deflate-bomb": setup(max_message=1000, deflate=DEFLATE)
        + receive(f(0x2, compress(bytes(100000)), rsv=4)) + POLL + WRITE_ALL,
        "deflate-garbage": setup(deflate=DEFLATE) + receive(f(0x1, b"\xff\xff\xff", rsv=4))
        + POLL,
        "deflate-rsv1-on-ping": setup(deflate=DEFLATE) + receive(f(0x9, b"", rsv=4)) + POLL,
    }


write("receive_server", scripts(M))
write("receive_client", scripts(None))
