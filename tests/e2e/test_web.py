"""The web pages as people use them, in Debian's headless Chromium driven by Playwright, against
a `golive serve` started by the test: a streamer signs up, reveals the stream key and publishes
with the ffmpeg command-line tool; a viewer sees the room on the home page with its preview,
watches it (hls.js), switches quality, and sees it end. Screenshots land in artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness.api import rooms
from tests.harness.browser import BROWSER_ARGS, CHROMIUM
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.paths import ROOT
from tests.harness.processes import stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample, stream_sample

pytestmark = pytest.mark.e2e

DIST = ROOT / "golive" / "static"
ARTIFACTS = ROOT / "artifacts"
VIDEO = "document.querySelector('video')"
HIDDEN = re.compile(r"^•+$")
SECONDS = re.compile(r"^\d+\.\d s$")


def looped_sample() -> Path:
    """A 640x360 stream with a keyframe every second, published in a loop for as long as the
    test needs (the same file as the hls.js test, so it is made once)."""
    return sample(duration=20.0, size="640x360", fps=30, bitrate="800k")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not (DIST / "index.html").exists():
        pytest.fail("golive/static is missing; scripts/test.sh builds it (scripts/build_web.sh)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


def watch_console(page: Any, errors: list[str]) -> None:
    """Collect every console error and uncaught exception of ``page``, with its page."""

    def on_console(message: Any) -> None:
        # A page that waits for its streamer polls GET /api/rooms/{name}, which answers 404
        # while the room is not live; Chromium notes every such answer in the console.
        offline = re.search(r"/api/rooms/[^/]+$", message.location.get("url", "")) and (
            "status of 404" in message.text
        )
        if message.type == "error" and not offline:
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught {exc}"))


async def playback(page: Any) -> tuple[float, int]:
    """(currentTime, decoded video frames) of the page's video."""
    result = await page.evaluate(
        f"[{VIDEO}.currentTime, {VIDEO}.getVideoPlaybackQuality().totalVideoFrames]"
    )
    return float(result[0]), int(result[1])


async def assert_plays(page: Any, seconds: float, what: str) -> None:
    t1, frames1 = await playback(page)
    await asyncio.sleep(seconds)
    t2, frames2 = await playback(page)
    # Real time would be `seconds`; a loaded 2-core machine may rebuffer once.
    assert t2 - t1 > seconds / 2, f"{what}: playback must advance ({t1} -> {t2})"
    assert frames2 - frames1 > 10 * seconds, f"{what}: frames must be decoded"


async def test_sign_up_publish_watch_switch_quality_end(
    tmp_path: Path, browser: Any, http: aiohttp.ClientSession
) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    path = looped_sample()
    username = "Streamer_1"
    errors: list[str] = []
    with golive_serve(tmp_path) as srv:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        watch_console(page, errors)

        # Sign up through the page: it logs in and lands on the dashboard.
        await page.goto(f"{srv.http}/signup")
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Email").fill("streamer@example.org")
        await page.get_by_label("Password").fill(f"pw-{uuid.uuid4().hex}")
        await page.get_by_role("button", name="Sign up").click()
        await page.wait_for_url("**/dashboard")
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()

        # The key is hidden until revealed (with the keyboard here).
        key_box = page.get_by_test_id("stream-key")
        await expect(key_box).to_have_value(HIDDEN)
        await page.get_by_role("button", name="Reveal").focus()
        await page.keyboard.press("Enter")
        await expect(key_box).not_to_have_value(HIDDEN)
        key = await key_box.input_value()
        rtmp_url = await page.locator("#rtmp-url").input_value()
        assert rtmp_url == srv.rtmp
        assert len(key) > 20

        # A wrong key never produces a room.
        wrong = await start_publisher(stream_sample(), f"{srv.rtmp}/live_not-the-key")
        _, err = await wrong.communicate()
        assert wrong.returncode != 0 and b"unknown stream key" in err
        assert await rooms(http, srv.http) == {}

        # A viewer who came early sees the room offline; the page starts by itself later.
        early = await context.new_page()
        watch_console(early, errors)
        await early.goto(f"{srv.http}/{username.lower()}")
        early_state = early.get_by_test_id("state")
        await expect(early_state).to_have_attribute("data-state", "offline")
        await expect(early.get_by_text(f"{username.lower()} is offline")).to_be_visible()
        await early.screenshot(path=str(ARTIFACTS / "web-watch-offline.png"))

        publisher = await start_publisher(path, f"{rtmp_url}/{key}", loop=True)
        try:
            await expect(early_state).to_have_attribute("data-state", "live", timeout=20_000)
            await early.close()
            # Home: the room appears by itself (the page polls), with a decoded preview.
            await page.goto(f"{srv.http}/")
            card = page.get_by_role("link").filter(has_text=username)
            await expect(card).to_be_visible(timeout=20_000)
            preview = card.locator("img")
            await expect(preview).to_be_visible(timeout=15_000)
            await page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=await preview.element_handle()
            )
            assert await preview.evaluate("img => img.naturalWidth") == 640
            await expect(card).to_contain_text("live for")
            await page.screenshot(path=str(ARTIFACTS / "web-home.png"))

            # Watch: hls.js plays it.
            await card.click()
            await page.wait_for_url(f"**/{username.lower()}")
            state = page.get_by_test_id("state")
            await expect(state).to_have_attribute("data-state", "live", timeout=20_000)
            await page.wait_for_function(f"{VIDEO}.currentTime > 1", timeout=20_000)
            await assert_plays(page, 2.0, "first playback")
            # A figure in seconds, not the placeholder.
            await expect(page.get_by_test_id("latency")).to_have_text(SECONDS, timeout=5_000)

            # Quality: Auto plus one level (the source copy); switching keeps playing.
            quality = page.get_by_label("Quality")
            options = await quality.locator("option").all_text_contents()
            assert len(options) == 2 and options[0].startswith("Auto"), options
            assert "360p" in options[1], options
            await quality.select_option(index=1)
            await assert_plays(page, 2.0, "after choosing the level")
            await quality.select_option(index=0)
            await assert_plays(page, 2.0, "after choosing Auto")
            await page.screenshot(path=str(ARTIFACTS / "web-watch.png"))

            # The dashboard, in a second tab while the first one watches: live, with figures.
            dash = await context.new_page()
            watch_console(dash, errors)
            await dash.goto(f"{srv.http}/dashboard")
            status = dash.get_by_test_id("stream-status")
            await expect(status).to_be_visible(timeout=10_000)
            await expect(dash.get_by_test_id("viewers")).to_have_text("1 viewer", timeout=10_000)
            resolution = dash.get_by_test_id("resolution")
            await expect(resolution).to_have_text("640\N{MULTIPLICATION SIGN}360")
            await expect(status).to_contain_text("avc1.")
            await expect(status).to_contain_text("source")
            await expect(status).to_contain_text("b/s")
            await dash.screenshot(path=str(ARTIFACTS / "web-dashboard.png"), full_page=True)

            # A phone-sized screen gets the same pages, laid out for it.
            phone = await browser.new_page(viewport={"width": 390, "height": 844})
            watch_console(phone, errors)
            await phone.goto(f"{srv.http}/")
            await expect(phone.get_by_role("link").filter(has_text=username)).to_be_visible()
            await phone.screenshot(path=str(ARTIFACTS / "web-home-phone.png"))
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "nothing overflows a phone's width"
            await phone.close()
        finally:
            await stop(publisher)

        # The publisher stops: the watch page says the stream ended.
        started = time.monotonic()
        await expect(state).to_have_attribute("data-state", "ended", timeout=15_000)
        print(f"ended state shown {time.monotonic() - started:.1f} s after the publisher stopped")
        await expect(page.get_by_text("The stream has ended")).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "web-watch-ended.png"))

        async def gone() -> bool:
            return await rooms(http, srv.http) == {}

        await until(gone, "the room is gone")

        # Regenerating the key asks first; cancelling (Escape) keeps the key.
        await dash.get_by_role("button", name="Reveal").click()
        dash_key = dash.get_by_test_id("stream-key")
        await expect(dash_key).to_have_value(key)
        await dash.get_by_role("button", name="Regenerate key…").click()
        dialog = dash.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        await dash.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(dash_key).to_have_value(key)
        await dash.get_by_role("button", name="Regenerate key…").click()
        await dialog.get_by_role("button", name="Regenerate").click()
        await expect(dash_key).not_to_have_value(key)
        await expect(dash.get_by_text("the old one no longer works")).to_be_visible()

        # Log out from the header: the dashboard then asks to log in.
        await dash.get_by_role("button", name="Log out").click()
        await dash.wait_for_url(f"{srv.http}/")
        await dash.goto(f"{srv.http}/dashboard")
        await dash.wait_for_url("**/login?next=/dashboard")
        await context.close()

    assert not errors, errors
