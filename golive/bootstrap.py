"""The composition root: the only place that turns settings into running parts.

Only here are adapters chosen from the configuration: SQLite (a file in the data directory)
or MongoDB for accounts and sessions, memory or Redis for the live-room registry. Stores are
opened when the application starts and closed when it stops; the RTMP listener starts and
stops with the aiohttp application (``cleanup_ctx``), so one event loop owns everything.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from .accounts.ports import RoomRegistry, SecretStore, SessionStore, UserRepository
from .accounts.services import Accounts, LiveRooms
from .adapters._common import redact_url
from .adapters.argon2 import Argon2Hasher
from .adapters.hub import HubPublishes
from .adapters.memory import MemoryRooms
from .adapters.packager import PackagerDescriptions
from .api.live import LIVE_DETAILS
from .api.routes import setup_api
from .config import ConfigError, Settings, worker_count
from .edge import VIEWERS_PATH
from .edge.internal import (
    InternalListener,
    internal_client_middleware,
    is_internal,
    viewers_report,
)
from .edge.supervisor import Supervisor
from .edge.worker import WorkerConfig
from .fasthttp import RESPONDERS
from .hls.answers import CORS
from .hls.elsewhere import elsewhere_middleware
from .hls.fastpath import Count, HlsFastPath
from .hls.packager import Packager
from .hls.routes import setup_hls_routes
from .hub import StreamHub
from .ingest import accounts_authorizer
from .live_figures import NodeLiveDetails
from .pages import setup_pages
from .previews import Previews
from .proxies import Network, client_address, forwarded_for_middleware, parse_networks
from .rtmp.server import RtmpServer, open_authorizer
from .viewers import Audience, audience_middleware

log = logging.getLogger("golive")

HUB = web.AppKey("hub", StreamHub)
RTMP = web.AppKey("rtmp", RtmpServer)
SETTINGS = web.AppKey("settings", Settings)
PACKAGER = web.AppKey("packager", Packager)
ACCOUNTS = web.AppKey("accounts", Accounts)
ROOMS = web.AppKey("rooms", LiveRooms)


class _Closable(Protocol):
    async def close(self) -> None: ...


async def _close_all(closers: list[_Closable]) -> None:
    for store in reversed(closers):
        try:
            await store.close()
        except Exception:
            log.exception("closing a store failed")


@dataclass
class Stores:
    users: UserRepository
    sessions: SessionStore
    rooms: RoomRegistry
    closers: list[_Closable] = field(default_factory=list)
    # Where the key that signs device cookies lives: the accounts database, so that every
    # node of it agrees. None: a key per process (a single node; tests).
    secrets: SecretStore | None = None

    async def close(self) -> None:
        await _close_all(self.closers)


def _require(package: str, extra: str, setting: str) -> None:
    """MongoDB and Redis come with extras of the golive package: name the one to install."""
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"setting {setting!r} needs the Python package {package}, which is not installed: "
            f"pip install 'golive[{extra}]'"
        )


async def open_stores(settings: Settings) -> Stores:
    closers: list[_Closable] = []
    try:
        database = settings.database
        if database.startswith(("mongodb://", "mongodb+srv://")):
            _require("pymongo", "mongodb", "database")
            from .adapters.mongo import open_mongo

            mongo = await open_mongo(database)
            closers.append(mongo)
            users: UserRepository = mongo.users
            sessions: SessionStore = mongo.sessions
            secrets: SecretStore = mongo.secrets
            log.info("accounts in MongoDB at %s", redact_url(database))
        elif database == "" or database.startswith("sqlite://"):
            from .adapters.sqlite import open_sqlite

            path = database.removeprefix("sqlite://") or os.path.join(
                settings.data_dir, "golive.db"
            )
            sqlite = await open_sqlite(path)
            closers.append(sqlite)
            users, sessions, secrets = sqlite.users, sqlite.sessions, sqlite.secrets
            log.info("accounts in SQLite at %s", path)
        else:
            raise ConfigError(
                f"setting 'database': {redact_url(database)!r} is neither empty, "
                "sqlite:///path nor mongodb://"
            )
        if settings.redis:
            if not settings.redis.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"setting 'redis': {redact_url(settings.redis)!r} is no redis URL"
                )
            _require("redis", "redis", "redis")
            from .adapters.redis import open_redis

            redis = await open_redis(settings.redis)
            closers.append(redis)
            rooms: RoomRegistry = redis.rooms
            if settings.sessions_in_redis:
                sessions = redis.sessions
            log.info("live rooms in Redis at %s", redact_url(settings.redis))
        else:
            if settings.sessions_in_redis:
                raise ConfigError("setting 'sessions_in_redis' needs the setting 'redis'")
            rooms = MemoryRooms()
    except BaseException:
        await _close_all(closers)
        raise
    return Stores(users, sessions, rooms, closers, secrets)


def _is_base_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # ValueError for one not a number
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and parts.username is None
        and not any(c in url for c in "?# ")
    )


def public_url(settings: Settings) -> str:
    """This node's public base URL: the setting, checked (an http or https URL with a host,
    and no credentials, query or fragment, since other nodes send viewers to it and append
    paths), or http://HOST:HTTP_PORT with the hostname for every interface."""
    url = settings.public_url.strip().rstrip("/")
    if not url:
        host = settings.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{settings.http_port}"
    if not _is_base_url(url):
        raise ConfigError(
            f"setting 'public_url': {url!r} is not an http:// or https:// URL with a host "
            "(and no user, query or fragment)"
        )
    return url


def build_app(
    settings: Settings, stores: Stores, internal: InternalListener | None = None
) -> web.Application:
    """The application; with ``internal`` (the unix socket of ``workers`` above one) it also
    serves its HTTP workers and starts them."""
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    hub = StreamHub(takeover_after=settings.takeover_after)
    app[HUB] = hub
    node = settings.node or f"{socket.gethostname()}:{settings.http_port}"
    accounts = Accounts(
        stores.users,
        stores.sessions,
        Argon2Hasher(),
        session_ttl=timedelta(days=settings.session_days),
        secrets=stores.secrets,
    )
    rooms = LiveRooms(
        stores.users,
        stores.rooms,
        HubPublishes(hub),
        node=node,
        ttl=settings.room_ttl,
        url=public_url(settings),
    )
    app[ACCOUNTS] = accounts
    app[ROOMS] = rooms
    proxies = parse_networks(settings.trusted_proxies)
    if proxies:
        # The root's one middleware, so every sub-application's sees the real client too.
        app.middlewares.append(forwarded_for_middleware(proxies))
    if internal is not None:
        # First of all: the client a worker names is the one every later middleware sees.
        app.middlewares.insert(0, internal_client_middleware())
    authorize = open_authorizer if settings.open_publish else accounts_authorizer(rooms)
    app[RTMP] = RtmpServer(hub, authorize, settings.rtmp)
    packager = Packager(hub, settings.hls, ladder=settings.transcode)
    app[PACKAGER] = packager
    setup_api(
        app,
        hub,
        accounts,
        rooms,
        rtmp_port=settings.rtmp_port,
        nginx_callbacks=settings.nginx_callbacks,
    )
    audience = Audience()  # counted by HLS, shown by the API through this node's live figures
    # Rooms live on another node are redirected there, before they could count as viewers. A
    # worker's fetches are its cache's, not players: it counts its players and reports them.
    elsewhere = elsewhere_middleware(packager, rooms.served_elsewhere, headers=CORS)
    from_worker = is_internal if internal is not None else None
    setup_hls_routes(app, packager, [elsewhere, audience_middleware(audience, from_worker)])
    # The same HLS answers, for the public port's plain GETs, without aiohttp's request and
    # response objects; the workers' fetches on the unix socket count no player.
    app[RESPONDERS] = (
        HlsFastPath(packager, player_counter(audience, proxies)),
        HlsFastPath(packager, None) if internal is not None else None,
    )
    if internal is not None:
        app.router.add_post(VIEWERS_PATH, viewers_report(audience))
        app.cleanup_ctx.append(_http_workers(settings, internal, audience))
    previews = Previews(hub, interval=settings.preview_interval)
    app[LIVE_DETAILS] = NodeLiveDetails(audience, packager, previews)
    setup_pages(app, web_dir=settings.web_dir, media_origins=rooms.node_urls)
    app.cleanup_ctx.append(_rtmp_listener)
    app.cleanup_ctx.append(_upkeep)

    async def close_previews(app: web.Application) -> None:
        await previews.close()

    async def close_stores(app: web.Application) -> None:
        await stores.close()

    app.on_cleanup.append(close_previews)
    app.on_cleanup.append(close_stores)
    return app


def player_counter(audience: Audience, trusted: list[Network]) -> Count:
    """How the HLS fast path counts a player, as the audience middleware behind the trusted
    proxies' middleware does (golive.viewers, golive.proxies)."""

    def count(room: str, remote: str, user_agent: str, forwarded_for: list[str]) -> None:
        address = client_address(remote, forwarded_for, trusted) if trusted else remote
        audience.seen(room, audience.player(address, user_agent), address)

    return count


async def create_app(
    settings: Settings, internal: InternalListener | None = None
) -> web.Application:
    """Open the stores, then build the application (``web.run_app`` awaits this)."""
    public_url(settings)  # a bad public_url stops the start before a store is opened
    stores = await open_stores(settings)
    return build_app(settings, stores, internal)


def open_internal_listener() -> InternalListener:
    """The unix socket the HTTP workers reach the primary on (``workers`` above one)."""
    return InternalListener.open()


def _http_workers(
    settings: Settings, internal: InternalListener, audience: Audience
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The HTTP workers beside this process, for as long as the application runs."""
    count = worker_count(settings.workers) - 1

    def config_for(index: int) -> WorkerConfig:
        return WorkerConfig(
            host=settings.host,
            port=settings.http_port,
            socket=internal.path,
            index=index,
            parent=os.getpid(),
            audience_key=audience.key.hex(),
            trusted_proxies=settings.trusted_proxies,
            log_level=settings.log_level,
        )

    async def workers(app: web.Application) -> AsyncIterator[None]:
        supervisor = Supervisor(count, config_for)
        supervisor.start()
        log.info("HTTP served by %d processes: this one and %d worker(s)", count + 1, count)
        yield
        await supervisor.stop()

    return workers


async def _rtmp_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    server = app[RTMP]
    await server.start(settings.host, settings.rtmp_port)
    log.info("RTMP listening on %s:%d", settings.host, server.port)
    if settings.open_publish:
        log.warning(
            "open publishing: anyone who reaches the RTMP port can publish, "
            "and the room is the stream name"
        )
    yield
    await server.stop()
    await app[PACKAGER].close()


async def _upkeep(app: web.Application) -> AsyncIterator[None]:
    """The use cases' upkeep, for as long as the application runs: this node's rooms (what
    their streams carry, heartbeats, publishes whose key was replaced) and expired sessions."""
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(app[ROOMS].keep_up(PackagerDescriptions(app[PACKAGER]))),
        loop.create_task(app[ACCOUNTS].keep_purging()),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
