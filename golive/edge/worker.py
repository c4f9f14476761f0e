"""An HTTP worker process: golive's public port served from a collapsing cache of the primary.

The worker binds the public HTTP port with SO_REUSEPORT beside the primary and its other
workers, so the kernel hands it a share of the connections. It answers:

- ``GET /hls/...`` from its collapsing cache (golive.edge.cache), which asks the primary over
  its unix socket once per URL for everyone who waits on it;
- everything else (the API, the nginx-rtmp callbacks, the pages, HLS with another method) by
  passing the request through to the primary over the unix socket, as it came, with the
  client's address in X-Forwarded-For, which the primary believes from its unix socket only.
  Sessions, login throttles and accounts thus stay in the primary.

Players that fetch a playlist here are counted here, by the same keyed digest of their address
and User-Agent as the primary's (golive.viewers, the key handed over at start), and reported to
the primary every few seconds, so that a player counts once whichever process serves it.

Plain HLS GETs are answered by a small protocol of its own (golive.edge.fastpath), a cache hit
with one write; any other request hands its connection to aiohttp's low-level server (no
router, no middlewares), which answers it through ``handle``. It stops on SIGTERM or SIGINT,
when the primary closes its standard input, and when the primary dies (PR_SET_PDEATHSIG on
Linux), so it is never left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

from ..fasthttp import FastConnection
from ..http_errors import quiet_malformed_requests
from ..logs import escape_every_handler, log_handler
from ..metrics import (
    WORKER_METRICS_PATH,
    count_hls,
    hls_kind,
    probe_loop_lag,
    target_kind,
    worker_report,
)
from ..proxies import Network, client_address, parse_networks
from ..tls import ServerTls, TlsError
from ..viewers import Audience
from . import CLIENT_HEADER, REPORT_INTERVAL, VIEWERS_PATH
from .cache import BAD_GATEWAY, Answer, CollapsingCache, cacheable, classify
from .fastpath import FastProtocol

log = logging.getLogger("golive.edge")

# The primary, over the unix socket: the host part only names it in the Host header.
PRIMARY = "http://golive-primary"
# Longer than the longest blocking reload the primary holds (golive.hls.routes, 12 s).
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=30.0)
# Headers of one connection, not of the resource (RFC 9110, 7.6.1), and those aiohttp writes
# for each answer itself.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        hdrs.CONNECTION, "Keep-Alive", hdrs.PROXY_AUTHENTICATE, hdrs.PROXY_AUTHORIZATION,
        hdrs.TE, hdrs.TRAILER, hdrs.TRANSFER_ENCODING, hdrs.UPGRADE, hdrs.CONTENT_LENGTH,
        hdrs.DATE, hdrs.SERVER,
    )
)  # fmt: skip
PLAYLIST_PREFIX = "application/vnd.apple.mpegurl"
# A bound on the players one worker holds between two reports.
MAX_PENDING = 200_000
HLS = "/hls/"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What the primary hands a worker, as one JSON line on its standard input (the audience
    key is a secret: never on the command line, where `ps` shows it)."""

    host: str
    port: int
    socket: str  # the primary's unix socket
    index: int  # 1, 2, ... for the logs
    parent: int  # the primary's pid
    audience_key: str  # hex: golive.viewers digests players with it
    trusted_proxies: str = ""
    log_level: str = "INFO"
    # PEM paths when the public port is HTTPS (reloaded on SIGHUP, which the primary passes on)
    tls_cert: str = ""
    tls_key: str = ""
    log_format: str = "text"

    def line(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> WorkerConfig:
        return cls(**json.loads(line))


def _own_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


@dataclass
class Worker:
    config: WorkerConfig
    session: aiohttp.ClientSession
    trusted: list[Network] = field(default_factory=list)
    audience: Audience = field(default_factory=Audience)
    cache: CollapsingCache = field(init=False)
    # room -> player digest -> address, seen since the last report
    _seen: dict[str, dict[bytes, str]] = field(default_factory=dict)
    _pending: int = 0

    def __post_init__(self) -> None:
        self.cache = CollapsingCache(self.fetch)

    async def fetch(self, url: str) -> Answer:
        """The primary's answer to a GET of ``url`` (a path and query, as the client sent it)."""
        try:
            # A redirect (a room live on another node) is the player's to follow, not ours.
            async with self.session.get(
                URL(PRIMARY + url, encoded=True), allow_redirects=False
            ) as response:
                body = await response.read()
                return Answer(response.status, _own_headers(response.headers), body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("worker %d: the primary did not answer: %s", self.config.index, exc)
            return BAD_GATEWAY

    def client(self, request: web.BaseRequest) -> str:
        remote = request.remote or ""
        if not self.trusted:
            return remote
        return client_address(remote, request.headers.getall(CLIENT_HEADER, []), self.trusted)

    # What the fast path (golive.edge.fastpath) needs: a kept answer, the cache's answer, and
    # a player seen.
    # Every answer the worker gives is counted here, for the node's metrics (golive.metrics).
    def hit(self, target: str) -> Answer | None:
        answer = self.cache.cached(target)
        if answer is not None:
            count_hls(target_kind(target), answer.status)
        return answer

    async def answer(self, target: str) -> Answer:
        path, _, query = target.partition("?")
        answer = await self.cache.get(target, classify(path, query))
        count_hls(hls_kind(path, query), answer.status)
        return answer

    def seen(self, target: str, remote: str, user_agent: str, forwarded_for: list[str]) -> None:
        """Note a player that fetched a room's playlist (golive.viewers counts the same way)."""
        room = unquote(target[len(HLS) :].partition("/")[0])
        if not room or self._pending >= MAX_PENDING:
            return
        address = client_address(remote, forwarded_for, self.trusted) if self.trusted else remote
        player = self.audience.player(address, user_agent)
        players = self._seen.setdefault(room, {})
        if player not in players:
            self._pending += 1
        players[player] = address

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """A request the fast path handed to aiohttp: HLS GETs from the cache all the same
        (HTTP/1.0, unusual headers), everything else through to the primary."""
        raw = request.raw_path
        if request.method == hdrs.METH_GET and cacheable(raw):
            answer = self.hit(raw) or await self.answer(raw)
            if answer.status == 200 and ".m3u8" in raw:
                self.seen(
                    raw,
                    request.remote or "",
                    request.headers.get(hdrs.USER_AGENT, ""),
                    request.headers.getall(CLIENT_HEADER, []),
                )
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        return await self.proxy(request)

    async def report(self) -> None:
        """Hand the players seen since the last report to the primary, every few seconds,
        and this worker's metrics."""
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            try:
                body = worker_report(self.config.index)
                async with self.session.post(PRIMARY + WORKER_METRICS_PATH, json=body) as sent:
                    await sent.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("worker %d: metrics not reported: %s", self.config.index, exc)
            if not self._seen:
                continue
            seen, self._seen, self._pending = self._seen, {}, 0
            body = {
                "rooms": {
                    room: [[player.hex(), address] for player, address in players.items()]
                    for room, players in seen.items()
                }
            }
            try:
                async with self.session.post(PRIMARY + VIEWERS_PATH, json=body) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("worker %d: viewers not reported: %s", self.config.index, exc)

    async def proxy(self, request: web.BaseRequest) -> web.StreamResponse:
        """Pass the request through to the primary, and its answer back as it comes."""
        headers = CIMultiDict(
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != CLIENT_HEADER.lower()
        )
        client = self.client(request)
        forwarded = request.headers.getall(CLIENT_HEADER, [])
        if forwarded and not self.trusted:
            # Came through a proxy golive does not trust: the primary takes the last address
            # as the client, and sees from the others that a proxy was there (golive.metrics).
            client = ", ".join([*forwarded, client])
        headers[CLIENT_HEADER] = client
        body = await request.read() if request.body_exists else None
        try:
            async with self.session.request(
                request.method,
                URL(PRIMARY + request.raw_path, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP or name.lower() == "content-length":
                        response.headers.add(name, value)
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("worker %d: the primary did not answer: %s", self.config.index, exc)
            return web.Response(
                status=BAD_GATEWAY.status, body=BAD_GATEWAY.body, headers=BAD_GATEWAY.headers
            )


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the primary dies, however it dies (Linux); and exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(0)


def _read_config() -> WorkerConfig:
    """The one line the primary writes on standard input (read unbuffered: the pipe stays
    open, and its end is the primary's signal to stop)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            raise SystemExit(0)
        line += chunk
    return WorkerConfig.from_line(line)


async def run(config: WorkerConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tls = ServerTls(config.tls_cert, config.tls_key) if config.tls_cert else None
    if tls is not None:
        loop.add_signal_handler(signal.SIGHUP, tls.reload)

    def stdin_readable() -> None:
        if not os.read(0, 4096):  # the primary closed its end: it is stopping or gone
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, stdin_readable)
    connector = aiohttp.UnixConnector(path=config.socket, limit=0)
    session = aiohttp.ClientSession(
        connector=connector, timeout=UPSTREAM_TIMEOUT, auto_decompress=False
    )
    worker = Worker(
        config,
        session,
        parse_networks(config.trusted_proxies),
        Audience(key=bytes.fromhex(config.audience_key)),
    )
    # aiohttp's low-level server takes the connections the fast path hands over.
    fallback = web.Server(worker.handle, access_log=None)
    fast: set[FastConnection] = set()
    report = loop.create_task(worker.report())
    probe = loop.create_task(probe_loop_lag())
    listener = None
    try:
        listener = await loop.create_server(
            lambda: FastProtocol(worker, fallback, fast),
            config.host,
            config.port,
            reuse_port=True,
            backlog=1024,
            ssl=tls.context if tls is not None else None,
        )
        log.info("worker %d (pid %d) serving HTTP", config.index, os.getpid())
        await stop.wait()
    finally:
        report.cancel()
        probe.cancel()
        if listener is not None:
            listener.close()
        for connection in list(fast):
            connection.close()
        await fallback.shutdown(1.0)
        await session.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> int:
    config = _read_config()
    _die_with_parent(config.parent)
    logging.basicConfig(
        level=config.log_level.upper(),
        handlers=[
            log_handler(
                config.log_format,
                f"%(asctime)s %(levelname)s %(name)s (worker {config.index}): %(message)s",
                worker=config.index,
            )
        ],
    )
    escape_every_handler()
    quiet_malformed_requests()
    loop = _new_loop()
    try:
        loop.run_until_complete(run(config))
    except OSError as exc:
        log.error("worker %d cannot listen: %s", config.index, exc)
        return 1
    except TlsError as exc:
        log.error("worker %d: tls_cert, tls_key: %s", config.index, exc)
        return 1
    finally:
        loop.close()
    return 0
