"""A room starts its numbers above every number an earlier room of its name used, so that a
cached part or segment URL never names two different things (docs/caching.md, "Numbers")."""

from __future__ import annotations

from golive.hls.room import HlsRoom, first_number
from golive.hls.segmenter import Segmenter
from golive.hls.settings import HlsSettings
from tests.harness.streams import av_stream


def test_a_later_room_starts_above_every_number_an_earlier_one_used() -> None:
    settings = HlsSettings(part_target=0.01)  # parts a frame long: the fastest count there is
    earlier = HlsRoom("r", settings)
    segmenter = Segmenter(part_target=0.01, segment_target=2.0)
    earlier.source.begin()
    for item in av_stream(60.0, gop=0.5):  # a part per frame, a segment per half second
        earlier.source.feed(segmenter.push(item))
    used = max(earlier.source.next_part, earlier.source.next_msn)
    assert used > earlier.first_number
    # The earlier room lasted as long as its media at least: a minute.
    later = first_number(now=earlier.first_number / 100 + 60.0)
    assert later > used
    assert len(str(first_number(now=2**33))) <= 12  # what the routes accept, past 2200


def test_a_room_numbers_its_first_segment_and_part_from_its_first_number() -> None:
    room = HlsRoom("r", HlsSettings())
    segmenter = Segmenter()
    room.source.begin()
    for item in av_stream(3.0):
        room.source.feed(segmenter.push(item))
    assert room.source.segments[0].msn == room.first_number
    assert room.source.segments[0].parts[0].number == room.first_number
