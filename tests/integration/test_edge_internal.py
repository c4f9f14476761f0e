"""What the primary believes from its unix socket alone (golive.edge.internal): the client a
worker names in X-Forwarded-For, and a worker's viewer report. From the network, neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from golive.edge import CLIENT_HEADER, VIEWERS_PATH
from golive.edge.internal import InternalListener, internal_client_middleware, viewers_report
from golive.viewers import Audience
from tests.harness.ports import free_port


@pytest.fixture
async def primary() -> AsyncIterator[tuple[int, InternalListener, Audience]]:
    """An application like the primary's, on a TCP port and on the internal unix socket."""
    audience = Audience()

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=request.remote or "")

    app = web.Application(middlewares=[internal_client_middleware()])
    app.router.add_get("/whoami", whoami)
    app.router.add_post(VIEWERS_PATH, viewers_report(audience))
    internal = InternalListener.open()
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await web.SockSite(runner, internal.sock).start()
    try:
        yield port, internal, audience
    finally:
        await runner.cleanup()
        internal.close()


def test_the_socket_is_its_owners_alone(
    primary: tuple[int, InternalListener, Audience],
) -> None:
    _port, internal, _audience = primary
    assert Path(internal.path).stat().st_mode & 0o777 == 0o600
    assert Path(internal.path).parent.stat().st_mode & 0o777 == 0o700


async def test_the_client_a_worker_names_is_believed_over_the_socket_only(
    primary: tuple[int, InternalListener, Audience],
) -> None:
    port, internal, _audience = primary
    forged = {CLIENT_HEADER: "203.0.113.9"}
    url = f"http://127.0.0.1:{port}/whoami"
    async with aiohttp.ClientSession() as http, http.get(url, headers=forged) as r:
        assert await r.text() == "127.0.0.1"
    unix = aiohttp.UnixConnector(path=internal.path)
    async with (
        aiohttp.ClientSession(connector=unix) as http,
        http.get("http://primary/whoami", headers=forged) as r,
    ):
        assert await r.text() == "203.0.113.9"


async def test_viewer_reports_are_taken_over_the_socket_only(
    primary: tuple[int, InternalListener, Audience],
) -> None:
    port, internal, audience = primary
    player = audience.player("198.51.100.7", "hls.js")
    report = {"rooms": {"demo": [[player.hex(), "198.51.100.7"]]}}
    url = f"http://127.0.0.1:{port}{VIEWERS_PATH}"
    async with aiohttp.ClientSession() as http, http.post(url, json=report) as r:
        assert r.status == 404
    assert audience.count("demo") == 0
    unix = aiohttp.UnixConnector(path=internal.path)
    async with aiohttp.ClientSession(connector=unix) as http:
        for _ in range(2):  # the same player twice: one viewer
            async with http.post(f"http://primary{VIEWERS_PATH}", json=report) as r:
                assert r.status == 204
        async with http.post(f"http://primary{VIEWERS_PATH}", json={"rooms": 3}) as r:
            assert r.status == 400
    assert audience.count("demo") == 1
