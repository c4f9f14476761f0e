"""Plain HLS GETs answered by a small protocol of golive's own, everything else by aiohttp.

Measured on the development machine, aiohttp's server costs several times what writing a
prepared answer on the socket costs: a request object, a task, a response object and its
headers, a middleware chain per request. Nearly all of golive's HTTP traffic is of one shape,
``GET /hls/... HTTP/1.1`` with a few ordinary headers and no body, so a connection starts with
this protocol (``FastConnection``), which recognises that shape (RFC 9112) and asks its
``Responder`` for an answer: the bytes to write now, a coroutine that brings them (a blocking
reload, a cache miss), or None.

None, or any request it is not sure of (another method or path, HTTP/1.0, a body, ``Expect``,
``Upgrade``, ``Connection`` other than keep-alive, an obsolete line folding, a control
character, a head over 8 KiB), hands the connection, with every byte not yet answered, to
aiohttp's own protocol for the rest of its life: aiohttp then validates and answers it
exactly as it answers any request. So this parser only has to recognise the simple case,
never to refuse, and the responder only has to answer what it is sure of.

Requests are answered one at a time, in order (pipelining, RFC 9112, 9.3.2). The parsing and
the header building are plain functions of bytes, testable without a socket; the protocol is
the only part that does I/O. Its users: the HTTP workers' cache (golive.edge.fastpath) and the
primary's own HLS (golive.hls.fastpath).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, cast

from aiohttp import web

log = logging.getLogger("golive.http")

MAX_HEAD = 8 * 1024  # bytes of a request head; a longer one goes to aiohttp
# Bytes a client may send ahead while its request waits on an answer or its answers wait on
# the socket; then reading pauses.
MAX_AHEAD = 64 * 1024
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may wait for its next request (aiohttp's)
# What a simple request looks like (RFC 9112, 3): the GET of an origin-form HLS target made of
# visible ASCII, and header fields with a token name and a value of visible ASCII, spaces, tabs.
_REQUEST_LINE = re.compile(rb"GET (/hls/[!-~]*) HTTP/1\.1")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([ -~\t]*?)[ \t]*")
# Fields that make a request more than a plain GET; aiohttp takes those.
_NOT_SIMPLE = frozenset(
    (b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"connection")
)
# Fields aiohttp refuses twice in a request (its SINGLETON_HEADERS, RFC 9110, 5.3): a request
# that repeats one is aiohttp's to refuse.
_ONCE = frozenset(
    (
        b"content-location", b"content-range", b"content-type", b"etag", b"host",
        b"max-forwards", b"server", b"user-agent",
    )
)  # fmt: skip
# Fewer fields than aiohttp's bound (128): more go to aiohttp, which refuses them.
MAX_FIELDS = 100

# What a responder writes: buffers in order (a prepared head, the Date, a body or its chunks).
Pieces = tuple[bytes | memoryview, ...]
# What a responder answers with: pieces now, a coroutine that brings them (or None), or None:
# aiohttp is to answer this request and the rest of the connection.
Reply = Pieces | Coroutine[Any, Any, Pieces | None] | None


class SimpleGet:
    """A plain HLS GET: its target as sent, and what viewer counting needs."""

    __slots__ = ("close", "forwarded_for", "target", "user_agent")

    def __init__(
        self, target: str, user_agent: str, forwarded_for: list[str], close: bool = False
    ) -> None:
        self.target = target
        self.user_agent = user_agent
        self.forwarded_for = forwarded_for
        self.close = close  # Connection: close (RFC 9112, 9.6): the last request answered


def parse_get(head: bytes) -> SimpleGet | None:
    """The request if ``head`` (up to, not with, the blank line) is a plain GET of a target
    under ``/hls/`` with one Host field; None for anything else, which aiohttp is to judge."""
    lines = head.split(b"\r\n")
    line = _REQUEST_LINE.fullmatch(lines[0])
    if line is None or len(lines) > MAX_FIELDS:
        return None
    user_agent, forwarded_for, close = "", [], False
    seen: set[bytes] = set()
    for raw in lines[1:]:
        field = _FIELD.fullmatch(raw)
        if field is None:
            return None  # folding, a bare LF, a control character, no colon
        name = field.group(1).lower()
        if name in _ONCE:
            if name in seen:
                return None
            seen.add(name)
            if name == b"user-agent":
                user_agent = field.group(2).decode("ascii")
        elif name in _NOT_SIMPLE:
            if name != b"connection":
                return None
            option = field.group(2).lower()
            if option == b"close":
                close = True
            elif option != b"keep-alive":
                return None
        elif name == b"x-forwarded-for":
            forwarded_for.append(field.group(2).decode("ascii"))
    if b"host" not in seen:
        return None  # RFC 9112, 3.2: aiohttp refuses an HTTP/1.1 request without one
    return SimpleGet(line.group(1).decode("ascii"), user_agent, forwarded_for, close)


def status_line(status: int) -> str:
    """RFC 9112, 4: the status line, with the reason phrase aiohttp writes."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status} {reason}"


def head_bytes(status: int, headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> bytes:
    """The status line and ``headers``, each line ended, for an answer whose Content-Length and
    Date (``Clock.line``) follow."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [status_line(status), *(f"{name}: {value}" for name, value in items)]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")


class Clock:
    """The Date header (RFC 9110, 6.6.1) and what follows it to the end of the head, formatted
    once a second; with ``Connection: close`` after them for the last answer of a connection,
    as aiohttp writes it (RFC 9112, 9.6)."""

    def __init__(self, after: bytes = b"") -> None:
        self._after = after
        self._second = 0
        self._line = self._closing = b""

    def line(self, close: bool = False) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            date = f"Date: {formatdate(now, usegmt=True)}\r\n".encode() + self._after
            self._line = date + b"\r\n"
            self._closing = date + b"Connection: close\r\n\r\n"
        return self._closing if close else self._line


class Responder(Protocol):
    """What answers a connection's plain GETs (see the module)."""

    def respond(self, request: SimpleGet, remote: str) -> Reply: ...


class FastConnection(asyncio.Protocol):
    """One connection while its requests are plain HLS GETs (see the module)."""

    def __init__(
        self,
        responder: Responder,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[FastConnection],
    ) -> None:
        self.responder = responder
        self.fallback = fallback
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.remote = ""
        self.buffer = b""
        self.busy: asyncio.Task[None] | None = None  # a request waiting on its answer
        self.paused = False  # the socket's send buffer is full: answer nothing more yet
        self.reading = True
        self.idle: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()  # protocols are made by the running loop
        self.last = 0.0  # the loop's time of the last request
        self.answered = 0  # requests answered here (for the DEBUG log)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports implement asyncio.Transport without subclassing it.)
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple | list) else ""
        self.connections.add(self)
        self.last = self.loop.time()
        self.idle = self.loop.call_later(IDLE_TIMEOUT, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        log.debug("a connection closed after %d plain GETs", self.answered)
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
            request = parse_get(self.buffer[:end]) if end <= MAX_HEAD else None
            if request is None or (request.close and len(self.buffer) > end + 4):
                # (A client sends nothing after its last request, RFC 9112, 9.6; aiohttp
                # refuses the whole if it does.)
                self._hand_over()
                return
            reply = self.responder.respond(request, self.remote)
            if reply is None:
                self._hand_over()
                return
            self.last = self.loop.time()
            if type(reply) is tuple:
                self.buffer = self.buffer[end + 4 :]
                self._write(reply, request.close)
            else:
                # The request stays in the buffer until answered: a coroutine that answers
                # None hands it to aiohttp too.
                self.busy = self.loop.create_task(
                    self._wait(
                        cast(Coroutine[Any, Any, Pieces | None], reply), end + 4, request.close
                    )
                )
                return
        if not self.reading and self.transport is not None and len(self.buffer) <= MAX_AHEAD:
            self.transport.resume_reading()
            self.reading = True

    async def _wait(
        self, reply: Coroutine[Any, Any, Pieces | None], size: int, close: bool
    ) -> None:
        pieces = await reply
        self.busy = None
        if self.transport is None:
            return
        if pieces is None:
            self._hand_over()
            return
        self.buffer = self.buffer[size:]
        self._write(pieces, close)
        self._serve()

    def _write(self, pieces: Pieces, close: bool) -> None:
        assert self.transport is not None
        self.answered += 1
        self.transport.writelines(pieces)
        if close:
            # The answer goes out first: a transport closes once its buffer is written.
            self.buffer = b""
            self.transport.close()
            self.transport = None

    def _hand_over(self) -> None:
        """aiohttp's protocol takes the connection over, from the first unanswered byte."""
        transport, data = self.transport, self.buffer
        assert transport is not None
        log.debug("a connection handed to aiohttp after %d plain GETs", self.answered)
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


# The responders of an application's listeners, if it has any: the public port's, and the one
# of the unix socket that HTTP workers reach the primary on (golive.edge.internal).
RESPONDERS = web.AppKey("fast_responders", tuple)
# The TLS of the public port, when it is HTTPS (golive.tls); the unix socket stays plain.
PUBLIC_TLS = web.AppKey("public_tls", ssl.SSLContext)


class _TCPSite(web.TCPSite):
    """aiohttp's TCP site, whose connections start with ``factory``'s protocol."""

    def __init__(
        self,
        runner: web.AppRunner,
        factory: Callable[[], asyncio.Protocol],
        host: str,
        port: int,
        reuse_port: bool | None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port, ssl_context=ssl_context)
        self._factory = factory

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._factory,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
            ssl=self._ssl_context,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class _SockSite(web.SockSite):
    """aiohttp's site on a bound socket, whose connections start with ``factory``'s protocol."""

    def __init__(
        self, runner: web.AppRunner, factory: Callable[[], asyncio.Protocol], sock: socket.socket
    ) -> None:
        super().__init__(runner, sock)
        self._factory = factory

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._factory, sock=self._sock, backlog=self._backlog
        )


class Listeners:
    """An application runner's listeners, whose connections start with the fast protocol when
    the application names a responder for them (``RESPONDERS``), and those connections."""

    def __init__(self, runner: web.AppRunner) -> None:
        self.runner = runner
        self.connections: set[FastConnection] = set()
        self.sites: list[web.BaseSite] = []
        self.handed_over = 0  # connections handed to aiohttp

    def _factory(self, responder: Responder | None) -> Callable[[], asyncio.Protocol]:
        server = self.runner.server
        assert server is not None, "the runner is set up first"
        if responder is None:
            return server

        def fallback() -> asyncio.Protocol:
            self.handed_over += 1
            return server()

        return lambda: FastConnection(responder, fallback, self.connections)

    async def start(
        self, host: str, port: int, sock: socket.socket | None = None,
        reuse_port: bool | None = None,
    ) -> None:  # fmt: skip
        """Listen on ``host``:``port`` (the public port), and on ``sock`` if given (the unix
        socket of the HTTP workers)."""
        app = self.runner.app
        public, internal = app.get(RESPONDERS, (None, None))
        self.sites.append(
            _TCPSite(
                self.runner, self._factory(public), host, port, reuse_port, app.get(PUBLIC_TLS)
            )
        )
        if sock is not None:
            self.sites.append(_SockSite(self.runner, self._factory(internal), sock))
        for site in self.sites:
            await site.start()

    def close_connections(self) -> None:
        for connection in list(self.connections):
            connection.close()


async def _serve(
    app: Awaitable[web.Application], host: str, port: int, sock: socket.socket | None,
    reuse_port: bool | None,
) -> None:  # fmt: skip
    runner = web.AppRunner(await app, handle_signals=True, access_log=None)
    await runner.setup()
    listeners = Listeners(runner)
    try:
        await listeners.start(host, port, sock, reuse_port)
        await asyncio.Event().wait()  # until cancelled: SIGINT, SIGTERM
    finally:
        listeners.close_connections()
        await runner.cleanup()


def run_app(
    app: Awaitable[web.Application],
    *,
    host: str,
    port: int,
    sock: socket.socket | None = None,
    reuse_port: bool | None = None,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """``aiohttp.web.run_app`` as golive calls it (no access log, SIGINT and SIGTERM a graceful
    exit that runs the cleanup contexts), with each listener's connections starting with the
    fast protocol when the application names a responder for it (``RESPONDERS``)."""
    main = loop.create_task(_serve(app, host, port, sock, reuse_port))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """What is left of the loop's tasks, cancelled and awaited (as asyncio.run does)."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
