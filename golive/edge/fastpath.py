"""The worker's connections: plain HLS GETs answered straight from the cache, the rest by aiohttp.

Measured on the development machine, aiohttp's server (even the low-level one, with no router
and no middleware) costs about four times what writing the same cached 20 kB answer on the
socket costs: a request object, a task, a response object and its headers per request. A
worker's traffic is nearly all of one shape, ``GET /hls/... HTTP/1.1`` with a few ordinary
headers and no body, so each connection starts with this small protocol, which serves that
shape itself (RFC 9112): a cache hit is written at once from bytes prepared when the answer
was kept, a miss waits on the collapsing cache, one request at a time, in order.

Anything else, or anything it is not sure of (another method or path, HTTP/1.0, a body,
``Expect``, ``Upgrade``, an obsolete line folding, a control character, a head over 8 KiB),
hands the connection, with every byte not yet answered, to aiohttp's own protocol for the rest
of its life: aiohttp then validates and answers it exactly as it answers any request, and the
worker's pass-through (golive.edge.worker) handles it. So this parser only has to recognise
the simple case, never to refuse.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Protocol, cast

from .cache import Answer, cacheable

MAX_HEAD = 8 * 1024  # bytes of a request head; a longer one goes to aiohttp
# Bytes a client may send ahead while its request waits on the cache or its answers wait on
# the socket; then reading pauses.
MAX_AHEAD = 64 * 1024
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may wait for its next request
# What a simple request looks like (RFC 9112, 3): the GET of an origin-form HLS target made of
# visible ASCII, and header fields with a token name and a value of visible ASCII, spaces, tabs.
_REQUEST_LINE = re.compile(rb"GET (/hls/[!-~]*) HTTP/1\.1")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([ -~\t]*?)[ \t]*")
# Fields that make a request more than a plain GET; aiohttp takes those.
_NOT_SIMPLE = frozenset(
    (b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"connection")
)


class SimpleGet:
    """A plain HLS GET: its target as sent, and what viewer counting needs."""

    __slots__ = ("forwarded_for", "target", "user_agent")

    def __init__(self, target: str, user_agent: str, forwarded_for: list[str]) -> None:
        self.target = target
        self.user_agent = user_agent
        self.forwarded_for = forwarded_for


def parse_simple(head: bytes) -> SimpleGet | None:
    """The request if ``head`` (up to, not with, the blank line) is a plain HLS GET; None for
    anything else, which aiohttp is to judge."""
    lines = head.split(b"\r\n")
    line = _REQUEST_LINE.fullmatch(lines[0])
    if line is None or not cacheable(target := line.group(1).decode("ascii")):
        return None
    user_agent, forwarded_for = "", []
    for raw in lines[1:]:
        field = _FIELD.fullmatch(raw)
        if field is None:
            return None  # folding, a bare LF, a control character, no colon
        name = field.group(1).lower()
        if name in _NOT_SIMPLE:
            if name != b"connection" or field.group(2).lower() != b"keep-alive":
                return None
        elif name == b"user-agent":
            user_agent = field.group(2).decode("ascii")
        elif name == b"x-forwarded-for":
            forwarded_for.append(field.group(2).decode("ascii"))
    return SimpleGet(target, user_agent, forwarded_for)


class _Clock:
    """The Date header, formatted once a second (RFC 9110, 6.6.1)."""

    def __init__(self) -> None:
        self._second = 0
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {formatdate(now, usegmt=True)}\r\n\r\n".encode()
        return self._line


DATE = _Clock()


class Answers(Protocol):
    """What the protocol needs of the worker (golive.edge.worker.Worker)."""

    def hit(self, target: str) -> Answer | None: ...

    async def answer(self, target: str) -> Answer: ...

    def seen(self, target: str, remote: str, user_agent: str, forwarded_for: list[str]) -> None:
        """A player fetched ``target`` with this answer being 200 (viewer counting)."""


class FastProtocol(asyncio.Protocol):
    """One worker connection while its requests are plain HLS GETs (see the module)."""

    def __init__(
        self,
        answers: Answers,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[FastProtocol],
    ) -> None:
        self.answers = answers
        self.fallback = fallback
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.remote = ""
        self.buffer = b""
        self.busy: asyncio.Task[None] | None = None  # a request waiting on the cache
        self.paused = False  # the socket's send buffer is full: answer nothing more yet
        self.reading = True
        self.idle: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()  # protocols are made by the running loop
        self.last = 0.0  # the loop's time of the last request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports implement asyncio.Transport without subclassing it.)
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple | list) else ""
        self.connections.add(self)
        self.last = self.loop.time()
        self.idle = self.loop.call_later(IDLE_TIMEOUT, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        if self.busy is not None:
            self.busy.cancel()
        if self.idle is not None:
            self.idle.cancel()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._serve()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiting = self.busy is not None or self.paused
        if waiting and len(self.buffer) > MAX_AHEAD and self.transport is not None:
            self.transport.pause_reading()
            self.reading = False
        self._serve()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _check_idle(self) -> None:
        """Close a connection with no request for IDLE_TIMEOUT (one timer per connection,
        pushed back when it fires rather than re-armed for every request)."""
        left = self.last + IDLE_TIMEOUT - self.loop.time()
        if self.busy is not None or left > 0:
            self.idle = self.loop.call_later(max(left, 1.0), self._check_idle)
        else:
            self.close()

    def _serve(self) -> None:
        """Answer every complete request in the buffer that can be answered now, in order."""
        while self.transport is not None and self.busy is None and not self.paused:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._hand_over()
                    return
                break
            request = parse_simple(self.buffer[:end]) if end <= MAX_HEAD else None
            if request is None:
                self._hand_over()
                return
            self.buffer = self.buffer[end + 4 :]
            self.last = self.loop.time()
            answer = self.answers.hit(request.target)
            if answer is None:
                self.busy = asyncio.ensure_future(self._wait(request))
                return
            self._write(request, answer)
        if not self.reading and self.transport is not None and len(self.buffer) <= MAX_AHEAD:
            self.transport.resume_reading()
            self.reading = True

    async def _wait(self, request: SimpleGet) -> None:
        answer = await self.answers.answer(request.target)
        self.busy = None
        if self.transport is not None:
            self._write(request, answer)
            self._serve()

    def _write(self, request: SimpleGet, answer: Answer) -> None:
        assert self.transport is not None
        if answer.status == 200 and ".m3u8" in request.target:
            self.answers.seen(
                request.target, self.remote, request.user_agent, request.forwarded_for
            )
        self.transport.writelines((answer.wire, DATE.date_line(), answer.body))

    def _hand_over(self) -> None:
        """aiohttp's protocol takes the connection over, from the first unanswered byte."""
        transport, data = self.transport, self.buffer
        assert transport is not None
        if not self.reading:
            transport.resume_reading()
        self.connections.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        self.transport, self.buffer = None, b""
        protocol = self.fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self.paused:
            # aiohttp learns of a full send buffer only from the transport's next call.
            protocol.pause_writing()
        if data:
            protocol.data_received(data)
