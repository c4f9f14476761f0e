"""An RTMP client that floods golive with tiny messages, in a process of its own so that it
pushes bytes at its own pace whatever golive's event loop is doing, as a remote attacker would.

    python -m tests.harness.flood PORT [STREAM_KEY] [SECONDS] [BYTES_PER_SECOND]
    python -m tests.harness.flood trickle PORT [SECONDS] [CONNECTIONS] [KEY_PREFIX]

It handshakes, connects (and publishes with STREAM_KEY when one is given), then sends 5-byte
messages: one type 0 header starting a 4-byte User Control message on chunk stream 4, then
type 3 chunks that each start another one (RTMP 1.0, 5.3.1.2.4). It prints how many seconds
the flood lasted before golive closed the connection, or SECONDS if it never did.

``trickle`` opens CONNECTIONS connections (publishing with KEY_PREFIX followed by their
number when a prefix is given) that each set their chunk size to 2^31 - 1, announce a 16 MiB
video message in one chunk, send all of it but 300 kB, then trickle 100 bytes every 2 ms into
it: the pattern that made a reader joining its pending bytes again on every read quadratic. It
prints how many seconds passed before golive closed the last one, or SECONDS.
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


def trickle(port: int, seconds: float, connections: int, key_prefix: str = "") -> float:
    length = 0xFFFFFF
    set_chunk_size = bytes.fromhex("02 000000 000004 01 00000000") + (0x7FFFFFFF).to_bytes(4)
    announce = bytes.fromhex("04 000000") + length.to_bytes(3) + bytes.fromhex("09 01000000")
    socks = []
    for i in range(connections):
        sock = start(port, f"{key_prefix}{i}" if key_prefix else "")
        try:
            sock.sendall(set_chunk_size + announce + bytes(length - 300_000))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        socks.append(sock)
    began = time.monotonic()
    while socks and time.monotonic() - began < seconds:
        for sock in list(socks):
            try:
                sock.send(bytes(100))
            except BlockingIOError:
                pass  # golive reads no faster: that is its right
            except OSError:
                socks.remove(sock)
                sock.close()
        time.sleep(0.002)
    for sock in socks:
        sock.close()
    return min(seconds, time.monotonic() - began)


def main(argv: list[str]) -> None:
    if argv[0] == "trickle":
        port = int(argv[1])
        seconds = float(argv[2]) if len(argv) > 2 else 3.0
        connections = int(argv[3]) if len(argv) > 3 else 8
        prefix = argv[4] if len(argv) > 4 else ""
        print(f"{trickle(port, seconds, connections, prefix):.3f}", flush=True)
        return
    port = int(argv[0])
    key = argv[1] if len(argv) > 1 else ""
    seconds = float(argv[2]) if len(argv) > 2 else 3.0
    rate = int(argv[3]) if len(argv) > 3 else 2_000_000
    sock = start(port, key)
    print(f"{flood(sock, seconds, rate):.3f}", flush=True)
    sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])
