"""Accounts as a streamer meets them: sign up through the API, read the stream key, publish with
the ffmpeg command-line tool, see the room live with its HLS, stop, see it gone. And the
multi-node shape: two `golive serve` processes sharing one Redis see each other's rooms.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.harness.api import rooms, sign_up
from tests.harness.golive import golive_serve
from tests.harness.hls import until, wait_playlist
from tests.harness.processes import Server, stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample, stream_sample

pytestmark = pytest.mark.e2e

REDIS = "redis://127.0.0.1:6379"


def assert_secret_not_logged(srv: Server, *secrets: str) -> None:
    text = srv.log.read_text()
    for secret in secrets:
        assert secret not in text


async def test_sign_up_publish_watch_stop(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    with golive_serve(tmp_path) as srv:
        login = await sign_up(http, srv.http, "Streamer_1")
        key = login["stream_key"]
        assert login["rtmp_url"].endswith(srv.rtmp.split("://", 1)[1])

        # A wrong key never produces a room, and ffmpeg is told why.
        wrong = await start_publisher(stream_sample(), f"{srv.rtmp}/live_not-the-key")
        _, err = await wrong.communicate()
        assert wrong.returncode != 0 and b"unknown stream key" in err
        assert await rooms(http, srv.http) == {}

        publisher = await start_publisher(stream_sample(), f"{srv.rtmp}/{key}")
        try:

            async def live() -> bool:
                room = (await rooms(http, srv.http)).get("streamer_1")
                return room is not None and bool(room["codecs"])

            await until(live, "the room is listed with its codecs")
            room = (await rooms(http, srv.http))["streamer_1"]
            assert room["streamer"] == "Streamer_1"
            assert room["hls_url"] == "/hls/streamer_1/index.m3u8"
            assert room["width"] == 320 and room["height"] == 240
            assert any(c.startswith("avc1.") for c in room["codecs"])
            assert "source" in room["renditions"]
            multivariant = await wait_playlist(http, srv.http + room["hls_url"])
            assert "#EXT-X-STREAM-INF" in multivariant
            media = await wait_playlist(http, f"{srv.http}/hls/streamer_1/source/index.m3u8")
            assert "#EXT-X-PART:" in media
            async with http.get(f"{srv.http}/api/rooms/STREAMER_1") as resp:
                assert resp.status == 200
        finally:
            await stop(publisher)

        async def gone() -> bool:
            return "streamer_1" not in await rooms(http, srv.http)

        await until(gone, "the room is gone after the publisher stopped")
        async with http.get(f"{srv.http}/hls/streamer_1/source/index.m3u8") as resp:
            assert "#EXT-X-ENDLIST" in await resp.text()
        async with http.get(f"{srv.http}/api/rooms/streamer_1") as resp:
            assert resp.status == 404

        # Regenerating the key (it leaked, say) stops whoever publishes with it now, and
        # the old key is refused from then on.
        leaked = await start_publisher(stream_sample(), f"{srv.rtmp}/{key}")

        async def live_again() -> bool:
            return "streamer_1" in await rooms(http, srv.http)

        await until(live_again, "the room is live again")
        auth = {"Authorization": f"Bearer {login['token']}"}
        async with http.post(f"{srv.http}/api/me/stream-key", headers=auth) as resp:
            new_key = (await resp.json())["stream_key"]
        _, err = await asyncio.wait_for(leaked.communicate(), 5)
        assert leaked.returncode != 0, err
        await until(gone, "the room ends with the replaced key")
        old = await start_publisher(stream_sample(), f"{srv.rtmp}/{key}")
        _, err = await old.communicate()
        assert old.returncode != 0 and b"unknown stream key" in err
        assert_secret_not_logged(srv, key, new_key, login["password"], login["token"])

    # Restarting golive loses no account: the same login and the same key still work.
    with golive_serve(tmp_path, name="golive-restarted") as srv:
        async with http.post(
            f"{srv.http}/api/sessions",
            json={"username": "streamer_1", "password": login["password"]},
        ) as resp:
            assert resp.status == 201
            token = (await resp.json())["token"]
        async with http.get(
            f"{srv.http}/api/me/stream-key", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert (await resp.json())["stream_key"] == new_key


@pytest.fixture
async def redis_db() -> str:
    """A Redis database of its own for this test, emptied first (the test command starts
    Redis when it is not running)."""
    url = f"{REDIS}/13"
    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


async def test_two_nodes_sharing_redis_see_each_others_rooms(
    tmp_path: Path, http: aiohttp.ClientSession, redis_db: str
) -> None:
    # Both nodes share the accounts (one SQLite file here; MongoDB in a real deployment)
    # and the room registry in Redis.
    database = f"sqlite://{tmp_path / 'accounts.db'}"
    shared = ["--database", database, "--redis", redis_db]
    env = {"GOLIVE_ROOM_TTL": "3"}
    with (
        golive_serve(tmp_path, *shared, "--log-level", "DEBUG", env=env, name="a") as a,
        golive_serve(tmp_path, *shared, env=env, name="b") as b,
    ):
        login = await sign_up(http, a.http, "alice")
        # Long enough that only the key change below, not the file's end, stops it.
        long_sample = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
        publisher = await start_publisher(long_sample, f"{a.rtmp}/{login['stream_key']}")
        try:

            async def seen_on_b() -> bool:
                room = (await rooms(http, b.http)).get("alice")
                return room is not None and bool(room["codecs"])

            await until(seen_on_b, "node b lists the room that node a ingests")
            # One publisher per room across nodes: b refuses the same streamer.
            second = await start_publisher(stream_sample(), f"{b.rtmp}/{login['stream_key']}")
            _, err = await second.communicate()
            assert second.returncode != 0, err
            assert "alice" in await rooms(http, b.http)
            # Node b opened no playlist for the refused publisher.
            async with http.get(f"{b.http}/hls/alice/index.m3u8") as resp:
                assert resp.status == 404
            # Heartbeats keep the room past its 3 s TTL while node a lives.
            await asyncio.sleep(4)
            assert "alice" in await rooms(http, b.http)
            # The key replaced through node b's API stops the publish on node a.
            auth = {"Authorization": f"Bearer {login['token']}"}
            async with http.post(f"{b.http}/api/me/stream-key", headers=auth) as resp:
                assert resp.status == 200
            _, err = await asyncio.wait_for(publisher.communicate(), 5)
            assert publisher.returncode != 0, err
        finally:
            await stop(publisher)

        async def gone_on_b() -> bool:
            return "alice" not in await rooms(http, b.http)

        await until(gone_on_b, "node b sees the room end")
        assert_secret_not_logged(a, login["stream_key"], login["password"])
    for node in (a, b):
        assert "Traceback" not in node.log.read_text()
