"""Redis for tests of several golive nodes: a private redis-server on a free loopback port, so
that no other test's rooms (golive's keys have a fixed prefix) are seen by these nodes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.harness.paths import require
from tests.harness.ports import free_port, wait_port
from tests.harness.processes import ProcessGroup


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """redis-server (Debian's, which scripts/test.sh installs) on a free loopback port, nothing
    kept on disk; yields its ``redis://`` URL, and stops it after."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    server = ProcessGroup(
        "redis",
        [
            require("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
        ],
        log=workdir / "redis.log",
    )  # fmt: skip
    try:
        wait_port(port, server.proc, 10.0)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()
