"""hls.js (from npm) in Debian's headless Chromium plays golive's LL-HLS while ffmpeg publishes.

The player page is handed to the browser by Playwright at golive's own origin, so the page,
hls.js and the HLS requests are all on one host, as they will be with golive's web pages.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player
from tests.harness.paths import ROOT
from tests.harness.processes import Server
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html>
<html><body>
<video id="v" muted playsinline autoplay></video>
<script src="/__test__/hls.min.js"></script>
<script>
  window.report = {errors: [], fatal: null, latencies: []};
  const video = document.getElementById("v");
  const hls = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, debug: false});
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.details;
  });
  hls.loadSource(SRC);
  hls.attachMedia(video);
  setInterval(() => {
    // Latency as a viewer has it: now minus the wall-clock time of the frame on screen
    // (EXT-X-PROGRAM-DATE-TIME of the playing position).
    if (hls.playingDate && !video.paused)
      window.report.latencies.push(Date.now() - hls.playingDate.getTime());
  }, 250);
</script>
</body></html>
"""


async def test_hlsjs_plays_live_with_low_latency(served: Server, tmp_path: Path) -> None:
    if not HLS_JS.exists():
        pytest.fail("web/node_modules is missing; scripts/test.sh runs npm ci in web/")
    from playwright.async_api import async_playwright

    path = sample(duration=20.0, size="640x360", fps=30, bitrate="800k")
    publisher = await start_publisher(path, f"{served.rtmp}/browser")
    src = f"{served.http}/hls/browser/index.m3u8"

    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
            )
            page = await browser.new_page()
            console_errors: list[str] = []
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            # Wait until golive lists the room before the player asks for it.
            for _ in range(100):
                resp = await page.request.get(src)
                if resp.status == 200:
                    break
                await asyncio.sleep(0.1)
            await open_player(page, served.http, src, PAGE)
            await page.wait_for_function(
                "document.getElementById('v').currentTime > 1", timeout=20_000
            )
            t1 = await page.evaluate("document.getElementById('v').currentTime")
            await asyncio.sleep(4)
            t2 = await page.evaluate("document.getElementById('v').currentTime")
            quality = await page.evaluate(
                "document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames"
            )
            report = await page.evaluate("window.report")
            (ROOT / "artifacts").mkdir(exist_ok=True)
            await page.screenshot(path=str(ROOT / "artifacts" / "hlsjs-player.png"))
            await browser.close()
    finally:
        if publisher.returncode is None:
            publisher.kill()
        await publisher.wait()

    # Real time would be 4 s; a loaded 2-core machine may rebuffer once, which is not a failure
    # to play.
    assert t2 - t1 > 2.0, f"playback must advance ({t1} -> {t2} in 4 s)"
    assert quality > 60, "frames are decoded"
    assert report["fatal"] is None, report["errors"]
    latencies = sorted(report["latencies"])
    assert latencies, "hls.js knows the program date time of the playing position"
    median = latencies[len(latencies) // 2]
    print(f"hls.js LL-HLS latency: median {median} ms over {len(latencies)} samples")
    assert median < 3000, f"low-latency playback expected, got a median of {median} ms"
    assert not console_errors, console_errors
