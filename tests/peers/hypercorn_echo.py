"""A WebSocket echo server on Hypercorn, which serves WebSockets over HTTP/2 (RFC 8441) as
well as HTTP/1.1: an ASGI application that accepts every WebSocket (choosing the subprotocol
`chat` when offered) and sends back each text and binary message.

Usage: hypercorn_echo.py PORT [CERT KEY]

It listens on 127.0.0.1:PORT, in cleartext (HTTP/1.1, and HTTP/2 with prior knowledge) or,
given a certificate and key (PEM files), over TLS offering h2 and http/1.1. It exits by
itself after 60 seconds.
"""

import asyncio
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

LIFETIME = 60


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"websocket only\n"})
        return
    await receive()  # websocket.connect
    subprotocol = "chat" if "chat" in scope.get("subprotocols", []) else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event["bytes"]})


async def main(port, cert, key):
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.websocket_max_message_size = 64 << 20
    if cert:
        config.certfile = cert
        config.keyfile = key
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(LIFETIME, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    port = int(sys.argv[1])
    cert, key = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (None, None)
    asyncio.run(main(port, cert, key))
