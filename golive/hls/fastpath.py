"""The primary's own HLS traffic answered without aiohttp's request and response objects.

Players ask the primary for the same few things many times a second each: the blocking reload
of the next part (RFC 8216bis, 6.2.5.2), the preload-hinted part (4.4.5.3), now and then a
segment, an initialization section or a plain playlist. Each connection of the public port
starts with golive's small protocol (golive.fasthttp), and this responder answers those
requests from what golive.hls.answers decides, as aiohttp's routes do (golive.hls.routes), with
the same status, headers and body:

- the headers of each kind of answer are built once (``Heads``) and followed by the length,
  the Date and the Server aiohttp would write, formatted once a second;
- a playlist is the window's bytes of its version, rendered once for every request of it;
- a part, an initialization section or a segment's parts are written as the window keeps
  them, with no copy;
- a request that must be held waits on the window as the route would, then is answered.

What it is not sure of it leaves to aiohttp, with the connection: another method (HEAD
included), a path or query with anything unusual in it (percent-escapes, ``+``, an empty or
repeated parameter form it does not read the way yarl does), ``status.json``, and any room this
node does not have: that one may live on another node (golive.hls.elsewhere redirects it), or
not be live yet, and aiohttp looks it up in the room registry. An unexpected error is answered
as the error middleware answers it (a JSON 500, logged).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable

from aiohttp.http import SERVER_SOFTWARE

from ..fasthttp import Clock, Pieces, Reply, SimpleGet, head_bytes
from ..http_errors import HttpError
from ..logs import escape_for_log
from ..metrics import count_hls, target_kind
from . import answers
from .answers import CORS, ERROR_CACHE, MEDIA_CACHE, NO_STORE, PLAYLIST_CACHE
from .packager import Packager
from .playlist import PLAYLIST_TYPE
from .reload import ReloadQuery
from .room import HlsRoom
from .window import LiveWindow

log = logging.getLogger("golive.hls")

# A path of two or three names under /hls/ made of characters that aiohttp's router and yarl
# leave as they are (no escape, no dot segment to resolve).
_NAME = r"(?!\.\.?(?:/|\?|$))[A-Za-z0-9._~-]+"
_PATH = re.compile(rf"/hls/({_NAME})/({_NAME})(?:/({_NAME}))?")
# A query of name=value pairs of the same characters, read as yarl reads it (the first of a
# repeated name wins, as request.query.get answers).
_QUERY = re.compile(r"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*(?:&[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*)*")

# A player counted: its room, the connection's peer, its User-Agent and X-Forwarded-For values.
Count = Callable[[str, str, str, list[str]], None]

_JSON = "application/json; charset=utf-8"
_PLAYLIST = f"{PLAYLIST_TYPE}; charset=utf-8"


def parse_query(query: str) -> dict[str, str] | None:
    """The parameters of a query string as aiohttp's ``request.query.get`` reads them, or None
    if it holds anything this reader might read otherwise."""
    if not query:
        return {}
    if _QUERY.fullmatch(query) is None:
        return None
    params: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        params.setdefault(name, value)
    return params


class Heads:
    """Answers as aiohttp's routes write them (RFC 9112, 4 and 6): the status line and headers
    of each kind, made once, then Content-Length, then the Date and Server lines."""

    def __init__(self) -> None:
        self.clock = Clock(f"Server: {SERVER_SOFTWARE}\r\n".encode())
        self._media = head_bytes(
            200, {"Content-Type": "video/mp4", "Cache-Control": MEDIA_CACHE, **CORS}
        )

    def media(self, body: answers.MediaBody, close: bool) -> Pieces:
        date = self.clock.line(close)
        if isinstance(body, list):
            length = sum(len(chunk) for chunk in body)
            return (self._media, b"Content-Length: %d\r\n" % length, date, *body)
        return (self._media, b"Content-Length: %d\r\n" % len(body), date, body)

    def playlist(self, body: bytes, cache: str, close: bool) -> Pieces:
        return (
            _playlist_head(cache),
            b"Content-Length: %d\r\n" % len(body),
            self.clock.line(close),
            body,
        )

    def error(self, exc: HttpError, close: bool) -> Pieces:
        head, body = _error(exc.status, exc.code, exc.message, exc.field)
        return (head, self.clock.line(close), body)


@functools.cache
def _playlist_head(cache: str) -> bytes:
    """A playlist's head with Cache-Control ``cache`` (a few values in all)."""
    return head_bytes(200, {"Cache-Control": cache, **CORS, "Content-Type": _PLAYLIST})


@functools.lru_cache(maxsize=256)
def _error(status: int, code: str, message: str, field: str | None) -> tuple[bytes, bytes]:
    """golive's error answer (golive.http_errors) with the CORS headers and the Cache-Control
    of its status, as the HLS error middleware writes it (golive.hls.routes)."""
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = json.dumps({"error": error}).encode()
    headers = {
        **CORS,
        "Content-Type": _JSON,
        "Cache-Control": ERROR_CACHE.get(status, NO_STORE),
        "Content-Length": str(len(body)),
    }
    return head_bytes(status, headers), body


class HlsFastPath:
    """The primary's responder for golive.fasthttp's connections (see the module).

    ``count`` is told of every player served a playlist (golive.viewers counts them); None on
    the connections of the HTTP workers' unix socket, whose fetches are no players."""

    def __init__(self, packager: Packager, count: Count | None) -> None:
        self.packager = packager
        self.count = count
        self.heads = Heads()
        # The metrics count the public port's answers; a worker counts what its clients ask.
        self.tally = count is not None

    def _tallied(self, request: SimpleGet, status: int, pieces: Pieces) -> Pieces:
        """``pieces``, the answer with ``status``, counted for the metrics (golive.metrics)."""
        if self.tally:
            count_hls(target_kind(request.target), status)
        return pieces

    def respond(self, request: SimpleGet, remote: str) -> Reply:
        target = request.target
        path, _, raw_query = target.partition("?")
        match = _PATH.fullmatch(path)
        if match is None:
            return None
        name, rendition, file = match.groups()
        room = self.packager.rooms.get(name)
        if room is None:
            return None  # maybe on another node, or not live yet: aiohttp looks it up
        try:
            if file is None:
                if rendition != "index.m3u8":
                    return None  # status.json, or no HLS resource at all
                return self._counted(
                    request, remote, name, answers.multivariant(self.packager, name)
                )
            room, window = answers.window_of(self.packager, name, rendition)
            if file == "index.m3u8":
                params = parse_query(raw_query)
                if params is None:
                    return None
                query = answers.reload_query(params)
                now = answers.media_playlist_now(room, window, query)
                if now is None:
                    return self._held_playlist(request, remote, name, room, window, query)
                return self._counted(request, remote, name, *now)
            body = answers.media_file_now(window, file)
            if body is None:
                return self._held_file(request, window, file)
            return self._tallied(request, 200, self.heads.media(body, request.close))
        except HttpError as exc:
            return self._tallied(request, exc.status, self.heads.error(exc, request.close))
        except Exception:
            return self._unexpected(request)

    def _counted(
        self, request: SimpleGet, remote: str, room: str, body: bytes, cache: str = PLAYLIST_CACHE
    ) -> Pieces:
        if self.count is not None:
            self.count(room, remote, request.user_agent, request.forwarded_for)
        return self._tallied(request, 200, self.heads.playlist(body, cache, request.close))

    async def _held_playlist(
        self,
        request: SimpleGet,
        remote: str,
        name: str,
        room: HlsRoom,
        window: LiveWindow,
        query: ReloadQuery,
    ) -> Pieces:
        try:
            body, cache = await answers.media_playlist(room, window, query)
        except HttpError as exc:
            return self._tallied(request, exc.status, self.heads.error(exc, request.close))
        except Exception:
            return self._unexpected(request)
        return self._counted(request, remote, name, body, cache)

    async def _held_file(self, request: SimpleGet, window: LiveWindow, file: str) -> Pieces:
        try:
            body = await answers.media_file(window, file)
        except HttpError as exc:
            return self._tallied(request, exc.status, self.heads.error(exc, request.close))
        except Exception:
            return self._unexpected(request)
        return self._tallied(request, 200, self.heads.media(body, request.close))

    def _unexpected(self, request: SimpleGet) -> Pieces:
        # The path only (never the query): as the error middleware logs it.
        path = request.target.partition("?")[0]
        log.exception("unexpected error answering GET %s", escape_for_log(path))
        error = HttpError(500, "internal", "an unexpected error occurred")
        return self._tallied(request, 500, self.heads.error(error, request.close))
