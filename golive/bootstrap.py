"""The composition root: the only place that turns settings into running parts.

Only here are adapters chosen from the configuration: SQLite (a file in the data directory)
or MongoDB for accounts and sessions, memory or Redis for the live-room registry. Stores are
opened when the application starts and closed when it stops; the RTMP listener starts and
stops with the aiohttp application (``cleanup_ctx``), so one event loop owns everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from .accounts.ports import RoomRegistry, SecretStore, SessionStore, UserRepository
from .accounts.services import Accounts, LiveRooms
from .adapters._common import redact_url
from .adapters.argon2 import Argon2Hasher
from .adapters.hub import HubPublishes
from .adapters.memory import MemoryRooms, MemorySessions
from .adapters.packager import PackagerDescriptions
from .api.live import LIVE_DETAILS
from .api.recordings import RECORDINGS
from .api.routes import setup_api
from .config import ConfigError, Settings, short_hold_back, worker_count
from .edge import VIEWERS_PATH
from .edge.internal import (
    InternalListener,
    internal_client_middleware,
    is_internal,
    viewers_report,
)
from .edge.supervisor import Supervisor
from .edge.worker import WorkerConfig
from .fasthttp import PUBLIC_TLS, RESPONDERS
from .hls.answers import CORS
from .hls.elsewhere import elsewhere_middleware
from .hls.fastpath import Count, HlsFastPath
from .hls.packager import Packager
from .hls.routes import setup_hls_routes
from .hub import StreamHub
from .ingest import accounts_authorizer
from .live_figures import NodeLiveDetails
from .metrics import METRICS_PATH, WORKER_METRICS_PATH, probe_loop_lag
from .node_metrics import (
    MetricsAccess,
    NodeCollector,
    WorkerFigures,
    accounts_source,
    metrics_handler,
    node_registry,
    recordings_source,
    rooms_source,
    rtmp_source,
    worker_metrics_report,
)
from .pages import setup_pages
from .previews import Previews
from .proxies import Network, client_address, forwarded_for_middleware, parse_networks
from .recordings.recorder import Recorder
from .recordings.routes import setup_recording_routes
from .rtmp.server import RtmpServer, open_authorizer
from .tls import ServerTls, TlsError
from .viewers import Audience, audience_middleware

log = logging.getLogger("golive")

HUB = web.AppKey("hub", StreamHub)
RTMP = web.AppKey("rtmp", RtmpServer)
SETTINGS = web.AppKey("settings", Settings)
PACKAGER = web.AppKey("packager", Packager)
ACCOUNTS = web.AppKey("accounts", Accounts)
ROOMS = web.AppKey("rooms", LiveRooms)
# The certificate of RTMPS and HTTPS, when either is on.
TLS = web.AppKey("tls", ServerTls)
WORKERS = web.AppKey("workers", Supervisor)
RECORDER = web.AppKey("recorder", Recorder)


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


def _read(path: str, setting: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError(f"setting {setting!r}: cannot read {path}: {exc.strerror}") from None


def _remote_users(settings: Settings) -> UserRepository:
    """The users of another node's users service (``users = "grpc://host:port"``)."""
    from .adapters.grpc_users import GrpcUsers, UsersTargetError

    if not settings.grpc_secret:
        raise ConfigError(
            "setting 'users' names a users service: set 'grpc_secret' to the secret it expects"
        )
    roots = _read(settings.grpc_tls_ca, "grpc_tls_ca") if settings.grpc_tls_ca else None
    try:
        return GrpcUsers(
            settings.users,
            secret=settings.grpc_secret,
            root_certificates=roots,
            timeout=settings.users_timeout,
        )
    except UsersTargetError as exc:
        raise ConfigError(f"setting 'users': {exc}") from None


async def open_stores(settings: Settings) -> Stores:
    closers: list[_Closable] = []
    try:
        database = settings.database
        if settings.users:
            users: UserRepository = _remote_users(settings)
            closers.append(users)
            # Nobody logs in here (the account routes answer 421): sessions stay empty.
            sessions: SessionStore = MemorySessions()
            secrets: SecretStore | None = None
            log.info("users from the users service at %s", redact_url(settings.users))
        elif database.startswith(("mongodb://", "mongodb+srv://")):
            _require("pymongo", "mongodb", "database")
            from .adapters.mongo import open_mongo

            mongo = await open_mongo(database)
            closers.append(mongo)
            users = mongo.users
            sessions = mongo.sessions
            secrets = mongo.secrets
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
    if settings.rtmps_port or settings.https:
        try:
            app[TLS] = ServerTls(settings.tls_cert, settings.tls_key)
        except TlsError as exc:
            raise ConfigError(f"tls_cert, tls_key: {exc}") from None
        app.cleanup_ctx.append(_reload_on_hangup)
        if settings.https:
            app[PUBLIC_TLS] = app[TLS].context
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
        rtmps_port=settings.rtmps_port,
        nginx_callbacks=settings.nginx_callbacks,
        accounts_elsewhere=_accounts_elsewhere(settings),
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
    recorder = Recorder(Path(settings.data_dir) / "recordings", settings.recordings)
    app[RECORDER] = recorder
    app[RECORDINGS] = recorder
    _setup_metrics(app, settings, audience, internal, proxies)
    setup_pages(app, web_dir=settings.web_dir, media_origins=rooms.node_urls)
    # Recordings: what is on disk is served whether or not new streams are recorded. The
    # recorder stops after the RTMP listener (cleanup runs in reverse), so the streams that
    # end then are ended in their recordings too.
    if settings.recordings.enabled:
        packager.observe(recorder)
    setup_recording_routes(app, recorder)
    app.cleanup_ctx.append(_recorder)
    app.cleanup_ctx.append(_rtmp_listener)
    app.cleanup_ctx.append(_upkeep)
    if settings.grpc_port:
        app.cleanup_ctx.append(_users_service(settings, accounts, rooms))

    async def close_previews(app: web.Application) -> None:
        await previews.close()

    async def close_stores(app: web.Application) -> None:
        await stores.close()

    app.on_cleanup.append(close_previews)
    app.on_cleanup.append(close_stores)
    return app


def _setup_metrics(
    app: web.Application,
    settings: Settings,
    audience: Audience,
    internal: InternalListener | None,
    proxies: list[Network],
) -> None:
    """/metrics on the HTTP port (ahead of the pages' routes) or a port of its own, the
    workers' reports, and the event-loop probe."""
    figures = WorkerFigures() if internal is not None else None
    collector = NodeCollector(
        [
            rtmp_source(app[RTMP]),
            rooms_source(app[HUB], app[PACKAGER], audience),
            accounts_source(app[ACCOUNTS]),
            recordings_source(app[RECORDER]),
        ],
        figures,
    )
    access = MetricsAccess(
        parse_networks(settings.metrics_allow, "metrics_allow"),
        settings.metrics_token,
        proxies_trusted=bool(proxies),
    )
    handler = metrics_handler(node_registry(collector), access, is_internal)
    if settings.metrics_port:
        app.cleanup_ctx.append(_metrics_listener(settings, handler, proxies))
    else:
        app.router.add_get(METRICS_PATH, handler)
    if figures is not None:
        app.router.add_post(WORKER_METRICS_PATH, worker_metrics_report(figures, is_internal))
    app.cleanup_ctx.append(_loop_probe)


def _metrics_listener(
    settings: Settings, handler: Handler, proxies: list[Network]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """/metrics alone on metrics_port, for as long as the application runs."""

    async def listener(app: web.Application) -> AsyncIterator[None]:
        metrics = web.Application(
            middlewares=[forwarded_for_middleware(proxies)] if proxies else []
        )
        metrics.router.add_get(METRICS_PATH, handler)
        runner = web.AppRunner(metrics, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.metrics_port)
        await site.start()
        log.info("metrics on %s:%d%s", settings.host, settings.metrics_port, METRICS_PATH)
        yield
        await runner.cleanup()

    return listener


async def _loop_probe(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(probe_loop_lag())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


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
    try:
        return build_app(settings, stores, internal)
    except BaseException:  # a setting refused while building (the users service's)
        await stores.close()
        raise


def open_internal_listener() -> InternalListener:
    """The unix socket the HTTP workers reach the primary on (``workers`` above one)."""
    return InternalListener.open()


def _accounts_elsewhere(settings: Settings) -> str | None:
    """What the account routes of a node with remote users answer (None: they are here)."""
    if not settings.users:
        return None
    return (
        "accounts are kept by another node's users service: sign up, log in and manage "
        "your stream key there"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _users_service(
    settings: Settings, accounts: Accounts, rooms: LiveRooms
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The users service over gRPC (``grpc_port``), checked now so that a bad setting stops
    `golive serve` before it listens; it runs in a task of its own on this event loop, and
    stops before the stores close."""
    from .rpc.server import ServiceTls, UsersServer, UsersService

    if settings.users:
        raise ConfigError(
            "setting 'grpc_port': this node's users are another node's (setting 'users'); "
            "serve the users service from that node"
        )
    if not settings.grpc_secret:
        raise ConfigError("setting 'grpc_port' needs 'grpc_secret', which callers present")
    if bool(settings.grpc_tls_cert) != bool(settings.grpc_tls_key):
        raise ConfigError("settings 'grpc_tls_cert' and 'grpc_tls_key' go together")
    tls = None
    if settings.grpc_tls_cert:
        tls = ServiceTls(
            _read(settings.grpc_tls_cert, "grpc_tls_cert"),
            _read(settings.grpc_tls_key, "grpc_tls_key"),
        )
    elif not _is_loopback(settings.grpc_host):
        raise ConfigError(
            f"setting 'grpc_host': {settings.grpc_host!r} is not a loopback address: "
            "set 'grpc_tls_cert' and 'grpc_tls_key' to serve users beyond this machine"
        )
    server = UsersServer(UsersService(accounts, rooms), secret=settings.grpc_secret, tls=tls)

    async def serve(app: web.Application) -> AsyncIterator[None]:
        try:
            await server.start(settings.grpc_host, settings.grpc_port)
        except RuntimeError as exc:  # grpc's "Failed to bind"
            where = f"{settings.grpc_host}:{settings.grpc_port}"
            raise OSError(f"users service on {where}: {exc}") from None
        log.info(
            "users service (gRPC%s) on %s:%d",
            " over TLS" if tls else "", settings.grpc_host, server.port,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(server.wait())
        yield
        await server.stop()
        await task

    return serve


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
            tls_cert=settings.tls_cert if settings.https else "",
            tls_key=settings.tls_key if settings.https else "",
            log_format=settings.log_format,
        )

    async def workers(app: web.Application) -> AsyncIterator[None]:
        supervisor = Supervisor(count, config_for)
        app[WORKERS] = supervisor
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
    if settings.rtmps_port:
        await server.start(settings.host, settings.rtmps_port, ssl=app[TLS].context)
        log.info("RTMPS listening on %s:%d", settings.host, settings.rtmps_port)
    if settings.open_publish:
        log.warning(
            "open publishing: anyone who reaches the RTMP port can publish, "
            "and the room is the stream name"
        )
    if short := short_hold_back(settings):
        log.warning(short)
    yield
    await server.stop()
    await app[PACKAGER].close()


async def _reload_on_hangup(app: web.Application) -> AsyncIterator[None]:
    """SIGHUP loads the certificate again, here and in every HTTP worker (golive.tls)."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        app[TLS].reload()
        supervisor = app.get(WORKERS)
        for pid in supervisor.pids() if supervisor is not None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    loop.add_signal_handler(signal.SIGHUP, reload)
    yield
    loop.remove_signal_handler(signal.SIGHUP)


async def _recorder(app: web.Application) -> AsyncIterator[None]:
    recorder = app[RECORDER]
    recorder.start()
    yield
    await recorder.stop()


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
