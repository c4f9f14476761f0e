"""The packager on the stream hub: rooms live on across a reconnect, end, linger, go away."""

from __future__ import annotations

import asyncio

from golive.hls import playlist_parser
from golive.hls.packager import Packager
from golive.hls.settings import HlsSettings
from golive.hub import StreamHub
from tests.harness.streams import av_stream


async def feed(hub: StreamHub, room: str, seconds: float) -> None:
    stream = hub.open(room)
    for item in av_stream(seconds):
        stream.push(item)
        await asyncio.sleep(0)
    hub.close(stream)


async def settle(packager: Packager, room: str) -> None:
    for _ in range(200):
        await asyncio.sleep(0.005)
        r = packager.rooms.get(room)
        if r is not None and r.task is not None and r.task.done():
            return


async def test_ended_room_lingers_then_goes_and_a_reconnect_continues_it() -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(linger=0.3))
    await feed(hub, "alice", 5.0)
    await settle(packager, "alice")
    first = playlist_parser.parse_media(packager.rooms["alice"].source.media_playlist())
    assert first.ended
    # A reconnect within the linger continues the same playlist.
    await feed(hub, "alice", 5.0)
    await settle(packager, "alice")
    second = playlist_parser.parse_media(packager.rooms["alice"].source.media_playlist())
    assert second.media_sequence == first.media_sequence
    assert second.segments[-1].msn > first.segments[-1].msn
    assert any(s.discontinuity for s in second.segments)
    await asyncio.sleep(0.5)
    assert "alice" not in packager.rooms, "removed after the linger"
    await packager.close()
