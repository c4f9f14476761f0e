"""`golive serve` in a subprocess on free loopback ports, as a user or a benchmark runs it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

from tests.harness.paths import ROOT
from tests.harness.ports import free_port
from tests.harness.processes import Server

# golive from this checkout, in this interpreter; an installed one is its `golive` script.
CHECKOUT = (sys.executable, "-m", "golive")

# How the benchmarks run golive: quiet, publishing by stream name as nginx-rtmp takes it, the
# source copy alone, as nginx-rtmp packages only that, and in one process, as nginx runs with
# one worker (a later --workers wins).
BENCHMARK_ARGS = ("--log-level", "WARNING", "--open-publish", "--no-transcode", "--workers", "1")


def golive_command(
    workdir: Path, rtmp_port: int, http_port: int, *args: str, golive: Sequence[str] = CHECKOUT
) -> list[str]:
    """`golive serve` on loopback with its data under ``workdir``."""
    return [
        *golive, "serve", "--host", "127.0.0.1",
        "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
        "--data-dir", str(workdir / "data"), *args,
    ]  # fmt: skip


class Launch(TypedDict, total=False):
    """How golive is started, when not as the tests and benchmarks of this checkout do."""

    name: str  # of the server, and of its log file NAME.log
    golive: Sequence[str]  # the command that runs golive; CHECKOUT by default
    cwd: Path  # where it runs; the repository by default
    environ: Mapping[str, str]  # the environment it starts from; this process's by default
    timeout: float  # seconds to wait for its ports; 15 by default


def start_golive(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, **launch: Unpack[Launch]
) -> Server:
    """`golive serve` with its data under ``workdir`` and its log in ``workdir/NAME.log``,
    returned once both its ports listen; ``env`` goes on top of its environment."""
    rtmp_port, http_port = free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    name = launch.get("name", "golive")
    golive = launch.get("golive", CHECKOUT)
    return Server(
        name,
        golive_command(workdir, rtmp_port, http_port, *args, golive=golive),
        rtmp_port=rtmp_port,
        http_port=http_port,
        cwd=launch.get("cwd", ROOT),
        env={**launch.get("environ", os.environ), **(env or {})},
        log=workdir / f"{name}.log",
        timeout=launch.get("timeout", 15.0),
    )


@contextlib.contextmanager
def golive_serve(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, **launch: Unpack[Launch]
) -> Iterator[Server]:
    """golive for a test, stopped with SIGTERM after, which it must survive cleanly. Ended
    streams stay readable for 30 s, long enough for a test to read them back."""
    server = start_golive(workdir, *args, env={"GOLIVE_HLS_LINGER": "30", **(env or {})}, **launch)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"golive serve must exit cleanly on SIGTERM:\n{server.log_tail()}"
