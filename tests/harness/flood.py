"""An RTMP client that floods golive with tiny messages, in a process of its own so that it
pushes bytes at its own pace whatever golive's event loop is doing, as a remote attacker would.

    python -m tests.harness.flood PORT [STREAM_KEY] [SECONDS] [BYTES_PER_SECOND]

It handshakes, connects (and publishes with STREAM_KEY when one is given), then sends 5-byte
messages: one type 0 header starting a 4-byte User Control message on chunk stream 4, then
type 3 chunks that each start another one (RTMP 1.0, 5.3.1.2.4). It prints how many seconds
the flood lasted before golive closed the connection, or SECONDS if it never did.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from golive.rtmp import amf0
from golive.rtmp.chunk import ChunkWriter

FLOOD_START = bytes.fromhex("04 000000 000004 04 00000000 0006 0000")
FLOOD_MESSAGE = bytes.fromhex("c4 0006 0000")


def wait_for(sock: socket.socket, text: bytes) -> None:
    """Read until ``text`` went by (an onStatus code); crude, and enough for a test client."""
    seen = b""
    while text not in seen:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        seen = seen[-len(text) :] + data


def start(port: int, key: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"\x03" + bytes(8) + os.urandom(1528))
    s0s1s2 = b""
    while len(s0s1s2) < 1 + 1536 * 2:
        s0s1s2 += sock.recv(1 + 1536 * 2 - len(s0s1s2))
    out = ChunkWriter()
    connect = amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live"})
    sock.sendall(s0s1s2[1 : 1 + 1536] + out.write(3, 0, 20, 0, connect))
    wait_for(sock, b"NetConnection.Connect.Success")
    if key:
        sock.sendall(
            out.write(3, 0, 20, 0, amf0.encode("createStream", 2.0, None))
            + out.write(3, 0, 20, 1, amf0.encode("publish", 0.0, None, key, "live"))
        )
        wait_for(sock, b"NetStream.Publish.Start")
    return sock


def flood(sock: socket.socket, seconds: float, rate: int) -> float:
    burst = FLOOD_MESSAGE * (rate // 100 // len(FLOOD_MESSAGE))  # every 10 ms
    began = time.monotonic()
    try:
        sock.sendall(FLOOD_START)
        while (elapsed := time.monotonic() - began) < seconds:
            sock.sendall(burst)
            time.sleep(max(0.0, 0.01 - (time.monotonic() - began - elapsed)))
    except OSError:
        return time.monotonic() - began
    return seconds


def main(argv: list[str]) -> None:
    port = int(argv[0])
    key = argv[1] if len(argv) > 1 else ""
    seconds = float(argv[2]) if len(argv) > 2 else 3.0
    rate = int(argv[3]) if len(argv) > 3 else 2_000_000
    sock = start(port, key)
    print(f"{flood(sock, seconds, rate):.3f}", flush=True)
    sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])
