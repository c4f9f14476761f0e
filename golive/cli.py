"""The ``golive`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from . import __version__, config


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = config.Settings()
    serve = sub.add_parser(
        "serve",
        help="run the RTMP ingest and the HTTP server",
        description=(
            "Run golive: RTMP ingest and the HTTP server (HLS, API, pages) in one process. "
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
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where accounts and state are kept (GOLIVE_DATA_DIR); "
        "default $XDG_DATA_HOME/golive, i.e. ~/.local/share/golive",
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


def serve(args: argparse.Namespace) -> int:
    from .bootstrap import build_app

    try:
        settings = config.load(
            args.config,
            overrides={
                "host": args.host,
                "rtmp_port": args.rtmp_port,
                "http_port": args.http_port,
                "data_dir": args.data_dir,
                "log_level": args.log_level,
            },
        )
    except config.ConfigError as exc:
        print(f"golive: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiohttp logs every request at INFO; HLS players make several a second.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    log = logging.getLogger("golive")
    loop = _new_loop()
    app = build_app(settings)
    log.info(
        "golive %s: HTTP on %s:%d, data in %s",
        __version__,
        settings.host,
        settings.http_port,
        settings.data_dir,
    )
    try:
        # run_app turns SIGINT and SIGTERM into a graceful exit that runs the cleanup
        # contexts, so publishers are disconnected and streams ended in order.
        web.run_app(
            app,
            host=settings.host,
            port=settings.http_port,
            loop=loop,
            print=None,
            access_log=None,
        )
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 1
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
