"""The client behind trusted proxies: X-Forwarded-For is believed only from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.bootstrap import Stores, build_app
from golive.config import ConfigError, Settings
from golive.proxies import client_address, forwarded_for_middleware, parse_networks

TRUSTED = parse_networks("127.0.0.1, 10.0.0.0/8")


@pytest.mark.parametrize(
    ("remote", "header", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: header ignored
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy, but no header
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        # The client's own claim (left) is not believed past the first untrusted hop.
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # two proxies
        ("127.0.0.1", ["198.51.100.1", "10.1.2.3"], "198.51.100.1"),  # two header lines
        ("127.0.0.1", ["not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1, junk, 10.1.2.3"], "10.1.2.3"),
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_address(remote: str, header: list[str], client: str) -> None:
    assert client_address(remote, header, TRUSTED) == client


def test_a_bad_entry_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        parse_networks("10.0.0.0/8, proxy.example")
    assert parse_networks("") == []


async def test_handlers_see_the_client_as_remote() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.remote or "")

    app = web.Application(middlewares=[forwarded_for_middleware(TRUSTED)])
    app.router.add_get("/", echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/", headers={"X-Forwarded-For": "198.51.100.1"})
        assert await resp.text() == "198.51.100.1"
        resp = await client.get("/")
        assert await resp.text() == "127.0.0.1"


async def test_behind_a_trusted_proxy_logins_are_throttled_per_client(tmp_path: Path) -> None:
    """The application as bootstrap builds it, with trusted_proxies set."""
    settings = Settings(
        host="127.0.0.1", rtmp_port=0, data_dir=str(tmp_path), trusted_proxies="127.0.0.1"
    )
    app = build_app(settings, Stores(MemoryUsers(), MemorySessions(), MemoryRooms()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:

        async def log_in(client_address: str) -> int:
            resp = await client.post(
                "/api/sessions",
                json={"username": "nobody", "password": "wrong password"},
                headers={"X-Forwarded-For": client_address},
            )
            return resp.status

        # 10 attempts per account and address: then that client waits...
        statuses = [await log_in("198.51.100.1") for _ in range(11)]
        assert statuses[:10] == [401] * 10 and statuses[10] == 429
        # ...while another client behind the same proxy does not.
        assert await log_in("198.51.100.2") == 401
