"""Viewer counts: the distinct players that fetched a room's playlists recently.

An HLS player reloads its media playlist every part target (a third of a second here) or at
least every target duration (RFC 8216bis, 6.3.4), so a player that is watching shows up in
the access pattern many times a window; one that stopped vanishes within the window. A player
is named by its address and User-Agent, never by anything it could be asked to log in with,
and only a keyed digest of those is kept, so the counter holds no addresses.

The count is per node: HLS is served by the node that ingests the room. A node's HTTP
workers (golive.edge) count the players they serve with the node's key and report them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from .hls.playlist import PLAYLIST_TYPE

WINDOW = 30.0  # seconds since a player's last playlist fetch during which it counts
# A bound on memory per room whatever a client sends: beyond it the stalest are forgotten.
MAX_PER_ROOM = 100_000
# Players one address may add to a room: a household or an office behind one address has a
# few, a client inventing User-Agents to inflate the count gets no more than this.
MAX_PER_ADDRESS = 8


class Audience:
    """Distinct players per room within a sliding window of ``window`` seconds."""

    def __init__(
        self,
        window: float = WINDOW,
        max_per_room: int = MAX_PER_ROOM,
        clock: Callable[[], float] = time.monotonic,
        max_per_address: int = MAX_PER_ADDRESS,
        key: bytes | None = None,
    ) -> None:
        self.window = window
        self.max_per_room = max_per_room
        self.max_per_address = max_per_address
        self._clock = clock
        # Per node (handed to its HTTP workers, golive.edge): digests match nowhere else.
        self.key = key or secrets.token_bytes(16)
        # room -> player digest -> (last seen, address), oldest first (move_to_end on every
        # sighting); room -> address -> players it has there.
        self._rooms: dict[str, OrderedDict[bytes, tuple[float, str]]] = {}
        self._addresses: dict[str, dict[str, int]] = {}
        self._next_sweep = 0.0

    def player(self, address: str, user_agent: str) -> bytes:
        """A player's identity: a keyed digest of its address and User-Agent."""
        data = f"{address}\n{user_agent}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self.key, digest_size=16).digest()

    def seen(self, room: str, player: bytes, address: str = "") -> None:
        now = self._clock()
        players = self._rooms.setdefault(room, OrderedDict())
        per_address = self._addresses.setdefault(room, {})
        if player not in players:
            if per_address.get(address, 0) >= self.max_per_address:
                # Full only if its players are still fresh: forget the stale ones first.
                self._expire(room, now)
                players = self._rooms.setdefault(room, OrderedDict())
                per_address = self._addresses.setdefault(room, {})
                if per_address.get(address, 0) >= self.max_per_address:
                    return
            per_address[address] = per_address.get(address, 0) + 1
        players[player] = (now, address)
        players.move_to_end(player)
        while len(players) > self.max_per_room:
            self._forget(room, *players.popitem(last=False))
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
            player, entry = next(iter(players.items()))
            if now - entry[0] < self.window:
                break
            del players[player]
            self._forget(room, player, entry)
        if not players:
            del self._rooms[room]
            self._addresses.pop(room, None)

    def _forget(self, room: str, player: bytes, entry: tuple[float, str]) -> None:
        per_address = self._addresses.get(room)
        if per_address is None:
            return
        left = per_address.get(entry[1], 0) - 1
        if left > 0:
            per_address[entry[1]] = left
        else:
            per_address.pop(entry[1], None)


def audience_middleware(
    audience: Audience, elsewhere: Callable[[web.Request], bool] | None = None
) -> Middleware:
    """Counts a player each time a room's playlist is served to it, for the HLS
    sub-application (golive.hls.routes), whose routes name the room ``{room}``; the routes
    stay untouched. Only successful answers count, so only rooms that exist. Requests for
    which ``elsewhere`` is true are counted by whoever made them (an HTTP worker's fetches,
    golive.edge), not here."""

    @web.middleware
    async def count_players(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        # The cheap tests first: this runs for every part and segment served too.
        if (
            response.status == 200
            and request.method == hdrs.METH_GET
            and response.content_type == PLAYLIST_TYPE
        ):
            room = request.match_info.get("room")
            if room is not None and not (elsewhere is not None and elsewhere(request)):
                address = request.remote or ""
                player = audience.player(address, request.headers.get(hdrs.USER_AGENT, ""))
                audience.seen(room, player, address)
        return response

    return count_players
