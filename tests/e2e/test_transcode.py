"""The ladder end to end: ffmpeg publishes over RTMP to `golive serve` with a ladder in its
configuration, hls.js in Debian's headless Chromium plays the multivariant playlist and is sent
from level to level as golive's watch page does it (``hls.nextLevel = n``: at the next part,
without emptying the buffer) without a stall, and PyAV reads every variant back over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import av
import pytest

from golive.hls import playlist_parser
from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.processes import Server
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html>
<html><body>
<video id="v" muted playsinline autoplay></video>
<script src="/__test__/hls.min.js"></script>
<script>
  window.report = {errors: [], fatal: null, waiting: 0, progress: []};
  const video = document.getElementById("v");
  const hls = new Hls({lowLatencyMode: true, debug: false});
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.details;
  });
  video.addEventListener("waiting", () => window.report.waiting++);
  hls.loadSource(SRC);
  hls.attachMedia(video);
  // (wall ms, media s, height on screen) every 100 ms: a stall is media time standing still.
  setInterval(() => window.report.progress.push(
    [performance.now(), video.currentTime, video.videoHeight]), 100);
</script>
</body></html>
"""


# The ladder of the test, as an operator writes it: two renditions below a 360p source, and a
# window longer than the sample, so every variant reads back whole once the stream ended.
CONFIG = """
[hls]
window = 30.0
[[transcode.rendition]]
name = "240p"
height = 240
bitrate = "400k"
[[transcode.rendition]]
name = "160p"
height = 160
bitrate = "200k"
"""


@contextlib.contextmanager
def ladder_golive(tmp_path: Path) -> Iterator[Server]:
    """`golive serve` with the test's ladder, in a process of its own as users run it (its
    transcoding threads then share no interpreter with the browser's driver)."""
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG)
    with golive_serve(tmp_path, "--open-publish", "--workers", "1", "--config", str(config)) as srv:
        yield srv


async def ended(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(url) as resp:
        return resp.status == 200 and "#EXT-X-ENDLIST" in await resp.text()


def longest_stall(progress: list[list[float]], start_ms: float, end_ms: float) -> float:
    """Longest wall time (s) in [start, end] during which the media time did not move."""
    longest = 0.0
    since: float | None = None
    last_time: float | None = None
    for wall, media, _height in progress:
        if not start_ms <= wall <= end_ms:
            continue
        if last_time is not None and media <= last_time:
            since = since if since is not None else wall
            longest = max(longest, (wall - since) / 1000)
        else:
            since = None
        last_time = media
    return longest


def read_variant(url: str) -> tuple[tuple[int, int], int, int]:
    """(picture size, video frames, audio frames) of a variant, through its media playlist."""
    with av.open(url) as c:
        size = (0, 0)
        video = audio = 0
        for frame in c.decode(c.streams.video[0], c.streams.audio[0]):
            if isinstance(frame, av.VideoFrame):
                video += 1
                size = (frame.width, frame.height)
            else:
                audio += 1
        return size, video, audio


async def test_hlsjs_switches_levels_without_a_stall_and_every_variant_reads_back(
    tmp_path: Path,
) -> None:
    if not HLS_JS.exists():
        pytest.fail("web/node_modules is missing; scripts/test.sh runs npm ci in web/")
    from playwright.async_api import async_playwright

    path = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
    with ladder_golive(tmp_path) as srv:
        publisher = await start_publisher(path, f"{srv.rtmp}/abr")
        base = f"{srv.http}/hls/abr"

        switches: list[tuple[int, float, float, int]] = []  # (height, start, end, on screen)
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
                )
                page = await browser.new_page()
                # Every variant listed before the player asks: hls.js reads the multivariant
                # playlist once.
                for _ in range(150):
                    resp = await page.request.get(f"{base}/index.m3u8")
                    if resp.status == 200:
                        mv = playlist_parser.parse_multivariant(await resp.text())
                        if len(mv.variants) == 3:
                            break
                    await asyncio.sleep(0.1)
                assert [v.name for v in mv.variants] == ["source", "240p", "160p"]
                await open_player(page, srv.http, f"{base}/index.m3u8", PAGE)
                await page.wait_for_function(
                    "document.getElementById('v').currentTime > 1", timeout=20_000
                )
                heights = await page.evaluate("hls.levels.map(l => l.height)")
                assert sorted(heights) == [160, 240, 360]
                # Each level in turn, smallest, largest, middle, as the page's quality menu
                # asks for it. (hls.currentLevel would empty the buffer at once: with a
                # PART-HOLD-BACK of a few parts, a brief stall is then what a viewer gets.)
                for height in (160, 360, 240):
                    level = heights.index(height)
                    start = await page.evaluate("performance.now()")
                    await page.evaluate(f"hls.nextLevel = {level}")
                    await page.wait_for_function(
                        f"document.getElementById('v').videoHeight === {height}",
                        timeout=10_000,
                    )
                    await asyncio.sleep(2.5)  # and it keeps playing at that level
                    end = await page.evaluate("performance.now()")
                    shown = await page.evaluate("document.getElementById('v').videoHeight")
                    switches.append((height, start, end, shown))
                report = await page.evaluate("window.report")
                await browser.close()
            _, err = await asyncio.wait_for(publisher.communicate(), 30)
            assert publisher.returncode == 0, err
        finally:
            if publisher.returncode is None:
                publisher.kill()
            await publisher.wait()

        assert report["fatal"] is None, report["errors"]
        for height, start, end, shown in switches:
            assert shown == height, f"level {height}p did not stay on screen"
            stall = longest_stall(report["progress"], start, end)
            # A forced switch flushes the buffer and reloads; with parts of 1/3 s it must not
            # leave the picture standing for a whole second.
            assert stall < 1.0, f"playback stood still {stall:.2f} s switching to {height}p"
            moved = [m for w, m, _ in report["progress"] if start <= w <= end]
            assert moved[-1] - moved[0] > 0.5 * (end - start) / 1000, (height, moved)
        assert "bufferStalledError" not in report["errors"], report["errors"]

        # The stream has ended: every variant reads back with PyAV over HTTP, with audio.
        async with aiohttp.ClientSession() as http:
            for name in ("source", "240p", "160p"):  # the ladder finishes after the source
                await until(
                    lambda n=name: ended(http, f"{base}/{n}/index.m3u8"),  # type: ignore[misc]
                    f"the {name} playlist's end",
                    30,
                )
            async with http.get(f"{base}/status.json") as resp:
                transcode = (await resp.json())["transcode"]
        assert transcode is not None and transcode["dropped"] == [], transcode
        for name, size in (("source", (640, 360)), ("240p", (426, 240)), ("160p", (284, 160))):
            got, video, audio = await asyncio.to_thread(read_variant, f"{base}/{name}/index.m3u8")
            assert got == size, name
            assert video > 20 * 30 * 0.9, (name, video)
            assert audio > 20 * 48_000 / 1024 * 0.9, (name, audio)
