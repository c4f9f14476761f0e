"""`golive serve` as a user runs it: publish with ffmpeg, read the HLS back with ffmpeg's HLS
client and PyAV, fetch parts while the stream is live."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import aiohttp
import av
import pytest

from golive.hls import playlist_parser
from tests.harness.hls import wait_playlist
from tests.harness.paths import require
from tests.harness.processes import Server
from tests.harness.publishers import start_publisher
from tests.harness.samples import stream_sample

pytestmark = pytest.mark.e2e


def source_counts(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        video = audio = 0
        for packet in c.demux():
            if packet.size:
                if packet.stream.type == "video":
                    video += 1
                else:
                    audio += 1
    return video, audio


async def test_live_hls_read_back_by_ffmpeg_and_pyav(
    served: Server, http: aiohttp.ClientSession
) -> None:
    path = stream_sample()
    publisher = await start_publisher(path, f"{served.rtmp}/demo")
    base = f"{served.http}/hls/demo"
    master = await wait_playlist(http, f"{base}/index.m3u8")
    mv = playlist_parser.parse_multivariant(master)
    [variant] = mv.variants
    assert variant.codecs.startswith("avc1.") and "mp4a.40.2" in variant.codecs
    assert variant.resolution == (320, 240)
    assert variant.frame_rate == pytest.approx(30.0, abs=0.1)
    assert variant.bandwidth >= (variant.average_bandwidth or 0) > 100_000
    async with http.get(f"{base}/index.m3u8") as r:
        assert r.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Access-Control-Allow-Origin"] == "*"

    # While live: blocking reloads for the next parts, and every listed part fetched at once.
    media_url = f"{base}/{variant.uri}"
    live = playlist_parser.parse_media(await wait_playlist(http, media_url))
    assert live.part_target is not None and not live.ended
    waits = []
    for _ in range(6):
        pl = playlist_parser.parse_media(await (await http.get(media_url)).text())
        msn = pl.media_sequence + len(pl.segments)
        nxt = len(pl.trailing_parts)
        started = time.monotonic()
        async with http.get(media_url, params={"_HLS_msn": str(msn), "_HLS_part": str(nxt)}) as r:
            assert r.status == 200
            text = await r.text()
        waits.append(time.monotonic() - started)
        assert playlist_parser.parse_media(text).trailing_parts[nxt:] or (
            len(playlist_parser.parse_media(text).segments) > len(pl.segments)
        )
        uris = [p.uri for s in pl.segments for p in s.parts] + [p.uri for p in pl.trailing_parts]
        bodies = await asyncio.gather(*(http.get(f"{base}/source/{u}") for u in uris))
        assert all(b.status == 200 for b in bodies)
        for b in bodies:
            assert (await b.read())[4:8] == b"moof"
            assert "max-age" in b.headers["Cache-Control"]
            assert b.headers["Content-Type"] == "video/mp4"
    # The preload-hinted part is served as soon as it exists (RFC 8216bis, 4.4.5.3).
    pl = playlist_parser.parse_media(await (await http.get(media_url)).text())
    assert pl.preload_hint is not None
    started = time.monotonic()
    async with http.get(f"{base}/source/{pl.preload_hint.uri}") as r:
        assert r.status == 200
        assert (await r.read())[4:8] == b"moof"
    assert time.monotonic() - started < 1.0
    # A blocking reload returns about when the part arrives: never more than a part target
    # plus slack, since the request asked for the very next part.
    assert max(waits) < 1.5, waits
    # Too far ahead is a 400, not a hang.
    ahead = pl.media_sequence + len(pl.segments) + 1000
    async with http.get(media_url, params={"_HLS_msn": str(ahead)}) as r:
        assert r.status == 400
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert (await r.json())["error"]["code"] == "bad_request"

    _, err = await publisher.communicate()
    assert publisher.returncode == 0, err
    final = playlist_parser.parse_media(await (await http.get(media_url)).text())
    assert final.ended

    # ffmpeg's HLS client reads the whole (now ended) playlist: every frame decodes.
    ffmpeg = require("ffmpeg")
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-v", "error", "-i", f"{base}/index.m3u8", "-f", "null", "-",
        "-progress", "pipe:1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0
    assert err.decode().strip() == "", err.decode()
    frames = [int(x) for x in re.findall(rb"frame=(\d+)", out)]
    want_video, want_audio = source_counts(path)
    assert frames[-1] == want_video

    # PyAV decodes it too, audio and video, with continuous timestamps.
    def decode() -> tuple[list[float], int]:
        with av.open(f"{base}/index.m3u8") as c:
            vts: list[float] = []
            audio = 0
            for frame in c.decode(c.streams.video[0], c.streams.audio[0]):
                if isinstance(frame, av.VideoFrame):
                    vts.append(float(frame.time))
                else:
                    audio += 1
            return vts, audio

    vts, audio_frames = await asyncio.to_thread(decode)
    assert len(vts) == want_video
    assert audio_frames >= want_audio - 2
    steps = [b - a for a, b in itertools.pairwise(vts)]
    assert all(0.02 < s < 0.05 for s in steps), "video times must be continuous at 30 fps"


async def test_unknown_room_and_bad_names_are_404(
    served: Server, http: aiohttp.ClientSession
) -> None:
    for url in ("/hls/nobody/index.m3u8", "/hls/nobody/source/seg-1.m4s"):
        async with http.get(served.http + url) as r:
            assert r.status == 404
            error = {"code": "not_found", "message": "no such live room"}
            assert await r.json() == {"error": error}
    async with http.get(served.http + "/hls/../etc/passwd") as r:
        assert r.status == 404
