"""A publisher whose timestamps jump, over a real RTMP socket into golive's ingest and packager:
players keep a sane EXT-X-TARGETDURATION (RFC 8216bis, 4.4.3.1), the jump is an
EXT-X-DISCONTINUITY, and ffmpeg's HLS client (through PyAV) still reads the whole playlist."""

from __future__ import annotations

import asyncio

import av
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from golive.hls import playlist_parser
from golive.hls.packager import Packager
from golive.hls.routes import setup_hls_routes
from golive.hls.settings import HlsSettings
from tests.harness.encoders import encode_video
from tests.harness.hls import until
from tests.harness.ingest import GoliveFactory
from tests.harness.rtmp_client import TestPublisher

TEN_HOURS = 36_000_000  # ms
FRAMES = 90  # 3 s at 30 fps per span, a keyframe every 2 s
_X264 = {"preset": "ultrafast", "x264-params": "keyint=60:min-keyint=60:scenecut=0:log-level=error"}


async def _publish(port: int, starts: list[int]) -> int:
    """Publish one stream of moving stripes, one ``FRAMES`` span per start time (ms); the
    number of frames sent."""
    video = encode_video("libx264", 160, 96, frames=FRAMES, options=_X264)
    client = await TestPublisher.connect(port)
    await client.publish("jumpy")
    await client.expect_status("NetStream.Publish.Start")
    await client.send(9, bytes.fromhex("1700000000") + video.extradata, 0, stream_id=1, csid=6)
    sent = 0
    for start in starts:
        for i, packet in enumerate(video.packets):
            head = bytes.fromhex("1701000000" if packet.keyframe else "2701000000")
            await client.send(9, head + packet.data, start + i * 1000 // 30, stream_id=1, csid=6)
            sent += 1
            await asyncio.sleep(0.004)  # a few times real time
    client.close()
    return sent


def _read_all(url: str) -> int:
    """The video packets ffmpeg's HLS demuxer reads from the whole playlist."""
    with av.open(url, timeout=10) as container:
        return sum(1 for p in container.demux(video=0) if p.size)


async def test_timestamp_jumps_keep_the_target_and_players_read_on(
    golive_rtmp: GoliveFactory,
) -> None:
    golive = await golive_rtmp()
    # A window longer than both publishes: the whole stream is read back at the end.
    packager = Packager(golive.hub, HlsSettings(window=60.0))
    app = web.Application()
    setup_hls_routes(app, packager)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = f"http://127.0.0.1:{server.port}/hls/jumpy/source/index.m3u8"
    targets: set[int] = set()
    stop = asyncio.Event()

    async def watch(http: ClientSession) -> None:
        """A player polling the playlist while the publisher runs."""
        while not stop.is_set():
            async with http.get(url) as resp:
                if resp.status == 200:
                    targets.add(playlist_parser.parse_media(await resp.text()).target_duration)
            await asyncio.sleep(0.05)

    try:
        async with ClientSession() as http:
            watcher = asyncio.create_task(watch(http))
            # Ten hours ahead, then back to where it was: one publish.
            sent = await _publish(golive.port, [0, TEN_HOURS, FRAMES * 1000 // 30])
            await until(lambda: _ended(packager), "the stream ended")
            # A normal reconnect within the linger inherits nothing bad either.
            sent += await _publish(golive.port, [0])
            await until(lambda: _ended(packager), "the second stream ended")
            stop.set()
            await watcher
            async with http.get(url) as resp:
                pl = playlist_parser.parse_media(await resp.text())
        assert targets == {2}, "EXT-X-TARGETDURATION never moved"
        assert pl.ended and pl.target_duration == 2
        assert max(s.duration for s in pl.segments) < 2.5
        first = pl.segments[0].msn
        assert [s.msn for s in pl.segments] == list(range(first, first + len(pl.segments)))
        # Two jumps and one reconnect.
        assert len([s for s in pl.segments if s.discontinuity]) == 3
        read = await asyncio.to_thread(_read_all, url)
        assert read >= sent * 0.9, f"ffmpeg read {read} of {sent} frames"
    finally:
        await packager.close()
        await server.close()


async def _ended(packager: Packager) -> bool:
    room = packager.rooms.get("jumpy")
    return room is not None and room.ready and not room.live and room.source.ended
