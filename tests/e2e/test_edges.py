"""golive behind the caching edges shipped in deploy/ (Debian's nginx and Varnish, started from
the shipped files): identical blocking reloads and hinted-part requests from many players cost
golive one request each, ffmpeg's HLS client plays the stream through the edge, a second time
from the edge's cache alone, and players of hls.js in headless Chromium, with its low-latency
defaults, play a live stream through the edge while golive sees one request per URL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from golive.hls import playlist_parser
from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player, plays
from tests.harness.edges import Edge, start_edge
from tests.harness.hls import wait_playlist
from tests.harness.paths import ROOT, require
from tests.harness.processes import Server, stop
from tests.harness.publishers import start_publisher

pytestmark = pytest.mark.e2e

PLAYERS = 20


@pytest.fixture(params=["nginx", "varnish"])
def edge(request: pytest.FixtureRequest, served: Server, tmp_path: Path) -> Iterator[Edge]:
    kind: str = request.param
    require("nginx" if kind == "nginx" else "varnishd")
    started = start_edge(kind, tmp_path / kind, served.http_port)
    try:
        yield started
    finally:
        started.stop()


async def read_back(url: str) -> int:
    """Video frames ffmpeg's HLS client decodes from ``url``."""
    proc = await asyncio.create_subprocess_exec(
        require("ffmpeg"), "-hide_banner", "-v", "error", "-i", url, "-f", "null", "-",
        "-progress", "pipe:1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return int(re.findall(rb"frame=(\d+)", out)[-1])


async def test_an_edge_coalesces_players_and_serves_the_stream(
    served: Server, edge: Edge, http: aiohttp.ClientSession, h264_aac_flv: Path
) -> None:
    publisher = await start_publisher(h264_aac_flv, f"{served.rtmp}/demo")
    base = f"{edge.http}/hls/demo/source"
    pl = playlist_parser.parse_media(await wait_playlist(http, f"{base}/index.m3u8"))
    assert pl.preload_hint is not None and not pl.ended

    # Every player asks for the next version and the hinted part at once, as hls.js does.
    msn = pl.media_sequence + len(pl.segments)
    reload = f"{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={len(pl.trailing_parts)}"
    hinted = f"{base}/{pl.preload_hint.uri}"
    before = edge.origin_requests()

    async def fetch(url: str) -> tuple[int, bytes, str]:
        async with http.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Cache-Control", "")

    urls = [reload, hinted] * PLAYERS
    answers = await asyncio.gather(*(fetch(u) for u in urls))
    await asyncio.sleep(0.2)  # nginx writes its access log line after the answer
    assert all(status == 200 for status, _, _ in answers), [(s, b[:200]) for s, b, _ in answers]
    playlists = {answer for answer, url in zip(answers, urls, strict=True) if url == reload}
    parts = {answer for answer, url in zip(answers, urls, strict=True) if url == hinted}
    assert len(playlists) == 1 and len(parts) == 1, "one answer shared by every player"
    [(_, text, cache)] = playlists
    assert pl.preload_hint.uri.encode() in text, "the answer lists the part asked for"
    assert cache == "public, max-age=6"
    [(_, part, cache)] = parts
    assert part[4:8] == b"moof" and cache == "public, max-age=3600, immutable"
    assert edge.origin_requests() - before == 2, f"{2 * PLAYERS} requests, one per URL to golive"

    _, err = await publisher.communicate()
    assert publisher.returncode == 0, err
    final = playlist_parser.parse_media(await (await http.get(f"{base}/index.m3u8")).text())
    assert final.ended

    # ffmpeg's HLS client plays the ended stream through the edge; a second player is served
    # its segments and init section by the edge alone (playlists without _HLS_msn always go
    # to golive).
    frames = await read_back(f"{edge.http}/hls/demo/index.m3u8")
    assert frames > 100  # 4 s at 30 fps, from the first keyframe
    await asyncio.sleep(0.2)
    before = edge.origin_requests()
    assert await read_back(f"{edge.http}/hls/demo/index.m3u8") == frames
    await asyncio.sleep(0.2)
    assert edge.origin_requests() - before == 2, "only the two playlists reach golive"


async def test_hlsjs_plays_live_through_an_edge(
    served: Server, edge: Edge, http: aiohttp.ClientSession, h264_aac_flv: Path
) -> None:
    from playwright.async_api import async_playwright

    if not HLS_JS.exists() or not (ROOT / "golive" / "static").exists():
        pytest.fail("hls.js is not installed; scripts/test.sh builds the web pages")
    publisher = await start_publisher(h264_aac_flv, f"{served.rtmp}/demo", loop=True)
    try:
        await wait_playlist(http, f"{edge.http}/hls/demo/index.m3u8")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
            )
            try:
                pages = [await browser.new_page() for _ in range(3)]
                said: list[str] = []
                asked: list[str] = []
                for page in pages:
                    page.on("console", lambda m: said.append(f"{m.type}: {m.text}"))
                    page.on("request", lambda r: asked.append(r.url) if "/hls/" in r.url else None)
                before = edge.origin_requests()
                for page in pages:
                    await open_player(page, edge.http, f"{edge.http}/hls/demo/index.m3u8")
                for i, page in enumerate(pages):
                    await plays(page, f"hls.js player {i} through {edge.kind}", said)
                    assert await page.evaluate("window.fatal") is None, said
                reached = edge.origin_requests() - before
            finally:
                await browser.close()
    finally:
        await stop(publisher)
    blocking = [u for u in asked if "_HLS_msn=" in u]
    assert blocking, "hls.js used blocking reloads through the edge"
    # Three players asking the same URLs: golive sees each blocking reload and part once at
    # most (plain playlists always go through), far fewer requests than the players made.
    plain = [u for u in asked if u.endswith(".m3u8")]
    once = {u for u in asked if not u.endswith(".m3u8")}
    assert reached <= len(plain) + len(once), (reached, len(plain), len(once), len(asked))
    assert reached < 0.6 * len(asked), (reached, len(asked))
