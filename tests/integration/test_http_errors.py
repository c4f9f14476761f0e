"""golive's one error shape over HTTP, ``{"error": {"code", "message", "field"?}}``, from every
sub-application of the application as `golive serve` builds it (the API, the nginx-rtmp
callbacks, HLS): a path it does not have, a method a route does not take, a bug in a handler.
The pages at the root keep aiohttp's plain answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient, TestServer

from golive.accounts.domain import DomainError, InvalidInput, RateLimited
from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.api.nginx_callbacks import NGINX_ROOMS
from golive.bootstrap import PACKAGER, ROOMS, Stores, build_app
from golive.config import Settings
from golive.hls.room import HlsRoom
from golive.http_errors import HttpError, http_error_middleware

Client = TestClient[web.Request, web.Application]
INTERNAL = {"code": "internal", "message": "an unexpected error occurred"}
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Age, Date"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    pages = tmp_path / "dist"
    pages.mkdir()
    (pages / "index.html").write_text("<!doctype html><title>golive</title>")
    settings = Settings(
        host="127.0.0.1",
        rtmp_port=0,
        data_dir=str(tmp_path / "data"),
        web_dir=str(pages),
        nginx_callbacks=True,
    )
    app = build_app(settings, Stores(MemoryUsers(), MemorySessions(), MemoryRooms()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def subapp(client: Client, prefix: str) -> web.Application:
    for resource in client.app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == prefix:
            app: web.Application = info["app"]
            return app
    raise AssertionError(f"no sub-application at {prefix}")


async def error_of(resp: Any, status: int) -> dict[str, str]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert set(error) <= {"code", "message", "field"}
    return error


def assert_cors_and_error_cache_control(resp: Any) -> None:
    """HLS errors carry CORS, and what shared caches may do with them (docs/caching.md): a 404
    is kept a second, anything else never."""
    for name, value in CORS.items():
        assert resp.headers[name] == value
    expected = "max-age=1" if resp.status == 404 else "no-store"
    assert resp.headers[hdrs.CACHE_CONTROL] == expected


# -- a path the sub-application does not have ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "miss"),
    [
        ("GET", "/api/nothing", "no such API endpoint"),
        ("GET", "/api/rooms/a/b", "no such API endpoint"),
        ("POST", "/rooms/nothing", "no such callback"),
        ("GET", "/hls/a/b/c/d", "no such HLS resource"),
        ("GET", "/hls/alice", "no such HLS resource"),
    ],
)
async def test_an_unknown_path_is_a_json_404(
    client: Client, method: str, path: str, miss: str
) -> None:
    resp = await client.request(method, path)
    assert await error_of(resp, 404) == {"code": "not_found", "message": miss}
    if path.startswith("/hls/"):
        assert_cors_and_error_cache_control(resp)
    else:
        assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


# -- a method the route does not take -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/rooms", "GET"),
        ("GET", "/rooms/create", "POST"),
        ("POST", "/hls/alice/index.m3u8", "GET"),
        ("PUT", "/hls/alice/360p/seg-1.m4s", "GET"),
    ],
)
async def test_a_wrong_method_is_a_json_405_with_allow(
    client: Client, method: str, path: str, allowed: str
) -> None:
    resp = await client.request(method, path)
    error = await error_of(resp, 405)
    assert error == {"code": "method_not_allowed", "message": "method not allowed here"}
    assert allowed in resp.headers[hdrs.ALLOW].split(",")
    if path.startswith("/hls/"):
        assert_cors_and_error_cache_control(resp)


# -- a bug in a handler -------------------------------------------------------------------


def broken(*_args: Any) -> Any:
    raise RuntimeError("secret: the store fell over")


class BrokenRooms(dict[str, HlsRoom]):
    def get(self, *_args: Any) -> Any:
        return broken()


async def test_an_unexpected_error_is_a_logged_json_500_that_reveals_nothing(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = client.app
    monkeypatch.setattr(app[ROOMS], "all", broken)
    monkeypatch.setattr(subapp(client, "/rooms")[NGINX_ROOMS], "authorize_publish", broken)
    monkeypatch.setattr(app[PACKAGER], "rooms", BrokenRooms())
    key = {"name": "alice", "key": "live_not-for-the-log"}
    cases = [
        ("GET", "/api/rooms?token=not-for-the-log", None, "golive.api"),
        ("POST", "/rooms/create", key, "golive.api"),
        ("GET", "/hls/alice/index.m3u8?_HLS_msn=1", None, "golive.hls"),
    ]
    for method, url, form, logger in cases:
        caplog.clear()
        resp = await client.request(method, url, data=form)
        assert await error_of(resp, 500) == INTERNAL
        assert "secret" not in await resp.text()
        if url.startswith("/hls/"):
            assert_cors_and_error_cache_control(resp)
        logged = [r for r in caplog.records if r.name == logger and r.exc_info]
        path = url.partition("?")[0]
        assert len(logged) == 1 and f"{method} {path}" in logged[0].getMessage()
        # The path only: never the query or the body, where secrets travel.
        assert "not-for-the-log" not in caplog.text


# -- the pages keep aiohttp's plain answers -------------------------------------------------


async def test_the_pages_keep_their_plain_answers(client: Client) -> None:
    resp = await client.get("/nope.png")
    assert resp.status == 404 and resp.content_type == "text/plain"
    resp = await client.post("/dashboard")
    assert resp.status == 405 and resp.content_type == "text/plain"
    assert "GET" in resp.headers[hdrs.ALLOW]
    assert not client.app.middlewares


# -- the middleware on its own --------------------------------------------------------------


async def middleware_client(routes: web.RouteTableDef) -> AsyncIterator[Client]:
    app = web.Application(
        client_max_size=1024,
        middlewares=[
            http_error_middleware(
                "no such thing",
                logger="golive.test",
                headers={"X-Sub-App": "yes"},
                refusals={InvalidInput: 400, RateLimited: 429, DomainError: 400},
            )
        ],
    )
    app.add_routes(routes)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_the_middleware_answers_refusals_and_aiohttp_errors_and_lets_redirects_by() -> None:
    routes = web.RouteTableDef()

    @routes.get("/moved")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    @routes.get("/busy")
    async def busy(request: web.Request) -> web.Response:
        raise web.HTTPTooManyRequests(headers={hdrs.RETRY_AFTER: "7"})

    @routes.get("/limited")
    async def limited(request: web.Request) -> web.Response:
        raise RateLimited("slow down", retry_after=0.2)

    @routes.get("/invalid")
    async def invalid(request: web.Request) -> web.Response:
        raise InvalidInput("email", "not an address")

    @routes.get("/unmapped")
    async def unmapped(request: web.Request) -> web.Response:
        raise DomainError("refused")

    @routes.get("/csrf")
    async def csrf(request: web.Request) -> web.Response:
        raise HttpError(403, "csrf", "send the token")

    @routes.post("/big")
    async def big(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    async for client in middleware_client(routes):
        resp = await client.get("/moved", allow_redirects=False)
        assert resp.status == 302 and resp.headers[hdrs.LOCATION] == "/elsewhere"
        assert "X-Sub-App" not in resp.headers

        resp = await client.get("/busy")
        assert (await error_of(resp, 429))["code"] == "http_429"
        assert resp.headers[hdrs.RETRY_AFTER] == "7" and resp.headers["X-Sub-App"] == "yes"

        resp = await client.get("/limited")
        assert await error_of(resp, 429) == {"code": "rate_limited", "message": "slow down"}
        assert resp.headers[hdrs.RETRY_AFTER] == "1"  # rounded up, never 0

        resp = await client.get("/invalid")
        assert (await error_of(resp, 400))["field"] == "email"
        resp = await client.get("/unmapped")
        assert (await error_of(resp, 400))["code"] == "error"
        resp = await client.get("/csrf")
        assert (await error_of(resp, 403))["code"] == "csrf"
        assert resp.headers["X-Sub-App"] == "yes"

        resp = await client.post("/big", data=b"x" * 2048)
        assert (await error_of(resp, 413))["code"] == "payload_too_large"
        resp = await client.get("/nothing")
        assert await error_of(resp, 404) == {"code": "not_found", "message": "no such thing"}
