"""The asyncio shell around ``RtmpConnection``: sockets, timers, limits and the stream hub.

asyncio.Protocol rather than streams: ``data_received`` hands the bytes straight to the core
with no reader task, buffer copy or await per read, which matters at 6 Mbps per publisher.

Fairness: a read is given to the core a budget of chunks at a time, and a connection parses
for one turn at most before the loop serves the others. Until its publish is accepted a
connection is "unpublished": it has a deadline, a small budget of messages and bytes per
second, and a place in tables bounded per address and in all, where a newcomer closes the
quietest one rather than being refused, so that squatters cannot keep a real publisher out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import cast

from ..hub import LiveStream, StreamBusyError, StreamHub
from ..logs import escape_for_log
from ..media import Sample
from . import flv
from .connection import (
    Connected,
    MetadataReceived,
    PublishEnded,
    PublishFailed,
    PublishRequested,
    RtmpConnection,
)
from .errors import ProtocolError
from .limits import RtmpLimits

log = logging.getLogger("golive.rtmp")

# How much one connection parses at a time, and for how long before the loop goes on to the
# others. Parsing costs about 5 us per message whatever its size, and a chunk can carry a whole
# message in a few bytes, so the core is handed a read with a budget of _BUDGET chunks (a
# command or data message costs more by its size, as it is decoded: see
# ChunkReader.feed_some), about a millisecond for a flood of tiny messages, while media goes
# through in one call whatever its size. The turn, checked between calls, stops a 256 KiB read
# from chaining them.
_BUDGET = 200
_TURN = 0.001
# Bytes waiting to be read by the peer before the connection is closed.
_MAX_UNREAD = 1024 * 1024
# Wake-ups per publisher. An encoder sends each frame as it is made, so a live stream arrives
# in small reads (a few KiB, about 100 a second at 6 Mbps), and waking the loop for each costs
# more than parsing it. Once a connection publishes, its socket's low-water mark (SO_RCVLOWAT)
# has the kernel hold the bytes until the message in progress is complete (the chunk reader
# knows how many it lacks: waiting for them delays nothing), or, between messages, until about
# ``read_batch`` seconds of the stream (RtmpLimits, at its measured rate) have arrived: a frame
# is read at most that much later, a tenth of a 0.2 s LL-HLS part. _LOWAT_MAX stays well
# within the receive buffer: Linux narrows the TCP window to a low-water mark it has to grow
# the buffer for. A stream that slows down or stops would leave its last bytes waiting: a
# connection not read for _LOWAT_CHECK goes back to waking for every byte (a timer re-armed at
# every read, which a steady stream never lets fire).
_LOWAT_MAX = 32 * 1024
_LOWAT_CHECK = 0.05
# Naps between part boundaries. Most frames of a live stream close nothing: the packager
# holds its wake-ups until a frame that may close a part (Subscription.hold), and the reads
# can wait as long. While a publisher sends at its own pace (its media clock keeping to the
# wall clock within _NAP_DRIFT for _NAP_SETTLE seconds), reading pauses until _NAP_MARGIN
# before the next frame that matters is due, at most _NAP_MAX, and the kernel gathers the
# frames in between: one wake-up for several frames, where each costs the interpreter more,
# cold, than the frames it reads. A publisher ahead of its clock (as fast as it can, or
# catching up after a stall) never naps, and neither does a stream some consumer takes frame
# by frame (the ladder, a preview). read_batch = 0 turns naps off with the batching.
_NAP_MARGIN = 0.03
_NAP_MIN = 0.03
_NAP_MAX = 0.25
_NAP_DRIFT = 0.1
_NAP_SETTLE = 1.0
_NAP_GRID = 0.01
_RATE_EVERY = 1.0  # seconds over which a publisher's rate is measured


# Why publishes are refused, as the metrics count them (a fixed set: never the text of a
# refusal, which may quote what the peer sent).
REFUSAL_KINDS = (
    "unknown_key",
    "live_elsewhere",
    "busy",
    "denied",
    "users_unavailable",
    "throttled",
    "timeout",
    "error",
)


class PublishRefusedError(Exception):
    """Raised by an authorizer to refuse a publish; ``code`` is the onStatus code sent, and
    ``kind`` one of REFUSAL_KINDS, what the metrics count it as."""

    def __init__(
        self, reason: str, code: str = "NetStream.Publish.Denied", kind: str = "denied"
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.kind = kind if kind in REFUSAL_KINDS else "denied"


class PublishGrant:
    """What an authorizer grants: the room to publish into, and the hooks of that publish.

    ``start`` runs once the hub has given this publisher the room (so at most one publisher
    per room on this node gets there) and before the client hears that it is live; it may
    still refuse with PublishRefusedError (the room is live on another node). ``release``
    runs exactly once after a successful ``start``, when the publish is over for any reason:
    stopped, dropped, taken over, or the server shutting down.
    """

    def __init__(self, room: str) -> None:
        self.room = room

    async def start(self) -> None:
        pass

    async def release(self) -> None:
        pass


# Given (app, stream key, query), return a PublishGrant, or raise PublishRefusedError.
# The stream key is a secret: an authorizer never logs it.
# (app, stream name, query, the publisher's address without its port): the address lets a
# users service elsewhere throttle failed keys per publisher, not per ingest node.
Authorizer = Callable[[str, str, str, str], Awaitable[PublishGrant]]


class RtmpServer:
    def __init__(
        self, hub: StreamHub, authorize: Authorizer, limits: RtmpLimits | None = None
    ) -> None:
        self.hub = hub
        self.authorize = authorize
        self.limits = limits or RtmpLimits()
        self.connections: set[_RtmpProtocol] = set()
        self.releases: set[asyncio.Task[None]] = set()  # grants being released
        # The RTMP listener first, then the RTMPS one if there is one.
        self._servers: list[asyncio.Server] = []
        # Connections not publishing yet: all of them, and by address.
        self._unpublished: dict[_RtmpProtocol, None] = {}
        self._by_address: dict[str, dict[_RtmpProtocol, None]] = {}
        # Counted for the metrics: publishes accepted; refused, by REFUSAL_KINDS; connections
        # refused or closed by a connection limit, by its setting.
        self.publishes = 0
        self.refusals: dict[str, int] = dict.fromkeys(REFUSAL_KINDS, 0)
        self.naps = 0  # publishers' naps between part boundaries so far (_NAP_MARGIN)
        self.limited: dict[str, int] = {}

    @property
    def unpublished(self) -> int:
        """How many connections are open and not publishing yet."""
        return len(self._unpublished)

    @property
    def port(self) -> int:
        """The port of the first listener started."""
        assert self._servers
        port: int = self._servers[0].sockets[0].getsockname()[1]
        return port

    async def start(
        self, host: str | list[str] | None, port: int, ssl: SSLContext | None = None
    ) -> int:
        """Listen on ``port`` (RTMPS with ``ssl``); returns the port listened on. Every
        listener shares the limits and the connections' tables."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _RtmpProtocol(self),
            host,
            port,
            ssl=ssl,
            # A TLS handshake is a handshake: the same bound as RTMP's own.
            ssl_handshake_timeout=self.limits.handshake_timeout if ssl is not None else None,
        )
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        pending = [c._auth_task for c in self.connections if c._auth_task is not None]
        for conn in list(self.connections):
            conn.close("server shutting down")
        # Rooms end with their publishes: let authorizations in flight and the releases
        # they cause finish, so a restart leaves no room behind in a shared registry.
        if pending:
            await asyncio.wait(pending, timeout=5)
        if self.releases:
            await asyncio.wait(list(self.releases), timeout=5)
        for server in self._servers:
            await server.wait_closed()
        self._servers = []

    def _admit(self, conn: _RtmpProtocol) -> bool:
        """Make room for a new connection, closing an unpublished one where a table is full;
        False when there is none to close and the newcomer must be refused."""
        limits = self.limits
        same = self._by_address.get(conn.address, {})
        # Connections being closed still count towards max_connections until they are gone.
        for table, cap, what, setting in (
            (
                same,
                limits.max_unpublished_per_address,
                f"connections from {conn.address} not publishing yet",
                "max_unpublished_per_address",
            ),
            (
                self._unpublished,
                limits.max_unpublished,
                "connections not publishing yet",
                "max_unpublished",
            ),
            (self._unpublished, limits.max_connections, "connections open", "max_connections"),
        ):
            count = len(self.connections) if setting == "max_connections" else len(table)
            if count < cap:
                continue
            self.limited[setting] = self.limited.get(setting, 0) + 1
            if not self._evict(table, f"quietest of {cap} {what} ({setting})"):
                log.warning("%s: refused: %d %s, the limit (%s)", conn.peer, cap, what, setting)
                return False
        self.connections.add(conn)
        self._unpublished[conn] = None
        self._by_address.setdefault(conn.address, {})[conn] = None
        return True

    @staticmethod
    def _evict(table: dict[_RtmpProtocol, None], reason: str) -> bool:
        """Close the connection of ``table`` that has been quiet the longest, leaving one whose
        publish is being authorized (about to be decided); False if there is none.

        Quiet rather than old: a squatter sits after its connect while a real publisher talks
        every round trip until it publishes, so newcomers arriving faster than its round trips
        still leave it be."""
        victim = min(
            (c for c in table if c._auth_task is None), key=lambda c: c._last_data, default=None
        )
        if victim is None:
            return False
        victim.close(reason)
        return True

    def _forget(self, conn: _RtmpProtocol) -> None:
        """``conn`` publishes now, or is closing: it leaves the tables of unpublished ones."""
        if conn in self._unpublished:
            del self._unpublished[conn]
            same = self._by_address[conn.address]
            del same[conn]
            if not same:
                del self._by_address[conn.address]


class _Budget:
    """A token bucket: ``rate`` a second, holding one second's worth at most."""

    __slots__ = ("level", "rate", "stamp")

    def __init__(self, rate: int, now: float) -> None:
        self.rate = rate
        self.level = float(rate)
        self.stamp = now

    def spend(self, amount: int, now: float) -> bool:
        """Take ``amount``; False once the bucket is overdrawn."""
        self.level = min(float(self.rate), self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        self.level -= amount
        return self.level >= 0


def _address_key(host: str) -> str:
    """The address the per-address cap counts: IPv4 as is (also when IPv4-mapped), IPv6 by its
    /64, which one subscriber usually holds whole (RFC 6177, 2)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _RtmpProtocol(asyncio.Protocol):
    def __init__(self, server: RtmpServer) -> None:
        self.server = server
        limits = server.limits
        self.core = RtmpConnection(
            max_message_size=limits.max_message_size,
            max_pending_bytes=limits.max_pending_bytes,
            max_chunk_streams=limits.max_chunk_streams,
        )
        self.transport: asyncio.Transport | None = None
        # Asked once (the protocol is made by the loop it runs in): in CPython 3.11 each
        # asyncio.get_running_loop() is a getpid() system call, and the read path would ask
        # several times per read.
        self._loop = asyncio.get_running_loop()
        self.peer = "?"
        self.address = "?"  # what the per-address cap counts
        self.stream: LiveStream | None = None
        self.room = ""
        self._grant: PublishGrant | None = None
        self._last_data = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None  # the idle check
        self._deadline: asyncio.TimerHandle | None = None  # handshake, then publish
        # When the running publish deadline falls due (loop time), and since what: a publish
        # that is withdrawn or refused does not renew it.
        self._publish_by = 0.0
        self._publish_since = ""
        self._auth_task: asyncio.Task[None] | None = None
        self._closing = False
        # Bytes read and not yet given to the core, from _offset; reading is paused meanwhile.
        self._pending = b""
        self._offset = 0
        self._paused = False
        self._next_turn: asyncio.Handle | None = None
        # Messages and bytes per second, until the publish is accepted; then None.
        self._budgets: tuple[_Budget, _Budget] | None = None
        self._charged = 0  # messages already taken from the budget
        # The socket's low-water mark while publishing (see _LOWAT_MAX): its value, its ceiling
        # (0: not batching), and the publisher's rate in bytes per second.
        self._socket: socket.socket | None = None
        self._own_socket: socket.socket | None = None  # a duplicate, closed with the connection
        self._lowat = 1
        self._lowat_cap = 0
        self._lowat_check: asyncio.TimerHandle | None = None  # lowers it again (_LOWAT_CHECK)
        self._rate = 0.0
        self._rate_bytes = 0
        self._rate_since = 0.0
        # Naps (see _NAP_MARGIN): the pending decision, the nap, and the anchor the
        # publisher's pace is measured from (media ms, loop time).
        self._nap_check: asyncio.Handle | None = None
        self._nap: asyncio.TimerHandle | None = None
        self._pace: tuple[int, float] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = _address_key(str(peer[0])) if peer else "?"
        # Over TLS the socket carries records, not RTMP: a low-water mark counted in RTMP
        # bytes could leave the end of a record unread, so RTMPS reads are not batched.
        tls = transport.get_extra_info("sslcontext") is not None
        self._socket = None if tls else transport.get_extra_info("socket")
        if not self.server._admit(self):
            self.transport.abort()
            self._closing = True
            return
        limits = self.server.limits
        self._deadline = self._loop.call_later(limits.handshake_timeout, self._handshake_expired)
        now = time.monotonic()
        self._budgets = (
            _Budget(limits.unpublished_messages_per_second, now),
            _Budget(limits.unpublished_bytes_per_second, now),
        )

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        now = self._last_data = time.monotonic()
        if self._lowat_cap:
            self._rate_bytes += len(data)
            if now - self._rate_since >= _RATE_EVERY:
                self._rate = self._rate_bytes / (now - self._rate_since)
                self._rate_bytes = 0
                self._rate_since = now
        if self._offset < len(self._pending):
            # A read delivered after pause_reading: it goes after what is still pending.
            self._pending = self._pending[self._offset :] + data
        else:
            self._pending = data
        self._offset = 0
        self._feed()

    def _feed(self) -> None:
        """Give the pending bytes to the core a budget at a time, for one turn at most; what
        is left waits for the next loop iteration, with reading paused, so that the other
        connections and the HTTP side get the loop in between."""
        self._next_turn = None
        start = time.perf_counter()
        data, pos = self._pending, self._offset
        while pos < len(data) and not self._closing:
            pos = self._receive(data, pos)
            if pos < 0:
                return
            if pos < len(data) and time.perf_counter() - start >= _TURN:
                self._offset = pos
                self._flush()
                assert self.transport is not None
                if not self._paused and not self._closing:
                    self.transport.pause_reading()
                    self._paused = True
                self._next_turn = self._loop.call_soon(self._feed)
                return
        self._pending = b""
        self._offset = 0
        self._flush()
        if self._lowat_cap and not self._closing:
            # Wake next when the message in progress is complete, or about read_batch seconds
            # of the stream later.
            lowat = self.core.missing or int(self._rate * self.server.limits.read_batch)
            lowat = min(max(lowat, 1), self._lowat_cap)
            if lowat != self._lowat:
                self._set_lowat(lowat)
            if self._lowat > 1:
                # Re-armed at every read, so that it fires only for a stream gone quiet.
                if self._lowat_check is not None:
                    self._lowat_check.cancel()
                self._lowat_check = self._loop.call_later(_LOWAT_CHECK, self._set_lowat, 1)
        if self._paused and not self._closing and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        if self._lowat_cap and self.stream is not None and self._nap_check is None:
            # Decided once the packager has read what this read gave it, and set its hold.
            self._nap_check = self._loop.call_soon(self._consider_nap)

    def _consider_nap(self) -> None:
        """Pause reading until the next frame that may close a part is nearly due, if the
        publisher keeps to its clock (see _NAP_MARGIN)."""
        self._nap_check = None
        stream = self.stream
        if stream is None or self._closing or self._paused or self._nap is not None:
            return
        if self.server.limits.read_batch <= 0:
            return
        newest = stream.newest_ms
        if newest is None:
            return
        now = self._loop.time()
        pace = self._pace
        if pace is None:
            self._pace = (newest, now)
            return
        ahead = (newest - pace[0]) / 1000 - (now - pace[1])
        if not -_NAP_DRIFT <= ahead <= _NAP_DRIFT:
            self._pace = (newest, now)  # off its clock: watch it again from here
            return
        if now - pace[1] < _NAP_SETTLE:
            return
        # A frame read late (at the end of a nap, or after other work) says its successors
        # are due sooner than their decode times alone say.
        quiet = stream.quiet_for() + min(ahead, 0.0) - _NAP_MARGIN
        if quiet < _NAP_MIN or self.transport is None:
            return
        # Ends on a grid of _NAP_GRID (never later than planned), so that the naps of many
        # publishers end together, in one wake-up of the loop rather than one each.
        until = now + min(quiet, _NAP_MAX)
        until -= until % _NAP_GRID
        if until - now < _NAP_MIN:
            return
        if self._lowat_check is not None:
            # Not read during the nap by design: the check would only wake the loop.
            self._lowat_check.cancel()
            self._lowat_check = None
        self.transport.pause_reading()
        self._nap = self._loop.call_at(until, self._wake)
        self.server.naps += 1

    def _wake(self) -> None:
        self._nap = None
        if not self._closing and not self._paused and self.transport is not None:
            if self._lowat > 1:
                self._set_lowat(1)  # whatever gathered meanwhile, however little
            self.transport.resume_reading()

    def _receive(self, data: bytes, pos: int) -> int:
        """Give the core ``data`` from ``pos`` with one budget and act on what it means;
        return where it stopped, or -1 once closing."""
        try:
            events, end = self.core.receive_some(data, pos, _BUDGET)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return -1
        if self._budgets is not None and not self._within_budget(end - pos):
            return -1
        for event in events:
            self._handle(event)
        if self.core.closed:
            self._flush()
            self.close("")
        return -1 if self._closing else end

    def _start_batching(self) -> None:
        """The publish is accepted: media follows, and reads may be batched (see _LOWAT_MAX)."""
        sock = self._socket
        if sock is None or not hasattr(socket, "SO_RCVLOWAT"):
            return
        if self._own_socket is not None:
            return  # batching already (a second publish on the connection)
        try:
            # A socket object of our own on a duplicate of the descriptor: uvloop's transport
            # gives a stand-in that builds and detaches a socket object for every option set,
            # which cost more than the read it batches. Options belong to the socket, not to
            # the descriptor, so the mark set through the duplicate is the connection's.
            own = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return
        try:
            size = own.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError:
            own.close()
            return
        self._socket = self._own_socket = own
        self._lowat_cap = min(_LOWAT_MAX, size // 4)
        self._rate = 0.0
        self._rate_bytes = 0
        self._rate_since = time.monotonic()

    def _stop_batching(self) -> None:
        self._pace = None  # a next publish is watched afresh before it naps
        if self._lowat > 1 and not self._closing:
            self._set_lowat(1)
        self._lowat_cap = 0

    def _set_lowat(self, value: int) -> None:
        """Wake when ``value`` bytes are there to read (or the peer closes); lowering it
        wakes at once if as many are there already."""
        if value == 1 and self._lowat_check is not None:
            self._lowat_check.cancel()
            self._lowat_check = None
        assert self._socket is not None
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, value)
        except OSError:
            # Not a TCP socket that takes it (or closing): every read wakes, as before.
            self._lowat_cap = 0
            value = 1
        self._lowat = value

    def _within_budget(self, size: int) -> bool:
        assert self._budgets is not None
        messages, octets = self._budgets
        now = time.monotonic()
        count = self.core.messages_received - self._charged
        self._charged = self.core.messages_received
        limits = self.server.limits
        if not messages.spend(count, now):
            self.close(
                f"over {limits.unpublished_messages_per_second} messages per second before "
                "publishing (unpublished_messages_per_second)"
            )
            return False
        if not octets.spend(size, now):
            self.close(
                f"over {limits.unpublished_bytes_per_second} bytes per second before "
                "publishing (unpublished_bytes_per_second)"
            )
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.server._forget(self)
        self._lowat_cap = 0
        self._lowat = 1  # the socket is gone: nothing to lower
        if self._own_socket is not None:
            self._own_socket.close()  # our duplicate (see _start_batching)
            self._own_socket = None
        self._socket = None
        for handle in (
            self._timer,
            self._deadline,
            self._next_turn,
            self._lowat_check,
            self._nap_check,
            self._nap,
        ):
            if handle is not None:
                handle.cancel()
        # An authorization in flight is left to finish: it sees the connection closing and
        # undoes what it did (the hub stream, the room), which cancelling it midway would not.
        if self.stream is not None:
            reason = f"connection lost ({exc})" if exc else "connection closed"
            self._end_stream(f"publisher gone: {reason}")
        self._closing = True

    # --- events -------------------------------------------------------------------------

    def _handle(self, event: object) -> None:
        stream = self.stream
        if isinstance(event, Sample):
            if stream is not None:
                stream.push(event)
        elif isinstance(event, flv.ConfigChanged):
            if stream is not None:
                stream.push(event.config)
        elif isinstance(event, MetadataReceived):
            if stream is not None:
                stream.metadata = event.metadata
        elif isinstance(event, PublishRequested):
            # The authorizer's time is not the peer's: the deadline is met.
            self._cancel_deadline()
            self._auth_task = asyncio.get_running_loop().create_task(self._authorize(event))
        elif isinstance(event, PublishEnded):
            self._end_stream(f"publisher stopped ({event.reason})")
            self._arm_publish_deadline("the end of the last publish")
        elif isinstance(event, PublishFailed):
            log.warning(
                "%s: room %s: publish failed: %s",
                self.peer,
                escape_for_log(self.room),
                escape_for_log(event.reason),
            )
        elif isinstance(event, Connected):
            self._connected(event)

    def _connected(self, event: Connected) -> None:
        # The app up to a '/' or '?': an encoder set up with its stream key in the server URL
        # ("rtmp://host/live/KEY") sends the key in it, and a key never reaches a log line.
        app = re.split(r"[/?]", event.app, maxsplit=1)[0]
        log.info(
            "%s: connected to app '%s%s' (%s)",
            self.peer,
            escape_for_log(app),
            "/..." if app != event.app else "",
            escape_for_log(event.flash_ver or "?"),
            extra={"peer": self.peer, "event": "connected"},
        )
        # From here on the idle limit applies, and the publish deadline until a publish.
        self._arm_idle_timer()
        self._arm_publish_deadline("connect")

    async def _authorize(self, event: PublishRequested) -> None:
        stream: LiveStream | None = None
        limit = self.server.limits.authorize_timeout
        try:
            async with asyncio.timeout(limit):
                grant = await self.server.authorize(
                    event.app, event.name, event.query, self.address
                )
                room = grant.room
                stream = self.server.hub.open(room, on_takeover=self._taken_over)
                try:
                    await grant.start()
                except asyncio.CancelledError:
                    # Cancelled (the loop shutting down, or the timeout): the start may have
                    # gone through, so end the room too.
                    self.server.hub.close(stream)
                    stream = None
                    self._release(grant)
                    raise
        except TimeoutError:
            if stream is not None:
                self.server.hub.close(stream)
            self.server.refusals["timeout"] += 1
            log.warning(
                "%s: publish refused: its authorization took more than %g s (authorize_timeout)",
                self.peer,
                limit,
                extra={"peer": self.peer, "event": "publish_refused"},
            )
            self._reject("NetStream.Publish.Denied", "Authorization timed out.")
        except PublishRefusedError as exc:
            if stream is not None:
                self.server.hub.close(stream)
            self.server.refusals[exc.kind] += 1
            log.info(
                "%s: publish refused: %s",
                self.peer,
                escape_for_log(exc.reason),
                extra={"peer": self.peer, "event": "publish_refused"},
            )
            self._reject(exc.code, exc.reason)
        except StreamBusyError as exc:
            self.server.refusals["busy"] += 1
            log.info(
                "%s: publish refused: room %s is already live",
                self.peer,
                escape_for_log(exc),
                extra={"peer": self.peer, "room": str(exc), "event": "publish_refused"},
            )
            self._reject("NetStream.Publish.BadName", "This stream is already being published.")
        except Exception:
            self.server.refusals["error"] += 1
            log.exception("%s: publish authorization failed", self.peer)
            if stream is not None:
                self.server.hub.close(stream)
            self._reject("NetStream.Publish.Denied", "Authorization failed.")
        else:
            assert stream is not None
            # The peer may have withdrawn its publish (deleteStream) while it was authorized.
            if self._closing or not self.core.publish_pending:
                self.server.hub.close(stream)
                self._release(grant)
                return
            self._grant = grant
            self.stream = stream
            self.room = room
            self.core.accept_publish()
            # A publisher now: none of the limits on connections not publishing yet apply.
            self.server._forget(self)
            self._budgets = None
            self._start_batching()
            self.server.publishes += 1
            log.info(
                "%s: room %s is live",
                self.peer,
                escape_for_log(room),
                extra={"peer": self.peer, "room": room, "event": "publish_started"},
            )
        finally:
            self._auth_task = None
            if self.stream is None and not self._closing and not self.core.closed:
                # The peer withdrew its publish meanwhile, or it was refused: the deadline from
                # connect still runs (publishing and withdrawing in a loop buys no time).
                self._arm_publish_deadline(None)
        self._flush()
        if self.core.closed:
            self.close("")

    def _reject(self, code: str, description: str) -> None:
        if self.core.publish_pending:  # else the peer withdrew the publish meanwhile
            self.core.reject_publish(code, description)

    def _taken_over(self, reason: str) -> None:
        """The hub ended this publish: a new publisher took over, or the key was replaced."""
        self.stream = None
        grant, self._grant = self._grant, None
        self._release(grant)
        self.core.fail("NetStream.Publish.BadName", f"Publishing stopped: {reason}.")
        self._flush()
        self.close(reason)

    def _release(self, grant: PublishGrant | None) -> None:
        """Hand the end of a publish back to the authorizer's side, off this call stack."""
        if grant is None:
            return

        async def run() -> None:
            try:
                await grant.release()
            except Exception:
                log.exception("%s: ending room %s failed", self.peer, escape_for_log(grant.room))

        task = asyncio.get_running_loop().create_task(run())
        self.server.releases.add(task)
        task.add_done_callback(self.server.releases.discard)

    def _end_stream(self, reason: str) -> None:
        self._stop_batching()
        stream = self.stream
        if stream is None:
            return
        self.stream = None
        self.server.hub.close(stream)
        grant, self._grant = self._grant, None
        self._release(grant)
        log.info(
            "%s: room %s ended: %s; %d samples, %d bytes",
            self.peer,
            escape_for_log(stream.room),
            escape_for_log(reason),
            stream.samples,
            stream.bytes,
            extra={"peer": self.peer, "room": stream.room, "event": "publish_ended"},
        )

    # --- output, timers, closing ----------------------------------------------------------

    def _flush(self) -> None:
        data = self.core.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            # A publisher is sent little (acknowledgements, pings, status): a peer that lets
            # that pile up is not reading, and would make the server hold its answers forever.
            if self.transport.get_write_buffer_size() > _MAX_UNREAD:
                self.close(f"over {_MAX_UNREAD} bytes sent and not read by the peer")

    def close(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.server._forget(self)
        if reason:
            log.warning(
                "%s: closing: %s",
                self.peer,
                escape_for_log(reason),
                extra={"peer": self.peer, "event": "closing"},
            )
        if self.stream is not None:
            self._end_stream(reason or "connection closed by the server")
        if self.transport is not None:
            # close(), not abort(): what the core queued last (a refusal) still goes out.
            self.transport.close()

    def _handshake_expired(self) -> None:
        self.close(f"no handshake and connect within {self.server.limits.handshake_timeout:g} s")

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _arm_publish_deadline(self, since: str | None) -> None:
        """Without it one byte now and then would keep a connection that never publishes.
        ``since`` starts a new deadline (``connect``, the end of a publish); None resumes the
        running one (a publish was withdrawn or refused: asking again must not buy time)."""
        self._cancel_deadline()
        loop = asyncio.get_running_loop()
        timeout = self.server.limits.publish_timeout
        if since is not None:
            self._publish_by, self._publish_since = loop.time() + timeout, since
        self._deadline = loop.call_at(
            self._publish_by,
            self.close,
            f"no publish within {timeout:g} s of {self._publish_since} (publish_timeout)",
        )

    def _arm_idle_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.server.limits.idle_timeout / 4, self._check_idle)

    def _check_idle(self) -> None:
        idle = time.monotonic() - self._last_data
        if idle >= self.server.limits.idle_timeout:
            self.close(f"idle for {idle:.0f} s")
        else:
            self._arm_idle_timer()


async def open_authorizer(app: str, key: str, query: str, address: str) -> PublishGrant:
    """Open publishing (no accounts): anyone may publish and the room is the stream name."""
    return PublishGrant(key)


__all__ = [
    "REFUSAL_KINDS",
    "Authorizer",
    "PublishGrant",
    "PublishRefusedError",
    "RtmpServer",
    "open_authorizer",
]
