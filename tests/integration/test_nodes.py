"""Several nodes on one room registry, as bootstrap wires each: a room live on another node is
redirected to it by HLS, named at its URLs by the API, and let into the pages' policy; a node's
public URL is checked; nothing a request holds decides where a redirect goes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.accounts.domain import Room, User, new_id, new_stream_key
from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.bootstrap import ROOMS, Stores, build_app, public_url
from golive.config import ConfigError, Settings
from golive.pages import security_headers

Client = TestClient[web.Request, web.Application]
A_URL = "https://node-a.example.org:8443"
T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


class UnreachableRooms(MemoryRooms):
    """A registry that stops answering reads, as a Redis that went away."""

    down = False

    async def get(self, name: str) -> Room | None:
        if self.down:
            raise ConnectionError("registry unreachable")
        return await super().get(name)


@dataclass
class Nodes:
    a: Client
    b: Client
    registry: UnreachableRooms
    users: MemoryUsers


def node_settings(tmp_path: Path, node: str, url: str = "") -> Settings:
    return Settings(
        host="127.0.0.1",
        rtmp_port=0,
        data_dir=str(tmp_path / node),
        web_dir=str(tmp_path / "dist"),
        node=node,
        public_url=url,
    )


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>golive</title>")
    users, registry = MemoryUsers(), UnreachableRooms()
    a = build_app(
        node_settings(tmp_path, "node-a", A_URL), Stores(users, MemorySessions(), registry)
    )
    b = build_app(node_settings(tmp_path, "node-b"), Stores(users, MemorySessions(), registry))
    async with (
        TestClient(TestServer(a, host="127.0.0.1")) as client_a,
        TestClient(TestServer(b, host="127.0.0.1")) as client_b,
    ):
        yield Nodes(client_a, client_b, registry, users)


async def live_on_a(nodes: Nodes, username: str = "alice") -> Room:
    user = User(new_id(), username, f"{username}@example.org", "-", new_stream_key(), T0)
    await nodes.users.add(user)
    return await nodes.a.app[ROOMS].go_live(user)


async def test_hls_of_a_room_on_another_node_redirects_there(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    room = await live_on_a(nodes)
    assert room.node_url == A_URL
    for path in (
        "/hls/alice/index.m3u8",
        "/hls/alice/720p/index.m3u8?_HLS_msn=12&_HLS_part=2&_HLS_skip=YES",
        "/hls/alice/source/part-40.m4s",
        "/hls/alice/status.json",
    ):
        # A Host or a forwarded host of the client's choosing changes nothing.
        headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        resp = await nodes.b.get(path, allow_redirects=False, headers=headers)
        assert resp.status == 307, path
        assert resp.headers["Location"] == A_URL + path
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    # A does not send its own room anywhere (it is not packaged there in this test: its 404).
    resp = await nodes.a.get("/hls/alice/index.m3u8", allow_redirects=False)
    assert resp.status == 404
    # Rooms live nowhere, names no room can have, paths HLS does not have: B's own 404.
    for path in ("/hls/bob/index.m3u8", "/hls/ALICE/index.m3u8", "/hls/a%2Fb/index.m3u8"):
        resp = await nodes.b.get(path, allow_redirects=False)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await nodes.b.get("/hls/alice/source/a/b", allow_redirects=False)
    assert resp.status == 404
    # The registry unreachable: the 404 stands, and the log says why.
    nodes.registry.down = True
    with caplog.at_level(logging.WARNING, logger="golive.hls"):
        resp = await nodes.b.get("/hls/alice/index.m3u8", allow_redirects=False)
    assert resp.status == 404
    assert "cannot look up where room alice is served" in caplog.text


async def test_a_room_of_a_node_without_a_url_is_not_redirected(nodes: Nodes) -> None:
    user = User(new_id(), "carol", "carol@example.org", "-", new_stream_key(), T0)
    await nodes.users.add(user)
    # An ingest in front (nginx-rtmp) puts rooms that golive does not package.
    await (
        nodes.a.app[ROOMS]
        .for_node("nginx-rtmp", ttl=90)
        .outside_publish_start(user.stream_key, "carol")
    )
    resp = await nodes.b.get("/hls/carol/index.m3u8", allow_redirects=False)
    assert resp.status == 404
    listed = (await (await nodes.b.get("/api/rooms/carol")).json())["hls_url"]
    assert listed == "/hls/carol/index.m3u8"


async def test_the_api_and_the_pages_of_b_point_at_a(nodes: Nodes) -> None:
    await live_on_a(nodes)
    on_b = (await (await nodes.b.get("/api/rooms")).json())["rooms"]
    assert [(r["hls_url"], r["preview_url"]) for r in on_b] == [
        (f"{A_URL}/hls/alice/index.m3u8", f"{A_URL}/api/rooms/alice/preview.jpg")
    ]
    on_a = await (await nodes.a.get("/api/rooms/alice")).json()
    assert on_a["hls_url"] == "/hls/alice/index.m3u8"
    # B has listed A's room: its pages may load A's media (and only media: no script).
    policy = (await nodes.b.get("/alice")).headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for name in ("connect-src", "media-src", "img-src"):
        assert A_URL in directives[name].split(), name
    assert A_URL not in directives["default-src"]
    assert "script-src" not in directives
    # A's own pages need nothing more than their own origin.
    policy = (await nodes.a.get("/alice")).headers["Content-Security-Policy"]
    assert "http" not in policy


def test_the_pages_policy_takes_only_origins_from_node_urls() -> None:
    policy = security_headers(
        [
            "https://Node-B.example.org/some/prefix",
            "http://[::1]:8080",
            "https://x.example; script-src *",
            "javascript:alert(1)",
            "https://bad host.example",
            "http://[::1",
            "",
        ]
    )["Content-Security-Policy"]
    assert "connect-src 'self' http://[::1]:8080 https://node-b.example.org;" in policy
    assert "script-src" not in policy and "javascript" not in policy and "bad" not in policy


@pytest.mark.parametrize(
    ("host", "port", "url", "expected"),
    [
        ("127.0.0.1", 8081, "", "http://127.0.0.1:8081"),
        ("::1", 8080, "", "http://[::1]:8080"),
        ("0.0.0.0", 8080, "https://live.example.org/", "https://live.example.org"),
        ("0.0.0.0", 8080, "http://10.0.0.5:8080/node-a", "http://10.0.0.5:8080/node-a"),
    ],
)
def test_public_url_defaults_to_the_listener_and_takes_the_setting(
    host: str, port: int, url: str, expected: str
) -> None:
    assert public_url(Settings(host=host, http_port=port, public_url=url)) == expected


@pytest.mark.parametrize(
    "url",
    [
        "live.example.org",
        "ftp://live.example.org",
        "https://",
        "https://user:pw@live.example.org",
        "https://live.example.org/?a=b",
        "https://live.example.org/#x",
        "https://live.example.org:port",
        "https://live example.org",
    ],
)
def test_a_public_url_that_cannot_be_used_stops_the_start(url: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        public_url(Settings(public_url=url))
