"""The web pages: the Vue single-page application that Vite builds into ``golive/static``, and
the live figures the pages show (viewer counts, bitrates, previews).

::

    GET /, /login, /signup, /dashboard, /{username}   index.html (the app routes in the page)
    GET /assets/{file}                                 Vite's hashed files: cached for a year
    GET /{file}.{ext}                                  other files of the pages (favicon)

index.html is ``no-cache`` so a new build is picked up at once; the files it names carry a
hash of their content, so they never change and are cached as immutable. The folder is looked
at on every request: pages built while golive runs are served without a restart, and without a
build golive answers the page routes with how to build them, while the API and HLS work.

The pages are the root application's own routes (aiohttp mounts sub-applications under a
prefix, never at ``/``), beside the API, nginx-rtmp callback and HLS sub-applications; they
need no middleware, so the root carries none of its own: its middlewares would run for every
sub-application too. Their refusals are aiohttp's plain-text ones, as a browser expects.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from .accounts.domain import RESERVED_NAMES, USERNAME_RE
from .api.live import LIVE_DETAILS, LiveFigures
from .hls.packager import Packager
from .hub import StreamHub
from .previews import Previews
from .viewers import Audience

log = logging.getLogger("golive.pages")

DEFAULT_DIST = Path(__file__).resolve().parent / "static"  # in the package: a wheel carries it
PAGE_ROUTES = ("/", "/login", "/signup", "/dashboard")
ASSET_CACHE = "public, max-age=31536000, immutable"
# Everything the pages load comes from this origin (no CDN, no external font): a policy that
# says so keeps injected markup from loading or sending anything elsewhere. hls.js feeds
# media through blob: URLs (MediaSource).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

NOT_BUILT = """golive is running, but its web pages are not built.

Build them once (Node.js 20.19 or newer and npm):

    cd web && npm ci && npm run build

scripts/serve.sh does this by itself. To serve pages built elsewhere, set web_dir
(GOLIVE_WEB_DIR) to that folder.

The JSON API (/api/openapi.json) and HLS (/hls/ROOM/index.m3u8) work without the pages.
"""


class NodeLiveDetails:
    """This node's live figures for the API (golive.api.live.LiveDetails): viewers counted
    from playlist requests, the source copy's bitrate from the packager, previews."""

    def __init__(self, audience: Audience, packager: Packager, previews: Previews) -> None:
        self.audience = audience
        self.packager = packager
        self.previews = previews

    def figures(self, room: str) -> LiveFigures:
        hls = self.packager.rooms.get(room)
        described = hls.describe() if hls is not None else None
        # AVERAGE-BANDWIDTH of the source copy: bytes actually packaged over the live window.
        bitrate = described.source.average_bandwidth if described and described.live else 0
        return LiveFigures(viewers=self.audience.count(room), bitrate=bitrate or None)

    async def preview(self, room: str) -> bytes | None:
        return await self.previews.jpeg(room)


def _file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file; the name pattern keeps out "..", "/" and
    hidden files, so nothing outside the folder is reachable."""
    if not _FILE.fullmatch(name) or ".." in name:
        return None
    path = folder / name
    try:
        return path if path.is_file() else None
    except OSError:  # an unreadable folder: the same as no pages
        return None


class _Pages:
    def __init__(self, dist: Path) -> None:
        self.dist = dist

    async def page(self, request: web.Request) -> web.StreamResponse:
        """index.html for every route the app knows; the app picks the page."""
        name = request.match_info.get("name")
        if name is not None and (not USERNAME_RE.fullmatch(name) or name.lower() in RESERVED_NAMES):
            raise web.HTTPNotFound()
        index = _file(self.dist, "index.html")
        if index is None:
            return web.Response(status=503, text=NOT_BUILT, headers={"Cache-Control": "no-store"})
        return web.FileResponse(index, headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    async def asset(self, request: web.Request) -> web.StreamResponse:
        path = _file(self.dist / "assets", request.match_info["file"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(
            path, headers={"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
        )

    async def top_file(self, request: web.Request) -> web.StreamResponse:
        path = _file(self.dist, request.match_info["file"])
        if path is None:
            raise web.HTTPNotFound()
        # /index.html itself comes this way too: it gets the same policy as the app routes.
        return web.FileResponse(path, headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})


def setup_pages(
    app: web.Application,
    hub: StreamHub,
    packager: Packager,
    audience: Audience,
    *,
    web_dir: str = "",
    preview_interval: float,
) -> None:
    """Serve the pages from ``web_dir`` (default: golive/static), make previews, and give the
    API this node's live figures: the viewers ``audience`` counts
    (golive.viewers.audience_middleware on the HLS sub-application), bitrates, previews."""
    dist = Path(web_dir) if web_dir else DEFAULT_DIST
    previews = Previews(hub, interval=preview_interval)
    app[LIVE_DETAILS] = NodeLiveDetails(audience, packager, previews)

    async def previews_lifetime(app: web.Application) -> AsyncIterator[None]:
        if not (dist / "index.html").is_file():
            log.warning(
                "the web pages are not built in %s: run `cd web && npm ci && npm run build`",
                dist,
            )
        yield
        await previews.close()

    app.cleanup_ctx.append(previews_lifetime)
    pages = _Pages(dist)
    router = app.router
    for path in PAGE_ROUTES:
        router.add_get(path, pages.page)
    router.add_get("/assets/{file}", pages.asset)
    router.add_get(r"/{file:[^/]+\.[A-Za-z0-9]+}", pages.top_file)
    router.add_get("/{name}", pages.page)
