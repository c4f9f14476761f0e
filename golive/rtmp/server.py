"""The asyncio shell around ``RtmpConnection``: sockets, timers, limits and the stream hub.

asyncio.Protocol rather than streams: ``data_received`` hands the bytes straight to the core
with no reader task, buffer copy or await per read, which matters at 6 Mbps per publisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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


class PublishRefusedError(Exception):
    """Raised by an authorizer to refuse a publish; ``code`` is the onStatus code sent."""

    def __init__(self, reason: str, code: str = "NetStream.Publish.Denied") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


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
Authorizer = Callable[[str, str, str], Awaitable[PublishGrant]]


class RtmpServer:
    def __init__(
        self, hub: StreamHub, authorize: Authorizer, limits: RtmpLimits | None = None
    ) -> None:
        self.hub = hub
        self.authorize = authorize
        self.limits = limits or RtmpLimits()
        self.connections: set[_RtmpProtocol] = set()
        self.releases: set[asyncio.Task[None]] = set()  # grants being released
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str | list[str] | None, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _RtmpProtocol(self), host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        pending = [c._auth_task for c in self.connections if c._auth_task is not None]
        for conn in list(self.connections):
            conn.close("server shutting down")
        # Rooms end with their publishes: let authorizations in flight and the releases
        # they cause finish, so a restart leaves no room behind in a shared registry.
        if pending:
            await asyncio.wait(pending, timeout=5)
        if self.releases:
            await asyncio.wait(list(self.releases), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _RtmpProtocol(asyncio.Protocol):
    def __init__(self, server: RtmpServer) -> None:
        self.server = server
        limits = server.limits
        self.core = RtmpConnection(max_message_size=limits.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.stream: LiveStream | None = None
        self.room = ""
        self._grant: PublishGrant | None = None
        self._last_data = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._auth_task: asyncio.Task[None] | None = None
        self._closing = False

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        limits = self.server.limits
        if len(self.server.connections) >= limits.max_connections:
            log.warning(
                "%s: refused: %d connections open, the limit", self.peer, limits.max_connections
            )
            self.transport.abort()
            self._closing = True
            return
        self.server.connections.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(limits.handshake_timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._last_data = time.monotonic()
        try:
            events = self.core.receive_data(data)
        except ProtocolError as exc:
            self.close(f"protocol error: {exc}")
            return
        for event in events:
            self._handle(event)
        self._flush()
        if self.core.closed:
            self.close("")

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
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
            self._auth_task = asyncio.get_running_loop().create_task(self._authorize(event))
        elif isinstance(event, PublishEnded):
            self._end_stream(f"publisher stopped ({event.reason})")
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
        log.info(
            "%s: connected to app '%s' (%s)",
            self.peer,
            escape_for_log(event.app),
            escape_for_log(event.flash_ver or "?"),
        )
        # From here on only the idle limit applies.
        self._arm_idle_timer()

    async def _authorize(self, event: PublishRequested) -> None:
        stream: LiveStream | None = None
        try:
            grant = await self.server.authorize(event.app, event.name, event.query)
            room = grant.room
            stream = self.server.hub.open(room, on_takeover=self._taken_over)
            try:
                await grant.start()
            except asyncio.CancelledError:
                # Cancelled from outside (the loop shutting down): the start may have gone
                # through, so end the room too.
                self.server.hub.close(stream)
                self._release(grant)
                raise
        except PublishRefusedError as exc:
            if stream is not None:
                self.server.hub.close(stream)
            log.info("%s: publish refused: %s", self.peer, escape_for_log(exc.reason))
            self._reject(exc.code, exc.reason)
        except StreamBusyError as exc:
            log.info("%s: publish refused: room %s is already live", self.peer, escape_for_log(exc))
            self._reject("NetStream.Publish.BadName", "This stream is already being published.")
        except Exception:
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
            log.info("%s: room %s is live", self.peer, escape_for_log(room))
        finally:
            self._auth_task = None
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
        )

    # --- output, timers, closing ----------------------------------------------------------

    def _flush(self) -> None:
        data = self.core.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        if reason:
            log.warning("%s: closing: %s", self.peer, escape_for_log(reason))
        if self.stream is not None:
            self._end_stream(reason or "connection closed by the server")
        if self.transport is not None:
            # close(), not abort(): what the core queued last (a refusal) still goes out.
            self.transport.close()

    def _handshake_expired(self) -> None:
        self.close(f"no handshake and connect within {self.server.limits.handshake_timeout:g} s")

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


async def open_authorizer(app: str, key: str, query: str) -> PublishGrant:
    """Open publishing (no accounts): anyone may publish and the room is the stream name."""
    return PublishGrant(key)


__all__ = [
    "Authorizer",
    "PublishGrant",
    "PublishRefusedError",
    "RtmpServer",
    "open_authorizer",
]
