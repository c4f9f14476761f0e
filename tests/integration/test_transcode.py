"""The ladder with real media: a 640x360 H.264+AAC file's samples pushed into the stream hub at
their own pace, the packager making the ladder beside the source copy, and every variant read
back with PyAV and over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.hls import playlist_parser
from golive.hls.packager import Packager
from golive.hls.room import HlsRoom
from golive.hls.routes import setup_hls_routes
from golive.hls.settings import HlsSettings
from golive.hls.window import LiveWindow
from golive.hub import StreamHub
from golive.media import Codec, Kind, Sample, TrackConfig
from golive.transcode.events import Dropped, Encoded, EncoderParams, Start
from golive.transcode.ladder import Ladder, RenditionSpec, plan
from golive.transcode.pipeline import Pipeline
from tests.harness.samples import sample

TEST_LADDER = (
    RenditionSpec("360p", 360, 800_000),  # the source's own height: never made
    RenditionSpec("240p", 240, 400_000),
    RenditionSpec("160p15", 160, 200_000, 15.0),
)


def source_file() -> Path:
    return sample(duration=20.0, size="640x360", fps=30, bitrate="800k")


def file_items(path: Path, seconds: float) -> Iterator[TrackConfig | Sample]:
    """The file's decoder configurations and samples as ingest hands them to the hub."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        yield TrackConfig(Codec.AAC, bytes(audio.codec_context.extradata))
        yield TrackConfig(Codec.H264, bytes(video.codec_context.extradata))
        for packet in container.demux():
            if not packet.size or packet.dts is None or packet.pts is None:
                continue
            if packet.dts >= seconds * 1000:
                return
            codec = Codec.H264 if packet.stream.type == "video" else Codec.AAC
            dts = int(packet.dts)
            yield Sample(codec, dts, int(packet.pts) - dts, bool(packet.is_keyframe), bytes(packet))


async def publish(hub: StreamHub, room: str, seconds: float, speed: float = 1.0) -> None:
    """Push a file into the hub at ``speed`` times its own pace, then end the stream."""
    stream = hub.open(room)
    stream.metadata = {"framerate": 30.0}
    started = time.monotonic()
    for item in file_items(source_file(), seconds):
        if isinstance(item, Sample):
            delay = started + item.dts / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        stream.push(item)
    hub.close(stream)


async def finished(packager: Packager, room: str) -> HlsRoom:
    r = packager.rooms[room]
    assert r.task is not None and r.ladder_task is not None
    await asyncio.wait_for(asyncio.gather(r.task, r.ladder_task), 30)
    return r


def read_back(window: LiveWindow, tmp: Path) -> Path:
    """A rendition's live window as one fragmented MP4 file: its init section and every
    segment."""
    path = tmp / f"{window.name}.mp4"
    with open(path, "wb") as f:
        f.write(window.inits[window.init_id])
        for segment in window.segments:
            f.write(segment.data())
    return path


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        video_bytes = 0
        video_times: list[float] = []
        audio_frames = 0
        for packet in c.demux():
            if not packet.size:
                continue
            if packet.stream is v:
                video_bytes += packet.size
                for frame in packet.decode():
                    video_times.append(float(frame.time))
                    size = (frame.width, frame.height)
            else:
                audio_frames += len(packet.decode())
        duration = max(video_times) - min(video_times) + 1 / 30
        return {
            "size": size,
            "codec": v.codec_context.name,
            "frames": len(video_times),
            "video_bps": video_bytes * 8 / duration,
            "duration": duration,
            "audio_frames": audio_frames,
            "audio_rate": a.codec_context.sample_rate,
        }


async def test_every_variant_decodes_at_its_size_and_bitrate_aligned_with_audio(
    tmp_path: Path,
) -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=Ladder(TEST_LADDER))
    await publish(hub, "r", seconds=10.0, speed=2.0)
    room = await finished(packager, "r")
    assert list(room.windows) == ["source", "240p", "160p15"], "360p would be an upscale"
    assert room.ladder is not None
    assert room.ladder.as_dict()["state"] == "running" and not room.ladder.dropped

    source = room.windows["source"]
    wanted = {"240p": ((426, 240), 400_000, 30.0), "160p15": ((284, 160), 200_000, 15.0)}
    for name, (size, bitrate, fps) in wanted.items():
        window = room.windows[name]
        info = await asyncio.to_thread(probe, read_back(window, tmp_path))
        assert info["codec"] == "h264" and info["size"] == size, (name, info)
        assert window.resolution == size
        # Every source picture (or every other one, at 15 fps) of the 10 s is there.
        assert info["frames"] == pytest.approx(10 * fps, abs=2), (name, info)
        assert window.frame_rate == pytest.approx(fps, abs=0.2)
        assert info["video_bps"] == pytest.approx(bitrate, rel=0.25), (name, info)
        # The publisher's audio is in every variant, all of it.
        assert info["audio_rate"] == 48_000
        assert info["audio_frames"] >= 10 * 48_000 / 1024 - 3, (name, info)
        assert window.codecs.endswith(",mp4a.40.2")
        # Segments start at the same instants in every variant, the source copy's included.
        starts = [s.start_ms for s in window.segments]
        assert starts == [s.start_ms for s in source.segments], name
        assert len(starts) == 5
        # And the program date times match, for players lining variants up.
        pdts = [s.program_date_time for s in window.segments]
        assert pdts == [s.program_date_time for s in source.segments]
    await packager.close()


async def test_multivariant_lists_the_ladder_and_media_playlists_report_each_other() -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=Ladder(TEST_LADDER[1:]))
    app = web.Application()
    setup_hls_routes(app, packager)
    async with TestClient(TestServer(app)) as client:
        publishing = asyncio.get_running_loop().create_task(
            publish(hub, "r", seconds=6.0, speed=1.5)
        )
        # While live: wait for every variant to have a whole segment (BANDWIDTH is a peak).
        for _ in range(200):
            resp = await client.get("/hls/r/index.m3u8")
            if resp.status == 200:
                mv = playlist_parser.parse_multivariant(await resp.text())
                if len(mv.variants) == 3 and all(
                    len(packager.rooms["r"].windows[v.name or ""].segments) > 1 for v in mv.variants
                ):
                    break
            await asyncio.sleep(0.05)
        assert [v.name for v in mv.variants] == ["source", "240p", "160p15"]
        by_name = {v.name: v for v in mv.variants}
        assert by_name["240p"].resolution == (426, 240)
        assert by_name["160p15"].resolution == (284, 160)
        assert by_name["160p15"].frame_rate == pytest.approx(15.0, abs=0.2)
        assert by_name["source"].frame_rate == pytest.approx(30.0, abs=0.2)
        for v in mv.variants:
            assert v.codecs.startswith("avc1.64") and v.codecs.endswith(",mp4a.40.2")
            assert v.average_bandwidth is not None and v.bandwidth >= v.average_bandwidth > 0
        assert by_name["source"].bandwidth > by_name["240p"].bandwidth > by_name["160p15"].bandwidth
        # Each media playlist reports the other renditions (RFC 8216bis, 4.4.5.4).
        text = await (await client.get("/hls/r/240p/index.m3u8")).text()
        reports = {r.uri for r in playlist_parser.parse_media(text).rendition_reports}
        assert reports == {"../source/index.m3u8", "../160p15/index.m3u8"}
        # Blocking reload on a transcoded rendition works as on the source copy.
        pl = playlist_parser.parse_media(text)
        msn = pl.media_sequence + len(pl.segments)
        resp = await client.get(
            "/hls/r/160p15/index.m3u8", params={"_HLS_msn": str(msn), "_HLS_part": "0"}
        )
        assert resp.status == 200
        status = await (await client.get("/hls/r/status.json")).json()
        assert status["transcode"]["state"] == "running"
        assert status["transcode"]["active"] == ["240p", "160p15"]
        assert [v["name"] for v in status["variants"]] == ["source", "240p", "160p15"]
        await publishing
        await finished(packager, "r")
    await packager.close()


async def test_process_worker_makes_the_same_ladder(tmp_path: Path) -> None:
    hub = StreamHub(takeover_after=5.0)
    ladder = Ladder(TEST_LADDER[1:2], worker="process")
    packager = Packager(hub, HlsSettings(), ladder=ladder)
    await publish(hub, "p", seconds=4.0, speed=2.0)
    room = await finished(packager, "p")
    window = room.windows["240p"]
    info = await asyncio.to_thread(probe, read_back(window, tmp_path))
    assert info["size"] == (426, 240) and info["frames"] == pytest.approx(120, abs=2)
    assert [s.start_ms for s in window.segments] == [s.start_ms for s in room.source.segments]
    await packager.close()


async def test_a_reconnect_continues_the_transcoded_playlists() -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=Ladder(TEST_LADDER[2:]))
    await publish(hub, "c", seconds=3.0, speed=3.0)
    await finished(packager, "c")
    first = packager.rooms["c"].windows["160p15"]
    last_msn = first.segments[-1].msn
    assert first.ended
    await publish(hub, "c", seconds=3.0, speed=3.0)
    room = await finished(packager, "c")
    again = room.windows["160p15"]
    assert again is first, "the same playlist goes on"
    pl = playlist_parser.parse_media(again.media_playlist())
    assert pl.segments[-1].msn > last_msn
    assert any(s.discontinuity for s in pl.segments)
    await packager.close()


def test_pipeline_drops_renditions_in_order_on_its_clock() -> None:
    """The worker's own bookkeeping with real codecs, on a fake clock by which every sample
    is handled 10 s after it arrived, 0.125 s apart."""
    items = list(file_items(source_file(), 6.0))
    video = next(i for i in items if isinstance(i, TrackConfig) and i.codec is Codec.H264)
    planned = plan(Ladder(TEST_LADDER), 640, 360, 30.0)
    assert [r.name for r in planned] == ["240p", "160p15"]
    now = [100.0]
    params = EncoderParams("ultrafast", "", 2000, max_lag=3.0)
    pipeline = Pipeline(Start(video, planned, params, 30.0), clock=lambda: now[0])
    dropped_at: list[tuple[str, int]] = []
    made: list[set[int]] = []
    for n, item in enumerate(i for i in items if isinstance(i, Sample) and i.kind is Kind.VIDEO):
        now[0] += 0.125
        for event in pipeline.feed(item, arrived=now[0] - 10):
            if isinstance(event, Dropped):
                dropped_at.append((planned[event.index].name, n))
            elif isinstance(event, Encoded):
                made.append({index for index, _ in event.samples})
    # The most expensive first, at once; the next one a settling time (3 s, 24 samples
    # here) later, since the lag did not shrink; then nothing is left to make.
    assert dropped_at == [("240p", 0), ("160p15", 24)]
    assert all(0 not in m for m in made) and all(1 not in m for m in made[25:])
    assert not pipeline.renditions
    pipeline.close()


@pytest.mark.parametrize("worker", ["thread"])
async def test_overload_degrades_in_order_and_the_source_copy_stays_on_time(
    worker: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A ladder far beyond two cores (x264's slowest preset, four renditions): the ladder
    drops renditions, most expensive first, says so in the log and the status, and the source
    copy's parts keep coming at the publisher's pace."""
    overload = Ladder(
        (
            RenditionSpec("352p", 352, 1_500_000),
            RenditionSpec("300p", 300, 1_200_000),
            RenditionSpec("240p", 240, 800_000),
            RenditionSpec("120p", 120, 100_000, 5.0),
        ),
        preset="placebo",
        # No frames held back in x264: a dropped encoder has nothing left to finish, so the
        # CPU goes to the renditions still made at once (with lookahead, finishing a dropped
        # placebo encoder's frames would compete with them for a few seconds).
        tune="zerolatency",
        max_lag=1.0,
        worker=worker,
    )
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=overload)
    produced: list[tuple[float, int, float]] = []  # (wall, part number, media end in s)

    async def watch() -> None:
        seen = 0
        while True:
            room = packager.rooms.get("o")
            if room is not None:
                for seg in room.source.segments:
                    end = seg.start_ms / 1000
                    for part in seg.parts:
                        end += part.duration
                        if part.number >= seen:
                            produced.append((time.monotonic(), part.number, end))
                            seen = part.number + 1
            await asyncio.sleep(0.002)

    watcher = asyncio.get_running_loop().create_task(watch())
    caplog.set_level(logging.INFO, logger="golive")
    await publish(hub, "o", seconds=10.0)
    room = await finished(packager, "o")
    watcher.cancel()
    assert room.ladder is not None
    status = room.ladder.as_dict()
    dropped = [d["name"] for d in room.ladder.dropped]
    assert status["state"] == "degraded"
    # Most expensive first: the order of the ladder here, as it goes from large to small.
    assert dropped, status
    assert dropped == ["352p", "300p", "240p", "120p"][: len(dropped)]
    assert "120p" not in dropped, "the cheapest rendition keeps up at 5 fps"
    assert room.ladder.lag < overload.max_lag, "and the ladder caught up"
    for name in dropped:
        assert name not in room.windows, "a dropped rendition leaves the playlist"
        assert f"dropped rendition {name}" in caplog.text
    assert status["active"] == [n for n in ["352p", "300p", "240p", "120p"] if n not in dropped]
    for name in status["active"]:  # type: ignore[union-attr]
        assert room.windows[name].segments[-1].start_ms >= 8000, "still made to the end"
    # The source copy: its parts come at the publisher's pace. Lateness is counted from the
    # earliest part (the zero point, as in scripts/bench_parts.py), after the first second
    # and without the last part, which the end of the stream closes at once. Without a
    # ladder it stays within 3 ms here; a worker holding the GIL while x264 finishes frames
    # at this preset once made it 130 ms.
    numbers = [n for _, n, _ in produced]
    kept = [(w, e) for w, n, e in produced if e >= 1.0 and n != max(numbers)]
    zero = min(w - e for w, e in kept)
    lateness = sorted(w - e - zero for w, e in kept)
    assert len(lateness) >= 25
    assert lateness[int(len(lateness) * 0.95)] < 0.06, lateness
    assert lateness[-1] < 0.12, lateness
    await packager.close()


async def test_a_new_picture_size_mid_stream_replans_the_ladder() -> None:
    """The publisher switches from 640x360 to 320x240 (a new AVC sequence header): 240p is no
    longer below the source and goes; 160p goes on at the new aspect ratio after a
    discontinuity."""
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=Ladder(TEST_LADDER[1:]))
    stream = hub.open("m")
    small = sample(duration=4.0, size="320x240", fps=30, bitrate="400k")
    started = time.monotonic()
    shift = 0
    for path, seconds in ((source_file(), 3.0), (small, 3.0)):
        for item in file_items(path, seconds):
            if isinstance(item, Sample):
                item = Sample(item.codec, item.dts + shift, item.cts, item.keyframe, item.data)
                delay = started + item.dts / 3000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            stream.push(item)
        shift = 3000
    hub.close(stream)
    room = await finished(packager, "m")
    assert list(room.windows) == ["source", "160p15"]
    assert room.ladder is not None and room.ladder.planned == ["160p15"]
    window = room.windows["160p15"]
    assert window.resolution == (214, 160)
    pl = playlist_parser.parse_media(window.media_playlist())
    assert any(s.discontinuity for s in pl.segments)
    assert len(window.inits) == 2
    await packager.close()
