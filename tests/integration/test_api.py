"""The JSON API and the nginx-rtmp callbacks through aiohttp's test client, on real SQLite
accounts and argon2 (at a low cost), memory rooms and a stream hub."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.accounts.domain import RoomDescription, UnknownStreamKey, User
from golive.accounts.services import Accounts, LiveRooms
from golive.accounts.throttle import LoginThrottle
from golive.api.nginx_callbacks import NGINX_NODE
from golive.hub import StreamHub
from tests.harness.api import PASSWORD, RTMP_PORT, SESSION_TTL, open_api

# nginx-rtmp's notify module sends these beside the publish URL's query arguments.
NGINX_FIELDS = {
    "call": "publish", "app": "live", "addr": "203.0.113.7", "clientid": "9",
    "flashver": "FMLE/3.0", "swfurl": "", "tcurl": "rtmp://nginx/live", "pageurl": "",
    "type": "live",
}  # fmt: skip


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    accounts: Accounts
    rooms: LiveRooms
    hub: StreamHub

    async def sign_up(self, username: str = "Alice", email: str | None = None) -> dict[str, Any]:
        email = email or f"{username.lower()}@example.com"
        resp = await self.client.post(
            "/api/users", json={"username": username, "email": email, "password": PASSWORD}
        )
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    async def log_in(self, username: str = "Alice", *, keep_cookies: bool = True) -> dict[str, Any]:
        resp = await self.client.post(
            "/api/sessions", json={"username": username, "password": PASSWORD}
        )
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        if not keep_cookies:
            self.client.session.cookie_jar.clear()
        return body

    async def user(self, username: str = "Alice") -> User:
        user = await self.accounts.users.by_name(username.lower())
        assert user is not None
        return user


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app, accounts, rooms, hub, close = await open_api(tmp_path, LoginThrottle(limit=5, window=60.0))
    try:
        async with TestClient(TestServer(app)) as client:
            yield Api(client, accounts, rooms, hub)
    finally:
        await close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    """The error object of a JSON error response with ``status``."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "field"}
    error: dict[str, Any] = body["error"]
    return error


def set_cookies(resp: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, as sent (RFC 6265, 4.1)."""
    return {h.split("=", 1)[0]: h for h in resp.headers.getall("Set-Cookie", [])}


# -- accounts and sessions ----------------------------------------------------------------


async def test_sign_up_log_in_stream_key_and_log_out_with_a_bearer_token(api: Api) -> None:
    user = await api.sign_up("Alice")
    assert set(user) == {"id", "username", "email", "created_at", "title"}
    assert user["username"] == "Alice"
    assert user["email"] == "alice@example.com"
    assert user["created_at"].endswith("Z")

    session = await api.log_in("alice", keep_cookies=False)  # any case logs in
    assert set(session) == {"token", "csrf_token", "user"}
    assert session["user"] == user
    token = session["token"]

    resp = await api.client.get("/api/me", headers=bearer(token))
    assert resp.status == 200
    assert await resp.json() == user
    assert resp.headers["Cache-Control"] == "no-store"

    resp = await api.client.get("/api/me/stream-key", headers=bearer(token))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    shown = await resp.json()
    old_key = (await api.user()).stream_key
    assert shown == {
        "stream_key": old_key,
        "rtmp_url": f"rtmp://127.0.0.1:{RTMP_PORT}/live",
        "rtmps_url": None,
    }
    assert (await api.rooms.authorize_publish(old_key)).id == user["id"]

    # Bearer requests are exempt from CSRF: no browser sends the header on its own.
    resp = await api.client.post("/api/me/stream-key", headers=bearer(token))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    new_key = (await resp.json())["stream_key"]
    assert new_key != old_key
    assert new_key == (await api.user()).stream_key
    with pytest.raises(UnknownStreamKey):
        await api.rooms.authorize_publish(old_key)
    assert (await api.rooms.authorize_publish(new_key)).id == user["id"]

    resp = await api.client.patch("/api/me", json={"title": "  Speedrun  "}, headers=bearer(token))
    assert resp.status == 200
    assert (await resp.json())["title"] == "Speedrun"
    assert (await api.user()).title == "Speedrun"

    resp = await api.client.delete("/api/sessions/current", headers=bearer(token))
    assert resp.status == 204
    assert "Set-Cookie" not in resp.headers  # a bearer logout leaves any browser session alone
    resp = await api.client.get("/api/me", headers=bearer(token))
    assert (await error_of(resp, 401))["code"] == "not_authenticated"


async def test_login_sets_the_session_and_csrf_cookies(api: Api) -> None:
    await api.sign_up()
    resp = await api.client.post("/api/sessions", json={"username": "Alice", "password": PASSWORD})
    assert resp.status == 201
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    cookies = set_cookies(resp)
    session, csrf = cookies["golive_session"], cookies["golive_csrf"]
    max_age = f"Max-Age={int(SESSION_TTL.total_seconds())}"
    assert session.startswith(f"golive_session={body['token']};")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", max_age):
        assert attribute in session
    assert "Secure" not in session
    assert csrf.startswith(f"golive_csrf={body['csrf_token']};")
    for attribute in ("SameSite=Strict", "Path=/", max_age):
        assert attribute in csrf
    assert "HttpOnly" not in csrf  # the page's scripts must read it to echo it
    assert body["csrf_token"] != body["token"]


@pytest.mark.parametrize(
    "headers", [{"X-Forwarded-Proto": "https"}, {"Forwarded": 'for="[::1]";proto=https'}]
)
async def test_cookies_are_secure_behind_an_https_proxy(api: Api, headers: dict[str, str]) -> None:
    await api.sign_up()
    resp = await api.client.post(
        "/api/sessions", json={"username": "Alice", "password": PASSWORD}, headers=headers
    )
    assert resp.status == 201
    for cookie in set_cookies(resp).values():
        assert "Secure" in cookie


async def test_cookie_sessions_need_the_csrf_header_to_change_state(api: Api) -> None:
    await api.sign_up()
    session = await api.log_in()  # the test client's jar keeps the cookies from here on
    csrf = {"X-CSRF-Token": session["csrf_token"]}

    resp = await api.client.get("/api/me")  # reading needs no CSRF token
    assert resp.status == 200

    key_before = (await api.user()).stream_key
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": "é" * 3}):
        resp = await api.client.patch("/api/me", json={"title": "x"}, headers=headers)
        assert (await error_of(resp, 403))["code"] == "csrf"
        resp = await api.client.post("/api/me/stream-key", headers=headers)
        assert (await error_of(resp, 403))["code"] == "csrf"
        resp = await api.client.delete("/api/sessions/current", headers=headers)
        assert (await error_of(resp, 403))["code"] == "csrf"
    assert (await api.user()).stream_key == key_before
    assert (await api.user()).title == ""

    resp = await api.client.patch("/api/me", json={"title": "Live now"}, headers=csrf)
    assert resp.status == 200
    resp = await api.client.post("/api/me/stream-key", headers=csrf)
    assert resp.status == 200
    assert (await resp.json())["stream_key"] != key_before

    resp = await api.client.delete("/api/sessions/current", headers=csrf)
    assert resp.status == 204
    cleared = set_cookies(resp)
    assert set(cleared) == {"golive_session", "golive_csrf"}
    for cookie in cleared.values():
        assert "Max-Age=0" in cookie
        assert "Path=/" in cookie
    resp = await api.client.get("/api/me", headers=bearer(session["token"]))
    assert resp.status == 401  # revoked, not only forgotten by the browser


async def test_a_csrf_cookie_that_this_server_did_not_make_does_not_count(api: Api) -> None:
    # Double submit alone would accept any equal pair, a planted "x" among them.
    await api.sign_up()
    await api.log_in()
    api.client.session.cookie_jar.update_cookies({"golive_csrf": "x"})
    resp = await api.client.post("/api/me/stream-key", headers={"X-CSRF-Token": "x"})
    assert (await error_of(resp, 403))["code"] == "csrf"


async def test_a_basic_authorization_header_does_not_hide_the_session_cookie(api: Api) -> None:
    await api.sign_up()
    await api.log_in()
    resp = await api.client.get("/api/me", headers={"Authorization": "Basic c3RhZ2U6aW5n"})
    assert resp.status == 200


async def test_a_csrf_cookie_without_a_session_is_not_authentication(api: Api) -> None:
    api.client.session.cookie_jar.update_cookies({"golive_csrf": "abc"})
    resp = await api.client.post("/api/me/stream-key", headers={"X-CSRF-Token": "abc"})
    assert (await error_of(resp, 401))["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        {"Authorization": "Bearer " + "A" * 43},
        {"Authorization": "Bearer not/a/token"},
        {"Cookie": "golive_session=" + "A" * 43},
        {"Cookie": "golive_session=%ED%A0%80"},
    ],
)
async def test_without_a_valid_session_it_is_401(api: Api, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/api/me"), ("GET", "/api/me/stream-key")]:
        resp = await api.client.request(method, path, headers=headers)
        assert (await error_of(resp, 401))["code"] == "not_authenticated"


async def test_wrong_credentials_are_401(api: Api) -> None:
    await api.sign_up()
    for username, password in [("Alice", "wrong password"), ("nobody", PASSWORD)]:
        resp = await api.client.post(
            "/api/sessions", json={"username": username, "password": password}
        )
        assert (await error_of(resp, 401))["code"] == "wrong_credentials"
        assert not set_cookies(resp)


async def test_repeated_failed_logins_are_rate_limited(api: Api) -> None:
    await api.sign_up()
    for _ in range(5):
        resp = await api.client.post(
            "/api/sessions", json={"username": "Alice", "password": "wrong password"}
        )
        assert resp.status == 401
    # Now even the right password is refused until the window passes.
    resp = await api.client.post("/api/sessions", json={"username": "Alice", "password": PASSWORD})
    assert (await error_of(resp, 429))["code"] == "rate_limited"
    retry_after = resp.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60


async def test_duplicate_usernames_and_emails_are_409_whatever_their_case(api: Api) -> None:
    await api.sign_up("Alice", "alice@example.com")
    cases = [
        ({"username": "ALICE", "email": "other@example.com"}, "username_taken"),
        ({"username": "Bob", "email": "Alice@Example.COM"}, "email_taken"),
    ]
    for fields, code in cases:
        resp = await api.client.post("/api/users", json={**fields, "password": PASSWORD})
        assert (await error_of(resp, 409))["code"] == code


# -- malformed input ----------------------------------------------------------------------

GOOD_SIGN_UP = {"username": "Carol", "email": "carol@example.com", "password": PASSWORD}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/users", {}, "username"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "username": 5}, "username"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "username": None}, "username"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "username": "a b"}, "username"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "username": "admin"}, "username"),
        ("POST", "/api/users", {"username": "Carol", "password": PASSWORD}, "email"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "email": "carol"}, "email"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "email": ["a@b.c"]}, "email"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "password": "short"}, "password"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "password": "x" * 1025}, "password"),
        ("POST", "/api/users", {**GOOD_SIGN_UP, "password": {"a": 1}}, "password"),
        ("POST", "/api/sessions", {"password": PASSWORD}, "username"),
        ("POST", "/api/sessions", {"username": "Carol"}, "password"),
        ("POST", "/api/sessions", {"username": "Carol", "password": ""}, "password"),
        ("POST", "/api/sessions", {"username": "Carol", "password": 12345678}, "password"),
        ("PATCH", "/api/me", {}, "title"),
        ("PATCH", "/api/me", {"title": 1}, "title"),
        ("PATCH", "/api/me", {"title": "x" * 141}, "title"),
        ("PATCH", "/api/me", {"title": "line\nbreak"}, "title"),
        # Bidirectional controls and zero-width characters make a title read as another.
        *(
            ("PATCH", "/api/me", {"title": f"live{c}now"}, "title")
            for c in "\u202a\u202e\u2066\u2069\u200b\u2060\ufeff"
        ),
        ("PATCH", "/api/me", {"title": "live now\u200d"}, "title"),  # a joiner joining nothing
    ],
)
async def test_each_bad_field_is_a_400_that_names_it(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    await api.sign_up("Dave")
    token = (await api.log_in("Dave", keep_cookies=False))["token"]
    resp = await api.client.request(method, path, json=body, headers=bearer(token))
    error = await error_of(resp, 400)
    assert error["code"] == "invalid_input"
    assert error["field"] == field


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"{'a': 1}", b"[1, 2]", b'"text"', b"null", b"NaN", b'{"a": Infinity}',
     b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"[" * 30_000 + b"]" * 30_000],
)  # fmt: skip
async def test_a_body_that_is_not_a_json_object_is_a_400(api: Api, raw: bytes) -> None:
    resp = await api.client.post(
        "/api/users", data=raw, headers={"Content-Type": "application/json"}
    )
    error = await error_of(resp, 400)
    assert error["field"] == "body"


async def test_a_body_that_cannot_be_decoded_is_a_400(api: Api) -> None:
    resp = await api.client.post(
        "/api/users",
        data=b"not gzip at all",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await error_of(resp, 400))["field"] == "body"


async def test_lone_surrogates_are_refused_by_field(api: Api) -> None:
    # Valid JSON, yet no UTF-8 encoder takes it: it must not reach argon2 or SQLite.
    raw = b'{"username": "Erin", "email": "erin@example.com", "password": "\\ud800abcdefgh"}'
    resp = await api.client.post(
        "/api/users", data=raw, headers={"Content-Type": "application/json"}
    )
    assert (await error_of(resp, 400))["field"] == "password"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_a_json_endpoint_refuses_other_media_types(
    api: Api, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = await api.client.post(
        "/api/users", data=json.dumps(GOOD_SIGN_UP).encode(), headers=headers
    )
    assert (await error_of(resp, 415))["code"] == "unsupported_media_type"
    assert await api.accounts.users.by_name("carol") is None


async def test_bodies_are_bounded_with_or_without_content_length(api: Api) -> None:
    big = json.dumps({**GOOD_SIGN_UP, "padding": "x" * 70_000}).encode()
    resp = await api.client.post(
        "/api/users", data=big, headers={"Content-Type": "application/json"}
    )
    assert (await error_of(resp, 413))["code"] == "payload_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    resp = await api.client.post(
        "/api/users", data=chunked(), headers={"Content-Type": "application/json"}
    )
    assert (await error_of(resp, 413))["code"] == "payload_too_large"
    assert await api.accounts.users.by_name("carol") is None


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    for path in ("/api/nothing", "/api", "/api/rooms/a/b", "/api/me/"):
        resp = await api.client.get(path)
        assert (await error_of(resp, 404))["code"] == "not_found"
    resp = await api.client.delete("/api/rooms")
    assert (await error_of(resp, 405))["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]
    resp = await api.client.put("/api/me", json={})
    assert (await error_of(resp, 405))["code"] == "method_not_allowed"
    resp = await api.client.get("/rooms/create")
    assert (await error_of(resp, 405))["code"] == "method_not_allowed"
    resp = await api.client.post("/rooms/nothing")  # the nginx-rtmp callbacks' own 404
    assert (await error_of(resp, 404))["code"] == "not_found"


async def test_no_cors_headers_on_the_api(api: Api) -> None:
    origin = {"Origin": "https://evil.example"}
    for resp in [
        await api.client.get("/api/rooms", headers=origin),
        await api.client.options(
            "/api/users", headers={**origin, "Access-Control-Request-Method": "POST"}
        ),
    ]:
        assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


async def test_an_unexpected_error_is_a_logged_json_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> list[Any]:
        raise RuntimeError("the registry fell over")

    monkeypatch.setattr(api.rooms, "all", broken)
    resp = await api.client.get("/api/rooms")
    error = await error_of(resp, 500)
    assert error == {"code": "internal", "message": "an unexpected error occurred"}
    logged = [r for r in caplog.records if r.name == "golive.api" and r.exc_info]
    assert logged and "GET /api/rooms" in logged[0].getMessage()


async def test_health_and_the_openapi_document(api: Api) -> None:
    resp = await api.client.get("/api/health")
    assert await resp.json() == {"status": "ok", "live_streams": 0}
    resp = await api.client.get("/api/openapi.json")
    assert resp.status == 200
    assert (await resp.json())["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    ("host", "rtmp_host"),
    [("example.com", "example.com"), ("Example.com:8443", "Example.com"),
     ("[::1]:8080", "[::1]"), ("golive_web:80", "golive_web"), ("10.0.0.2", "10.0.0.2")],
)  # fmt: skip
async def test_the_rtmp_url_uses_the_request_host_without_its_port(
    api: Api, host: str, rtmp_host: str
) -> None:
    await api.sign_up()
    token = (await api.log_in(keep_cookies=False))["token"]
    resp = await api.client.get("/api/me/stream-key", headers={**bearer(token), "Host": host})
    assert (await resp.json())["rtmp_url"] == f"rtmp://{rtmp_host}:{RTMP_PORT}/live"


async def test_a_host_that_names_no_host_is_refused_before_the_key_changes(api: Api) -> None:
    await api.sign_up()
    token = (await api.log_in(keep_cookies=False))["token"]
    key = (await api.user()).stream_key
    resp = await api.client.post("/api/me/stream-key", headers={**bearer(token), "Host": "a/b@c"})
    assert (await error_of(resp, 400))["field"] == "Host"
    assert (await api.user()).stream_key == key


# -- rooms --------------------------------------------------------------------------------


async def test_rooms_list_and_get(api: Api) -> None:
    resp = await api.client.get("/api/rooms")
    assert await resp.json() == {"rooms": []}

    await api.sign_up("Alice")
    alice = await api.user("Alice")
    room = await api.rooms.go_live(alice)
    await api.rooms.describe(
        room.name,
        room.publish_id,
        RoomDescription(("avc1.64001f", "mp4a.40.2"), ("source", "360p"), 1280, 720),
    )

    resp = await api.client.get("/api/rooms")
    rooms = (await resp.json())["rooms"]
    assert len(rooms) == 1
    shown = rooms[0]
    assert shown == {
        "name": "alice",
        "streamer": "Alice",
        "title": "",
        "started_at": shown["started_at"],
        "codecs": ["avc1.64001f", "mp4a.40.2"],
        "renditions": ["source", "360p"],
        "width": 1280,
        "height": 720,
        "hls_url": "/hls/alice/index.m3u8",
        "preview_url": "/api/rooms/alice/preview.jpg",
        # No live figures in this application (golive.live_figures gives them): none to show.
        "viewers": 0,
        "bitrate": None,
    }
    assert shown["started_at"].endswith("Z")

    for name in ("alice", "ALICE"):
        resp = await api.client.get(f"/api/rooms/{name}")
        assert await resp.json() == shown
    for name in ("bob", "%ED%A0%80", "a" * 300, "..", "%00"):
        resp = await api.client.get(f"/api/rooms/{name}")
        assert (await error_of(resp, 404))["code"] == "not_found"

    await api.rooms.end_live(room.name, room.publish_id)
    resp = await api.client.get("/api/rooms/alice")
    assert resp.status == 404


# -- nginx-rtmp callbacks -----------------------------------------------------------------


async def nginx(api: Api, endpoint: str, **fields: str) -> Any:
    return await api.client.post(f"/rooms/{endpoint}", data={**NGINX_FIELDS, **fields})


async def test_nginx_rtmp_create_and_delete(api: Api) -> None:
    await api.sign_up("Alice")
    key = (await api.user()).stream_key

    resp = await nginx(api, "create", name="ALICE", key=key)  # the name in any case
    assert resp.status == 200
    assert await resp.text() == "OK"
    room = await api.rooms.get("alice")
    assert room.node == NGINX_NODE
    assert room.streamer == "Alice"
    resp = await api.client.get("/api/rooms")
    assert [r["name"] for r in (await resp.json())["rooms"]] == ["alice"]

    resp = await nginx(api, "create", name="alice", key=key)
    assert (await error_of(resp, 409))["code"] == "room_already_live"

    resp = await nginx(api, "delete", name="alice", key=key, call="publish_done")
    assert resp.status == 200
    assert await resp.text() == "OK"
    assert await api.rooms.all() == []
    resp = await nginx(api, "delete", name="alice", key=key)  # not live: still fine
    assert resp.status == 200


async def test_nginx_rtmp_refuses_wrong_keys_and_names(api: Api) -> None:
    await api.sign_up("Alice")
    await api.sign_up("Bob")
    alice_key = (await api.user("Alice")).stream_key
    for endpoint, fields in [
        ("create", {"name": "alice", "key": "live_wrong"}),
        ("create", {"name": "alice", "key": alice_key[:-1]}),
        ("create", {"name": "alice"}),
        ("create", {"name": "bob", "key": alice_key}),  # a valid key for another name
        ("delete", {"name": "alice", "key": "live_wrong"}),
        ("delete", {"name": "alice", "key": ""}),
    ]:
        resp = await nginx(api, endpoint, **fields)
        assert (await error_of(resp, 401))["code"] == "unknown_stream_key"
    assert await api.rooms.all() == []

    resp = await api.client.post("/rooms/create", data={"key": alice_key})
    assert (await error_of(resp, 400))["field"] == "name"
    resp = await api.client.post("/rooms/create", json={"name": "alice", "key": alice_key})
    assert resp.status == 415
    resp = await api.client.post(
        "/rooms/create", data=b"name=%FF&key=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert (await error_of(resp, 400))["field"] == "body"


async def test_nginx_rtmp_does_not_touch_rooms_of_this_nodes_own_ingest(api: Api) -> None:
    await api.sign_up("Alice")
    alice = await api.user()
    room = await api.rooms.go_live(alice)  # live through golive's own RTMP listener

    resp = await nginx(api, "create", name="alice", key=alice.stream_key)
    assert (await error_of(resp, 409))["code"] == "room_already_live"
    resp = await nginx(api, "delete", name="alice", key=alice.stream_key)
    assert resp.status == 200
    assert (await api.rooms.get("alice")).publish_id == room.publish_id


async def test_nginx_rtmp_rooms_live_on_updates_and_expire_without_them(tmp_path: Path) -> None:
    app, accounts, rooms, _hub, close = await open_api(tmp_path, room_ttl=0.2)
    try:
        async with TestClient(TestServer(app)) as client:
            user = await accounts.sign_up("Alice", "alice@example.com", PASSWORD)
            fields = {**NGINX_FIELDS, "name": "alice", "key": user.stream_key}
            resp = await client.post("/rooms/create", data=fields)
            assert resp.status == 200
            # nginx's on_update is the heartbeat: three room TTLs (0.6 s) pass, the room stays.
            for _ in range(4):
                await asyncio.sleep(0.3)
                resp = await client.post("/rooms/update", data={**fields, "call": "update_publish"})
                assert resp.status == 200
            assert (await rooms.get("alice")).node == NGINX_NODE
            resp = await client.post("/rooms/update", data={**fields, "key": "live_wrong"})
            assert resp.status == 401
            # An nginx that died sends no more updates: its room expires.
            await asyncio.sleep(0.8)
            assert await rooms.all() == []
            # An update after expiry while nginx still streams puts the room back.
            resp = await client.post("/rooms/update", data=fields)
            assert resp.status == 200
            assert (await rooms.get("alice")).node == NGINX_NODE
            # Live on another node: nginx is told to drop its publisher.
            room = await rooms.get("alice")
            await rooms.registry.remove("alice", room.publish_id)
            await rooms.go_live(user)
            resp = await client.post("/rooms/update", data=fields)
            assert resp.status == 409
    finally:
        await close()


# -- secrets ------------------------------------------------------------------------------


async def test_no_body_or_log_line_carries_the_password_or_the_stream_key(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything golive and aiohttp (the access log included) say, at every level. Not the
    # root logger at DEBUG: aiosqlite's own DEBUG lines echo every SQL parameter, the stored
    # stream key among them, so a deployment must never run that logger at DEBUG.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="golive")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    bodies: list[str] = []

    async def call(method: str, path: str, **kw: Any) -> Any:
        resp = await api.client.request(method, path, **kw)
        bodies.append(f"{method} {path} {resp.status} {dict(resp.headers)} {await resp.text()}")
        return resp

    user = {"username": "Alice", "email": "alice@example.com", "password": PASSWORD}
    await call("POST", "/api/users", json=user)
    await call("POST", "/api/users", json=user)  # 409
    await call("POST", "/api/users", json={**user, "username": "admin"})  # 400
    await call("POST", "/api/sessions", json={"username": "Alice", "password": PASSWORD + "x"})
    await call("POST", "/api/sessions", json={"username": "nobody", "password": PASSWORD})
    resp = await call("POST", "/api/sessions", json={"username": "Alice", "password": PASSWORD})
    session = await resp.json()
    api.client.session.cookie_jar.clear()
    token = session["token"]
    await call("GET", "/api/me", headers=bearer(token))
    await call("PATCH", "/api/me", json={"title": "hi"}, headers=bearer(token))
    keys = [(await api.user()).stream_key]
    resp = await api.client.post("/api/me/stream-key", headers=bearer(token))  # shows the key
    keys.append((await resp.json())["stream_key"])
    for key in keys:
        await call("POST", "/rooms/create", data={**NGINX_FIELDS, "name": "alice", "key": key})
        await call("POST", "/rooms/create", data={**NGINX_FIELDS, "name": "bob", "key": key})
        await call("GET", "/api/rooms")
        await call("GET", "/api/rooms/alice")
        await call("POST", "/rooms/delete", data={**NGINX_FIELDS, "name": "alice", "key": key})
    await call("DELETE", "/api/sessions/current", headers=bearer(token))

    assert any(r.name == "golive.accounts" for r in caplog.records)  # the logs were seen
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    for secret in (PASSWORD, *keys):
        for text in bodies + logged:
            assert secret not in text
