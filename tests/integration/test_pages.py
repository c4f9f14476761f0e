"""The web side of golive through real sockets: the pages (SPA fallback, caching, the message
when they are not built), viewer counts from playlist requests, bitrates and previews of a
real stream published with the ffmpeg command-line tool."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.bootstrap import RTMP, Stores, build_app
from golive.config import Settings
from golive.hub import StreamHub
from golive.media import Codec, Sample, TrackConfig
from golive.previews import PreviewError, Previews, keyframe_to_jpeg
from golive.viewers import Audience
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample, stream_sample

Client = TestClient[web.Request, web.Application]
INDEX = "<!doctype html><title>golive test page</title><div id=app></div>"


def demuxed_keyframes(path: Path, count: int = 2) -> tuple[TrackConfig, list[Sample]]:
    """The video decoder configuration and the first ``count`` keyframes of a file, as
    ingest hands them over (length-prefixed NAL units, times in ms)."""
    codec = {"h264": Codec.H264, "hevc": Codec.H265}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        config = TrackConfig(
            codec[stream.codec_context.name], bytes(stream.codec_context.extradata)
        )
        keyframes: list[Sample] = []
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.size:
                to_ms = float(packet.time_base) * 1000
                dts, pts = round(packet.dts * to_ms), round(packet.pts * to_ms)
                keyframes.append(Sample(config.codec, dts, pts - dts, True, bytes(packet)))
                if len(keyframes) == count:
                    break
    return config, keyframes


def jpeg_size(data: bytes) -> tuple[int, int]:
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9", "a whole JPEG"
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


# -- viewer counting ----------------------------------------------------------------------


def test_audience_counts_distinct_players_within_the_window() -> None:
    now = [100.0]
    audience = Audience(window=30.0, max_per_room=3, clock=lambda: now[0])
    a = audience.player("192.0.2.1", "hls.js")
    b = audience.player("192.0.2.1", "Safari")
    c = audience.player("192.0.2.2", "hls.js")
    assert len({a, b, c}) == 3
    for player in (a, b, a, a):
        audience.seen("alice", player)
    audience.seen("bob", c)
    assert (audience.count("alice"), audience.count("bob"), audience.count("carol")) == (2, 1, 0)
    now[0] += 20
    audience.seen("alice", a)
    now[0] += 15  # b was last seen 35 s ago, a 15 s ago
    assert audience.count("alice") == 1
    assert audience.count("bob") == 0
    # However many players a client makes up, a room keeps at most max_per_room.
    for n in range(10):
        audience.seen("alice", audience.player(f"198.51.100.{n}", "agent"), f"198.51.100.{n}")
    assert audience.count("alice") == 3


def test_one_address_inventing_user_agents_adds_a_few_players_at_most() -> None:
    now = [100.0]
    audience = Audience(window=30.0, max_per_address=4, clock=lambda: now[0])
    for n in range(50):
        address = "198.51.100.7"
        audience.seen("alice", audience.player(address, f"agent {n}"), address)
    audience.seen("alice", audience.player("192.0.2.1", "hls.js"), "192.0.2.1")
    assert audience.count("alice") == 5
    # Once they go quiet, the address may bring new players again.
    now[0] += 31
    audience.seen("alice", audience.player("198.51.100.7", "agent 99"), "198.51.100.7")
    assert audience.count("alice") == 1


# -- the application as `golive serve` runs it ----------------------------------------------


def settings(tmp_path: Path, web_dir: Path) -> Settings:
    return Settings(
        host="127.0.0.1", rtmp_port=0, data_dir=str(tmp_path / "data"), web_dir=str(web_dir)
    )


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A stand-in for Vite's output."""
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "index-Ab12_cd.js").write_text("console.log('golive')")
    (folder / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    return folder


async def serve(tmp_path: Path, web_dir: Path) -> AsyncIterator[Client]:
    stores = Stores(MemoryUsers(), MemorySessions(), MemoryRooms())
    app = build_app(settings(tmp_path, web_dir), stores)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def client(tmp_path: Path, dist: Path) -> AsyncIterator[Client]:
    async for c in serve(tmp_path, dist):
        yield c


async def test_page_routes_answer_the_app_and_assets_are_cached_for_good(client: Client) -> None:
    for path in ("/", "/login", "/signup", "/dashboard", "/alice", "/Some_User-1"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert await resp.text() == INDEX
        assert resp.headers["Cache-Control"] == "no-cache"
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.content_type == "text/html"
    resp = await client.head("/dashboard")
    assert resp.status == 200

    resp = await client.get("/assets/index-Ab12_cd.js")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.content_type in ("text/javascript", "application/javascript")
    resp = await client.get("/favicon.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",
        "/assets/..%2F..%2Fsecret.txt",
        "/assets/%2E%2E%2Fsecret.txt",
        "/assets/.hidden",
        "/..%2Fsecret.txt",
        "/secret.txt",
        "/nope.png",
        "/alice/extra",
        "/ab",  # too short for a username
        "/rooms",  # reserved names are never a user's
        "/hls",
        "/-alice",
        "/%00alice",
    ],
)
async def test_nothing_else_is_served(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404, path
    assert "not for the web" not in await resp.text()


async def test_the_api_keeps_its_own_answers_beside_the_pages(client: Client) -> None:
    for path in ("/api", "/api/nope"):
        resp = await client.get(path)
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/api/users")  # POST only
    assert resp.status == 405
    resp = await client.post("/dashboard")
    assert resp.status == 405


async def test_each_surface_has_its_own_middlewares(client: Client) -> None:
    # The root's middlewares would run for every sub-application: without trusted proxies
    # it has none; the API, HLS and the recordings (and the nginx-rtmp callbacks when on)
    # carry their own.
    assert not client.app.middlewares
    prefixes = {
        resource.get_info()["prefix"]: resource.get_info()["app"]
        for resource in client.app.router.resources()
        if "app" in resource.get_info()
    }
    # The nginx-rtmp callbacks are off by default.
    assert set(prefixes) == {"/api", "/hls", "/recordings"}
    assert all(app.middlewares for app in prefixes.values())


async def test_without_built_pages_golive_says_how_to_build_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="golive.pages")
    async for client in serve(tmp_path, tmp_path / "not-built"):
        for path in ("/", "/dashboard", "/alice"):
            resp = await client.get(path)
            assert resp.status == 503
            text = await resp.text()
            assert "cd web && npm ci && npm run build" in text
            assert str(tmp_path) not in text  # no file system paths to visitors
        resp = await client.get("/api/health")
        assert resp.status == 200
        resp = await client.get("/api/rooms")
        assert await resp.json() == {"rooms": []}
        resp = await client.get("/hls/alice/index.m3u8")
        assert resp.status == 404 and resp.headers["Access-Control-Allow-Origin"] == "*"
        # HLS refuses in the API's error shape (the OpenAPI Error schema).
        error = {"code": "not_found", "message": "no such live room"}
        assert await resp.json() == {"error": error}
    assert "not built" in caplog.text


# -- a real stream: viewers, bitrate, preview ------------------------------------------------


async def sign_up(client: Client, username: str) -> dict[str, Any]:
    password = "a long enough password"
    body = {"username": username, "email": f"{username}@example.org", "password": password}
    resp = await client.post("/api/users", json=body)
    assert resp.status == 201, await resp.text()
    resp = await client.post("/api/sessions", json={"username": username, "password": password})
    token = (await resp.json())["token"]
    client.session.cookie_jar.clear()
    resp = await client.get("/api/me/stream-key", headers={"Authorization": f"Bearer {token}"})
    result: dict[str, Any] = await resp.json()
    return result


async def room_json(client: Client, name: str) -> dict[str, Any] | None:
    resp = await client.get(f"/api/rooms/{name}")
    if resp.status == 404:
        return None
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-cache"
    room: dict[str, Any] = await resp.json()
    return room


async def wait_for(client: Client, name: str, check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        room = await room_json(client, name)
        if check(room):
            return room
        assert time.monotonic() < deadline, f"room {name}: {room}"
        await asyncio.sleep(0.1)


async def test_viewers_bitrate_and_preview_of_a_published_stream(client: Client) -> None:
    key = (await sign_up(client, "alice"))["stream_key"]
    port = client.app[RTMP].port
    publisher = await start_publisher(stream_sample(), f"rtmp://127.0.0.1:{port}/live/{key}")
    try:
        room = await wait_for(client, "alice", lambda r: r is not None and r["codecs"])
        assert room["viewers"] == 0
        assert room["preview_url"] == "/api/rooms/alice/preview.jpg"

        # Playlist fetches count, one per player (address and User-Agent); other files, other
        # rooms and failed requests do not.
        for agent, path in [
            ("player A", "/hls/alice/index.m3u8"),
            ("player B", "/hls/alice/index.m3u8"),
            ("player A", "/hls/alice/source/index.m3u8"),
            ("player C", "/hls/alice/source/index.m3u8"),
        ]:
            resp = await client.get(path, headers={"User-Agent": agent})
            assert resp.status == 200, path
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', await resp.text())
        assert init is not None
        for agent, path, status in [
            ("player D", f"/hls/alice/source/{init[1]}", 200),
            ("player E", "/hls/nobody/index.m3u8", 404),
            ("player F", "/hls/alice/nothing/index.m3u8", 404),
        ]:
            resp = await client.get(path, headers={"User-Agent": agent})
            assert resp.status == status, path
        room = await room_json(client, "alice")
        assert room is not None and room["viewers"] == 3
        resp = await client.get("/api/rooms")
        [listed] = (await resp.json())["rooms"]
        assert listed["viewers"] == 3
        assert 100_000 < listed["bitrate"] < 2_000_000  # a 400 kb/s video plus audio

        # The preview: a JPEG of the stream's picture, the same bytes until it is refreshed.
        resp = await client.get(room["preview_url"])
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        first = await resp.read()
        assert jpeg_size(first) == (320, 240)
        assert 2_000 < len(first) < 200_000
        resp = await client.get(room["preview_url"])
        assert await resp.read() == first

        for path in ("/api/rooms/nobody/preview.jpg", "/api/rooms/a%20b/preview.jpg"):
            resp = await client.get(path)
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
    finally:
        if publisher.returncode is None:
            publisher.terminate()
        await publisher.wait()
    await wait_for(client, "alice", lambda r: r is None)
    resp = await client.get("/api/rooms/alice/preview.jpg")
    assert resp.status == 404


# -- previews without the network ------------------------------------------------------------


def test_keyframes_of_h264_and_h265_become_jpegs_no_wider_than_asked() -> None:
    h264 = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
    hevc = sample(container="mp4", duration=2.0, size="320x240", vcodec="libx265", bitrate="300k")
    config, [keyframe, *_] = demuxed_keyframes(h264)
    assert jpeg_size(keyframe_to_jpeg(config, keyframe)) == (640, 360)
    assert jpeg_size(keyframe_to_jpeg(config, keyframe, max_width=320)) == (320, 180)
    config, [keyframe, *_] = demuxed_keyframes(hevc, 1)
    assert jpeg_size(keyframe_to_jpeg(config, keyframe)) == (320, 240)
    with pytest.raises(PreviewError):
        keyframe_to_jpeg(config, Sample(Codec.H265, 0, 0, True, b"\x00\x00\x00\x02\x00\x00"))
    with pytest.raises(PreviewError):
        keyframe_to_jpeg(TrackConfig(Codec.AAC, b""), keyframe)


async def test_previews_follow_a_stream_only_while_asked_and_decode_at_most_per_interval() -> None:
    h264 = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
    config, (first, second, third) = demuxed_keyframes(h264, 3)
    now = [0.0]
    hub = StreamHub(takeover_after=5.0)
    previews = Previews(hub, interval=5.0, idle=30.0, first_wait=1.0, clock=lambda: now[0])
    try:
        assert await previews.jpeg("alice") is None  # not live
        stream = hub.open("alice")
        stream.push(config)
        stream.push(first)
        assert previews.following == frozenset()  # nobody asked yet: nothing follows it
        assert await previews.jpeg("alice") is None  # asked: no keyframe came within 1 s
        assert previews.following == {"alice"}
        # Requests waiting for the first keyframe share one decode of it.
        asking = [asyncio.create_task(previews.jpeg("alice")) for _ in range(2)]
        await asyncio.sleep(0.01)
        stream.push(second)
        a, b = await asyncio.gather(*asking)
        assert a is not None and a is b
        assert jpeg_size(a) == (640, 360)
        stream.push(third)
        await asyncio.sleep(0.01)
        now[0] += 4.9
        assert await previews.jpeg("alice") is a  # still fresh
        now[0] += 0.2
        c = await previews.jpeg("alice")
        assert c is not None and c is not a  # a newer keyframe, decoded
        now[0] += 10
        assert await previews.jpeg("alice") is c  # no newer keyframe: nothing to decode
        # Nobody asks for longer than `idle`: the next keyframe lets the stream go.
        now[0] += 31
        stream.push(second)
        await asyncio.sleep(0.01)
        assert previews.following == frozenset()
        hub.close(stream)
        assert await previews.jpeg("alice") is None  # ended
    finally:
        await previews.close()
