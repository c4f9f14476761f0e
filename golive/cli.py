"""The ``golive`` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from typing import TYPE_CHECKING

from aiohttp import web

from . import __version__, config, fasthttp
from .http_errors import quiet_malformed_requests
from .logs import escape_every_handler, log_handler

if TYPE_CHECKING:
    pass


def _and(words: list[str]) -> str:
    """``["a", "b", "c"]`` as "a, b and c"."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = config.Settings()
    serve = sub.add_parser(
        "serve",
        help="run the RTMP ingest and the HTTP server",
        description=(
            "Run golive: RTMP ingest and the HTTP server (HLS, API, pages), the HTTP port "
            "served by --workers processes. "
            "Each option can also be set as a GOLIVE_* environment variable "
            "(GOLIVE_HOST, GOLIVE_RTMP_PORT, ...) or in the config file; "
            "flags win over variables, variables over the file."
        ),
    )
    serve.add_argument(
        "--config", help="TOML config file (GOLIVE_CONFIG); default: none", default=None
    )
    serve.add_argument(
        "--host",
        help=f"address to listen on (GOLIVE_HOST); default {defaults.host}",
        default=None,
    )
    serve.add_argument(
        "--rtmp-port",
        type=int,
        default=None,
        help=f"RTMP port (GOLIVE_RTMP_PORT); default {defaults.rtmp_port}",
    )
    serve.add_argument(
        "--http-port",
        type=int,
        default=None,
        help=f"HTTP port for HLS, the API and the pages (GOLIVE_HTTP_PORT); "
        f"default {defaults.http_port}",
    )
    serve.add_argument(
        "--workers",
        default=None,
        metavar="N",
        help="processes that serve the HTTP port: a number, or auto for one per core "
        f"(GOLIVE_WORKERS); default {defaults.workers}; 1 runs everything in one process",
    )
    serve.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where accounts and state are kept (GOLIVE_DATA_DIR); "
        "default $XDG_DATA_HOME/golive, i.e. ~/.local/share/golive",
    )
    serve.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="accounts: sqlite:///FILE or mongodb://... (GOLIVE_DATABASE); "
        "default an SQLite file golive.db in the data directory",
    )
    serve.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="redis://... for a live-room registry shared by several nodes (GOLIVE_REDIS); "
        "default: rooms in this process's memory",
    )
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the users service over gRPC on this port (GOLIVE_GRPC_PORT), on "
        "grpc_host (127.0.0.1 by default); needs grpc_secret (GOLIVE_GRPC_SECRET); default: off",
    )
    serve.add_argument(
        "--users",
        default=None,
        metavar="URL",
        help="grpc://HOST:PORT or grpcs://HOST:PORT: take this node's users from another "
        "node's users service (GOLIVE_USERS), which authorizes every publish here; needs "
        "grpc_secret; default: the accounts in the database",
    )
    serve.add_argument(
        "--open-publish",
        action="store_true",
        default=None,
        help="anyone may publish, the room being the stream name; no accounts involved "
        "(GOLIVE_OPEN_PUBLISH); for a trusted network or a test bench only",
    )
    serve.add_argument(
        "--no-transcode",
        dest="transcode_enabled",
        action="store_false",
        default=None,
        help="make no transcoded renditions, only the source copy (GOLIVE_TRANSCODE_ENABLED="
        "false, or [transcode] enabled = false in the config file); default: "
        f"{_and([r.name for r in defaults.transcode.renditions])}, those below the source's "
        "height",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help=f"text, or json for one JSON object a line (GOLIVE_LOG_FORMAT); "
        f"default {defaults.log_format}",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="a port of its own for /metrics (GOLIVE_METRICS_PORT); default 0: on the HTTP "
        "port. Served to metrics_allow only, loopback by default",
    )
    serve.add_argument(
        "--log-level",
        default=None,
        help=f"DEBUG, INFO, WARNING or ERROR (GOLIVE_LOG_LEVEL); default {defaults.log_level}",
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _tune_allocator() -> None:
    """Keep freed memory in the process instead of handing it back to the kernel at once.

    Ingest allocates and frees a frame-sized buffer per message, and socket reads of 256 KiB.
    With glibc's defaults, freed memory at the top of the heap is returned to the kernel as
    soon as 128 KiB are free, and every later allocation faults fresh zeroed pages back in:
    measured here, that tripled the CPU cost of ingest. Holding up to 32 MiB is a small price
    for a server process. Other C libraries are left alone.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_trim_threshold, 32 * 1024 * 1024)
    mallopt(m_mmap_threshold, 4 * 1024 * 1024)


def _tune_collector() -> None:
    """Collect cyclic garbage less often than CPython's defaults (700, 10, 10).

    Every HTTP request allocates a few hundred container objects (the request, its headers,
    coroutines, futures), and a request held by a blocking playlist reload keeps them alive
    across collections, so with a thousand players waiting every generation-0 collection
    walks thousands of live objects and promotes them to be walked again. Measured with
    scripts/bench_viewers.py, that was a tenth to a third of golive's CPU; collecting after
    10,000 allocations instead of 700 keeps it to about 1%, for a little more memory held
    by garbage cycles between collections.
    """
    gc.set_threshold(10_000, 50, 100)


async def _freeze_heap(app: web.Application) -> None:
    """Move what exists once golive has started (modules, the application, the stores) out
    of the collector's sight: it lives as long as the process, and full collections would
    otherwise walk all of it again and again (gc.freeze)."""
    gc.collect()
    gc.freeze()


def _quiet_grpc() -> None:
    """gRPC's core writes its own INFO lines to stderr (a peer's GOAWAY, a fork), outside
    golive's log format and its escaping: only its errors, unless the environment says
    otherwise. golive's children (HTTP and transcoding workers) are exec'd, never forked
    copies that would use gRPC, so gRPC's fork handlers have nothing to do."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def serve(args: argparse.Namespace) -> int:
    _quiet_grpc()  # before gRPC is loaded
    from .bootstrap import create_app, open_internal_listener

    try:
        settings = config.load(
            args.config,
            overrides={
                "host": args.host,
                "rtmp_port": args.rtmp_port,
                "http_port": args.http_port,
                "workers": args.workers,
                "data_dir": args.data_dir,
                "log_level": args.log_level,
                "log_format": args.log_format,
                "metrics_port": args.metrics_port,
                "database": args.database,
                "redis": args.redis,
                "grpc_port": args.grpc_port,
                "users": args.users,
                "open_publish": args.open_publish,
                "transcode_enabled": args.transcode_enabled,
            },
        )
    except config.ConfigError as exc:
        print(f"golive: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        handlers=[
            log_handler(settings.log_format, "%(asctime)s %(levelname)s %(name)s: %(message)s")
        ],
    )
    # Peers choose much of what gets logged: no control character of theirs reaches a line,
    # and a malformed HTTP request is one INFO line, not an ERROR with aiohttp's traceback.
    escape_every_handler()
    quiet_malformed_requests()
    # aiohttp logs every request at INFO; HLS players make several a second.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Database clients log statements with their parameters at DEBUG, and the parameters
    # hold stream keys and password hashes: --log-level DEBUG is for golive's own lines.
    for name in ("aiosqlite", "pymongo", "redis"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
    log = logging.getLogger("golive")
    _tune_allocator()
    _tune_collector()
    loop = _new_loop()
    log.info(
        "golive %s: HTTP on %s:%d, data in %s",
        __version__,
        settings.host,
        settings.http_port,
        settings.data_dir,
    )
    workers = config.worker_count(settings.workers)
    if workers > 1 and settings.http_port == 0:
        log.warning("workers: an HTTP port chosen by the system cannot be shared; one process")
        workers = 1
    internal = None

    async def app() -> web.Application:
        application = await create_app(settings, internal)
        # After the cleanup contexts (the stores, the RTMP listener) have started.
        application.on_startup.append(_freeze_heap)
        return application

    try:
        # With workers, the primary shares the public port with them (SO_REUSEPORT: the
        # kernel spreads connections) and serves them on a unix socket of its own.
        internal = open_internal_listener() if workers > 1 else None
        # run_app (aiohttp's, with HLS's plain GETs answered by golive.hls.fastpath) turns
        # SIGINT and SIGTERM into a graceful exit that runs the cleanup
        # contexts, so publishers are disconnected, streams ended and workers stopped in order.
        fasthttp.run_app(
            app(),
            host=settings.host,
            port=settings.http_port,
            sock=internal.sock if internal is not None else None,
            reuse_port=True if internal is not None else None,
            loop=loop,
        )
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("cannot listen or open a store: %s", exc)
        return 1
    finally:
        if internal is not None:
            internal.close()
    log.info("golive stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="golive", description="golive live-streaming server")
    parser.add_argument("--version", action="version", version=f"golive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    parser.error(f"unknown command {args.command}")
    return 2
