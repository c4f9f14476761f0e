"""When a plain media playlist request is answered: as a part completes, so that the player's
idea of the playlist's age is right (golive.hls.answers, PLAIN_FRESH)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from golive.hls import answers
from golive.hls.reload import ReloadQuery
from golive.hls.room import HlsRoom
from golive.hls.segmenter import Segmenter
from golive.hls.settings import HlsSettings
from golive.media import Sample, TrackConfig
from tests.harness.streams import av_stream

PLAIN = ReloadQuery(msn=None, part=None, skip=False)


def live_room() -> tuple[HlsRoom, Segmenter, Iterator[Sample | TrackConfig]]:
    """A room whose source window is ready and still live, with the rest of its stream."""
    room = HlsRoom("r", HlsSettings())
    segmenter = Segmenter(part_target=room.source.part_target)
    room.source.begin()
    rest = iter(av_stream(30.0))
    while not room.source.ready:
        room.source.feed(segmenter.push(next(rest)))
    return room, segmenter, rest


def next_part(room: HlsRoom, segmenter: Segmenter, rest: Iterator[Sample | TrackConfig]) -> None:
    window = room.source
    number = window.next_part
    while window.next_part == number:
        window.feed(segmenter.push(next(rest)))


async def test_a_plain_request_right_after_a_part_is_answered_at_once() -> None:
    room, _, _ = live_room()
    now = answers.media_playlist_now(room, room.source, PLAIN)
    assert now is not None and now[1] == answers.PLAYLIST_CACHE


async def test_a_plain_request_between_parts_is_answered_when_the_next_completes() -> None:
    room, segmenter, rest = live_room()
    window = room.source
    # The newest part completed half a part target ago.
    window.last_part_at = time.monotonic() - window.part_target / 2
    assert answers.media_playlist_now(room, window, PLAIN) is None
    before = window.next_part
    held = asyncio.ensure_future(answers.media_playlist(room, window, PLAIN))
    await asyncio.sleep(0.05)
    assert not held.done(), "answered before the next part"
    next_part(room, segmenter, rest)
    body, cache = await asyncio.wait_for(held, 1.0)
    assert cache == answers.PLAYLIST_CACHE
    assert window.next_part == before + 1
    assert f"part-{before}.m4s" in body.decode(), "the answer lists the part it waited for"


async def test_a_plain_request_of_a_quiet_stream_is_answered_as_it_is() -> None:
    room, _, _ = live_room()
    window = room.source
    window.last_part_at = time.monotonic() - 10.0  # the publisher went quiet
    started = time.monotonic()
    body, _ = await answers.media_playlist(room, window, PLAIN)
    waited = time.monotonic() - started
    bound = room.settings.plain_wait * window.part_target
    assert bound * 0.9 <= waited < bound + 0.5
    assert b"#EXTM3U" in body


async def test_a_plain_request_of_an_ended_stream_is_answered_at_once() -> None:
    room, _, _ = live_room()
    window = room.source
    window.last_part_at = time.monotonic() - 10.0
    window.end()
    now = answers.media_playlist_now(room, window, PLAIN)
    assert now is not None and b"#EXT-X-ENDLIST" in now[0]


async def test_plain_wait_0_answers_plain_requests_at_once() -> None:
    room = HlsRoom("r", HlsSettings(plain_wait=0))
    segmenter = Segmenter(part_target=room.source.part_target)
    room.source.begin()
    rest = iter(av_stream(30.0))
    while not room.source.ready:
        room.source.feed(segmenter.push(next(rest)))
    room.source.last_part_at = time.monotonic() - room.source.part_target / 2
    assert answers.media_playlist_now(room, room.source, PLAIN) is not None
