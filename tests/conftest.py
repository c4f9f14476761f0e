from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from golive.hub import LiveStream, StreamHub, StreamItem
from golive.rtmp.server import Authorizer, RtmpLimits, RtmpServer, open_authorizer
from scripts.make_sample import make_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).parent / ".samples"


def sample(name: str, **kw: object) -> Path:
    """A generated sample, cached across runs under its name; a name reused with other
    arguments fails loudly instead of handing one test the other's file."""
    path = SAMPLES / name
    args = SAMPLES / f"{name}.args"
    wanted = json.dumps(kw, sort_keys=True)
    if args.exists() and args.read_text() != wanted:
        raise ValueError(f"sample {name} was made with {args.read_text()}, not {wanted}")
    if not path.exists():
        tmp = path.with_suffix(".part" + path.suffix)
        make_sample(tmp, **kw)  # type: ignore[arg-type]
        tmp.rename(path)
    args.write_text(wanted)
    return path


@pytest.fixture(scope="session")
def h264_aac_flv() -> Path:
    return sample("h264-aac-4s.flv", duration=4.0, size="320x240", fps=30, bitrate="400k")


@dataclass
class Received:
    """Everything one live stream delivered to a consumer."""

    stream: LiveStream
    items: list[StreamItem] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Golive:
    hub: StreamHub
    rtmp: RtmpServer
    received: list[Received]

    @property
    def port(self) -> int:
        return self.rtmp.port

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    async def wait_streams(self, count: int, timeout: float = 20.0) -> list[Received]:
        async def all_done() -> None:
            while len(self.received) < count:
                await asyncio.sleep(0.05)
            for r in self.received[:count]:
                await r.done.wait()

        await asyncio.wait_for(all_done(), timeout)
        return self.received[:count]


GoliveFactory = Callable[..., Awaitable[Golive]]


@pytest.fixture
async def golive_rtmp() -> AsyncIterator[GoliveFactory]:
    """Start an RTMP server on a free loopback port with a consumer that records every item."""
    servers: list[RtmpServer] = []
    tasks: list[asyncio.Task[None]] = []

    async def start(
        authorize: Authorizer = open_authorizer,
        limits: RtmpLimits | None = None,
        takeover_after: float = 5.0,
    ) -> Golive:
        hub = StreamHub(takeover_after=takeover_after)
        received: list[Received] = []

        def started(stream: LiveStream) -> None:
            rec = Received(stream)
            received.append(rec)
            sub = stream.subscribe(max_items=100_000, max_bytes=1 << 30)

            async def drain() -> None:
                async for item in sub:
                    rec.items.append(item)
                rec.done.set()

            tasks.append(asyncio.get_running_loop().create_task(drain()))

        hub.on_stream_started(started)
        server = RtmpServer(hub, authorize, limits)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return Golive(hub, server, received)

    yield start
    from tests.rtmp_client import TestPublisher

    for client in TestPublisher.opened:
        client.close()
    TestPublisher.opened.clear()
    await asyncio.sleep(0)
    for server in servers:
        await server.stop()
    for task in tasks:
        task.cancel()


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; scripts/test.sh installs it")
    return path


@pytest.fixture(autouse=True)
def _golive_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="golive")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    rtmp: str
    http: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def golive_serve(
    workdir: Path, *args: str, env: dict[str, str] | None = None, name: str = "golive"
) -> Iterator[Served]:
    """`golive serve` as a subprocess on free loopback ports, stopped with SIGTERM after."""
    rtmp_port, http_port = free_port(), free_port()
    log_path = workdir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed after the server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "golive", "serve", "--host", "127.0.0.1",
         "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
         "--data-dir", str(workdir / "data"), *args],
        cwd=ROOT, env={**os.environ, "GOLIVE_HLS_LINGER": "30", **(env or {})},
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", http_port), 0.2):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                log.close()
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.05)
    try:
        yield Served(
            f"rtmp://127.0.0.1:{rtmp_port}/live", f"http://127.0.0.1:{http_port}", proc, log_path
        )
    finally:
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(10)
        log.close()
    assert code == 0, "golive serve must exit cleanly on SIGTERM"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """golive with open publishing: the room is the stream name, no account needed."""
    with golive_serve(tmp_path, "--open-publish") as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
