"""Plays a WebSocket client from bytes made elsewhere, over a plain TCP connection, for tests
that build the handshake and the frames themselves (the Lua module's protocol helpers).

Usage: raw_exchange.py PORT OUT IN...

Connects to 127.0.0.1:PORT and sends the contents of each file IN in turn, waiting after each
for the server's answer (after the first, the handshake request, for the whole response head;
after the others, for more bytes) before the next. Then writes to file OUT everything the
server sent, once it closes the connection or has been quiet for QUIET seconds.
"""

import socket
import sys

QUIET = 2.0


def main(port, path_out, paths_in):
    parts = []
    for path in paths_in:
        with open(path, "rb") as source:
            parts.append(source.read())
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=QUIET) as conn:
        try:
            for index, part in enumerate(parts):
                conn.sendall(part)
                before = len(received)
                while True:
                    if index == 0 and b"\r\n\r\n" in received:
                        break
                    if index > 0 and len(received) > before:
                        break
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
        except socket.timeout:
            pass
    with open(path_out, "wb") as sink:
        sink.write(received)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
