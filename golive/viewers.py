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


class _Players:
    """The players of one room: when each was last seen, oldest first, and its address."""

    __slots__ = ("addresses", "last_seen", "per_address")

    def __init__(self) -> None:
        self.last_seen: OrderedDict[bytes, float] = OrderedDict()
        self.addresses: dict[bytes, str] = {}
        self.per_address: dict[str, int] = {}


class Audience:
    """Distinct players per room within a sliding window of ``window`` seconds.

    A player seen again (nearly every request) costs two dictionary operations and allocates
    no container: playlists are requested thousands of times a second."""

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
        self._rooms: dict[str, _Players] = {}
        self._next_sweep = 0.0

    def player(self, address: str, user_agent: str) -> bytes:
        """A player's identity: a keyed digest of its address and User-Agent."""
        data = f"{address}\n{user_agent}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self.key, digest_size=16).digest()

    def seen(self, room: str, player: bytes, address: str = "") -> None:
        now = self._clock()
        players = self._rooms.get(room)
        if players is None:
            players = self._rooms[room] = _Players()
        last_seen = players.last_seen
        if player in last_seen:
            last_seen[player] = now
            last_seen.move_to_end(player)
        else:
            if players.per_address.get(address, 0) >= self.max_per_address:
                # Full only if its players are still fresh: forget the stale ones first.
                self._expire(room, now)
                players = self._rooms.setdefault(room, players)
                if players.per_address.get(address, 0) >= self.max_per_address:
                    return
                last_seen = players.last_seen
            players.per_address[address] = players.per_address.get(address, 0) + 1
            players.addresses[player] = address
            last_seen[player] = now
            while len(last_seen) > self.max_per_room:
                self._forget(players, last_seen.popitem(last=False)[0])
        if now >= self._next_sweep:
            # Rooms nobody asks about any more would otherwise keep their last players.
            self._next_sweep = now + self.window
            for name in list(self._rooms):
                self._expire(name, now)

    def count(self, room: str) -> int:
        self._expire(room, self._clock())
        players = self._rooms.get(room)
        return len(players.last_seen) if players else 0

    def _expire(self, room: str, now: float) -> None:
        players = self._rooms.get(room)
        if players is None:
            return
        last_seen = players.last_seen
        while last_seen:
            player, when = next(iter(last_seen.items()))
            if now - when < self.window:
                break
            del last_seen[player]
            self._forget(players, player)
        if not last_seen:
            del self._rooms[room]

    @staticmethod
    def _forget(players: _Players, player: bytes) -> None:
        address = players.addresses.pop(player, "")
        left = players.per_address.get(address, 0) - 1
        if left > 0:
            players.per_address[address] = left
        else:
            players.per_address.pop(address, None)


def _media_type(content_type: str) -> str:
    """The media type of a Content-Type value, without its parameters (RFC 9110, 8.3.1)."""
    return content_type.partition(";")[0].strip().lower()


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
        # The cheap tests first: this runs for every part and segment served too. The media
        # type is read from the header as it is (parameters such as charset aside), not
        # parsed into aiohttp's content_type for every part.
        if (
            response.status == 200
            and request.method == hdrs.METH_GET
            and _media_type(response.headers.get(hdrs.CONTENT_TYPE, "")) == PLAYLIST_TYPE
        ):
            room = request.match_info.get("room")
            if room is not None and not (elsewhere is not None and elsewhere(request)):
                address = request.remote or ""
                player = audience.player(address, request.headers.get(hdrs.USER_AGENT, ""))
                audience.seen(room, player, address)
        return response

    return count_players
