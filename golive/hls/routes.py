"""HTTP for HLS: playlists with blocking reload, init sections, segments and parts from memory.

URLs are keyed by the room (the streamer's public name), never by the stream key::

    /hls/{room}/index.m3u8                      multivariant playlist
    /hls/{room}/status.json                     the variants and the transcoder's state
    /hls/{room}/{rendition}/index.m3u8          media playlist (_HLS_msn, _HLS_part, _HLS_skip)
    /hls/{room}/{rendition}/init-{id}.mp4       initialization section (EXT-X-MAP)
    /hls/{room}/{rendition}/seg-{msn}.m4s       segment
    /hls/{room}/{rendition}/part-{n}.m4s        part n of the rendition (the hinted one waits)

Nothing is read from disk, so a path can only name something in these dictionaries.

What each request is answered with is decided in golive.hls.answers, which the primary's fast
path (golive.hls.fastpath) asks too: the plain GETs of ``golive serve``'s players are answered
there, without aiohttp's request and response objects, and this sub-application answers the
rest (HEAD, other methods, escaped paths, a room on another node, the connections the fast
path hands over) and every request of an application served without it (the tests).

HLS is an aiohttp sub-application mounted at ``/hls``. Every error it answers (its own
refusals, a path or method it does not have, a 500) has golive's one error shape
(golive.http_errors) and carries the CORS headers, so that players on other origins can read
it too.

Every answer says how long a shared cache (a CDN, nginx, Varnish) may keep it, by what it is
(docs/caching.md has the table and the reasons): a blocking reload names one version of the
playlist and is kept for a few target durations, a plain playlist is never reused unchecked,
media is immutable, and errors are kept for a second at most or not at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict
from yarl import URL

from ..http_errors import http_error_middleware
from ..metrics import count_hls_request
from . import answers, playlist
from .answers import (
    CORS,
    ERROR_CACHE,
    MEDIA_CACHE,
    NO_STORE,
    PLAYLIST_CACHE,
)
from .packager import Packager

HLS_PREFIX = "/hls"

_METHODS = (hdrs.METH_GET, hdrs.METH_HEAD)
_PREFIX_NAME = HLS_PREFIX.strip("/")
# What aiohttp's {name} does not match ({, }) or would unescape (%): such paths take the
# sub-application's way.
_UNUSUAL = re.compile(r"[{}%]")


# Headers built once per kind of answer: aiohttp copies a CIMultiDict it is given in one C
# call, where a dict or a content_type argument would be parsed for every response.
_MEDIA_HEADERS = CIMultiDict({"Content-Type": "video/mp4", "Cache-Control": MEDIA_CACHE, **CORS})
# What aiohttp writes for text= (UTF-8, the charset in Content-Type).
_PLAYLIST_CONTENT_TYPE = f"{playlist.PLAYLIST_TYPE}; charset=utf-8"


@functools.cache
def _playlist_headers(cache: str) -> CIMultiDict[str]:
    """The headers of a playlist with Cache-Control ``cache`` (a few values in all)."""
    return CIMultiDict({"Cache-Control": cache, **CORS, "Content-Type": _PLAYLIST_CONTENT_TYPE})


class ChunksPayload(Payload):
    """A body sent as its chunks one after the other, with its length known up front: a
    segment is its parts' bytes (RFC 8216bis, 3.2), which the live window keeps once, so no
    joined copy is made to serve it."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks, content_type="video/mp4")
        self._chunks = chunks
        self._size = sum(len(c) for c in chunks)

    async def write(self, writer: AbstractStreamWriter) -> None:
        for chunk in self._chunks:
            await writer.write(chunk)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._chunks).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"".join(self._chunks)


def with_error_cache_control(errors: Middleware) -> Middleware:
    """``errors`` (the error middleware) with Cache-Control on every error answer
    (``ERROR_CACHE``), which shared caches would otherwise keep by their own defaults (Varnish:
    two minutes for a 404), and every answer counted for the metrics. One middleware, not
    three: parts are served by the thousand."""

    @web.middleware
    async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await errors(request, handler)
        if response.status >= 400 and hdrs.CACHE_CONTROL not in response.headers:
            response.headers[hdrs.CACHE_CONTROL] = ERROR_CACHE.get(response.status, NO_STORE)
        count_hls_request(request, response.status)
        return response

    return answer_errors


def _through(middlewares: Iterable[Middleware], handler: Handler) -> Handler:
    """``handler`` behind ``middlewares`` (the first outermost), composed once, as aiohttp
    composes a sub-application's for each request."""
    for middleware in reversed(list(middlewares)):
        handler = functools.partial(middleware, handler=handler)
    return handler


class HlsPaths(web.AbstractResource):
    """The HLS URLs, told apart by splitting the path at its slashes.

    Players ask for parts and playlists many times a second each; aiohttp would find the
    route by walking the root's resources, then the sub-application's regular expressions,
    and stack each application's middlewares per request. This resource, registered on the
    root ahead of the sub-application, answers the same GET and HEAD requests through the
    same handlers behind the same middlewares, composed once. Whatever it does not take
    (another method, an escaped or unusual character, another shape of path) goes on to the
    sub-application, which answers it as it always has (a 405 with Allow, a JSON 404)."""

    def __init__(
        self, rooms: Mapping[str, Handler], *, media: Handler, media_file: Handler
    ) -> None:
        super().__init__()
        self._rooms = {leaf: self._routes(h) for leaf, h in rooms.items()}
        self._media = self._routes(media)
        self._media_file = self._routes(media_file)

    def _routes(self, handler: Handler) -> dict[str, web.ResourceRoute]:
        return {method: web.ResourceRoute(method, handler, self) for method in _METHODS}

    @property
    def canonical(self) -> str:
        return HLS_PREFIX

    async def resolve(
        self, request: web.Request
    ) -> tuple[web.UrlMappingMatchInfo | None, set[str]]:
        method = request.method
        if method not in _METHODS:
            return None, set()
        path = request.rel_url.path_safe
        # Only non-empty segments as aiohttp's {name} matches them, none to unescape.
        if "//" in path or path[-1] == "/" or _UNUSUAL.search(path):
            return None, set()
        names = path.split("/")
        if len(names) not in (4, 5) or names[1] != _PREFIX_NAME:
            return None, set()
        if len(names) == 4:
            routes = self._rooms.get(names[3])
            if routes is None:
                return None, set()
            return web.UrlMappingMatchInfo({"room": names[2]}, routes[method]), set(_METHODS)
        if names[4] == "index.m3u8":
            match = {"room": names[2], "rendition": names[3]}
            return web.UrlMappingMatchInfo(match, self._media[method]), set(_METHODS)
        match = {"room": names[2], "rendition": names[3], "file": names[4]}
        return web.UrlMappingMatchInfo(match, self._media_file[method]), set(_METHODS)

    def url_for(self, **kwargs: str) -> URL:
        raise RuntimeError("HLS URLs are built by the playlists, not by the router")

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("HLS is mounted at the root application's /hls")

    def get_info(self) -> dict[str, Any]:  # type: ignore[override]
        return {"path": HLS_PREFIX + "/"}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return len(list(self))

    def __iter__(self) -> Iterator[web.AbstractRoute]:
        for routes in (*self._rooms.values(), self._media, self._media_file):
            yield from routes.values()


def setup_hls_routes(
    app: web.Application, packager: Packager, middlewares: Iterable[Middleware] = ()
) -> None:
    """Mount HLS on ``app`` at ``/hls``; ``middlewares`` run inside the error middleware,
    for HLS requests only (golive.viewers counts players this way)."""

    def playlist_response(text: bytes, cache: str = PLAYLIST_CACHE) -> web.Response:
        # Media playlists come rendered once for every request of the same version, as UTF-8.
        return web.Response(body=text, headers=_playlist_headers(cache))

    def media_response(data: answers.MediaBody) -> web.Response:
        body = ChunksPayload(data) if isinstance(data, list) else data
        return web.Response(body=body, headers=_MEDIA_HEADERS)

    async def multivariant(request: web.Request) -> web.Response:
        return playlist_response(answers.multivariant(packager, request.match_info["room"]))

    async def status(request: web.Request) -> web.Response:
        """What a dashboard or a test needs to see of a room: every listed variant, and the
        ladder's state (running, or degraded with what was dropped and when)."""
        room = answers.room_of(packager, request.match_info["room"])
        description = answers.described(room)
        body = {
            "room": description.name,
            "live": description.live,
            "variants": [
                {
                    "name": v.name,
                    "codecs": v.codecs,
                    "resolution": list(v.resolution) if v.resolution else None,
                    "frame_rate": v.frame_rate,
                    "bandwidth": v.bandwidth,
                    "average_bandwidth": v.average_bandwidth,
                    "ended": v.ended,
                }
                for v in description.variants
            ],
            "transcode": room.ladder.as_dict() if room.ladder is not None else None,
        }
        return web.json_response(body, headers={"Cache-Control": PLAYLIST_CACHE, **CORS})

    async def media(request: web.Request) -> web.Response:
        info = request.match_info
        room, window = answers.window_of(packager, info["room"], info["rendition"])
        query = answers.reload_query(request.query)
        return playlist_response(*await answers.media_playlist(room, window, query))

    async def media_file(request: web.Request) -> web.Response:
        info = request.match_info
        _room, window = answers.window_of(packager, info["room"], info["rendition"])
        return media_response(await answers.media_file(window, info["file"]))

    errors = http_error_middleware("no such HLS resource", logger="golive.hls", headers=CORS)
    chain = [with_error_cache_control(errors), *middlewares]
    hls = web.Application(middlewares=chain)
    hls.router.add_get("/{room}/index.m3u8", multivariant)
    hls.router.add_get("/{room}/status.json", status)
    hls.router.add_get("/{room}/{rendition}/index.m3u8", media)
    hls.router.add_get("/{room}/{rendition}/{file}", media_file)
    # Registered before the sub-application, so that aiohttp's router asks it first.
    app.router.register_resource(
        HlsPaths(
            {
                "index.m3u8": _through(chain, multivariant),
                "status.json": _through(chain, status),
            },
            media=_through(chain, media),
            media_file=_through(chain, media_file),
        )
    )
    app.add_subapp(HLS_PREFIX, hls)
