"""The recorder: the event loop's side of recordings (README, "Recordings";
docs/architecture.md, "Recordings").

It watches the packager's rooms (``RoomObserver``) and sits on the source copy's live window
(and, with ``ladder``, on every rendition's) as a sink (``golive.hls.window.WindowSink``): every
segment a window completes, the very bytes it serves, goes to the writer thread
(golive.recordings.library) with nothing encoded again and nothing copied. A recording lasts
as long as the room: a publisher that reconnects within the linger continues it after
EXT-X-DISCONTINUITY (and a new EXT-X-MAP when its decoder configuration changed); the room's
removal closes it for good.

Metrics: ``Recorder.pauses`` counts the times a recording paused (full disk, free-space
floor, ``max_bytes``, the writer behind), ``Recorder.paused_recordings`` is how many are
paused now, and ``Recorder.paused`` whether any is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from ..hls.room import HlsRoom
from ..hls.window import CompletedSegment, LiveWindow
from ..logs import escape_for_log
from .library import (
    ID_RE,
    MULTIVARIANT,
    OWNER_RE,
    PLAYLIST,
    RECORDING,
    RENDITION_RE,
    SOURCE,
    DiskWriter,
    RecordingInfo,
    SegmentData,
)
from .settings import RecordingSettings

log = logging.getLogger("golive.recordings")

PATH_PREFIX = "/recordings"


def new_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(4)}"


class _RoomRecording:
    """One room's recording: opened by the first segment, ended with each publish (VOD),
    continued by a publisher who rejoins within the linger, completed when the room goes."""

    def __init__(self, recorder: Recorder, owner: str) -> None:
        self.recorder = recorder
        self.writer = recorder.writer
        self.owner = owner
        self.id: str | None = None
        self.ended = False
        self.deleted = False  # its owner deleted it while live: the rest is not recorded
        self.sinks: list[tuple[LiveWindow, _Sink]] = []

    def current(self) -> str | None:
        """The recording's id, opened now if this is its first segment."""
        if self.recorder.stopped or self.deleted:
            return None
        if self.id is None:
            self.id = new_id()
            info = RecordingInfo(self.id, self.owner, time.time(), status=RECORDING)
            self.writer.submit(functools.partial(self.writer.open, info))
            log.info("room %s: recording %s", escape_for_log(self.owner), self.id)
        return self.id

    def attach(self, window: LiveWindow, rendition: str) -> None:
        sink = _Sink(self, window, rendition)
        window.sinks.append(sink)
        self.sinks.append((window, sink))

    def joined(self) -> None:
        if self.id is not None and self.ended:
            self.ended = False
            self.writer.submit(functools.partial(self.writer.rejoin, self.id))

    def publish_ended(self) -> None:
        # Every time, though it ended already: when a publisher takes the room over, the old
        # publish's end may come after the new one began, and the new one's end must count.
        if self.id is not None:
            self.ended = True
            self.writer.submit(functools.partial(self.writer.end, self.id, False))

    def close(self) -> None:
        """The room is gone (or golive stops): the recording is complete."""
        for window, sink in self.sinks:
            if sink in window.sinks:
                window.sinks.remove(sink)
        self.sinks.clear()
        if self.id is not None:
            self.writer.submit(functools.partial(self.writer.end, self.id, True))
            self.id = None


class _Sink:
    """A live window's sink (golive.hls.window.WindowSink): its completed segments go to the
    writer thread. The source copy's window says when a publish ends or rejoins."""

    def __init__(self, recording: _RoomRecording, window: LiveWindow, rendition: str) -> None:
        self.recording = recording
        self.window = window
        self.rendition = rendition
        self.number = 0  # the next segment's file number
        self.skipping = False  # the writer was behind: wait for a keyframe, then mark a gap

    def joined(self) -> None:
        if self.rendition == SOURCE:
            self.recording.joined()

    def ended(self) -> None:
        if self.rendition == SOURCE:
            self.recording.publish_ended()

    def segment_done(self, segment: CompletedSegment) -> None:
        recording_id = self.recording.current()
        if recording_id is None:
            return
        if self.skipping and not segment.independent:
            return
        writer = self.recording.writer
        size = segment.size
        if writer.pending_bytes + size > self.recording.recorder.settings.queue_bytes:
            self.skipping = True
            writer.mark_paused(
                recording_id, self.recording.owner, "the disk is slower than the streams"
            )
            return
        width, height = self.window.resolution or (None, None)
        data = SegmentData(
            chunks=segment.chunks,
            duration=segment.duration,
            independent=segment.independent,
            discontinuity=segment.discontinuity or self.skipping,
            codecs=self.window.codecs,
            width=width,
            height=height,
        )
        self.skipping = False
        job = functools.partial(
            writer.write_segment,
            recording_id,
            self.rendition,
            self.number,
            segment.init_id,
            segment.init,
            data,
        )
        self.number += 1
        writer.submit(job, size)


class Recorder:
    """Records every room of the packager it observes, into ``root``; serves what is on disk
    to the API and the recordings' HTTP routes."""

    def __init__(self, root: Path, settings: RecordingSettings) -> None:
        self.settings = settings
        self.writer = DiskWriter(root, settings)
        self.stopped = False
        self._rooms: dict[str, tuple[HlsRoom, _RoomRecording]] = {}

    # --- metrics (golive.metrics may read these) ----------------------------------------

    @property
    def pauses(self) -> int:
        """Times a recording paused since the start: a counter."""
        return self.writer.pauses

    @property
    def paused_recordings(self) -> int:
        """Recordings paused now: a gauge."""
        return len(self.writer.paused_ids)

    @property
    def paused(self) -> bool:
        return bool(self.writer.paused_ids)

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        """End every recording (as VOD), then let the writer finish its queue."""
        for _room, recording in self._rooms.values():
            recording.close()
        self._rooms.clear()
        self.stopped = True
        await self.writer.stop()

    # --- golive.hls.packager.RoomObserver ---------------------------------------------------

    def room_opened(self, room: HlsRoom) -> None:
        if self.stopped:
            return
        if not OWNER_RE.fullmatch(room.name):
            log.info("room %s: not recorded (a name unfit for a folder)", escape_for_log(room.name))
            return
        recording = _RoomRecording(self, room.name)
        recording.attach(room.source, SOURCE)
        if self.settings.ladder:
            room.window_observers.append(functools.partial(self._rendition, recording))
        self._rooms[room.name] = (room, recording)

    @staticmethod
    def _rendition(recording: _RoomRecording, window: LiveWindow) -> None:
        if window.name == SOURCE or not RENDITION_RE.fullmatch(window.name):
            return
        recording.attach(window, window.name)

    def room_closed(self, room: HlsRoom) -> None:
        entry = self._rooms.get(room.name)
        if entry is None or entry[0] is not room:
            return
        del self._rooms[room.name]
        entry[1].close()

    # --- reading, for the API and the routes ---------------------------------------------

    def get(self, recording_id: str) -> RecordingInfo | None:
        if not ID_RE.fullmatch(recording_id):
            return None
        return self.writer.catalog.get(recording_id)

    def of_owner(self, owner: str) -> list[RecordingInfo]:
        """``owner``'s recordings, newest first."""
        found = [i for i in list(self.writer.catalog.values()) if i.owner == owner]
        return sorted(found, key=lambda i: (i.started, i.id), reverse=True)

    def path_of(self, info: RecordingInfo, name: str) -> Path:
        return self.writer.folder(info) / name

    async def delete(self, recording_id: str) -> bool:
        for _room, recording in self._rooms.values():
            if recording.id == recording_id:
                recording.id = None
                recording.deleted = True
        done = self.writer.call(functools.partial(self.writer.delete, recording_id))
        deleted: bool = await asyncio.wrap_future(done)
        return deleted

    def describe(self, recording_id: str) -> dict[str, Any] | None:
        info = self.get(recording_id)
        return recording_json(info) if info is not None else None

    def describe_all(self, owner: str) -> list[dict[str, Any]]:
        return [recording_json(i) for i in self.of_owner(owner)]


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def recording_json(info: RecordingInfo) -> dict[str, Any]:
    """A recording as the API shows it."""
    return {
        "id": info.id,
        "owner": info.owner,
        "status": info.status,
        "started_at": _iso(info.started),
        "ended_at": _iso(info.ended),
        "duration": round(info.duration, 3),
        "size": info.size,
        "codecs": [c for c in info.codecs.split(",") if c],
        "width": info.width,
        "height": info.height,
        "paused": info.paused,
        "discontinuities": info.discontinuities,
        "playlist_url": f"{PATH_PREFIX}/{info.id}/{PLAYLIST}",
        "renditions": list(info.renditions),
        "multivariant_url": (
            f"{PATH_PREFIX}/{info.id}/{MULTIVARIANT}" if len(info.renditions) > 1 else None
        ),
    }
