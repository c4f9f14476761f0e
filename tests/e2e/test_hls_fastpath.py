"""`golive serve` answers its players' plain HLS GETs itself (golive.hls.fastpath): ffmpeg's
HLS client and hls.js in Chromium play through it without a connection handed to aiohttp, and
odd requests on the same port still get aiohttp's answers.

Which path answered is read from golive's DEBUG log (golive.fasthttp writes a line when a
connection closes or is handed over, with the plain GETs it answered); tests/integration/
test_hls_fastpath.py checks that both paths answer the same bytes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player, plays
from tests.harness.golive import BENCHMARK_ARGS, golive_serve
from tests.harness.paths import require
from tests.harness.processes import Server
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e

_CLOSED = re.compile(r"a connection closed after (\d+) plain GETs")
_HANDED = re.compile(r"a connection handed to aiohttp after (\d+) plain GETs")


def fast_figures(server: Server) -> tuple[int, int]:
    """Plain GETs the fast path answered, and connections it handed to aiohttp, so far."""
    assert server.log is not None
    text = server.log.read_text(errors="replace")
    answered = sum(int(n) for n in _CLOSED.findall(text) + _HANDED.findall(text))
    return answered, len(_HANDED.findall(text))


async def wait_live(port: int, room: str) -> None:
    for _ in range(150):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /hls/{room}/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status = await reader.readline()
        writer.close()
        if b" 200 " in status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the room never went live")


async def raw(port: int, data: bytes, answers: int = 1) -> list[bytes]:
    """The heads of ``answers`` answers to ``data`` on one connection (bodies skipped by their
    Content-Length, none after a HEAD)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    heads = []
    try:
        while len(heads) < answers:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            heads.append(head)
            if head.startswith(b"HTTP/1.1 100 "):
                continue
            length = re.search(rb"\r\nContent-Length: (\d+)", head, re.IGNORECASE)
            if length and not data.startswith(b"HEAD"):
                await reader.readexactly(int(length.group(1)))
    finally:
        writer.close()
    return heads


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Server]:
    with golive_serve(tmp_path / "golive", *BENCHMARK_ARGS, "--log-level", "DEBUG") as server:
        path = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
        publisher = await start_publisher(path, f"{server.rtmp}/fast")
        try:
            await wait_live(server.http_port, "fast")
            yield server
        finally:
            if publisher.returncode is None:
                publisher.kill()
            await publisher.wait()


async def test_ffmpeg_plays_through_the_fast_path(live: Server) -> None:
    # (Asked before the room existed, golive's own readiness checks went to aiohttp.)
    answered_before, handed_before = fast_figures(live)
    ffmpeg = await asyncio.create_subprocess_exec(
        require("ffmpeg"), "-hide_banner", "-loglevel", "error", "-i",
        f"{live.http}/hls/fast/source/index.m3u8", "-t", "4", "-f", "null", "-",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(ffmpeg.communicate(), 60)
    assert ffmpeg.returncode == 0, err.decode(errors="replace")
    await asyncio.sleep(0.5)  # its connections' lines are written as golive sees them close
    answered, handed = fast_figures(live)
    assert answered - answered_before >= 5, "ffmpeg's requests came from the fast path"
    assert handed == handed_before, live.log_tail()


async def test_hlsjs_plays_through_the_fast_path(live: Server) -> None:
    if not HLS_JS.exists():
        pytest.fail("web/node_modules is missing; scripts/test.sh runs npm ci in web/")
    from playwright.async_api import async_playwright

    answered_before, handed_before = fast_figures(live)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        page = await browser.new_page()
        said: list[str] = []
        page.on("console", lambda m: said.append(m.text))
        # The page and hls.js come from Playwright: every request golive sees is hls.js's.
        await open_player(page, live.http, f"{live.http}/hls/fast/index.m3u8")
        await plays(page, "hls.js through the fast path", said)
        fatal = await page.evaluate("window.fatal")
        await browser.close()
    assert fatal is None
    await asyncio.sleep(0.5)
    answered, handed = fast_figures(live)
    assert answered - answered_before >= 20, "blocking reloads and parts came from the fast path"
    assert handed == handed_before, live.log_tail()


async def test_odd_requests_on_the_same_port_get_aiohttps_answers(live: Server) -> None:
    _, handed_before = fast_figures(live)
    port = live.http_port
    base = "/hls/fast/source"
    [head] = await raw(port, f"HEAD {base}/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert head.startswith(b"HTTP/1.1 200 OK") and b"no-cache" in head
    [head] = await raw(
        port, f"POST {base}/index.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert head.startswith(b"HTTP/1.1 405") and b"Allow: GET,HEAD" in head
    heads = await raw(
        port,
        f"GET {base}/init-1.mp4 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n".encode(),
        answers=2,
    )
    assert heads[0].startswith(b"HTTP/1.1 100") and heads[1].startswith(b"HTTP/1.1 200")
    [head] = await raw(
        port, f"GET {base}/init-1.mp4 HTTP/1.1\r\nHost: x\r\nCookie: {'a' * 9216}\r\n\r\n".encode()
    )
    assert head.startswith(b"HTTP/1.0 400")  # aiohttp refuses a field over 8190 bytes
    pipelined = (
        f"GET {base}/init-1.mp4 HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {base}/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"
    ).encode()
    heads = await raw(port, pipelined, answers=3)
    assert [h.split(b"\r\n")[0] for h in heads] == [b"HTTP/1.1 200 OK"] * 3
    assert b"video/mp4" in heads[0] and b"application/json" in heads[1]
    assert b"mpegurl" in heads[2]
    await asyncio.sleep(0.3)
    _, handed = fast_figures(live)
    assert handed - handed_before == 5, "each odd request's connection went to aiohttp"
