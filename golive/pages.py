"""The web pages: the Vue single-page application that Vite builds into ``golive/static``, its
assets and its security headers.

::

    GET /, /login, /signup, /dashboard, /{username}   index.html (the app routes in the page)
    GET /assets/{file}                                 Vite's hashed files: cached for a year
    GET /{file}.{ext}                                  other files of the pages (favicon)

index.html is ``no-cache`` so a new build is picked up at once; the files it names carry a
hash of their content, so they never change and are cached as immutable. The folder is looked
at on every request: pages built while golive runs are served without a restart, and without a
build golive answers the page routes with how to build them, while the API and HLS work.

The pages are the root application's own routes (aiohttp mounts sub-applications under a
prefix, never at ``/``), beside the API, nginx-rtmp callback and HLS sub-applications. They
need no middleware of their own, and the root's middlewares run for every sub-application
too, so the root carries only what every request needs: the trusted-proxies one, when load
balancers are configured (golive.proxies). The pages' refusals are aiohttp's plain-text ones,
as a browser expects.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from .accounts.domain import RESERVED_NAMES, USERNAME_RE

log = logging.getLogger("golive.pages")

DEFAULT_DIST = Path(__file__).resolve().parent / "static"  # in the package: a wheel carries it
PAGE_ROUTES = ("/", "/login", "/signup", "/dashboard")
ASSET_CACHE = "public, max-age=31536000, immutable"
# Everything the pages load comes from this origin (no CDN, no external font), but the media
# of rooms that other nodes of the same registry serve (their HLS, their previews): a policy
# that says so keeps injected markup from loading or sending anything elsewhere. hls.js feeds
# media through blob: URLs (MediaSource).
CSP = (
    "default-src 'self'; img-src 'self' data:{media}; media-src 'self' blob:{media}; "
    "worker-src 'self' blob:; connect-src 'self'{media}; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP.format(media=""),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# A CSP host-source with a scheme (CSP 3, 2.3.1): nothing that could end a directive or the
# header, whatever a node wrote into the registry.
_ORIGIN = re.compile(r"https?://([a-z0-9._~-]{1,253}|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

NOT_BUILT = """golive is running, but its web pages are not built.

Build them once (Node.js 20.19 or newer and npm):

    cd web && npm ci && npm run build

scripts/serve.sh does this by itself. To serve pages built elsewhere, set web_dir
(GOLIVE_WEB_DIR) to that folder.

The JSON API (/api/openapi.json) and HLS (/hls/ROOM/index.m3u8) work without the pages.
"""


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


def origin(url: str) -> str | None:
    """The origin of an http or https URL (``https://host:port``) fit for a CSP source list,
    or None."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket
        return None
    found = f"{parts.scheme}://{parts.netloc}".lower()
    return found if _ORIGIN.fullmatch(found) else None


def security_headers(media_urls: Iterable[str]) -> dict[str, str]:
    """The pages' security headers, their policy letting them load media from the origins of
    ``media_urls`` too (the other nodes')."""
    origins = sorted({o for url in media_urls if (o := origin(url)) is not None})
    if not origins:
        return SECURITY_HEADERS
    media = "".join(f" {o}" for o in origins)
    return {**SECURITY_HEADERS, "Content-Security-Policy": CSP.format(media=media)}


class _Pages:
    def __init__(self, dist: Path, media_urls: Callable[[], Iterable[str]]) -> None:
        self.dist = dist
        self.media_urls = media_urls

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-cache", **security_headers(self.media_urls())}

    async def page(self, request: web.Request) -> web.StreamResponse:
        """index.html for every route the app knows; the app picks the page."""
        name = request.match_info.get("name")
        if name is not None and (not USERNAME_RE.fullmatch(name) or name.lower() in RESERVED_NAMES):
            raise web.HTTPNotFound()
        index = _file(self.dist, "index.html")
        if index is None:
            return web.Response(status=503, text=NOT_BUILT, headers={"Cache-Control": "no-store"})
        return web.FileResponse(index, headers=self.headers())

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
        return web.FileResponse(path, headers=self.headers())


def setup_pages(
    app: web.Application,
    *,
    web_dir: str = "",
    media_origins: Callable[[], Iterable[str]] = lambda: (),
) -> None:
    """Serve the pages on ``app`` from ``web_dir`` (default: golive/static); their policy lets
    them load media from the origins of the URLs ``media_origins`` gives when asked (the other
    nodes' public URLs)."""
    dist = Path(web_dir) if web_dir else DEFAULT_DIST

    async def warn_unbuilt(app: web.Application) -> None:
        if not (dist / "index.html").is_file():
            log.warning(
                "the web pages are not built in %s: run `cd web && npm ci && npm run build`",
                dist,
            )

    app.on_startup.append(warn_unbuilt)
    pages = _Pages(dist, media_origins)
    router = app.router
    for path in PAGE_ROUTES:
        router.add_get(path, pages.page)
    router.add_get("/assets/{file}", pages.asset)
    router.add_get(r"/{file:[^/]+\.[A-Za-z0-9]+}", pages.top_file)
    router.add_get("/{name}", pages.page)
