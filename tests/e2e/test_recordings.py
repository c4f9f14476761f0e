"""Recordings (README, "Recordings") with real clients: ffmpeg publishes, golive records the
source copy, ffmpeg's HLS client and hls.js in headless Chromium play the recording back.

The full-disk test mounts a small tmpfs on the recordings' folder, which needs root."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness.api import sign_up
from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS, open_player
from tests.harness.golive import golive_serve
from tests.harness.hls import until, wait_playlist
from tests.harness.paths import ROOT, require
from tests.harness.processes import Server
from tests.harness.publishers import ffmpeg_publisher, start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e

# Short lingers: a room ends (and its recording completes) soon after its publisher leaves.
QUICK = {"GOLIVE_HLS_LINGER": "2", "GOLIVE_RECORDINGS_MIN_FREE_BYTES": "0"}


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Server]:
    with golive_serve(tmp_path, "--open-publish", env=QUICK) as srv:
        yield srv


async def publish(path: Path, url: str, realtime: bool = False) -> None:
    cmd = ffmpeg_publisher(path, url, realtime=realtime, ffmpeg=require("ffmpeg"))
    proc = await asyncio.create_subprocess_exec(*cmd, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def recordings_of(http: aiohttp.ClientSession, base: str, name: str) -> list[Any]:
    async with http.get(f"{base}/api/users/{name}/recordings") as resp:
        assert resp.status == 200, await resp.text()
        found: list[Any] = (await resp.json())["recordings"]
        return found


async def one_ended(http: aiohttp.ClientSession, base: str, name: str, status: str) -> Any:
    found: list[Any] = []

    async def ended() -> bool:
        found[:] = await recordings_of(http, base, name)
        return len(found) == 1 and found[0]["status"] == status

    await until(ended, f"{name}'s recording is {status}", timeout=20)
    return found[0]


def probe_frames(url: str, decode: bool = True) -> tuple[int, float]:
    """Video frames ffmpeg's HLS client reads from ``url`` (decoded, or as coded packets),
    and the duration it reads."""
    count = "frames" if decode else "packets"
    out = subprocess.run(
        [
            require("ffprobe"), "-v", "error", f"-count_{count}", "-select_streams", "v:0",
            "-show_entries", f"stream=nb_read_{count}:format=duration", "-of", "json", url,
        ],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    data = json.loads(out.stdout)
    return int(data["streams"][0][f"nb_read_{count}"]), float(data["format"]["duration"])


PLAYER = """<!doctype html>
<html><body>
<video muted playsinline></video>
<script src="/__test__/hls.min.js"></script>
<script>
  window.fatal = null;
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.fatal = d.details; });
  hls.loadSource(SRC);
  hls.attachMedia(document.querySelector("video"));
  window.vod = null;
  hls.on(Hls.Events.LEVEL_LOADED, (_, d) => { window.vod = !d.details.live; });
</script>
</body></html>
"""
VIDEO = "document.querySelector('video')"


async def test_a_stream_is_recorded_and_played_back_by_ffmpeg_and_hlsjs(
    recorded: Server, http: aiohttp.ClientSession
) -> None:
    path = sample(duration=8.0, size="320x240", fps=30, bitrate="400k")
    await publish(path, f"{recorded.rtmp}/recone", realtime=True)
    rec = await one_ended(http, recorded.http, "recone", "complete")
    src = f"{recorded.http}{rec['playlist_url']}"

    async with http.get(src) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/vnd.apple.mpegurl"
        assert "max-age=86400" in resp.headers["Cache-Control"]
        text = await resp.text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    segment = next(ln for ln in text.splitlines() if ln.endswith(".m4s"))
    async with http.get(src.replace("index.m3u8", segment)) as resp:
        assert resp.status == 200 and resp.content_type == "video/mp4"
        assert "immutable" in resp.headers["Cache-Control"]

    frames, duration = await asyncio.to_thread(probe_frames, src)
    source_frames, source_duration = await asyncio.to_thread(probe_frames, str(path))
    assert frames == source_frames == 240
    assert abs(duration - source_duration) < 0.2, (duration, source_duration)
    assert abs(rec["duration"] - 8.0) < 0.2
    assert rec["width"] == 320 and rec["height"] == 240
    assert any(c.startswith("avc1.") for c in rec["codecs"]), rec
    assert rec["size"] > 0 and rec["ended_at"] is not None

    if not HLS_JS.exists():
        pytest.fail("web/node_modules is missing; scripts/test.sh runs npm ci in web/")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        page = await browser.new_page()
        await open_player(page, recorded.http, src, PLAYER)
        await page.wait_for_function(f"() => {VIDEO}.duration > 7", timeout=20_000)
        assert await page.evaluate("() => window.vod") is True
        length = await page.evaluate(f"() => {VIDEO}.duration")
        assert abs(length - 8.0) < 0.3, length
        # Seek into the middle, play from there.
        await page.evaluate(f"() => {{ {VIDEO}.currentTime = 5.0; {VIDEO}.play(); }}")
        await page.wait_for_function(f"() => {VIDEO}.currentTime > 5.5", timeout=20_000)
        assert await page.evaluate("() => window.fatal") is None
        await browser.close()


async def test_a_reconnect_within_the_linger_continues_the_recording(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    env = {**QUICK, "GOLIVE_HLS_LINGER": "10"}
    with golive_serve(tmp_path, "--open-publish", env=env) as srv:
        path = sample(duration=3.0, size="320x240", fps=30, bitrate="400k")
        await publish(path, f"{srv.rtmp}/again", realtime=True)
        first = await one_ended(http, srv.http, "again", "ended")
        await publish(path, f"{srv.rtmp}/again", realtime=True)
        rec = await one_ended(http, srv.http, "again", "ended")
        assert rec["id"] == first["id"], "one recording, continued"
        async with http.get(f"{srv.http}{rec['playlist_url']}") as resp:
            assert "max-age=5" in resp.headers["Cache-Control"]  # it could go on still
            text = await resp.text()
        assert text.count("#EXT-X-DISCONTINUITY\n") == 1, text
        assert rec["discontinuities"] == 1
        assert abs(rec["duration"] - 6.0) < 0.3, rec
        # Coded frames: ffmpeg's decoder, reset by the timestamps starting over after the
        # discontinuity, loses the few frames it held for reordering.
        url = f"{srv.http}{rec['playlist_url']}"
        frames, _ = await asyncio.to_thread(probe_frames, url, False)
        assert frames == 180


async def test_retention_deletes_the_oldest_recordings(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    env = {**QUICK, "GOLIVE_HLS_LINGER": "0.5", "GOLIVE_RECORDINGS_KEEP": "2"}
    with golive_serve(tmp_path, "--open-publish", env=env) as srv:
        path = sample(duration=3.0, size="320x240", fps=30, bitrate="400k")
        ids: list[str] = []
        for _ in range(3):
            await publish(path, f"{srv.rtmp}/kept")
            # The room goes after the linger; the next publish is a new recording.
            await until(lambda: _room_gone(http, srv.http, "kept"), "the room is gone", timeout=10)

            async def new_one() -> bool:
                found = await recordings_of(http, srv.http, "kept")
                return (
                    bool(found) and found[0]["id"] not in ids and found[0]["status"] == ("complete")
                )

            await until(new_one, "a new recording completes")
            ids.append((await recordings_of(http, srv.http, "kept"))[0]["id"])
        left = [r["id"] for r in await recordings_of(http, srv.http, "kept")]
        assert left == [ids[2], ids[1]], (left, ids)
        folder = tmp_path / "data" / "recordings" / "kept"
        assert sorted(p.name for p in folder.iterdir()) == sorted(ids[1:])
        async with http.get(f"{srv.http}/recordings/{ids[0]}/index.m3u8") as resp:
            assert resp.status == 404


async def test_the_ladder_is_recorded_beside_the_source_copy(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = tmp_path / "golive.toml"
    config.write_text(
        "[recordings]\nladder = true\n"
        '[[transcode.rendition]]\nname = "low"\nheight = 120\nbitrate = "150k"\n'
    )
    with golive_serve(tmp_path, "--open-publish", "--config", str(config), env=QUICK) as srv:
        path = sample(duration=6.0, size="320x240", fps=30, bitrate="400k")
        await publish(path, f"{srv.rtmp}/ladder", realtime=True)
        rec = await one_ended(http, srv.http, "ladder", "complete")
        assert rec["renditions"] == ["source", "low"], rec
        master = await wait_playlist(http, f"{srv.http}{rec['multivariant_url']}")
        assert master.count("#EXT-X-STREAM-INF:") == 2, master
        assert "RESOLUTION=320x240" in master and "RESOLUTION=160x120" in master, master
        base = f"{srv.http}/recordings/{rec['id']}"
        low = await wait_playlist(http, f"{base}/low/index.m3u8")
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in low and "#EXT-X-ENDLIST" in low
        source_frames, _ = await asyncio.to_thread(probe_frames, f"{base}/index.m3u8")
        low_frames, low_duration = await asyncio.to_thread(probe_frames, f"{base}/low/index.m3u8")
        assert source_frames == 180
        # The transcoder starts at the first keyframe it is given: a few frames may be missing
        # at the start, never more than a second.
        assert 150 <= low_frames <= 180, low_frames
        assert abs(low_duration - 6.0) < 1.0, low_duration
        # ffmpeg's HLS client reads the multivariant playlist too.
        frames, _ = await asyncio.to_thread(probe_frames, f"{srv.http}{rec['multivariant_url']}")
        assert frames in (source_frames, low_frames)


async def _room_gone(http: aiohttp.ClientSession, base: str, name: str) -> bool:
    async with http.get(f"{base}/hls/{name}/index.m3u8") as resp:
        return resp.status == 404


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
async def test_a_full_disk_pauses_the_recording_not_the_live_stream(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    folder = tmp_path / "data" / "recordings"
    folder.mkdir(parents=True)
    await asyncio.to_thread(_run, "mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder))
    try:
        with golive_serve(tmp_path, "--open-publish", env=QUICK) as srv:
            path = sample(duration=30.0, size="640x360", fps=30, bitrate="3000k")
            publisher = await start_publisher(path, f"{srv.rtmp}/full", loop=True)
            try:
                live = f"{srv.http}/hls/full/source/index.m3u8"
                await wait_playlist(http, live)

                async def paused() -> bool:
                    found = await recordings_of(http, srv.http, "full")
                    return bool(found) and found[0]["paused"]

                await until(paused, "the recording pauses", timeout=30)
                # Live streaming goes on: new segments keep coming.
                before = await _newest_msn(http, live)
                await asyncio.sleep(4.5)
                assert await _newest_msn(http, live) > before
                assert "paused: " in srv.log_tail()
                # ... and the operator sees it in /metrics (loopback may read it).
                figures = await _metrics(http, srv.http)
                assert figures["golive_recordings_paused"] == 1
                assert figures["golive_recording_pauses_total"] >= 1
                # Space is back: the recording resumes, after a discontinuity.
                await asyncio.to_thread(_run, "mount", "-o", "remount,size=64m", str(folder))

                async def resumed() -> bool:
                    found = await recordings_of(http, srv.http, "full")
                    return not found[0]["paused"] and found[0]["discontinuities"] >= 1

                await until(resumed, "the recording resumes", timeout=30)
                assert "resumed" in srv.log_tail()
                assert (await _metrics(http, srv.http))["golive_recordings_paused"] == 0
            finally:
                publisher.kill()
                await publisher.wait()
            rec = await one_ended(http, srv.http, "full", "complete")
            text = await wait_playlist(http, f"{srv.http}{rec['playlist_url']}")
            assert "#EXT-X-DISCONTINUITY" in text and "#EXT-X-ENDLIST" in text
    finally:
        await asyncio.to_thread(_run, "umount", "-l", str(folder))


async def _metrics(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The series without labels of /metrics, by name."""
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name and not name.startswith("#") and "{" not in name
    }


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, timeout=30)


async def _newest_msn(http: aiohttp.ClientSession, url: str) -> int:
    text = await wait_playlist(http, url)
    sequence = int(text.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0])
    return sequence + text.count("#EXTINF")


async def test_the_api_lists_gets_and_deletes_recordings_for_their_owner(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    with golive_serve(tmp_path, env=QUICK) as srv:
        alice = await sign_up(http, srv.http, "alice")
        bob = await sign_up(http, srv.http, "bob")
        path = sample(duration=3.0, size="320x240", fps=30, bitrate="400k")
        await publish(path, f"{srv.rtmp}/{alice['stream_key']}")
        rec = await one_ended(http, srv.http, "alice", "complete")
        base = f"{srv.http}/api/recordings"
        async with http.get(f"{base}/{rec['id']}") as resp:
            assert resp.status == 200 and (await resp.json()) == rec
        assert await recordings_of(http, srv.http, "bob") == []
        async with http.get(f"{srv.http}/api/users/-bad-/recordings") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"]
        for method, url, headers, status in [
            ("GET", f"{base}/20260101T000000Z-00000000", {}, 404),
            ("DELETE", f"{base}/{rec['id']}", {}, 401),
            ("DELETE", f"{base}/{rec['id']}", _bearer(bob), 403),
            ("DELETE", f"{base}/20260101T000000Z-00000000", _bearer(alice), 404),
        ]:
            async with http.request(method, url, headers=headers) as resp:
                assert resp.status == status, (method, url, await resp.text())
                body = await resp.json()
                assert set(body["error"]) >= {"code", "message"}
        folder = tmp_path / "data" / "recordings" / "alice" / rec["id"]
        assert (folder / "index.m3u8").exists()
        async with http.delete(f"{base}/{rec['id']}", headers=_bearer(alice)) as resp:
            assert resp.status == 204
        assert not folder.exists()
        async with http.get(f"{base}/{rec['id']}") as resp:
            assert resp.status == 404
        async with http.get(f"{srv.http}{rec['playlist_url']}") as resp:
            assert resp.status == 404
        assert await recordings_of(http, srv.http, "alice") == []


def _bearer(login: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {login['token']}"}


@pytest.fixture
def built_pages() -> None:
    if not (ROOT / "golive" / "static" / "index.html").exists():
        pytest.fail("golive/static is missing; scripts/test.sh builds it (scripts/build_web.sh)")


@pytest.mark.usefixtures("built_pages")
async def test_the_channel_page_plays_a_past_broadcast_and_its_streamer_deletes_it(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    from playwright.async_api import async_playwright, expect

    with golive_serve(tmp_path, env=QUICK) as srv:
        login = await sign_up(http, srv.http, "erin")
        path = sample(duration=4.0, size="320x240", fps=30, bitrate="400k")
        await publish(path, f"{srv.rtmp}/{login['stream_key']}")
        rec = await one_ended(http, srv.http, "erin", "complete")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
            )
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # A viewer, logged out, on the channel page: the past broadcast is listed.
            await page.goto(f"{srv.http}/erin")
            past = page.get_by_test_id("past-broadcasts")
            item = past.locator(f"[data-recording='{rec['id']}']")
            await expect(item).to_be_visible(timeout=10_000)
            await expect(item).to_contain_text("0:04")
            await item.get_by_role("button", name="Play").click()
            video = "document.querySelector('[data-testid=recording-video]')"
            await page.wait_for_function(f"() => {video}.duration > 3.5", timeout=20_000)
            await page.evaluate(f"() => {{ {video}.muted = true; {video}.currentTime = 2.0; }}")
            await page.evaluate(f"() => {video}.play()")
            await page.wait_for_function(f"() => {video}.currentTime > 2.5", timeout=20_000)

            # The streamer logs in and deletes it from the dashboard.
            await page.goto(f"{srv.http}/login")
            await page.get_by_label("Username").fill("erin")
            await page.get_by_label("Password").fill(login["password"])
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url("**/dashboard")
            mine = page.get_by_test_id("my-recordings").locator(f"[data-recording='{rec['id']}']")
            await expect(mine).to_be_visible(timeout=10_000)
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await mine.get_by_role("button", name="Delete").click()
            await expect(mine).to_have_count(0, timeout=10_000)
            assert errors == []
            await browser.close()
        assert await recordings_of(http, srv.http, "erin") == []
