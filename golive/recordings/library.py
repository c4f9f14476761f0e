"""Recordings on disk, and the one thread that writes them (README, "Recordings").

Every recording is a folder ``<root>/<streamer>/<id>/`` with the source copy's
initialization sections (``init-N.mp4``), its segments (``seg-N.m4s``), its media playlist
(``index.m3u8``) and a JSON sidecar (``recording.json``) that is the index: what the API lists
is read from the sidecars once at start, then kept in memory (``catalog``). No database is
involved, so SQLite, MongoDB and Redis keep their schemas.

All file work happens on the writer thread (``DiskWriter``), fed by a queue: the event loop
only hands over the bytes the packager already made and never waits for the disk. The bytes
waiting are counted; past ``queue_bytes`` the recorder pauses a recording instead of holding
more (golive.recordings.recorder). A full disk (ENOSPC, a quota, or less free space than
``min_free_bytes``) or ``max_bytes`` reached pauses a recording too: its segments are
skipped, with a log line, until one fits again, which is then written after
EXT-X-DISCONTINUITY. Live streaming never notices.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import json
import logging
import math
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..logs import escape_for_log
from .playlist import Entry, RecordingPlaylist, Variant, ended_text, render_multivariant
from .retention import Kept, to_delete
from .settings import RecordingSettings

log = logging.getLogger("golive.recordings")

SIDECAR = "recording.json"
PLAYLIST = "index.m3u8"
MULTIVARIANT = "master.m3u8"
SOURCE = "source"  # the source copy's rendition, recorded in the recording's own folder
# A recording id: its start (UTC) and eight random hex digits, so ids sort by age.
ID_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
# The streamer's folder: a room name (a username, or an open-publish stream name of the same
# shape); any other name is not recorded.
OWNER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A ladder rendition's name, as a folder of the recording.
RENDITION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# The files of a recording: the source copy's, a rendition's in its folder, the multivariant.
FILE_RE = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9_-]{0,31}/)?(?:index\.m3u8|init-[0-9]{1,6}\.mp4|seg-[0-9]{1,9}\.m4s)"
    r"|master\.m3u8"
)
# Retention runs after a recording starts or ends, and at most this often (seconds) between.
_RETENTION_EVERY = 30.0
# Seconds between two sidecars of a recording that is only growing (see _write_segment).
_SIDECAR_EVERY = 10.0
# Room left for the playlist and the sidecar beside a segment, on top of the free-space floor.
_MARGIN = 256 * 1024
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

RECORDING = "recording"  # being written
ENDED = "ended"  # its stream ended; a reconnect within the linger continues it
COMPLETE = "complete"  # never written again


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A recording as the sidecar and the API show it."""

    id: str
    owner: str
    started: float  # Unix time
    ended: float | None = None
    status: str = RECORDING
    duration: float = 0.0  # seconds of media written
    size: int = 0  # bytes of media written
    segments: int = 0
    discontinuities: int = 0
    codecs: str = ""
    width: int | None = None
    height: int | None = None
    paused: bool = False
    renditions: tuple[str, ...] = (SOURCE,)  # the source copy, then the ladder's recorded

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingInfo:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if "renditions" in values:
            values["renditions"] = tuple(values["renditions"])
        return cls(**values)

    def kept(self) -> Kept:
        return Kept(self.id, self.owner, self.started, self.ended, self.size)


@dataclass(slots=True)
class _Rendition:
    """One rendition of a recording being written: the source copy in the recording's folder,
    a ladder's rendition in a folder of its name."""

    folder: Path
    playlist: RecordingPlaylist = field(default_factory=RecordingPlaylist)
    inits: set[int] = field(default_factory=set)
    gap: bool = False  # segments were skipped: the next one written follows a discontinuity
    codecs: str = ""
    resolution: tuple[int, int] | None = None
    peak: int = 0  # the highest segment bit rate
    size: int = 0


@dataclass(slots=True)
class _Open:
    """A recording being written: the writer thread's state of it."""

    info: RecordingInfo
    folder: Path
    renditions: dict[str, _Rendition] = field(default_factory=dict)
    listed: tuple[str, ...] = ()  # the renditions in master.m3u8 as last written
    saved_at: float = -math.inf  # time.monotonic() of the last sidecar written

    def rendition(self, name: str) -> _Rendition:
        found = self.renditions.get(name)
        if found is None:
            folder = self.folder if name == SOURCE else self.folder / name
            found = self.renditions[name] = _Rendition(folder)
        return found


class DiskWriter:
    """The recordings' folder and the thread that writes it. ``catalog`` (id to
    RecordingInfo) is replaced entry by entry by the thread and read by the event loop."""

    def __init__(self, root: Path, settings: RecordingSettings) -> None:
        self.root = root
        self.settings = settings
        self.catalog: dict[str, RecordingInfo] = {}
        self._open: dict[str, _Open] = {}
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # bytes of segments queued and not written yet
        self._thread: threading.Thread | None = None
        self._retained_at = 0.0
        # For metrics: times a recording paused, and recordings paused now.
        self.pauses = 0
        self.paused_ids: set[str] = set()

    # --- event loop side --------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="golive-recordings", daemon=True)
        self._thread.start()
        self.submit(self._load)

    async def stop(self) -> None:
        """Finish the queued work, then end the thread."""
        if self._thread is None:
            return
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    @property
    def pending_bytes(self) -> int:
        return self._pending

    def submit(self, job: Callable[[], None], size: int = 0) -> None:
        if size:
            with self._lock:
                self._pending += size
        self._jobs.put(job)

    def call(self, job: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``job`` on the writer thread; its result as a future."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(job())
            except BaseException as exc:
                future.set_exception(exc)

        self._jobs.put(run)
        return future

    def mark_paused(self, recording_id: str, owner: str, why: str) -> None:
        """Pause a recording (from either side): counted and logged once per pause."""
        with self._lock:
            if recording_id in self.paused_ids:
                return
            self.paused_ids.add(recording_id)
            self.pauses += 1
        log.warning(
            "recording %s of %s paused: %s; live streaming goes on",
            recording_id,
            escape_for_log(owner),
            why,
        )

    # --- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("recordings: a disk operation failed")

    def _load(self) -> None:
        """Read the sidecars; a recording left unfinished by a stop is ended as it is."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            sidecars = list(self.root.glob(f"*/*/{SIDECAR}"))
        except OSError as exc:
            log.error("recordings: cannot read %s: %s", self.root, exc.strerror)
            return
        for path in sidecars:
            try:
                info = RecordingInfo.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                log.warning("recordings: %s is unreadable; left alone", path)
                continue
            if not ID_RE.fullmatch(info.id) or path.parent.name != info.id:
                continue
            if info.status != COMPLETE:
                info = replace(
                    info, status=COMPLETE, ended=info.ended or path.stat().st_mtime, paused=False
                )
                try:
                    listings = [path.parent / PLAYLIST, *path.parent.glob(f"*/{PLAYLIST}")]
                    for listing in listings:
                        if listing.exists():
                            _write_atomic(listing, ended_text(listing.read_text()).encode())
                    _write_atomic(path, json.dumps(info.to_json()).encode())
                except OSError as exc:
                    log.warning("recordings: cannot end %s: %s", path.parent, exc.strerror)
            self.catalog[info.id] = info
        self._retain(force=True)

    def folder(self, info: RecordingInfo) -> Path:
        return self.root / info.owner / info.id

    def open(self, info: RecordingInfo) -> None:
        folder = self.folder(info)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("recordings: cannot create %s: %s", folder, exc.strerror)
        self._open[info.id] = _Open(info, folder)
        self.catalog[info.id] = info
        self._retain(force=True)

    def write_segment(
        self,
        recording_id: str,
        rendition: str,
        number: int,
        init_id: int,
        init: bytes,
        seg: SegmentData,
    ) -> None:
        try:
            self._write_segment(recording_id, rendition, number, init_id, init, seg)
        finally:
            with self._lock:
                self._pending -= seg.size

    def _write_segment(
        self,
        recording_id: str,
        name: str,
        number: int,
        init_id: int,
        init: bytes,
        seg: SegmentData,
    ) -> None:
        rec = self._open.get(recording_id)
        if rec is None:  # deleted meanwhile
            return
        track = rec.rendition(name)
        if track.gap and not seg.independent:
            return  # a segment that resumes must start with a keyframe
        needed = seg.size + (len(init) if init_id not in track.inits else 0)
        full = self._full(needed)
        if full:
            self._pause(rec, full)
            return
        init_name = f"init-{init_id}.mp4"
        seg_name = f"seg-{number}.m4s"
        written: list[Path] = []
        discontinuity = seg.discontinuity or track.gap
        try:
            if not track.playlist.entries:
                track.folder.mkdir(parents=True, exist_ok=True)
            if init_id not in track.inits:
                written.append(track.folder / init_name)
                _write_atomic(track.folder / init_name, init)
            written.append(track.folder / seg_name)
            with open(track.folder / seg_name, "wb") as out:
                out.writelines(seg.chunks)
            track.playlist.add(Entry(seg_name, seg.duration, init_name, discontinuity))
            try:
                text = track.playlist.render(ended=False)
                _write_atomic(track.folder / PLAYLIST, text.encode())
            except OSError:
                track.playlist.pop()
                raise
        except OSError as exc:
            for path in written:
                _unlink(path)
            if exc.errno in _FULL:
                self._pause(rec, "the disk is full")
            else:
                self._pause(rec, f"cannot write {rec.folder}: {exc.strerror}")
            return
        track.inits.add(init_id)
        track.size += needed
        track.codecs = seg.codecs or track.codecs
        if seg.width and seg.height:
            track.resolution = (seg.width, seg.height)
        if seg.duration > 0:
            track.peak = max(track.peak, int(seg.size * 8 / seg.duration))
        resumed = track.gap
        track.gap = False
        if name != SOURCE:
            if resumed:
                self._resumed(rec)
            if rec.listed != tuple(rec.renditions):
                self._write_multivariant(rec)
            return
        info = rec.info
        rec.info = replace(
            info,
            duration=track.playlist.duration,
            size=info.size + needed,
            segments=info.segments + 1,
            discontinuities=info.discontinuities + (1 if discontinuity and info.segments else 0),
            codecs=seg.codecs or info.codecs,
            width=seg.width or info.width,
            height=seg.height or info.height,
            paused=False,
            # A segment after an end (a publisher taking the room over ends the old publish
            # after the new one began): the recording runs.
            status=RECORDING,
            ended=None,
        )
        if resumed:
            self._resumed(rec)
        # The catalog in memory is what the API reads; the sidecar is for the next start.
        # A steady recording writes it every _SIDECAR_EVERY (a crash then lists its size and
        # duration up to that much short; the playlist has every segment): a file created
        # and renamed per segment of every stream cost more than the segment's own write.
        if resumed or discontinuity or time.monotonic() - rec.saved_at >= _SIDECAR_EVERY:
            self._save(rec)
        else:
            self.catalog[rec.info.id] = rec.info
        if time.monotonic() - self._retained_at >= _RETENTION_EVERY:
            self._retain()

    def _resumed(self, rec: _Open) -> None:
        """The first segment written after a pause; logged once per pause."""
        if any(t.gap for t in rec.renditions.values()):
            return  # another rendition still waits for its keyframe
        with self._lock:
            if rec.info.id not in self.paused_ids:
                return
            self.paused_ids.discard(rec.info.id)
        log.warning("recording %s of %s resumed", rec.info.id, escape_for_log(rec.info.owner))

    def _write_multivariant(self, rec: _Open) -> None:
        """master.m3u8, when the ladder is recorded: every rendition that has a segment."""
        variants = [
            Variant(
                PLAYLIST if name == SOURCE else f"{name}/{PLAYLIST}",
                t.peak,
                int(t.size * 8 / t.playlist.duration) if t.playlist.duration else t.peak,
                t.codecs,
                t.resolution,
            )
            for name, t in rec.renditions.items()
            if t.playlist.entries
        ]
        names = tuple(name for name, t in rec.renditions.items() if t.playlist.entries)
        if len(names) < 2:
            return
        try:
            _write_atomic(rec.folder / MULTIVARIANT, render_multivariant(variants).encode())
        except OSError as exc:
            log.debug("recordings: cannot write %s: %s", rec.folder / MULTIVARIANT, exc)
            return
        rec.listed = names
        if rec.info.renditions != names:
            rec.info = replace(rec.info, renditions=names)
            self._save(rec)

    def _full(self, needed: int) -> str | None:
        """Why ``needed`` more bytes must not be written now, or None."""
        if self.settings.max_bytes:
            total = sum(i.size for i in self.catalog.values()) + needed
            if total > self.settings.max_bytes:
                self._retain(force=True)
                total = sum(i.size for i in self.catalog.values()) + needed
                if total > self.settings.max_bytes:
                    return "the recordings reached max_bytes"
        try:
            st = os.statvfs(self.root)
        except OSError as exc:
            return f"cannot read the free space of {self.root}: {exc.strerror}"
        free = st.f_bavail * st.f_frsize
        if free - needed - _MARGIN < self.settings.min_free_bytes:
            return f"less than min_free_bytes free on {self.root}"
        return None

    def _pause(self, rec: _Open, why: str) -> None:
        for track in rec.renditions.values():
            track.gap = True
        self.mark_paused(rec.info.id, rec.info.owner, why)
        if not rec.info.paused:
            rec.info = replace(rec.info, paused=True)
            self.catalog[rec.info.id] = rec.info

    def rejoin(self, recording_id: str) -> None:
        """A publisher came back within the linger: the recording goes on, EVENT again."""
        rec = self._open.get(recording_id)
        if rec is None:
            return
        for track in rec.renditions.values():
            track.gap = True  # a discontinuity, whatever the window says
        rec.info = replace(rec.info, status=RECORDING, ended=None)
        self._finish(rec, ended=False)

    def end(self, recording_id: str, complete: bool) -> None:
        """The stream ended: VOD playlist with EXT-X-ENDLIST; ``complete``, never again."""
        rec = self._open.get(recording_id)
        if rec is None:
            return
        with self._lock:
            self.paused_ids.discard(recording_id)
        rec.info = replace(
            rec.info,
            status=COMPLETE if complete else ENDED,
            ended=rec.info.ended or time.time(),
            paused=False,
        )
        self._finish(rec, ended=True)
        if complete:
            del self._open[recording_id]
            if not rec.info.segments:  # nothing was ever recorded
                self._delete(recording_id)
        self._retain(force=True)

    def _finish(self, rec: _Open, ended: bool) -> None:
        for track in rec.renditions.values():
            if track.playlist.entries:
                try:
                    text = track.playlist.render(ended=ended)
                    _write_atomic(track.folder / PLAYLIST, text.encode())
                except OSError as exc:
                    log.warning("recordings: cannot write %s: %s", track.folder, exc.strerror)
        if len(rec.renditions) > 1:
            self._write_multivariant(rec)  # with the final bandwidths
        self._save(rec)

    def _save(self, rec: _Open) -> None:
        self.catalog[rec.info.id] = rec.info
        rec.saved_at = time.monotonic()
        try:
            _write_atomic(rec.folder / SIDECAR, json.dumps(rec.info.to_json()).encode())
        except OSError as exc:
            # The catalog in memory is right; the sidecar is written again with the next
            # segment, and at the end.
            log.debug("recordings: cannot write the sidecar of %s: %s", rec.folder, exc)

    def _retain(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._retained_at < _RETENTION_EVERY:
            return
        self._retained_at = time.monotonic()
        kept = [i.kept() for i in self.catalog.values()]
        doomed = to_delete(kept, self.settings, time.time())
        for recording_id in doomed:
            info = self.catalog.get(recording_id)
            if info is not None:
                log.info(
                    "recording %s of %s deleted by retention",
                    recording_id,
                    escape_for_log(info.owner),
                )
            self._delete(recording_id)

    def delete(self, recording_id: str) -> bool:
        """Delete a recording (one being written stops); False when there was none."""
        if recording_id not in self.catalog:
            return False
        self._delete(recording_id)
        return True

    def _delete(self, recording_id: str) -> None:
        info = self.catalog.pop(recording_id, None)
        self._open.pop(recording_id, None)
        with self._lock:
            self.paused_ids.discard(recording_id)
        if info is not None:
            shutil.rmtree(self.folder(info), ignore_errors=True)
            owner = self.root / info.owner
            with contextlib.suppress(OSError):
                owner.rmdir()  # the streamer's last one


@dataclass(frozen=True, slots=True)
class SegmentData:
    """A segment handed to the writer thread, with what the sidecar shows of its stream."""

    chunks: list[bytes]
    duration: float
    independent: bool
    discontinuity: bool
    codecs: str = ""
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        _unlink(tmp)
        raise


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
