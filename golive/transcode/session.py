"""The event loop's side of one publish's transcoding: what goes to the worker, what comes back.

Nothing here decodes, scales or encodes: ``feed()`` stamps a sample with its arrival time and
puts it in the worker's inbox, and the worker's events come back through
``loop.call_soon_threadsafe``. The inbox is bounded (seconds of video and bytes): when the worker
is that far behind, what is queued is thrown away, the ladder resumes at the next keyframe with
fresh codecs, and the consumer is told to mark a discontinuity. The degrader normally acts long
before that (``Ladder.max_lag``), so this is the backstop that keeps memory bounded.

The worker is a thread or a child process (``golive.transcode.workers``), as the ladder says.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..codecs import CodecError, describe
from ..logs import escape_for_log
from ..media import Sample, TrackConfig
from ..metrics import LADDER_DROPS
from .events import (
    Dropped,
    Encoded,
    EncoderParams,
    Event,
    Failed,
    Feed,
    Flush,
    Flushed,
    LadderStatus,
    Start,
)
from .ladder import Ladder, PlannedRendition, plan
from .workers import Deliver, ProcessWorker, ThreadWorker, Worker

log = logging.getLogger("golive.transcode")

# The inbox holds at most this many times ``Ladder.max_lag`` seconds of video (counted in
# samples at 60 a second): the degrader has had several chances to act by then ...
BACKLOG_SECONDS_PER_LAG = 4
# ... and at most this many bytes of it.
BACKLOG_BYTES = 64 * 1024 * 1024


class LadderSession:
    """One publish's ladder: configure with the video decoder configuration, feed video
    samples; ``on_events`` gets the worker's events on the event loop."""

    def __init__(
        self,
        ladder: Ladder,
        *,
        room: str,
        gop: float,
        on_events: Deliver,
        make_worker: Callable[[Deliver], Worker] | None = None,
    ) -> None:
        self.ladder = ladder
        self.room = room
        self.params = EncoderParams(ladder.preset, ladder.tune, round(gop * 1000), ladder.max_lag)
        self.plan: tuple[PlannedRendition, ...] = ()
        self.status = LadderStatus(ladder.worker)
        self._on_events = on_events
        self._make_worker = make_worker
        self._worker: Worker | None = None
        self._queued = 0  # samples sent and not transcoded yet
        self._queued_bytes = 0
        self._max_queued = round(BACKLOG_SECONDS_PER_LAG * ladder.max_lag * 60)
        self._resync = False
        self._flushed: asyncio.Future[None] | None = None
        self.video: TrackConfig | None = None

    def configure(self, video: TrackConfig, fps: float | None) -> tuple[PlannedRendition, ...]:
        """Plan the ladder for this source and (re)start the pipeline; the plan made."""
        if video == self.video:
            return self.plan
        self.video = video
        try:
            info = describe(video)
        except CodecError as exc:
            log.warning(
                "room %s: no ladder, unreadable video configuration: %s",
                escape_for_log(self.room),
                escape_for_log(exc),
            )
            info = None
        planned = plan(self.ladder, info.width, info.height, fps) if info else ()
        if not planned and info is not None:
            log.info(
                "room %s: no transcoded renditions below the source's %dx%d",
                escape_for_log(self.room),
                info.width,
                info.height,
            )
        self.plan = planned
        self.status.planned = [r.name for r in planned]
        self.status.active = [r.name for r in planned]
        if planned:
            if self._worker is None:
                self._worker = self._start_worker()
            self._worker.send(Start(video, planned, self.params, fps))
            log.info(
                "room %s: transcoding to %s (%s worker, x264 preset %s)",
                escape_for_log(self.room),
                ", ".join(f"{r.name} {r.width}x{r.height}" for r in planned),
                self.status.worker,
                self.ladder.preset,
            )
        return planned

    def _start_worker(self) -> Worker:
        if self._make_worker is not None:
            return self._make_worker(self._deliver)
        factory = ProcessWorker if self.ladder.worker == "process" else ThreadWorker
        return factory(self._deliver, nice=self.ladder.nice, name=f"golive-ladder-{self.room}")

    def feed(self, sample: Sample) -> None:
        worker = self._worker
        if worker is None or not self.status.active:
            return
        if self._queued >= self._max_queued or self._queued_bytes >= BACKLOG_BYTES:
            cleared = worker.clear_feeds()
            self._queued -= len(cleared)
            self._queued_bytes -= sum(len(f.sample.data) for f in cleared)
            self._resync = True
            self.status.restarts += 1
            log.warning(
                "room %s: the ladder is %d samples behind; dropped them, resuming at a keyframe",
                escape_for_log(self.room),
                len(cleared),
            )
        if self._resync:
            if not sample.keyframe:
                return
            self._resync = False
            worker.send(Flush(restart=True))
        self._queued += 1
        self._queued_bytes += len(sample.data)
        worker.send(Feed(sample, time.monotonic()))

    def gap(self) -> None:
        """Samples were lost upstream: start afresh at the keyframe that follows."""
        if self._worker is not None and self.status.active:
            self._resync = True
            self.status.restarts += 1

    def _deliver(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Encoded):
                if event.feeds:
                    self._queued -= event.feeds
                    self._queued_bytes -= event.fed_bytes
                self.status.lag = event.lag
            elif isinstance(event, Dropped):
                name = self.plan[event.index].name
                if name in self.status.active:
                    self.status.active.remove(name)
                self.status.dropped.append(
                    {"name": name, "lag": round(event.lag, 3), "at": time.time()}
                )
                LADDER_DROPS.labels(name).inc()
                log.warning(
                    "room %s: the ladder is %.1f s behind real time; dropped rendition %s "
                    "(still made: %s)",
                    escape_for_log(self.room),
                    event.lag,
                    name,
                    ", ".join(self.status.active) or "none",
                    extra={"room": self.room, "event": "rendition_dropped"},
                )
            elif isinstance(event, Failed):
                self.status.error = event.message
                self.status.active = []
                log.error(
                    "room %s: transcoding stopped: %s",
                    escape_for_log(self.room),
                    escape_for_log(event.message),
                )
            elif (
                isinstance(event, Flushed)
                and not event.restart
                and self._flushed is not None
                and not self._flushed.done()
            ):
                self._flushed.set_result(None)
        self._on_events(events)

    async def close(self, within: float = 10.0) -> None:
        """Drain the encoders (their last events are delivered first), then stop the worker."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._flushed = asyncio.get_running_loop().create_future()
        worker.send(Flush(restart=False))
        worker.send(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._flushed), within)
        except TimeoutError:
            log.warning(
                "room %s: the ladder did not drain in %.0f s", escape_for_log(self.room), within
            )
        await worker.join(within)

    def abort(self) -> None:
        """Stop at once (the task was cancelled): nothing more is delivered."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.clear_feeds()
            worker.send(None)
