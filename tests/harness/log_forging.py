"""What a hostile peer sends to make golive's log lie: strings that carry a whole forged log
line or characters that reorder or break lines, and HTTP requests too malformed to handle."""

from __future__ import annotations

import asyncio
import contextlib
import re

# A whole log line of the attacker's making, and characters that reorder or break lines.
FORGED = "\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key"
ESCAPED = "\\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key"
BIDI = "\u202e\u2066\u2028\x85"
BIDI_ESCAPED = "\\u202e\\u2066\\u2028\\x85"
# What must never be in a log line: a line break of any kind, a bidi control, a C0 or C1 control.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def hostile_get(path: bytes) -> bytes:
    """A GET whose User-Agent and X-Forwarded-For carry the forged line and the controls (no
    raw line break fits in a header: the forged line is there as the escape already)."""
    agent = ("curl" + BIDI + ESCAPED).encode()
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent + b"\r\n"
        b"X-Forwarded-For: fe80::1%" + BIDI.encode() + b"\r\nConnection: close\r\n\r\n"
    )


BAD_DEFLATE = b"\x00garbage that is no deflate stream"
MALFORMED = {
    "undecodable Content-Encoding: deflate": (
        b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: deflate\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(BAD_DEFLATE), BAD_DEFLATE)
    ),
    "both Content-Length and Transfer-Encoding": (
        b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    ),
    "a deflate body to a route that does not read it": (
        b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Encoding: deflate\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(BAD_DEFLATE), BAD_DEFLATE)
    ),
}


async def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes; the status line of the answer, read within 2 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(65536), 2.0)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return answer.split(b"\r\n", 1)[0]
