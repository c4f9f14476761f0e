"""The original design's deployment: nginx-rtmp ingests and calls golive's rooms callbacks.

Debian's nginx with libnginx-mod-rtmp (installed by the test command) calls on_publish,
on_update and on_publish_done on a running `golive serve`; ffmpeg publishes to nginx with the
stream key in the query, as the README tells such a deployment to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness.api import rooms, sign_up
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.nginx import (
    callback_directives,
    have_nginx_rtmp,
    nginx_conf,
    prepare,
    rtmp_block,
)
from tests.harness.ports import free_port
from tests.harness.processes import stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import stream_sample

pytestmark = pytest.mark.e2e


@pytest.fixture
def nginx_rtmp(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """A free port, a prefix folder and the command that runs nginx-rtmp there in the
    foreground (the test writes the config once it knows golive's address)."""
    if not have_nginx_rtmp():
        pytest.fail("nginx or libnginx-mod-rtmp is not installed; scripts/test.sh installs them")
    port = free_port()
    prefix = tmp_path / "nginx"
    yield port, prefix, prepare(prefix)


def write_conf(prefix: Path, port: int, golive_http: str) -> None:
    rtmp = rtmp_block(port, callback_directives(golive_http))
    conf = nginx_conf(prefix, rtmp, master_process=False, log_level="info", worker_connections=64)
    (prefix / "nginx.conf").write_text(conf)


async def test_nginx_rtmp_in_front_opens_and_ends_golive_rooms(
    tmp_path: Path, http: aiohttp.ClientSession, nginx_rtmp: tuple[int, Path, list[str]]
) -> None:
    port, prefix, cmd = nginx_rtmp
    # A short room TTL: only nginx's on_update (every second here) keeps the room.
    env = {"GOLIVE_ROOM_TTL": "1", "GOLIVE_NGINX_CALLBACKS": "true"}
    with golive_serve(tmp_path, env=env) as srv:
        write_conf(prefix, port, srv.http)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while not (prefix / "nginx.pid").exists():
                assert time.monotonic() < deadline, (prefix / "logs/error.log").read_text()
                await asyncio.sleep(0.05)
            login = await sign_up(http, srv.http, "alice")
            base = f"rtmp://127.0.0.1:{port}/live"

            # A wrong key: golive answers 401 and nginx drops the publisher.
            wrong = await start_publisher(stream_sample(), f"{base}/alice?key=live_wrong")
            _, err = await wrong.communicate()
            assert wrong.returncode != 0, err
            assert await rooms(http, srv.http) == {}

            publisher = await start_publisher(
                stream_sample(), f"{base}/alice?key={login['stream_key']}"
            )
            try:

                async def live() -> bool:
                    return "alice" in await rooms(http, srv.http)

                await until(live, "nginx's on_publish opens the room in golive")
                # Past three room TTLs: nginx's on_update calls kept it.
                await asyncio.sleep(4)
                assert "alice" in await rooms(http, srv.http)
            finally:
                await stop(publisher)

            async def gone() -> bool:
                return "alice" not in await rooms(http, srv.http)

            await until(gone, "nginx's on_publish_done ends the room")
        finally:
            await stop(proc)
        log = srv.log.read_text()
        assert login["stream_key"] not in log
        assert "live_wrong" not in log
