"""Two `golive serve` processes: node A keeps the accounts (SQLite) and serves the users
service over gRPC; node B runs with `users = "grpc://A"` and ingests. A streamer signs up on
A and publishes to B with ffmpeg; the room plays from B; a wrong key is refused by B; a key
regenerated on A stops B's publish; with A stopped, B refuses new publishes with a message
naming the reason while the live one goes on."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from golive.hls import playlist_parser
from tests.harness.api import sign_up
from tests.harness.golive import golive_serve, start_golive
from tests.harness.hls import until, wait_playlist
from tests.harness.paths import require
from tests.harness.ports import free_port
from tests.harness.processes import Server, stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import stream_sample
from tests.harness.users_service import self_signed

pytestmark = pytest.mark.e2e

SECRET = "users-node-secret-for-tests"


async def refused(url: str) -> bytes:
    """Publish to ``url`` and return what ffmpeg said: it must be refused, not left hanging."""
    publisher = await start_publisher(stream_sample(), url)
    _, err = await asyncio.wait_for(publisher.communicate(), 30)
    assert publisher.returncode != 0, err
    return err


async def next_segment(http: aiohttp.ClientSession, b: Server) -> int:
    """The media sequence number of the segment B is making of alice's room."""
    async with http.get(f"{b.http}/hls/alice/source/index.m3u8") as resp:
        assert resp.status == 200
        playlist = playlist_parser.parse_media(await resp.text())
        return playlist.media_sequence + len(playlist.segments)


async def wait_log(server: Server, pattern: str, timeout: float = 15, after: int = 0) -> None:
    """Until ``server``'s log, from its ``after``-th character on, matches ``pattern``."""

    async def found() -> bool:
        text = server.log.read_text(errors="replace")[after:]
        return re.search(pattern, text) is not None

    await until(found, f"{server.name} logs {pattern!r}", timeout=timeout)


async def test_an_ingest_node_authorizes_publishes_through_the_users_node(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    grpc_port = free_port()
    users_env = {"GOLIVE_GRPC_PORT": str(grpc_port), "GOLIVE_GRPC_SECRET": SECRET}
    a = start_golive(tmp_path / "a", "--no-transcode", env=users_env, name="a")
    a_stopped = False
    try:
        alice = await sign_up(http, a.http, "alice")
        bob = await sign_up(http, a.http, "bob")
        ingest_env = {
            "GOLIVE_USERS": f"grpc://127.0.0.1:{grpc_port}",
            "GOLIVE_GRPC_SECRET": SECRET,
            # Heartbeats every second, so that a replaced key stops the publish within one.
            "GOLIVE_ROOM_TTL": "3",
            "GOLIVE_HLS_LINGER": "30",
        }
        with golive_serve(tmp_path / "b", "--no-transcode", env=ingest_env, name="b") as b:
            # B keeps no accounts: its account routes send people to the users node.
            async with http.post(
                f"{b.http}/api/users",
                json={"username": "carol", "email": "c@example.org", "password": "x" * 12},
            ) as resp:
                assert resp.status == 421
                assert (await resp.json())["error"]["code"] == "accounts_elsewhere"

            # A wrong key is refused by B, which asked A.
            err = await refused(f"{b.rtmp}/live_not-the-key")
            assert b"unknown stream key" in err
            await wait_log(b, r"publish refused: unknown stream key")

            # Alice's key from A publishes to B, and the room plays from B.
            publisher = await start_publisher(
                stream_sample(), f"{b.rtmp}/{alice['stream_key']}", loop=True
            )
            try:
                await wait_playlist(http, f"{b.http}/hls/alice/index.m3u8", timeout=20)

                async def segments() -> bool:
                    async with http.get(f"{b.http}/hls/alice/source/index.m3u8") as resp:
                        text = await resp.text()
                    playlist = playlist_parser.parse_media(text)
                    return resp.status == 200 and len(playlist.segments) >= 2

                await until(segments, "B's playlist lists two segments", timeout=20)
                await play_with_ffmpeg(f"{b.http}/hls/alice/index.m3u8")

                # The key regenerated on A stops B's publish at B's next heartbeat.
                auth = {"Authorization": f"Bearer {alice['token']}"}
                async with http.post(f"{a.http}/api/me/stream-key", headers=auth) as resp:
                    assert resp.status == 200
                    new_key = (await resp.json())["stream_key"]
                _, err = await asyncio.wait_for(publisher.communicate(), 15)
                assert publisher.returncode != 0, err
                await wait_log(b, r"room alice: publisher removed: the stream key was replaced")
            finally:
                await stop(publisher)
            assert b"unknown stream key" in await refused(f"{b.rtmp}/{alice['stream_key']}")

            # Live again with the new key; then A stops.
            seen = len(b.log.read_text(errors="replace"))
            publisher = await start_publisher(stream_sample(), f"{b.rtmp}/{new_key}", loop=True)
            try:
                await wait_log(b, r"room alice is live\b", timeout=20, after=seen)
                assert a.stop() == 0, a.log_tail()
                a_stopped = True
                # B refuses a new publish at once, and says why.
                err = await refused(f"{b.rtmp}/{bob['stream_key']}")
                assert b"users service" in err and b"unavailable" in err
                await wait_log(
                    b, rf"publish refused: the users service at 127.0.0.1:{grpc_port} is "
                    "unavailable",
                )  # fmt: skip
                # Its heartbeats cannot check the key now; the live publish goes on.
                await wait_log(b, r"room upkeep failed: the users service .* unavailable")
                before = await next_segment(http, b)
                await asyncio.sleep(4)
                assert publisher.returncode is None
                assert await next_segment(http, b) > before
            finally:
                await stop(publisher)
            text = b.log.read_text()
            for secret in (alice["stream_key"], new_key, bob["stream_key"], SECRET):
                assert secret not in text
    finally:
        if not a_stopped:
            assert a.stop() == 0, a.log_tail()


async def play_with_ffmpeg(url: str) -> None:
    """ffmpeg's HLS client reads 30 frames of the room."""
    proc = await asyncio.create_subprocess_exec(
        require("ffmpeg"), "-hide_banner", "-v", "error", "-i", url,
        "-frames:v", "30", "-f", "null", "-", "-progress", "pipe:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert int(re.findall(rb"frame=(\d+)", out)[-1]) == 30


async def test_an_ingest_node_reaches_the_users_node_over_tls_only(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    cert, key = self_signed(tmp_path / "tls")
    grpc_port = free_port()
    users_env = {
        "GOLIVE_GRPC_SECRET": SECRET,
        "GOLIVE_GRPC_TLS_CERT": str(cert),
        "GOLIVE_GRPC_TLS_KEY": str(key),
    }
    args = ("--no-transcode", "--workers", "1")
    with golive_serve(
        tmp_path / "a", *args, "--grpc-port", str(grpc_port), env=users_env, name="a"
    ) as a:
        assert "users service (gRPC over TLS)" in a.log.read_text()
        alice = await sign_up(http, a.http, "alice")
        ingest_env = {"GOLIVE_GRPC_SECRET": SECRET, "GOLIVE_GRPC_TLS_CA": str(cert)}
        with (
            golive_serve(
                tmp_path / "b", *args, "--users", f"grpcs://127.0.0.1:{grpc_port}",
                env=ingest_env, name="b",
            ) as b,
            golive_serve(
                tmp_path / "plain", *args, "--users", f"grpc://127.0.0.1:{grpc_port}",
                env={"GOLIVE_GRPC_SECRET": SECRET}, name="plain",
            ) as plain,
        ):  # fmt: skip
            # Plain TCP to the TLS port: refused, and the node says it could not reach it.
            err = await refused(f"{plain.rtmp}/{alice['stream_key']}")
            assert b"unavailable" in err
            publisher = await start_publisher(
                stream_sample(), f"{b.rtmp}/{alice['stream_key']}", loop=True
            )
            try:
                await wait_playlist(http, f"{b.http}/hls/alice/index.m3u8", timeout=20)
            finally:
                await stop(publisher)
