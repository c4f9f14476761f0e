"""The recordings' HLS, ``/recordings/<id>/index.m3u8`` (the source copy) and the files it
names, with the ladder recorded ``master.m3u8`` and ``<rendition>/...`` too, as an aiohttp
sub-application of its own, apart from the live HLS path (golive.hls.routes).

Files are sent from disk by aiohttp's FileResponse (the file is opened and sent off the
event loop). Caching: initialization sections and segments never change (immutable, a year);
the playlist of a recording being written (EVENT) only grows, so it is cached for a second;
an ended one (VOD) for a few seconds while a publisher could still come back within the
linger and continue it, then for a day."""

from __future__ import annotations

from aiohttp import web

from ..hls.playlist import PLAYLIST_TYPE
from ..http_errors import HttpError, http_error_middleware
from .library import COMPLETE, ENDED, FILE_RE
from .recorder import PATH_PREFIX, Recorder

MEDIA_CACHE = "public, max-age=31536000, immutable"
EVENT_CACHE = "public, max-age=1"
ENDED_CACHE = "public, max-age=5"
VOD_CACHE = "public, max-age=86400"
CORS = {"Access-Control-Allow-Origin": "*"}


def setup_recording_routes(app: web.Application, recorder: Recorder) -> None:
    sub = web.Application(
        middlewares=[
            http_error_middleware(
                "no such recording resource", logger="golive.recordings", headers=CORS
            )
        ]
    )

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["path"]
        info = recorder.get(request.match_info["id"])
        if info is None or not FILE_RE.fullmatch(name):
            raise HttpError(404, "not_found", "no such recording or file")
        path = recorder.path_of(info, name)
        if name.endswith(".m3u8"):
            cache = {COMPLETE: VOD_CACHE, ENDED: ENDED_CACHE}.get(info.status, EVENT_CACHE)
            content_type = PLAYLIST_TYPE
        else:
            cache, content_type = MEDIA_CACHE, "video/mp4"
        headers = {"Cache-Control": cache, "Content-Type": content_type, **CORS}
        response = web.FileResponse(path, headers=headers)
        return response

    # The source copy's files, a ladder rendition's in its folder (FILE_RE says which).
    sub.router.add_get("/{id}/{path:[^{}]+}", serve)
    app.add_subapp(PATH_PREFIX, sub)
