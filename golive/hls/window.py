"""The live window of one rendition, and the waiting behind blocking playlist reloads.

Parts and segments live in memory (RFC 8216bis, 6.2.2: the server keeps the segments of the
playlist available; 6.2.5.2: blocking reloads are held until the requested part exists). Each
part's bytes are kept once: a segment is its parts' bytes sent one after the other, never a
joined copy. The window slides by duration, no longer than LL-HLS needs by default (``_slide``),
and is capped in bytes against a publisher that bursts (``max_bytes``), so memory per stream is
about the bitrate times the window plus the segment in progress.

EXT-X-TARGETDURATION (RFC 8216bis, 4.4.3.1: every segment's duration, rounded to the nearest
integer, is at most the target, and the target does not change) is learned once, from the
window's first segment, while nobody can know the publisher's keyframe interval yet: the media
playlist is not served (``ready`` is false) until that segment completes, so no client ever sees
a target that later moves. It never exceeds ``max_target``. The segmenter is then asked to keep
every later segment within it (``segment_limit``): a keyframe interval that outgrows it, in the
same publish or after a publisher rejoins within the linger, is split at a frame boundary into a
segment that starts without a keyframe (nothing is dropped, the timeline goes on), and a
timestamp jump is a discontinuity, never a long segment.

Many players wait on one window with blocking reloads. Every change releases them in batches of
``WAKE_BATCH`` per event-loop turn, so other requests are served in between, and the playlist
text is rendered once per version of the window and shared (``media_playlist_bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ..formats import fmp4
from ..metrics import PART_LATENESS
from . import playlist
from .segmenter import (
    VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
    Discontinuity,
    InitReady,
    PartReady,
    Segmenter,
    SegmenterEvent,
)
from .settings import HlsSettings

log = logging.getLogger("golive.hls")

# Blocked requests resumed per event-loop turn when the window changes. Each costs 0.1 to 0.4 ms
# (mostly sending the answer and closing), so a turn stays around a millisecond and the loop
# serves other connections before the next batch; 4,000 held reloads go out in about a second.
WAKE_BATCH = 8
# One log line per window at most this often (seconds) about discontinuities the publisher's
# timestamps cause; the others are counted into the next line.
_BREAK_LOG_EVERY = 10.0
# Rendered playlists kept for the current version of the window, one per (delta update,
# rendition reports) combination asked for.
_RENDERED_KEPT = 16
# A segment may exceed the target by less than half a second: its duration rounded to the
# nearest integer is then still at most the target (RFC 8216bis, 4.4.3.1).
_ROUNDING = 0.499
# RFC 8216bis, 6.2.2: no segment is removed if that leaves a playlist shorter than three target
# durations; and a part removed from the playlist stays downloadable for three target durations.
_KEPT_TARGETS = 3
# RFC 8216bis, 4.4.3.8: the Skip Boundary (CAN-SKIP-UNTIL) is at least six target durations.
_SKIP_TARGETS = 6
# One log line per window at most this often (seconds) about segments dropped for the byte cap.
_CAP_LOG_EVERY = 10.0
# Durations are sums of part durations in floating point: a millisecond of slack keeps 4 x 3 s
# from counting as less than 12 s.
_SLACK = 0.001


@dataclass(slots=True)
class _Part:
    number: int  # counts every part of the rendition, across segments
    data: bytes
    duration: float
    independent: bool


@dataclass(slots=True)
class _Segment:
    msn: int
    init_id: int
    start_ms: int
    program_date_time: datetime
    discontinuity: bool
    parts: list[_Part] = field(default_factory=list)
    complete: bool = False
    # A complete segment never changes: its playlist entry, with and without its parts, is
    # built once and reused by every playlist request.
    _listed: dict[bool, playlist.Segment] = field(default_factory=dict)

    def listed(self, with_parts: bool) -> playlist.Segment:
        entry = self._listed.get(with_parts)
        if entry is None:
            parts: tuple[playlist.Part, ...] = ()
            if with_parts:
                parts = self.part_entries()
            entry = playlist.Segment(
                msn=self.msn,
                uri=f"seg-{self.msn}.m4s",
                duration=self.duration,
                parts=parts,
                program_date_time=self.program_date_time,
                discontinuity=self.discontinuity,
                map_uri=f"init-{self.init_id}.mp4",
            )
            self._listed[with_parts] = entry
        return entry

    def part_entries(self) -> tuple[playlist.Part, ...]:
        return tuple(
            playlist.Part(f"part-{p.number}.m4s", p.duration, p.independent) for p in self.parts
        )

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)

    @property
    def size(self) -> int:
        return sum(len(p.data) for p in self.parts)

    def chunks(self) -> list[bytes]:
        """The segment's bytes as its parts' bytes, in order (RFC 8216bis, 3.2: a Parent
        Segment holds the same samples as its Partial Segments): served one after the other,
        so the media is never held twice."""
        return [p.data for p in self.parts]

    def data(self) -> bytes:
        """The segment as one bytes object, joined on every call and never kept (for tests and
        tools that read a window back)."""
        return b"".join(p.data for p in self.parts)


@dataclass(frozen=True, slots=True)
class CompletedSegment:
    """A segment that will not change any more, as a window hands it to its sinks: its
    parts' bytes (the window's own, not copies), its initialization section and timing."""

    msn: int
    init_id: int
    init: bytes
    chunks: list[bytes]
    duration: float
    independent: bool  # it starts with a keyframe
    discontinuity: bool  # it follows EXT-X-DISCONTINUITY in the live playlist
    target: int  # the window's EXT-X-TARGETDURATION

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


class WindowSink(Protocol):
    """What else takes a window's output as it is made (golive.recordings): told when a
    publisher joins, of every completed segment, and when the stream ends. Called on the event
    loop: it must return at once."""

    def joined(self) -> None: ...

    def segment_done(self, segment: CompletedSegment) -> None: ...

    def ended(self) -> None: ...


def _give_up(waiter: asyncio.Future[bool]) -> None:
    """A blocked request's time is up: it is answered without the change it waited for."""
    if not waiter.done():
        waiter.set_result(False)


class WaitTooFarError(Exception):
    """A blocking reload asked for a part more than a segment ahead (RFC 8216bis, 6.2.5.2)."""


class LiveWindow:
    """One variant's media playlist: init sections, segments with their parts, the window."""

    def __init__(
        self,
        name: str,
        *,
        part_target: float,
        segment_target: float,
        window: float = HlsSettings().window,
        max_segment: float = HlsSettings().max_segment,
        max_bytes: int = HlsSettings().max_window_bytes,
        part_hold_back: float = HlsSettings().part_hold_back,
        parts_kept: int = 1,
        clock: LiveWindow | None = None,
        room: str = "",
        first_number: int = 0,
    ) -> None:
        self.name = name
        self.room = room  # for log lines
        # A rendition made from another (a transcoded one, from the source copy) dates its
        # segments on that one's clock: the same media time gets the same
        # EXT-X-PROGRAM-DATE-TIME in every variant, which players use to line variants up
        # when they switch (RFC 8216bis, 4.4.4.6 and 6.3.3).
        self.clock = clock
        self.part_target = part_target
        self.segment_target = segment_target
        self.part_hold_back = part_hold_back  # in part targets
        self.window = window  # seconds of complete segments listed, at least (see _slide)
        self.max_bytes = max_bytes  # bytes of media held, at most (see _cap)
        # Complete segments that keep their EXT-X-PART lines, the newest ones (the segment in
        # progress always does). Parts leave the playlist this early (RFC 8216bis, 6.2.1 allows
        # removing EXT-X-PART tags no longer at the live edge) so that they need to stay
        # downloadable only three target durations more (6.2.2), not six.
        self.parts_kept = parts_kept
        self.bytes = 0  # of every part held
        self.inits: dict[int, bytes] = {}
        self.init_id = 0
        self.codecs = ""
        self.resolution: tuple[int, int] | None = None
        self.frame_rate: float | None = None
        self.segments: deque[_Segment] = deque()
        # Parts are named by one counter across segments, so the preload hint can name the
        # next part before anyone knows whether a keyframe will start a new segment with it.
        self.parts: dict[int, _Part] = {}
        # The first media sequence number and part number; a room starts them where no earlier
        # room of its name reached (golive.hls.room.first_number), so that a URL never names
        # two different parts and caches may keep media for an hour.
        self.next_part = first_number
        self.next_msn = first_number
        self.discontinuity_sequence = 0
        # The bound on EXT-X-TARGETDURATION, whatever the publisher sends; a segment target
        # set above it wins (a segment lasts at least the segment target).
        self.max_target = max(1, math.ceil(max(max_segment, segment_target) - 0.01))
        self._target: int | None = None  # fixed once the window's first segment completes
        self._break_logged_at = -math.inf
        self._breaks_unlogged = 0
        self._cap_logged_at = -math.inf
        self._capped_unlogged = 0
        self.ended = False
        self._join_pending = False
        self.last_part_at = -math.inf  # time.monotonic() when the newest part was listed
        self._clock_anchor: tuple[int, float] | None = None  # (stream ms, wall clock s)
        self._sequence = 0  # mfhd sequence numbers
        self._waiters: list[asyncio.Future[bool]] = []
        self._rendered: dict[tuple[bool, tuple[playlist.RenditionReport, ...]], bytes] = {}
        self._seen_bytes: deque[tuple[float, int]] = deque()
        # Their sums, kept as parts come and go: a part is measured in O(1), not O(window).
        self._seen_time = 0.0
        self._seen_size = 0
        self.peak_bandwidth = 0
        self.average_bandwidth = 0
        self._video_frames = 0
        self._video_ticks = 0
        self.sinks: list[WindowSink] = []
        # Part lateness (golive.metrics): the smallest (arrival - media end) of the current
        # timeline, its zero point, reset with the clock anchor.
        self._late_zero = math.inf
        self._lateness = PART_LATENESS.labels(name)

    # --- feeding ------------------------------------------------------------------------

    def segmenter(self) -> Segmenter:
        """A segmenter for this window: its targets, and segments kept within the window's
        target duration."""
        return Segmenter(
            part_target=self.part_target,
            segment_target=self.segment_target,
            limit=self.segment_limit,
        )

    def begin(self) -> None:
        """A publisher (re)joins: what follows is a discontinuity if anything came before."""
        self.ended = False
        self._clock_anchor = None
        if self.segments:
            self._join_pending = True
        # The target stays: players hold it for the playlist's life. A longer keyframe interval
        # of the new publish is split to fit (``segment_limit``).
        self._notify()
        self._tell_sinks("joined")

    def feed(self, events: list[SegmenterEvent]) -> None:
        for event in events:
            if isinstance(event, InitReady):
                self._init(event)
            elif isinstance(event, Discontinuity):
                self._break(event)
            else:
                self._part(event)
        if events:
            self._notify()

    def end(self) -> None:
        if self.segments and not self.segments[-1].complete:
            self._complete(self.segments[-1])
        self.ended = True
        self._notify()
        self._tell_sinks("ended")

    def _break(self, event: Discontinuity) -> None:
        """The segmenter starts over on a new timeline: its next segment follows
        EXT-X-DISCONTINUITY (RFC 8216bis, 4.4.4.3), with dates anchored again."""
        now = time.monotonic()
        if now - self._break_logged_at >= _BREAK_LOG_EVERY:
            more = f" ({self._breaks_unlogged} more before)" if self._breaks_unlogged else ""
            log.info(
                "room %s, %s: %s; a discontinuity follows%s",
                self.room,
                self.name,
                event.reason,
                more,
            )
            self._break_logged_at = now
            self._breaks_unlogged = 0
        else:
            self._breaks_unlogged += 1
        self._clock_anchor = None
        if self.segments:
            self._join_pending = True

    def _init(self, event: InitReady) -> None:
        data = fmp4.init_segment(event.tracks)
        # A new EXT-X-MAP only when the decoder configuration really changed
        # (docs/protocol-notes.md, "Decoder configuration").
        if not self.inits or self.inits[self.init_id] != data:
            self.init_id += 1
            self.inits[self.init_id] = data
            if len(self.segments) > 0:
                self._join_pending = True
        self.codecs = ",".join(i.codec_string for i in event.infos)
        for info in event.infos:
            if info.width:
                self.resolution = (info.width, info.height)

    def _part(self, event: PartReady) -> None:
        self._observe_lateness(event)
        if self._clock_anchor is None:
            if self.clock is not None and self.clock._clock_anchor is not None:
                self._clock_anchor = self.clock._clock_anchor
            else:
                # A part is finished when the frame after it arrives, so "now" is the
                # wall-clock time of the part's end, not of its start.
                end_ms = event.start_ms + round(event.duration * 1000)
                self._clock_anchor = (end_ms, time.time())
        current = self.segments[-1] if self.segments else None
        if event.new_segment or current is None or current.complete:
            if current is not None and not current.complete:
                self._complete(current)
            anchor_ms, anchor_wall = self._clock_anchor
            pdt = datetime.fromtimestamp(anchor_wall + (event.start_ms - anchor_ms) / 1000, UTC)
            current = _Segment(self.next_msn, self.init_id, event.start_ms, pdt, self._join_pending)
            self._join_pending = False
            self.next_msn += 1
            self.segments.append(current)
            self._slide()
        self._sequence += 1
        self._count_frames(event)
        data = fmp4.fragment(self._sequence, event.runs)
        part = _Part(self.next_part, data, event.duration, event.independent)
        self.next_part += 1
        current.parts.append(part)
        self.parts[part.number] = part
        self.last_part_at = time.monotonic()
        self.bytes += len(data)
        self._measure(len(data), event.duration)
        if self.bytes > self.max_bytes:
            self._cap()

    def _observe_lateness(self, event: PartReady) -> None:
        """How late this part is cut after its end in media time, against the earliest of
        its timeline (scripts/bench_parts.py measures the same from outside)."""
        if self._clock_anchor is None:
            self._late_zero = math.inf  # a new timeline: its own zero point
        late = time.monotonic() - (event.start_ms / 1000 + event.duration)
        if late < self._late_zero:
            self._late_zero = late
        self._lateness.observe(late - self._late_zero)

    @property
    def waiting(self) -> int:
        """Requests held for the next change of this window (blocking reloads, hinted parts)."""
        return len(self._waiters)

    def _count_frames(self, event: PartReady) -> None:
        """FRAME-RATE from what was produced (RFC 8216bis, 4.4.6.2), not from metadata."""
        for run in event.runs:
            if run.track_id == VIDEO_TRACK_ID:
                self._video_frames += len(run.samples)
                self._video_ticks += sum(s.duration for s in run.samples)
        if self._video_ticks >= VIDEO_TIMESCALE // 4:
            self.frame_rate = round(self._video_frames * VIDEO_TIMESCALE / self._video_ticks, 3)
            if self._video_ticks > 30 * VIDEO_TIMESCALE:
                self._video_frames = self._video_ticks = 0

    def _complete(self, segment: _Segment) -> None:
        segment.complete = True
        if self._target is None:
            self._target = self._rounded_up(segment.duration)
        if self.sinks and segment.parts:
            done = CompletedSegment(
                msn=segment.msn,
                init_id=segment.init_id,
                init=self.inits[segment.init_id],
                chunks=[p.data for p in segment.parts],
                duration=segment.duration,
                independent=segment.parts[0].independent,
                discontinuity=segment.discontinuity,
                target=self._target,
            )
            self._tell_sinks("segment_done", done)

    def _tell_sinks(self, what: str, *args: CompletedSegment) -> None:
        """A sink's failure is logged, never the live stream's: recording is secondary."""
        for sink in self.sinks:
            try:
                getattr(sink, what)(*args)
            except Exception:
                log.exception(
                    "room %s, %s: a sink failed; live streaming goes on", self.room, self.name
                )

    def _slide(self) -> None:
        """Remove the oldest segments the playlist no longer needs, when a new one starts.

        The oldest segment goes once the complete segments after it last ``window`` seconds
        and, after the next one, three target durations (RFC 8216bis, 6.2.2). The second rule
        keeps two promises of 6.2.2: the playlist never gets shorter than three target
        durations, and the parts of the oldest segment, which left the playlist when the
        segment after it completed (``parts_kept``), stayed downloadable three target
        durations since. With 2 s segments that is four complete segments (8 s) and the one
        in progress; ``window`` asks for more (a DVR window), in memory.
        """
        # Until the target is learned, the bound on it: the window never shrinks below what
        # the target will need.
        floor = _KEPT_TARGETS * (self._target or self.max_target) - _SLACK
        complete = [s for s in self.segments if s.complete]
        after = sum(s.duration for s in complete[1:])
        while len(complete) > 2:
            following = complete[1]
            if after < self.window - _SLACK or after - following.duration < floor:
                break
            self._drop_oldest()
            complete.pop(0)
            after -= following.duration
        self._forget_inits()

    def _drop_oldest(self) -> None:
        gone = self.segments.popleft()
        for part in gone.parts:
            self.parts.pop(part.number, None)
            self.bytes -= len(part.data)
        if self.segments and self.segments[0].discontinuity:
            self.discontinuity_sequence += 1

    def _forget_inits(self) -> None:
        live_inits = {s.init_id for s in self.segments} | {self.init_id}
        for init_id in [i for i in self.inits if i not in live_inits]:
            del self.inits[init_id]

    def _cap(self) -> None:
        """Hold at most ``max_bytes`` of media, whatever the publisher sends: the window is
        counted in seconds, so a burst of bitrate would otherwise grow it without bound. The
        oldest complete segments go early (the playlist may then be shorter than RFC 8216bis,
        6.2.2 asks: the publisher's bitrate is at fault, and it is logged); the segment in
        progress is bounded by the segment limit."""
        dropped = 0
        while self.bytes > self.max_bytes and len(self.segments) > 1 and self.segments[0].complete:
            self._drop_oldest()
            dropped += 1
        if not dropped:
            return
        self._forget_inits()
        now = time.monotonic()
        if now - self._cap_logged_at >= _CAP_LOG_EVERY:
            more = f" ({self._capped_unlogged} more before)" if self._capped_unlogged else ""
            log.warning(
                "room %s, %s: the live window holds more than max_window_bytes (%.1f MiB); "
                "%d oldest segment(s) dropped early%s",
                self.room,
                self.name,
                self.max_bytes / (1 << 20),
                dropped,
                more,
            )
            self._cap_logged_at = now
            self._capped_unlogged = 0
        else:
            self._capped_unlogged += dropped

    def _measure(self, size: int, duration: float) -> None:
        """BANDWIDTH is the peak over a segment-long span, AVERAGE-BANDWIDTH over the window
        (RFC 8216bis, 4.4.6.2)."""
        self._seen_bytes.append((duration, size))
        span = 0.0
        bits = 0
        for d, n in reversed(self._seen_bytes):
            span += d
            bits += n * 8
            if span >= self.segment_target:
                break
        if span >= self.segment_target * 0.9:
            self.peak_bandwidth = max(self.peak_bandwidth, int(bits / span))
        self._seen_time += duration
        self._seen_size += size
        while self._seen_bytes and self._seen_time > self.window:
            d, n = self._seen_bytes.popleft()
            self._seen_time -= d
            self._seen_size -= n
        if not self._seen_bytes:
            self._seen_time, self._seen_size = 0.0, 0  # no rounding left behind
        if self._seen_time > 0:
            self.average_bandwidth = int(self._seen_size * 8 / self._seen_time)
        if not self.peak_bandwidth:
            self.peak_bandwidth = self.average_bandwidth

    def _notify(self) -> None:
        self._rendered.clear()
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            self._release(waiters, 0, asyncio.get_running_loop())

    def _release(
        self, waiters: list[asyncio.Future[bool]], start: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Resume one batch of blocked requests now, and the next one on the next turn."""
        end = start + WAKE_BATCH
        for waiter in waiters[start:end]:
            if not waiter.done():
                waiter.set_result(True)
        if end < len(waiters):
            loop.call_soon(self._release, waiters, end, loop)

    async def _changed(self, loop: asyncio.AbstractEventLoop, within: float) -> bool:
        """Wait for the next change of the window, at most ``within`` seconds."""
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        # A bare timer rather than asyncio.timeout: thousands of requests wait here at once,
        # and the timer answers False through the future itself, with nothing to cancel.
        timer = loop.call_later(within, _give_up, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()

    # --- reading ------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Servable: a first part exists and the target duration is fixed."""
        return self._target is not None and bool(self.segments) and bool(self.segments[0].parts)

    @property
    def media_sequence(self) -> int:
        return self.segments[0].msn if self.segments else self.next_msn

    def last_part(self) -> tuple[int, int]:
        """(msn, part index) of the newest part."""
        last = self.segments[-1]
        return last.msn, len(last.parts) - 1

    def has(self, msn: int, part: int | None) -> bool:
        if not self.segments:
            return False
        last = self.segments[-1]
        if msn < last.msn:
            return True
        if msn > last.msn:
            return False
        if part is None:
            return last.complete
        return part < len(last.parts)

    async def wait(self, msn: int, part: int | None, within: float) -> bool:
        """Hold until segment ``msn`` (part ``part``) exists; False on timeout or end."""
        if self.segments:
            last_msn = self.segments[-1].msn
            if msn > last_msn + 1 + (1 if part is None else 0):
                raise WaitTooFarError(f"_HLS_msn={msn} is too far ahead of {last_msn}")
        # The loop asked for once per request: in CPython 3.11 each asyncio.get_running_loop()
        # is a getpid() system call, and thousands of requests wait here every part.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.has(msn, part):
            if self.ended:
                return False
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._changed(loop, remaining):
                return False
        return True

    async def wait_part(self, number: int, within: float) -> _Part | None:
        """The part numbered ``number``, waiting for it when it is the next one."""
        if number > self.next_part:
            return None  # only the hinted part is waited for
        loop = asyncio.get_running_loop()  # once: see ``wait``
        deadline = loop.time() + within
        while number >= self.next_part and not self.ended:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._changed(loop, remaining):
                return None
        return self.parts.get(number)

    def segment(self, msn: int) -> _Segment | None:
        if not self.segments or msn < self.segments[0].msn or msn > self.segments[-1].msn:
            return None
        return self.segments[msn - self.segments[0].msn]

    def _rounded_up(self, duration: float) -> int:
        # 10 ms of slack: the last frame of a stream has a guessed duration.
        return min(self.max_target, max(1, math.ceil(max(duration, self.segment_target) - 0.01)))

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION (RFC 8216bis, 4.4.3.1): fixed once the window's first segment
        is complete; until then (the playlist is not served yet), the segment in progress
        rounded up."""
        if self._target is not None:
            return self._target
        growing = self.segments[-1].duration if self.segments else 0.0
        return self._rounded_up(growing)

    def segment_limit(self) -> float:
        """The longest segment the segmenter may make, in seconds: the target duration plus
        the rounding RFC 8216bis, 4.4.3.1 allows (the bound on it while it is learned)."""
        target = self.max_target if self._target is None else self._target
        return target + _ROUNDING

    def skip_boundary(self) -> float | None:
        """CAN-SKIP-UNTIL, six target durations (RFC 8216bis, 4.4.3.8), or None when the window
        is too short for a delta update to skip anything: the segments older than the Skip
        Boundary are the ones skipped (6.2.5.1), and a short window has none. Without the
        attribute, clients ask for no delta update and a server ignores ``_HLS_skip``. The
        target never changes, so neither does the answer."""
        boundary = _SKIP_TARGETS * self.target_duration
        return float(boundary) if self.window > boundary else None

    def media_playlist_bytes(
        self, skip: bool = False, reports: tuple[playlist.RenditionReport, ...] = ()
    ) -> bytes:
        """``media_playlist`` as UTF-8, rendered once per version of the window and shared by
        every request that asks the same."""
        key = (skip, reports)
        text = self._rendered.get(key)
        if text is None:
            if len(self._rendered) >= _RENDERED_KEPT:
                self._rendered.clear()
            text = self._rendered[key] = self.media_playlist(skip, reports).encode()
        return text

    def media_playlist(
        self, skip: bool = False, reports: tuple[playlist.RenditionReport, ...] = ()
    ) -> str:
        target = self.target_duration
        listed = list(self.segments)
        segments: list[playlist.Segment] = []
        complete = [seg for seg in listed if seg.complete]
        keep_parts_from = len(complete) - self.parts_kept
        for i, seg in enumerate(complete):
            segments.append(seg.listed(with_parts=i >= keep_parts_from))
        trailing: tuple[playlist.Part, ...] = ()
        trailing_discontinuity = False
        trailing_map: str | None = None
        hint = None
        if listed and not listed[-1].complete:
            seg = listed[-1]
            trailing = seg.part_entries()
            trailing_discontinuity = seg.discontinuity
            trailing_map = f"init-{seg.init_id}.mp4"
            if not self.ended:
                hint = playlist.PreloadHint(f"part-{self.next_part}.m4s")
        elif listed and not self.ended:
            hint = playlist.PreloadHint(f"part-{self.next_part}.m4s")
        pl = playlist.MediaPlaylist(
            target_duration=target,
            part_target=self.part_target,
            media_sequence=self.media_sequence,
            discontinuity_sequence=self.discontinuity_sequence,
            segments=tuple(segments),
            trailing_parts=trailing,
            preload_hint=hint,
            rendition_reports=reports,
            ended=self.ended,
            can_skip_until=self.skip_boundary(),
            part_hold_back=self.part_hold_back * self.part_target,
            trailing_discontinuity=trailing_discontinuity,
            trailing_map_uri=trailing_map,
        )
        return playlist.render_media(pl, skip=skip)
