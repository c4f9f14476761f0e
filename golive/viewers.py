"""Viewer counts: the distinct players that fetched a room's playlists recently.

An HLS player reloads its media playlist every part target (a third of a second here) or at
least every target duration (RFC 8216bis, 6.3.4), so a player that is watching shows up in
the access pattern many times a window; one that stopped vanishes within the window. A player
is named by its address and User-Agent, never by anything it could be asked to log in with,
and only a keyed digest of those is kept, so the counter holds no addresses.

The count is per node: HLS is served by the node that ingests the room.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

# /hls/{room}/index.m3u8 (multivariant) and /hls/{room}/{rendition}/index.m3u8 (media).
_PLAYLIST = re.compile(r"/hls/(?P<room>[^/]+)/(?:[^/]+/)?index\.m3u8")

WINDOW = 30.0  # seconds since a player's last playlist fetch during which it counts
# A bound on memory per room whatever a client sends: beyond it the stalest are forgotten.
MAX_PER_ROOM = 100_000


class Audience:
    """Distinct players per room within a sliding window of ``window`` seconds."""

    def __init__(
        self,
        window: float = WINDOW,
        max_per_room: int = MAX_PER_ROOM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.max_per_room = max_per_room
        self._clock = clock
        self._key = secrets.token_bytes(16)  # per process: digests cannot be matched elsewhere
        # room -> player digest -> last seen, oldest first (move_to_end on every sighting).
        self._rooms: dict[str, OrderedDict[bytes, float]] = {}
        self._next_sweep = 0.0

    def player(self, address: str, user_agent: str) -> bytes:
        """A player's identity: a keyed digest of its address and User-Agent."""
        data = f"{address}\n{user_agent}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._key, digest_size=16).digest()

    def seen(self, room: str, player: bytes) -> None:
        now = self._clock()
        players = self._rooms.setdefault(room, OrderedDict())
        players[player] = now
        players.move_to_end(player)
        while len(players) > self.max_per_room:
            players.popitem(last=False)
        if now >= self._next_sweep:
            # Rooms nobody asks about any more would otherwise keep their last players.
            self._next_sweep = now + self.window
            for name in list(self._rooms):
                self._expire(name, now)

    def count(self, room: str) -> int:
        self._expire(room, self._clock())
        players = self._rooms.get(room)
        return len(players) if players else 0

    def _expire(self, room: str, now: float) -> None:
        players = self._rooms.get(room)
        if players is None:
            return
        while players:
            player, last = next(iter(players.items()))
            if now - last < self.window:
                break
            del players[player]
        if not players:
            del self._rooms[room]


def audience_middleware(audience: Audience) -> Middleware:
    """Counts a player each time a room's playlist is served to it, leaving the HLS routes
    untouched: only successful answers count, so only rooms that exist."""

    @web.middleware
    async def count_players(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        # The cheap tests first: this runs for every part and segment served too.
        path = request.path
        if path.endswith(".m3u8") and response.status == 200 and request.method == hdrs.METH_GET:
            match = _PLAYLIST.fullmatch(path)
            if match is not None:
                player = audience.player(
                    request.remote or "", request.headers.get(hdrs.USER_AGENT, "")
                )
                audience.seen(match["room"], player)
        return response

    return count_players
