"""golive's JSON API: the application as bootstrap wires it, in the test's process, and a
streamer's first steps against a `golive serve` over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from golive.accounts.services import Accounts, LiveRooms
from golive.accounts.throttle import LoginThrottle
from golive.adapters.argon2 import Argon2Hasher
from golive.adapters.hub import HubPublishes
from golive.adapters.memory import MemoryRooms
from golive.adapters.sqlite import open_sqlite
from golive.api.routes import setup_api
from golive.hub import StreamHub

PASSWORD = "correct horse battery staple"
RTMP_PORT = 1936
SESSION_TTL = timedelta(days=7)


async def open_api(
    tmp_path: Path, throttle: LoginThrottle | None = None, room_ttl: float = 30.0
) -> tuple[web.Application, Accounts, LiveRooms, StreamHub, Callable[[], Awaitable[None]]]:
    """The application as bootstrap wires it, on a SQLite file under ``tmp_path``."""
    store = await open_sqlite(tmp_path / "golive.db")
    # The lowest argon2 cost: these tests are about HTTP, not about hashing strength.
    hasher = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
    accounts = Accounts(store.users, store.sessions, hasher, session_ttl=SESSION_TTL,
                        throttle=throttle)  # fmt: skip
    hub = StreamHub(takeover_after=5.0)
    rooms = LiveRooms(store.users, MemoryRooms(), HubPublishes(hub), node="test-node", ttl=room_ttl)
    app = web.Application()
    setup_api(app, hub, accounts, rooms, rtmp_port=RTMP_PORT, nginx_callbacks=True)
    return app, accounts, rooms, hub, store.close


async def sign_up(http: aiohttp.ClientSession, base: str, username: str) -> dict[str, Any]:
    """Sign up and log in; return the login answer (token) with the stream key added."""
    password = f"pw-{uuid.uuid4().hex}"
    body = {"username": username, "email": f"{username}@example.org", "password": password}
    async with http.post(f"{base}/api/users", json=body) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post(
        f"{base}/api/sessions", json={"username": username, "password": password}
    ) as resp:
        assert resp.status == 201, await resp.text()
        login: dict[str, Any] = await resp.json()
    auth = {"Authorization": f"Bearer {login['token']}"}
    async with http.get(f"{base}/api/me/stream-key", headers=auth) as resp:
        assert resp.status == 200
        login.update(await resp.json())
    login["password"] = password
    return login


async def rooms(http: aiohttp.ClientSession, base: str) -> dict[str, dict[str, Any]]:
    async with http.get(f"{base}/api/rooms") as resp:
        assert resp.status == 200
        return {r["name"]: r for r in (await resp.json())["rooms"]}


@contextlib.asynccontextmanager
async def health_probe(port: int, pause: float = 0.005) -> AsyncIterator[list[float]]:
    """Time ``/api/health`` on 127.0.0.1:``port`` from a thread of its own, one request after
    another with ``pause`` between them, while the block runs: what any client would wait,
    whatever the event loop of the process under test (this one, maybe) is doing. Yields the
    latencies (s)."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/health")
            conn.getresponse().read()
            conn.close()
            latencies.append(time.perf_counter() - started)
            time.sleep(pause)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        # Joined off the loop: the probe's last request may be waiting for a server in it.
        await asyncio.to_thread(thread.join)
