"""hls.js in Debian's headless Chromium, driven by Playwright: where they are, how Chromium is
started, and a bare hls.js player page served on an origin of the test's choosing."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

from tests.harness.paths import ROOT

HLS_JS = ROOT / "web" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless Debian Chromium as root, with nothing reaching out to the closed network.
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip

# Functions, not expressions: Playwright evaluates an expression with eval(), which the
# pages' Content-Security-Policy refuses.
PLAYING = "() => (document.querySelector('video') || {currentTime: 0}).currentTime"
PLAYER = """<!doctype html>
<html><body>
<video muted playsinline autoplay></video>
<script src="/__test__/hls.min.js"></script>
<script>
  window.fatal = null;
  const hls = new Hls({lowLatencyMode: true});
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.fatal = d.details; });
  hls.loadSource(SRC);
  hls.attachMedia(document.querySelector("video"));
</script>
</body></html>
"""


async def open_player(page: Any, origin: str, src: str, template: str = PLAYER) -> None:
    """Load hls.js in ``page`` on a page of ``origin`` (``/__test__/player.html``, answered by
    Playwright) made from ``template``, whose SRC becomes ``src``: by default hls.js with its
    defaults for low latency (``lowLatencyMode`` only)."""
    from playwright.async_api import Route

    html = template.replace("SRC", json.dumps(src))

    async def test_files(route: Route) -> None:
        if route.request.url.endswith("hls.min.js"):
            await route.fulfill(path=HLS_JS, content_type="text/javascript")
        else:
            await route.fulfill(body=html, content_type="text/html")

    await page.route(f"{origin}/__test__/**", test_files)
    await page.goto(f"{origin}/__test__/player.html")


async def plays(page: Any, what: str, log: list[str]) -> None:
    """The page's video starts and keeps playing; ``log`` is what the page said, for the
    failure's message."""
    from playwright.async_api import TimeoutError

    try:
        await page.wait_for_function(f"() => ({PLAYING})() > 0.5", timeout=20_000)
    except TimeoutError:
        raise AssertionError(f"{what}: the video never played; the page said {log}") from None
    t1 = await page.evaluate(PLAYING)
    await asyncio.sleep(1.5)
    t2 = await page.evaluate(PLAYING)
    # Real time would be 1.5 s; a loaded 2-core machine may rebuffer once.
    assert t2 - t1 > 0.5, f"{what}: playback must advance ({t1} -> {t2})"
