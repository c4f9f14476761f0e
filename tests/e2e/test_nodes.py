"""Two `golive serve` nodes sharing a Redis room registry and an SQLite accounts file: a room
published with ffmpeg to node A is reached through node B. B's API names A's URLs, B's HLS
redirects to A (never to a host a request names), ffmpeg's HLS client and hls.js in headless
Chromium play B's URL, and B's own watch page plays the room from A."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from golive.hls import playlist_parser
from tests.harness.api import rooms, sign_up
from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player, plays
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.paths import ROOT, require
from tests.harness.processes import Server, stop
from tests.harness.publishers import start_publisher
from tests.harness.redis_server import redis_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Nodes A and B on one private Redis and one accounts file, each with its default public
    URL (http://127.0.0.1:PORT, from its host and port)."""
    database = f"sqlite://{tmp_path / 'accounts.db'}"
    with redis_server(tmp_path / "redis") as redis:
        args = ("--redis", redis, "--database", database, "--no-transcode")
        with (
            golive_serve(tmp_path / "a", *args, env={"GOLIVE_NODE": "node-a"}, name="a") as a,
            golive_serve(tmp_path / "b", *args, env={"GOLIVE_NODE": "node-b"}, name="b") as b,
        ):
            yield a, b


async def test_a_room_on_node_a_is_reached_through_node_b(
    nodes: tuple[Server, Server], h264_aac_flv: Path, http: aiohttp.ClientSession
) -> None:
    a, b = nodes
    static = ROOT / "golive" / "static" / "index.html"
    if not static.exists() or not HLS_JS.exists():
        pytest.fail("the web pages are not built; scripts/test.sh builds them")
    alice = await sign_up(http, a.http, "alice")
    publisher = await start_publisher(h264_aac_flv, f"{a.rtmp}/{alice['stream_key']}", loop=True)
    try:

        async def listed_on_b() -> bool:
            room = (await rooms(http, b.http)).get("alice")
            return room is not None and bool(room["codecs"])

        await until(listed_on_b, "node B lists the room, described", timeout=20)
        on_a, on_b = (await rooms(http, a.http))["alice"], (await rooms(http, b.http))["alice"]
        # A names its own room's media by paths; B by absolute URLs on A.
        assert on_a["hls_url"] == "/hls/alice/index.m3u8"
        assert on_b["hls_url"] == f"{a.http}/hls/alice/index.m3u8"
        assert on_b["preview_url"] == f"{a.http}/api/rooms/alice/preview.jpg"
        async with http.get(f"{b.http}/api/rooms/alice") as resp:
            assert (await resp.json())["hls_url"] == on_b["hls_url"]

        # B's HLS redirects to the same path on A, query included, not cached, readable by
        # players on other origins; whatever Host the request names, the redirect goes to A.
        for path in ("/hls/alice/index.m3u8", "/hls/alice/source/index.m3u8?_HLS_msn=1"):
            async with http.get(
                f"{b.http}{path}", allow_redirects=False, headers={"Host": "evil.example"}
            ) as resp:
                assert resp.status == 307
                assert resp.headers["Location"] == f"{a.http}{path}"
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
        async with http.get(f"{b.http}/hls/alice/index.m3u8") as resp:
            assert resp.status == 200 and str(resp.url).startswith(a.http)
            assert "source/index.m3u8" in await resp.text()
        # A room live nowhere: B's 404, as before.
        for room in ("nobody", "ALICE"):
            async with http.get(f"{b.http}/hls/{room}/index.m3u8", allow_redirects=False) as resp:
                assert resp.status == 404
                assert (await resp.json())["error"]["code"] == "not_found"

        await watch_in_chromium(a, b)

        # ffmpeg's HLS client plays B's URL (it reads the segments from A), once the playlist
        # has whole segments: it does not read parts.
        async def segments() -> bool:
            async with http.get(f"{b.http}/hls/alice/source/index.m3u8") as resp:
                return len(playlist_parser.parse_media(await resp.text()).segments) >= 2

        await until(segments, "the playlist lists two segments")
        proc = await asyncio.create_subprocess_exec(
            require("ffmpeg"), "-hide_banner", "-v", "error",
            "-i", f"{b.http}/hls/alice/index.m3u8", "-frames:v", "45", "-f", "null", "-",
            "-progress", "pipe:1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert int(re.findall(rb"frame=(\d+)", out)[-1]) == 45
    finally:
        await stop(publisher)


async def watch_in_chromium(a: Server, b: Server) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # The test's player page is handed to Chromium by Playwright, not fetched from a
        # loopback address, so Chromium's Local Network Access checks would take its requests
        # to another loopback origin (A) for a public page's: not what these nodes are about.
        args = [*BROWSER_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            # hls.js on a page of B's origin, given B's URL: the redirect takes it to A.
            page = await browser.new_page()
            media: list[str] = []
            said: list[str] = []
            page.on("request", lambda r: media.append(r.url) if "/hls/" in r.url else None)
            page.on("console", lambda m: said.append(f"{m.type}: {m.text}"))
            await open_player(page, b.http, f"{b.http}/hls/alice/index.m3u8")
            await plays(page, "hls.js given B's URL", said)
            assert await page.evaluate("window.fatal") is None
            assert any(u.startswith(f"{a.http}/hls/alice/source/") for u in media), media
            await page.close()

            # B's own watch page plays the room from A: its policy lets it, and the
            # multivariant playlist comes from A at once, with no detour through B.
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            media.clear()
            page.on("request", lambda r: media.append(r.url) if "/hls/" in r.url else None)
            await page.goto(f"{b.http}/alice")
            await plays(page, "B's watch page", errors)
            assert media and all(u.startswith(f"{a.http}/hls/alice/") for u in media), media
            assert not errors, errors
        finally:
            await browser.close()
