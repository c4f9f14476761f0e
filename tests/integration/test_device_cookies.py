"""Login throttles over HTTP: the owner's browser, known by its device cookie, logs in while
guessers spread over many addresses are stopped, and a noisy client behind a shared address
holds its neighbours off only briefly. Clients are told apart by X-Forwarded-For from a
trusted proxy (127.0.0.1), as behind a load balancer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.accounts.throttle import LoginThrottle
from golive.proxies import forwarded_for_middleware, parse_networks
from tests.harness.api import PASSWORD, open_api

OWNER_ADDRESS = "203.0.113.5"
DEVICE_COOKIE = "golive_device_alice"


@dataclass
class Site:
    server: TestServer
    owner: TestClient[web.Request, web.Application]  # a browser: it keeps its cookies
    stranger: aiohttp.ClientSession  # keeps no cookies: a new browser, a script, a bearer client

    async def log_in(
        self,
        http: aiohttp.ClientSession,
        address: str,
        username: str = "alice",
        password: str = PASSWORD,
        **kwargs: Any,
    ) -> aiohttp.ClientResponse:
        async with http.post(
            self.server.make_url("/api/sessions"),
            json={"username": username, "password": password},
            headers={"X-Forwarded-For": address, **kwargs.pop("headers", {})},
            **kwargs,
        ) as resp:
            await resp.read()
            return resp

    async def sign_up(self, username: str) -> None:
        body = {"username": username, "email": f"{username}@example.org", "password": PASSWORD}
        async with self.stranger.post(self.server.make_url("/api/users"), json=body) as resp:
            assert resp.status == 201, await resp.text()


async def open_site(tmp_path: Path, throttle: LoginThrottle) -> AsyncIterator[Site]:
    app, _accounts, _rooms, _hub, close = await open_api(tmp_path, throttle)
    app.middlewares.append(forwarded_for_middleware(parse_networks("127.0.0.1")))
    try:
        async with (
            TestClient(TestServer(app, host="127.0.0.1")) as owner,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as stranger,
        ):
            yield Site(owner.server, owner, stranger)
    finally:
        await close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async for opened in open_site(tmp_path, LoginThrottle()):  # the defaults, as served
        yield opened


def device_cookie(site: Site) -> str:
    cookies = site.owner.session.cookie_jar.filter_cookies(site.server.make_url("/api/sessions"))
    return cookies[DEVICE_COOKIE].value


async def test_a_login_sets_a_device_cookie_for_the_login_route_only(site: Site) -> None:
    await site.sign_up("Alice")
    resp = await site.log_in(site.owner.session, OWNER_ADDRESS, "Alice")
    assert resp.status == 201
    header = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(DEVICE_COOKIE))
    attributes = {a.strip().split("=")[0].lower(): a for a in header.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes.keys()
    assert "secure" not in attributes  # plain http
    assert attributes["samesite"].strip() == "SameSite=Lax"
    assert attributes["path"].strip() == "Path=/api/sessions"
    assert attributes["max-age"].strip() == f"Max-Age={365 * 86400}"
    # Over https (as a proxy says), Secure.
    resp = await site.log_in(site.stranger, OWNER_ADDRESS, headers={"X-Forwarded-Proto": "https"})
    header = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(DEVICE_COOKIE))
    assert "secure" in header.lower()
    # Not sent anywhere else: it is of no use but to log in.
    assert "golive_device" not in str(
        site.owner.session.cookie_jar.filter_cookies(site.server.make_url("/api/me"))
    )


async def test_the_owner_logs_in_while_guessers_at_ten_addresses_are_stopped(site: Site) -> None:
    await site.sign_up("alice")
    await site.sign_up("bob")
    assert (await site.log_in(site.owner.session, OWNER_ADDRESS)).status == 201
    owner_device = device_cookie(site)
    statuses: list[int] = []
    locked, stop = asyncio.Event(), asyncio.Event()

    async def guess() -> None:
        i = 0
        while not stop.is_set():  # each request completes: no connection is left half-used
            i += 1
            resp = await site.log_in(site.stranger, f"198.51.100.{i % 10}", password=f"guess-{i}")
            statuses.append(resp.status)
            if resp.status == 429:
                locked.set()
                await asyncio.sleep(0.005)  # still at it, at a pace the test can share

    attacker = asyncio.create_task(guess())
    try:
        await asyncio.wait_for(locked.wait(), 30)
        # The account is locked for untrusted clients: the right password from a new
        # browser, or from a bearer-token script, is refused...
        resp = await site.log_in(site.stranger, "192.0.2.77")
        assert resp.status == 429 and 0 < int(resp.headers["Retry-After"]) <= 300
        # ...and so is any device cookie that was not issued for alice, as it is.
        bob_device = await bob_login_device(site)
        tampered = owner_device[:-1] + ("A" if owner_device[-1] != "A" else "B")
        for forged in (tampered, bob_device, owner_device + "A", "x." + owner_device):
            resp = await site.log_in(
                site.stranger, OWNER_ADDRESS, headers={"Cookie": f"{DEVICE_COOKIE}={forged}"}
            )
            assert resp.status == 429, forged
        # The owner's browser logs in, again and again, while the guessing goes on.
        for _ in range(5):
            started = time.monotonic()
            resp = await site.log_in(site.owner.session, OWNER_ADDRESS)
            assert resp.status == 201, await resp.text()
            assert time.monotonic() - started < 5.0
            await asyncio.sleep(0.05)
        # The owner's cookie works from another address as well (a phone on the move).
        assert (await site.log_in(site.owner.session, "192.0.2.78")).status == 201
    finally:
        stop.set()
        await asyncio.wait_for(attacker, 30)
    # Guessing was stopped: at most 100 wrong passwords for the account in its window.
    assert statuses.count(401) == 100
    assert statuses.count(429) >= 1


async def bob_login_device(site: Site) -> str:
    """A device cookie issued for bob, sent under alice's cookie name it must not pass for."""
    async with site.stranger.post(
        site.server.make_url("/api/sessions"),
        json={"username": "bob", "password": PASSWORD},
        headers={"X-Forwarded-For": "192.0.2.99"},
    ) as resp:
        assert resp.status == 201
        header = next(h for h in resp.headers.getall("Set-Cookie") if "golive_device_bob" in h)
    return header.split(";")[0].split("=", 1)[1]


async def test_a_noisy_neighbour_behind_a_nat_holds_others_off_only_briefly(
    tmp_path: Path,
) -> None:
    # The address window shortened from 60 s so the test waits it out; the rest as served.
    async for site in open_site(tmp_path, LoginThrottle(address_window=2.0)):
        nat = "192.0.2.1"
        await site.sign_up("alice")
        await site.sign_up("dave")
        assert (await site.log_in(site.owner.session, nat)).status == 201  # alice's browser
        for i in range(30):  # one client behind the NAT tries 30 accounts
            resp = await site.log_in(site.stranger, nat, f"user{i}", "whatever1")
            assert resp.status == 401
        resp = await site.log_in(site.stranger, nat, "dave")
        assert resp.status == 429
        retry = int(resp.headers["Retry-After"])
        assert retry <= 2
        # A neighbour whose browser logged in before is not held off at all...
        assert (await site.log_in(site.owner.session, nat)).status == 201
        # ...and a new one only for the address window.
        await asyncio.sleep(retry + 0.1)
        assert (await site.log_in(site.stranger, nat, "dave")).status == 201
