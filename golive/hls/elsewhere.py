"""Players sent to the node that serves a room, when several nodes share one room registry.

Only the node that ingests a room packages it; a player may still ask another node for it (a
load balancer picks, or a link names that node). That node answers the request it cannot serve
with a temporary redirect to the same path on the serving node's public URL (RFC 9110,
15.4.8, 307 Temporary Redirect). A player that follows it resolves every URI of the playlist
it gets against the URL it was redirected to (RFC 3986, 5.1.3: the base URI is that of the
retrieved representation; hls.js takes the XHR's ``responseURL`` for it, ffmpeg's HLS reader
the HTTP ``location``), so only the first request of a viewer takes the detour.

The redirect is decided outside the routes (golive.hls.routes stays untouched): a middleware
around them sees a 404 of a room that is not on this node and asks ``find`` where it is
served. ``find`` answers with URLs from the room registry, which nodes write; nothing from the
request decides where the redirect goes but the path, which is appended to that URL. The
redirect is not cached: a room moves when its publisher reconnects to another node.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..http_errors import HttpError
from ..logs import escape_for_log
from .packager import Packager

log = logging.getLogger("golive.hls")

# The base URL of the node that serves a room, or None to answer this node's 404.
FindNode = Callable[[str], Awaitable[str | None]]
REDIRECT_CACHE = "no-store"


def elsewhere_middleware(
    packager: Packager, find: FindNode, *, headers: Mapping[str, str]
) -> Middleware:
    """A middleware of the HLS sub-application (whose routes name the room ``{room}``) that
    turns the 404 of a room not on this node into a 307 to the node ``find`` names; its
    response carries ``headers`` besides (the CORS headers of HLS, which a player on another
    origin needs to follow it)."""

    @web.middleware
    async def send_elsewhere(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpError as exc:
            room = request.match_info.get("room")
            # A room this node has (even one not ready, or ended) answers for itself.
            if exc.status != 404 or room is None or room in packager.rooms:
                raise
            try:
                base = await find(room)
            except Exception:
                # The registry unreachable: this node's answer stands.
                log.warning("cannot look up where room %s is served", escape_for_log(room))
                raise exc from None
            if base is None:
                raise
        # The path (and query: _HLS_msn and the like) as the player sent it, on the other node:
        # it starts with the HLS prefix, so it cannot change the host the URL names.
        return web.Response(
            status=307,
            headers={
                "Location": base.rstrip("/") + request.raw_path,
                "Cache-Control": REDIRECT_CACHE,
                **headers,
            },
        )

    return send_elsewhere
