"""An echo server on Python's `websockets`, for wsio's interop tests.

Usage: py_echo_server.py PORT   (0 picks a free port)

Binds 127.0.0.1 only, prints `listening PORT` once bound, and echoes every message with its
type (text stays text, binary stays binary). A text message `close:CODE:REASON` makes it close
the connection with that code and reason instead. Pings are answered by the library. The
process exits by itself after LIFETIME seconds, so nothing outlives a test that died. With
the environment variable PEER_DEFLATE set, it accepts permessage-deflate (the library's
defaults); otherwise it declines it. With PEER_TLS_CERT and PEER_TLS_KEY (PEM files) it serves
wss:// with that certificate, and with PEER_TLS_CLIENT_CA too it requires each client to show
a certificate that CA signed.
"""

import asyncio
import os
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

LIFETIME = 60


async def echo(ws):
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
                return
            await ws.send(message)
    except ConnectionClosed:
        # A close code other than 1000 and 1001 ends the loop with this exception.
        pass


def tls_context():
    """The TLS settings the environment asks for, or None for ws://."""
    cert, key = os.environ.get("PEER_TLS_CERT"), os.environ.get("PEER_TLS_KEY")
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    client_ca = os.environ.get("PEER_TLS_CLIENT_CA")
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


async def main(port):
    async with serve(
        echo,
        "127.0.0.1",
        port,
        # The 16 MiB messages exceed the default limit of 1 MiB.
        max_size=32 << 20,
        compression="deflate" if os.environ.get("PEER_DEFLATE") else None,
        # No keepalive pings of its own: the tests expect only the messages they cause.
        ping_interval=None,
        ssl=tls_context(),
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening {bound}", flush=True)
        await asyncio.sleep(LIFETIME)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
