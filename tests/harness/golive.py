"""`golive serve` in a subprocess on free loopback ports, as a user or a benchmark runs it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.harness.paths import ROOT
from tests.harness.ports import free_port
from tests.harness.processes import Server

# How the benchmarks run golive: quiet, publishing by stream name as nginx-rtmp takes it, and
# the source copy alone, as nginx-rtmp packages only that.
BENCHMARK_ARGS = ("--log-level", "WARNING", "--open-publish", "--no-transcode")


def start_golive(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, name: str = "golive"
) -> Server:
    """`golive serve` with its data under ``workdir`` and its log in ``workdir/NAME.log``,
    returned once both its ports listen."""
    rtmp_port, http_port = free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "golive", "serve", "--host", "127.0.0.1",
        "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
        "--data-dir", str(workdir / "data"), *args,
    ]  # fmt: skip
    return Server(
        name,
        cmd,
        rtmp_port=rtmp_port,
        http_port=http_port,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        log=workdir / f"{name}.log",
    )


@contextlib.contextmanager
def golive_serve(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, name: str = "golive"
) -> Iterator[Server]:
    """golive for a test, stopped with SIGTERM after, which it must survive cleanly. Ended
    streams stay readable for 30 s, long enough for a test to read them back."""
    server = start_golive(workdir, *args, env={"GOLIVE_HLS_LINGER": "30", **(env or {})}, name=name)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, "golive serve must exit cleanly on SIGTERM"
