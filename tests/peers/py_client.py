"""A client on Python's `websockets` that runs a fixed script against a wsio echo server.

Usage: py_client.py URL

The script makes two connections, one after the other. On the first, each check prints one
JSON line, {"check":NAME,"ok":true} or with "ok":false and what came back instead, and the
client then closes with 4001 "done" and prints the code and reason of the server's answer. On
the second, it sends `close:4003:wsio says bye`, asking the server to close, and prints the code
and reason of the server's close frame. Exits 1 if any check failed. node_client.js runs the
same script and prints the same lines.

With the environment variable PEER_DEFLATE set, the client offers permessage-deflate
(`on`: the library's default offer; `8`: a server window of 8 bits, which Python's zlib
inflates with a 256-byte window, and a client window of 9, the least websockets compresses
with) and first prints {"check":"compression","ok":true} if the
server agreed.
"""

import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

# The whole script must finish within this many seconds.
LIMIT = 50

DEFLATE = os.environ.get("PEER_DEFLATE", "")

BIG = bytes(range(256)) * (1 << 16)  # 16 MiB
FRAGMENTED_TEXT = [b"frag", b"mented \xce", b"\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5"]
FRAGMENTED_BINARY = [b"\x00\x01", b"", b"\x02\x03\x04"]
PING = b"interop-ping"

failed = False


def emit(line):
    print(json.dumps(line, separators=(",", ":"), ensure_ascii=False), flush=True)


def report(check, ok, got=None):
    global failed
    line = {"check": check, "ok": ok}
    if not ok:
        failed = True
        line["got"] = repr(got)[:200]
    emit(line)


def report_close(check, ws):
    received = ws.protocol.close_rcvd
    emit(
        {
            "check": check,
            "code": received.code if received else None,
            "reason": received.reason if received else None,
        }
    )


async def echo(ws, check, message, expected, **send_options):
    await ws.send(message, **send_options)
    got = await ws.recv()
    report(check, type(got) is type(expected) and got == expected, got)


def open_connection(url):
    if DEFLATE == "8":
        factory = ClientPerMessageDeflateFactory(server_max_window_bits=8, client_max_window_bits=9)
        compression = {"compression": None, "extensions": [factory]}
    else:
        compression = {"compression": "deflate" if DEFLATE else None}
    return connect(
        url,
        # The 16 MiB messages exceed the default limit of 1 MiB.
        max_size=32 << 20,
        **compression,
        # No keepalive pings of its own: the server expects only the script's messages.
        ping_interval=None,
    )


async def run(url):
    async with open_connection(url) as ws:
        if DEFLATE:
            agreed = ws.protocol.extensions
            bits = "8" if DEFLATE == "8" else None
            ok = len(agreed) == 1 and (
                bits is None
                or (agreed[0].remote_max_window_bits, agreed[0].local_max_window_bits) == (8, 9)
            )
            report("compression", ok, [vars(e) for e in agreed])
        await echo(ws, "text", "hello", "hello")
        await echo(ws, "text_non_ascii", "κόσμε 😀 ünïcødé", "κόσμε 😀 ünïcødé")
        await echo(ws, "binary", bytes(range(256)), bytes(range(256)))
        await echo(ws, "binary_16_mib", BIG, BIG)
        # The text is split inside the two bytes of "κ"; websockets ends a fragmented message
        # with an empty final frame.
        await echo(ws, "fragmented_text", FRAGMENTED_TEXT, "fragmented κόσμε", text=True)
        await echo(ws, "fragmented_binary", FRAGMENTED_BINARY, b"\x00\x01\x02\x03\x04")
        pong = await ws.ping(PING)
        await asyncio.wait_for(pong, 10)
        report("ping", True)
        await ws.close(4001, "done")
        report_close("close", ws)

    async with open_connection(url) as ws:
        await ws.send("close:4003:wsio says bye")
        try:
            message = await ws.recv()
            report("server_close", False, message)
            return
        except ConnectionClosed:
            # Waits for the end of the TCP connection, which the server closes.
            await ws.wait_closed()
        report_close("server_close", ws)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(run(sys.argv[1]), LIMIT))
    sys.exit(1 if failed else 0)
