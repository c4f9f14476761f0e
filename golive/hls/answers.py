"""What an HLS request is answered with, apart from HTTP: the one place that decides it.

Both ways golive serves HLS ask here: aiohttp's routes (golive.hls.routes) and the primary's
own fast path (golive.hls.fastpath), so they cannot disagree on a status, a message or a
Cache-Control. Each answer comes in two forms: ``..._now`` answers at once what needs no wait
and returns None for a request that must be held (a blocking reload for a part that is not
there yet, RFC 8216bis, 6.2.5.2; the preload-hinted part, 4.4.5.3); the coroutine of the same
name answers every request, holding it as long as needed. A refusal is an ``HttpError``.

Cache-Control values follow docs/caching.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from ..http_errors import HttpError
from . import playlist
from .packager import Packager
from .reload import ReloadQuery, ReloadQueryError, parse_reload_query
from .room import HlsRoom, RoomVariants
from .window import LiveWindow, WaitTooFarError

# Parts and segments never change once listed: caches may keep them (RFC 8216bis, 6.2.5.2 notes
# that the server should make them cacheable); playlists change every part.
MEDIA_CACHE = "public, max-age=3600, immutable"
# A playlist without _HLS_msn is the live edge now: it changes every part, and the shortest
# lifetime HTTP can state beside 0 is a second, three parts. A cache must ask golive every
# time (docs/caching.md, "Playlists").
PLAYLIST_CACHE = "no-cache"
# A blocking reload's answer (RFC 8216bis, 6.2.5.2) contains the version its URL asks for, so
# every later request of that URL may get it: kept for this many target durations, as long as
# golive would hold a request for it, so that late players still find it at the edge.
BLOCKING_CACHE_TARGETS = 3
# A blocking reload that could not be answered with the version it asked for (the stream
# ended first): kept a second, long enough to answer the players that waited together.
SHORT_CACHE = "max-age=1"
# A plain request of a live media playlist is answered when a part has just completed: its live
# edge is then the newest frame. A player takes the time since the response as the playlist's
# age (hls.js: the live edge is the last part's end plus that age, RFC 8216bis, 6.3.3 has
# clients start PART-HOLD-BACK behind it), so a playlist answered half a part after its last
# part completed makes the player start half a part further behind than it means to, for as
# long as it plays. Answered at once if the last part is younger than this share of a part
# target; otherwise held for the next part, at most ``plain_wait`` part targets (HlsSettings:
# a publisher gone quiet gets the playlist as it is).
PLAIN_FRESH = 0.1
# Errors by status: a 404 (no such room yet, rendition dropped, part gone or not there yet)
# and a 503 (the part did not come in time) may change any moment but come in bursts from
# players that asked together, so a cache answers the burst and asks again a second later;
# anything else (a malformed or too-early query, a 500) is never stored, so junk URLs cannot
# fill a cache and a query that becomes valid a part later is not refused from a copy.
ERROR_CACHE = {404: SHORT_CACHE, 503: SHORT_CACHE}
NO_STORE = "no-store"
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Age, Date"}
# The longest a blocking playlist reload or a hinted part is held, in seconds, whatever the
# target duration: three target durations and a second (RFC 8216bis, 6.2.5.2 suggests a 503
# after about three) up to a target of 3 s, then 12 s, which is longer than the longest segment
# the default max_segment allows. A held request costs a socket and a little memory.
BLOCKING_WAIT_LIMIT = 12.0

_SEGMENT = re.compile(r"seg-(\d{1,12})\.m4s")
_PART = re.compile(r"part-(\d{1,12})\.m4s")
_INIT = re.compile(r"init-(\d{1,9})\.mp4")

# A media file: one body, or a segment's parts one after the other (RFC 8216bis, 3.2), which
# the live window keeps once, so no joined copy is made to serve it.
MediaBody = bytes | list[bytes]


def not_found(what: str) -> HttpError:
    return HttpError(404, "not_found", what)


def bad_request(message: str) -> HttpError:
    return HttpError(400, "bad_request", message)


def blocking_wait(window: LiveWindow) -> float:
    """How long a request may be held for a part or segment of ``window`` that does not exist
    yet."""
    return min(3 * window.target_duration + 1, BLOCKING_WAIT_LIMIT)


def blocking_cache(window: LiveWindow) -> str:
    """Cache-Control of a blocking reload answered with the version it asked for."""
    return f"public, max-age={BLOCKING_CACHE_TARGETS * window.target_duration}"


def room_of(packager: Packager, name: str) -> HlsRoom:
    room = packager.rooms.get(name)
    if room is None or not room.ready:
        raise not_found("no such live room")
    return room


def described(room: HlsRoom) -> RoomVariants:
    description = room.describe()
    if description is None:
        raise not_found("no such live room")
    return description


def window_of(packager: Packager, name: str, rendition: str) -> tuple[HlsRoom, LiveWindow]:
    room = room_of(packager, name)
    window = room.window(rendition)
    if window is None:
        raise not_found("no such rendition")
    return room, window


def multivariant(packager: Packager, name: str) -> bytes:
    """The room's multivariant playlist (RFC 8216bis, 4.4.6), as UTF-8."""
    variants = tuple(
        playlist.Variant(
            uri=f"{v.name}/index.m3u8",
            bandwidth=max(v.bandwidth, 1),
            average_bandwidth=v.average_bandwidth or None,
            codecs=v.codecs,
            resolution=v.resolution,
            frame_rate=v.frame_rate,
            name=v.name,
        )
        for v in described(room_of(packager, name)).variants
    )
    return playlist.render_multivariant(playlist.MultivariantPlaylist(variants)).encode()


def reload_query(query: Mapping[str, str]) -> ReloadQuery:
    try:
        return parse_reload_query(query)
    except ReloadQueryError as exc:
        raise bad_request(str(exc)) from None


def _media_playlist(room: HlsRoom, window: LiveWindow, skip: bool, cache: str) -> tuple[bytes, str]:
    reports = tuple(
        playlist.RenditionReport(f"../{name}/index.m3u8", *other.last_part())
        for name, other in room.ready_windows()
        if other is not window
    )
    return window.media_playlist_bytes(skip=skip, reports=reports), cache


def _fresh(room: HlsRoom, window: LiveWindow) -> bool:
    """Whether a plain playlist request is answered now: its newest part just completed, none
    is coming, or the node answers plain requests at once (PLAIN_FRESH)."""
    age = time.monotonic() - window.last_part_at
    return room.settings.plain_wait <= 0 or window.ended or age <= PLAIN_FRESH * window.part_target


def media_playlist_now(
    room: HlsRoom, window: LiveWindow, query: ReloadQuery
) -> tuple[bytes, str] | None:
    """The media playlist and its Cache-Control, or None if the request must be held."""
    if query.msn is None:
        if not _fresh(room, window):
            return None
        return _media_playlist(room, window, query.skip, PLAYLIST_CACHE)
    if not window.has(query.msn, query.part):
        return None
    cache = SHORT_CACHE if window.ended else blocking_cache(window)
    return _media_playlist(room, window, query.skip, cache)


async def media_playlist(
    room: HlsRoom, window: LiveWindow, query: ReloadQuery
) -> tuple[bytes, str]:
    """The media playlist and its Cache-Control, after holding a blocking reload (RFC 8216bis,
    6.2.5.2) until the part exists; give up a little after three target durations, or at the
    bound. A plain request is held for the next part (PLAIN_FRESH), answered either way."""
    if query.msn is None:
        if not _fresh(room, window):
            wait = room.settings.plain_wait * window.part_target
            await window.wait_part(window.next_part, wait)
        return _media_playlist(room, window, query.skip, PLAYLIST_CACHE)
    try:
        found = await window.wait(query.msn, query.part, blocking_wait(window))
    except WaitTooFarError as exc:
        raise bad_request(str(exc)) from None
    if not found and not window.ended:
        raise HttpError(503, "timeout", "the part did not arrive in time")
    # Ended, the playlist carries EXT-X-ENDLIST, which a publisher reconnecting within the
    # linger takes back: not an answer to keep for long, found or not.
    cache = blocking_cache(window) if found and not window.ended else SHORT_CACHE
    return _media_playlist(room, window, query.skip, cache)


def media_file_now(window: LiveWindow, name: str) -> MediaBody | None:
    """A part, segment or initialization section, or None for a part to be held for."""
    if m := _PART.fullmatch(name):
        part = window.parts.get(int(m.group(1)))
        return None if part is None else part.data
    if m := _SEGMENT.fullmatch(name):
        segment = window.segment(int(m.group(1)))
        if segment is None or not segment.complete:
            raise not_found("no such segment")
        return segment.chunks()
    if m := _INIT.fullmatch(name):
        data = window.inits.get(int(m.group(1)))
        if data is None:
            raise not_found("no such initialization section")
        return data
    raise not_found("no such file")


async def media_file(window: LiveWindow, name: str) -> MediaBody:
    """``media_file_now``, with the preload-hinted part held until it exists (RFC 8216bis,
    4.4.5.3)."""
    body = media_file_now(window, name)
    if body is not None:
        return body
    number = int(name[len("part-") : -len(".m4s")])  # media_file_now matched _PART
    part = await window.wait_part(number, blocking_wait(window))
    if part is None:
        raise not_found("no such part")
    return part.data
