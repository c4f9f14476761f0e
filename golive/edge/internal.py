"""The primary's side of its HTTP workers: the unix socket they reach it on, and what it
believes from there alone.

The primary serves its one application on the public port and on a unix socket in a folder
of its own (mode 0700, the socket 0600), so that only its own user can connect. A request that
comes over that socket is a worker's: its ``X-Forwarded-For`` names the client (the worker has
already applied ``trusted_proxies`` to what the network sent it), and it may report viewers.
From the network the same header is believed only as golive.proxies allows, and the report
path does not exist.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..viewers import MAX_PER_ROOM, Audience
from . import CLIENT_HEADER

log = logging.getLogger("golive.edge")

# A bound on one viewer report: about 60 bytes a player, so some 250,000 players.
MAX_REPORT = 16 * 1024 * 1024


@dataclass
class InternalListener:
    """The unix socket the workers reach the primary on, bound and ready for aiohttp."""

    sock: socket.socket
    path: str

    @classmethod
    def open(cls) -> InternalListener:
        folder = tempfile.mkdtemp(prefix="golive-")  # 0700: nobody else may even look
        path = os.path.join(folder, "primary.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)
        except OSError:
            sock.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        sock.setblocking(False)
        return cls(sock, path)

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


def is_internal(request: web.BaseRequest) -> bool:
    """Whether the request came over the unix socket (a worker's), not the network: only a TCP
    connection has an (address, port) peer."""
    peer = request.protocol.peername if request.protocol is not None else None
    return peer is not None and not isinstance(peer, tuple | list)


def internal_client_middleware() -> Middleware:
    """The client a worker names, for a request over the unix socket; the root application's
    first middleware, so that throttles, trusted proxies and viewer counts see that client."""

    @web.middleware
    async def worker_client(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_internal(request):
            client = request.headers.get(CLIENT_HEADER, "").rpartition(",")[2].strip()
            request = request.clone(remote=client)
        return await handler(request)

    return worker_client


def viewers_report(audience: Audience) -> Handler:
    """``POST`` of a worker's players since its last report: ``{"rooms": {ROOM: [[DIGEST_HEX,
    ADDRESS], ...]}}``, each seen now in ``audience`` as if the primary had served it."""

    async def take_report(request: web.Request) -> web.StreamResponse:
        if not is_internal(request):
            raise web.HTTPNotFound()
        # Read past the application's 64 KiB bound, up to this one: a busy worker's report.
        chunks, size = [], 0
        while chunk := await request.content.readany():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REPORT:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_REPORT, actual_size=size)
        data = b"".join(chunks)
        try:
            rooms = json.loads(data)["rooms"]
            for room, players in rooms.items():
                for digest, address in players[:MAX_PER_ROOM]:
                    audience.seen(str(room), bytes.fromhex(digest), str(address))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("a worker's viewer report was malformed")
            raise web.HTTPBadRequest() from None
        return web.Response(status=204)

    return take_report
