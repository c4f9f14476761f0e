"""The composition root: the only place that turns settings into running parts.

Nothing connects at import time; the RTMP listener starts and stops with the aiohttp
application (``cleanup_ctx``), so one event loop owns everything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .api.routes import setup_routes
from .config import Settings
from .hls.packager import HlsSettings, Packager
from .hls.routes import setup_hls_routes
from .hub import StreamHub
from .rtmp.server import RtmpLimits, RtmpServer, open_authorizer, static_key_authorizer

log = logging.getLogger("golive")

HUB = web.AppKey("hub", StreamHub)
RTMP = web.AppKey("rtmp", RtmpServer)
SETTINGS = web.AppKey("settings", Settings)
PACKAGER = web.AppKey("packager", Packager)


def build_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    hub = StreamHub(takeover_after=settings.takeover_after)
    app[HUB] = hub
    if settings.stream_keys:
        authorize = static_key_authorizer(settings.stream_keys)
    else:
        authorize = open_authorizer
    limits = RtmpLimits(
        handshake_timeout=settings.rtmp_handshake_timeout,
        idle_timeout=settings.rtmp_idle_timeout,
        max_message_size=settings.rtmp_max_message_size,
        max_connections=settings.rtmp_max_connections,
    )
    app[RTMP] = RtmpServer(hub, authorize, limits)
    packager = Packager(
        hub,
        HlsSettings(
            part_target=settings.hls_part_target,
            segment_target=settings.hls_segment_target,
            window=settings.hls_window,
            linger=settings.hls_linger,
        ),
    )
    app[PACKAGER] = packager
    setup_routes(app, hub)
    setup_hls_routes(app, packager)
    app.cleanup_ctx.append(_rtmp_listener)
    return app


async def _rtmp_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    server = app[RTMP]
    await server.start(settings.host, settings.rtmp_port)
    log.info("RTMP listening on %s:%d", settings.host, server.port)
    if not settings.stream_keys:
        log.warning(
            "no stream keys configured: anyone who reaches the RTMP port can publish, "
            "and the room is the stream name"
        )
    yield
    await server.stop()
    await app[PACKAGER].close()
