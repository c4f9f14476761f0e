"""The stream hub: fan-out, bounded consumers, keyframe resync, takeover."""

from __future__ import annotations

import asyncio

import pytest

from golive.hub import Gap, StreamBusyError, StreamHub
from golive.media import Codec, Kind, Sample, TrackConfig

AVC = TrackConfig(Codec.H264, b"\x01avcc")
AAC = TrackConfig(Codec.AAC, b"\x11\x90")


def video(t: int, key: bool = False, size: int = 10) -> Sample:
    return Sample(Codec.H264, t, 0, key, bytes(size))


def audio(t: int) -> Sample:
    return Sample(Codec.AAC, t, 0, True, b"a")


def drain(sub: object) -> list[object]:
    out = []
    while (item := sub.get_nowait()) is not None:  # type: ignore[attr-defined]
        out.append(item)
    return out


def test_every_consumer_gets_every_item_and_late_joiners_get_the_configs() -> None:
    hub = StreamHub(takeover_after=5.0)
    stream = hub.open("room")
    a = stream.subscribe()
    stream.push(AVC)
    stream.push(AAC)
    stream.push(video(0, True))
    b = stream.subscribe()
    stream.push(audio(10))
    assert drain(a) == [AVC, AAC, video(0, True), audio(10)]
    assert drain(b) == [AVC, AAC, audio(10)]


def test_a_slow_consumer_is_cut_back_to_the_next_keyframe() -> None:
    stream = StreamHub(takeover_after=5.0).open("room")
    stream.push(AVC)
    slow = stream.subscribe(max_items=12)
    fast = stream.subscribe(max_items=1000)
    for t in range(30):
        stream.push(video(t, key=(t % 10 == 0)))  # keyframes at 0, 10 and 20
    assert len(fast) == 31  # the config and every frame
    # The config and frames 0..10 fill the queue; frame 11 overflows it: all 12 queued items
    # and frames 11..19 are dropped, and the consumer resumes at the keyframe at 20, after a
    # Gap and the configuration again.
    assert drain(slow) == [Gap(21), AVC, *(video(t, key=(t == 20)) for t in range(20, 30))]
    assert slow.gaps == 1


def test_byte_bound_holds_memory() -> None:
    stream = StreamHub(takeover_after=5.0).open("room")
    sub = stream.subscribe(max_items=10_000, max_bytes=10_000)
    for t in range(100):
        stream.push(video(t, key=(t % 50 == 0), size=1000))
    assert sub._bytes <= 11_000
    assert sub.gaps >= 1


def test_audio_only_stream_resumes_without_waiting_for_video() -> None:
    stream = StreamHub(takeover_after=5.0).open("room")
    stream.push(AAC)
    sub = stream.subscribe(max_items=3)
    for t in range(6):
        stream.push(audio(t))
    items = drain(sub)
    assert any(isinstance(x, Gap) for x in items)
    assert items[-1] == audio(5)


async def test_get_waits_and_ends() -> None:
    hub = StreamHub(takeover_after=5.0)
    stream = hub.open("room")
    sub = stream.subscribe()

    async def consume() -> list[object]:
        return [item async for item in sub]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    stream.push(audio(1))
    await asyncio.sleep(0)
    hub.close(stream)
    assert await asyncio.wait_for(task, 1) == [audio(1)]
    assert hub.streams == {}


def test_busy_room_and_takeover(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = StreamHub(takeover_after=5.0)
    kicked: list[bool] = []
    first = hub.open("room", on_takeover=lambda reason: kicked.append(True))
    with pytest.raises(StreamBusyError):
        hub.open("room")
    first.last_activity -= 6.0  # silent for 6 s
    second = hub.open("room")
    assert kicked == [True]
    assert first.ended and not second.ended
    assert hub.streams["room"] is second


def test_listeners_see_new_streams() -> None:
    hub = StreamHub(takeover_after=5.0)
    seen: list[str] = []
    hub.on_stream_started(lambda s: seen.append(s.room))
    hub.open("a")
    hub.open("b")
    assert seen == ["a", "b"]


async def test_a_held_consumer_wakes_only_for_what_it_acts_on() -> None:
    stream = StreamHub(takeover_after=5.0).open("room")
    sub = stream.subscribe(max_items=8)
    sub.hold((Kind.VIDEO, 0, 100))  # video from 0 to 99 ms, and any audio, can wait
    got = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    for item in (video(0, True), audio(10), video(33), video(66)):
        stream.push(item)
        await asyncio.sleep(0)
        assert not got.done()
    stream.push(video(100))  # the end of the window: the consumer reads all five
    await asyncio.sleep(0)
    assert got.result() == video(0, True)
    assert drain(sub) == [audio(10), video(33), video(66), video(100)]
    for wakes in (AVC, video(-1)):  # a configuration, a sample before the window
        got = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)
        stream.push(wakes)
        await asyncio.sleep(0)
        assert got.result() == wakes
    # A queue about to overflow wakes it too, before anything is dropped.
    got = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    for t in range(7):
        stream.push(audio(t))
    await asyncio.sleep(0)
    assert not got.done()
    stream.push(audio(7))
    await asyncio.sleep(0)
    assert got.result() == audio(0)
    assert sub.gaps == 0
    sub.hold(None)  # every item wakes it again
    got = asyncio.ensure_future(sub.get())
    drain(sub)
    await asyncio.sleep(0)
    stream.push(audio(50))
    await asyncio.sleep(0)
    assert got.result() == audio(50)
