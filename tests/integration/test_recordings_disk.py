"""The recordings' writer on a real file system (golive.recordings.library): the kernel's
ENOSPC pauses a recording without leaving half a segment, and it resumes at a keyframe after
a discontinuity once there is room; the recorder pauses when the writer falls behind; a
recording left unfinished by a stop is ended at the next start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from golive.hls.window import CompletedSegment
from golive.recordings.library import COMPLETE, DiskWriter, RecordingInfo, SegmentData
from golive.recordings.playlist import ENDLIST
from golive.recordings.recorder import Recorder, _RoomRecording
from golive.recordings.settings import RecordingSettings

UNLIMITED = RecordingSettings(keep=0, max_bytes=0, max_age_days=0, min_free_bytes=0)


def _segment(size: int, independent: bool = True) -> SegmentData:
    return SegmentData([b"\0" * size], 2.0, independent, discontinuity=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "recordings"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_enospc_pauses_and_the_recording_resumes_after_a_discontinuity(small_disk: Path) -> None:
    writer = DiskWriter(small_disk, UNLIMITED)
    # The free-space check out of the way: the kernel itself must refuse the write.
    writer._full = lambda needed: None  # type: ignore[method-assign]
    info = RecordingInfo("20261201T000000Z-00000001", "alice", time.time())
    writer.open(info)
    folder = small_disk / "alice" / info.id
    writer.write_segment(info.id, "source", 0, 1, b"init", _segment(300_000))
    assert (folder / "seg-0.m4s").exists()
    writer.write_segment(info.id, "source", 1, 1, b"init", _segment(900_000))
    assert not (folder / "seg-1.m4s").exists(), "no half-written segment stays"
    assert writer.paused_ids == {info.id} and writer.pauses == 1
    assert writer.catalog[info.id].paused
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    writer.write_segment(info.id, "source", 2, 1, b"init", _segment(1000, independent=False))
    assert not (folder / "seg-2.m4s").exists(), "a resumed recording starts at a keyframe"
    writer.write_segment(info.id, "source", 3, 1, b"init", _segment(1000))
    assert writer.paused_ids == set() and writer.pauses == 1
    text = (folder / "index.m3u8").read_text()
    assert text.splitlines()[-2:] == ["#EXT-X-DISCONTINUITY", "#EXTINF:2.00000,"] or (
        "#EXT-X-DISCONTINUITY\n#EXTINF:2.00000,\nseg-3.m4s" in text
    )
    assert "seg-1.m4s" not in text and "seg-2.m4s" not in text
    info = writer.catalog[info.id]
    assert info.segments == 2 and info.discontinuities == 1 and not info.paused
    assert writer.pending_bytes == -(300_000 + 900_000 + 2000)  # not submitted: only counted


def test_the_free_space_floor_pauses_before_the_disk_is_full(tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    writer = DiskWriter(tmp_path, RecordingSettings(min_free_bytes=free + 1))
    info = RecordingInfo("20261201T000000Z-00000002", "bob", time.time())
    writer.open(info)
    writer.write_segment(info.id, "source", 0, 1, b"init", _segment(1000))
    assert writer.paused_ids == {info.id}
    assert not (tmp_path / "bob" / info.id / "seg-0.m4s").exists()
    writer.settings = RecordingSettings(min_free_bytes=0)
    writer.write_segment(info.id, "source", 1, 1, b"init", _segment(1000))
    assert writer.paused_ids == set()
    assert (tmp_path / "bob" / info.id / "seg-1.m4s").exists()


async def test_a_writer_behind_the_streams_pauses_the_recording(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, RecordingSettings(queue_bytes=10_000, min_free_bytes=0))
    recorder.start()

    class Window:
        resolution = (320, 240)
        codecs = "avc1.64001f"

    recording = _RoomRecording(recorder, "carol")
    window = Window()
    window.sinks = []  # type: ignore[attr-defined]
    recording.attach(window, "source")  # type: ignore[arg-type]
    (sink,) = window.sinks  # type: ignore[attr-defined]
    big = CompletedSegment(0, 1, b"init", [b"\0" * 20_000], 2.0, True, False, 2)
    small = CompletedSegment(1, 1, b"init", [b"\0" * 1_000], 2.0, False, False, 2)
    sink.segment_done(big)
    assert recorder.paused and recorder.pauses == 1 and recorder.paused_recordings == 1
    sink.segment_done(small)  # no keyframe: still skipped
    sink.segment_done(CompletedSegment(2, 1, b"init", [b"\0" * 1_000], 2.0, True, False, 2))
    recording.close()
    await recorder.stop()
    assert not recorder.paused
    (info,) = recorder.of_owner("carol")
    assert info.status == COMPLETE and info.segments == 1
    text = (tmp_path / "carol" / info.id / "index.m3u8").read_text()
    # Only the segment that starts with a keyframe after the pause was written.
    assert text.rstrip().endswith(ENDLIST) and text.count(".m4s") == 1


async def test_an_unfinished_recording_is_ended_at_the_next_start(tmp_path: Path) -> None:
    writer = DiskWriter(tmp_path, UNLIMITED)
    info = RecordingInfo("20261201T000000Z-00000003", "dave", time.time())
    writer.open(info)
    writer.write_segment(info.id, "source", 0, 1, b"init", _segment(1000))
    # The process stops here: no end. The next one reads the sidecars.
    again = DiskWriter(tmp_path, UNLIMITED)
    again.start()
    await again.stop()
    found = again.catalog[info.id]
    assert found.status == COMPLETE and found.ended is not None and found.segments == 1
    text = (tmp_path / "dave" / info.id / "index.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith(ENDLIST)
    await asyncio.sleep(0)
