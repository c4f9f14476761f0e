"""Naps between part boundaries, over a real RTMP socket into golive's ingest and packager: a
publisher that sends in real time is read a few times per part instead of once per frame,
and every part is still listed as soon as the frame that closes it arrives; a publisher that
sends faster than real time is never held back."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from golive.hls.packager import Packager
from golive.hls.settings import HlsSettings
from golive.hub import StreamHub
from golive.rtmp.limits import RtmpLimits
from golive.rtmp.server import RtmpServer, open_authorizer
from tests.harness.encoders import encode_video
from tests.harness.rtmp_client import TestPublisher

FPS = 30
_X264 = {"preset": "ultrafast", "x264-params": "keyint=30:min-keyint=30:scenecut=0:log-level=error"}
VIDEO = encode_video("libx264", 160, 96, frames=4 * FPS, options=_X264)


@asynccontextmanager
async def ingest(limits: RtmpLimits) -> AsyncIterator[tuple[RtmpServer, Packager]]:
    """RTMP ingest with the HLS packager as the stream's only consumer, as `golive serve
    --no-transcode` runs it."""
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings())
    server = RtmpServer(hub, open_authorizer, limits)
    await server.start("127.0.0.1", 0)
    try:
        yield server, packager
    finally:
        for client in TestPublisher.opened:
            client.close()
        TestPublisher.opened.clear()
        await server.stop()


async def publish(port: int, key: str, realtime: bool) -> list[float]:
    """Send the frames (at 30 fps if ``realtime``); the loop time each was sent at."""
    client = await TestPublisher.connect(port)
    await client.publish(key)
    await client.expect_status("NetStream.Publish.Start")
    await client.send(9, bytes.fromhex("1700000000") + VIDEO.extradata, 0, stream_id=1, csid=6)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent: list[float] = []
    for i, packet in enumerate(VIDEO.packets):
        if realtime:
            await asyncio.sleep(max(0.0, start + i / FPS - loop.time()))
        head = bytes.fromhex("1701000000" if packet.keyframe else "2701000000")
        await client.send(9, head + packet.data, i * 1000 // FPS, stream_id=1, csid=6)
        sent.append(loop.time())
    await asyncio.sleep(0.3)
    client.close()
    return sent


async def part_lateness(
    packager: Packager, key: str, sent: asyncio.Future[list[float]]
) -> list[float]:
    """For each part, how long after the frame that closed it was sent it was listed."""
    loop = asyncio.get_running_loop()
    while key not in packager.rooms:
        await asyncio.sleep(0.01)
    window = packager.rooms[key].source
    listed: list[tuple[float, float]] = []  # (loop time listed, its end in ms)
    end_ms = 0.0
    number = window.next_part
    while not sent.done() or number < window.next_part:
        part = await window.wait_part(number, 1.0)
        if part is None:
            continue
        end_ms += part.duration * 1000
        listed.append((loop.time(), end_ms))
        number += 1
    times = sent.result()
    late = []
    for at, end in listed:
        closing = round(end * FPS / 1000)  # the frame that starts the next part
        if closing < len(times):
            late.append(at - times[closing])
    return late


async def test_a_real_time_publisher_naps_between_parts_and_no_part_is_later() -> None:
    naps_seen: list[int] = []

    def count(server: RtmpServer) -> None:
        naps_seen.append(server.naps)

    async with ingest(RtmpLimits()) as (server, packager):
        sent = asyncio.ensure_future(publish(server.port, "napping", realtime=True))
        late = await part_lateness(packager, "napping", sent)
        count(server)
    async with ingest(RtmpLimits(read_batch=0)) as (server, packager):
        sent = asyncio.ensure_future(publish(server.port, "awake", realtime=True))
        awake = await part_lateness(packager, "awake", sent)
        count(server)
    napped, never = naps_seen
    # 4 s at 0.2 s parts: about one nap a part once the pace is known (after a second).
    assert napped >= 8, napped
    assert never == 0
    assert len(late) >= 15 and len(awake) >= 15, (len(late), len(awake))
    # Listed when the closing frame comes, nap or not (measured: medians under 1 ms, the
    # latest 1 to 2.5 ms, with naps and without).
    assert statistics.median(late) < 0.02, late
    assert max(late) < max(awake) + 0.03, (max(late), max(awake))


async def test_a_publisher_faster_than_real_time_never_naps() -> None:
    async with ingest(RtmpLimits()) as (server, packager):
        started = time.monotonic()
        await publish(server.port, "fast", realtime=False)
        took = time.monotonic() - started
        room = packager.rooms["fast"]
        # Every frame was read at once: four seconds of stream in a fraction of one.
        assert took < 1.5, took
        assert server.naps == 0
        assert room.source.next_part > 10
