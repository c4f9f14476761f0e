"""The event loop's side of one publish's transcoding: what goes to the worker, what comes back.

Nothing here decodes, scales or encodes: ``feed()`` stamps a sample with its arrival time and
puts it in the worker's inbox, and the worker's events come back through
``loop.call_soon_threadsafe``. The inbox is bounded (seconds of video and bytes): when the worker
is that far behind, what is queued is thrown away, the ladder resumes at the next keyframe with
fresh codecs, and the consumer is told to mark a discontinuity. The degrader normally acts long
before that (``Ladder.max_lag``), so this is the backstop that keeps memory bounded.

Two workers with one interface: a thread of this process (the default) and a child process
(``python -m golive.transcode``). Either runs at a higher nice value than the event loop,
so on a busy machine the kernel gives ingest and the source copy the CPU first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..codecs import CodecError, describe
from ..media import Sample, TrackConfig
from .ladder import Ladder, PlannedRendition, plan
from .worker import (
    Command,
    Dropped,
    Encoded,
    EncoderParams,
    Event,
    Failed,
    Feed,
    Flush,
    Flushed,
    Start,
    read_message,
    serve,
    write_message,
)

log = logging.getLogger("golive.transcode")

Deliver = Callable[[list[Event]], None]
# The inbox holds at most this many times ``Ladder.max_lag`` seconds of video (counted in
# samples at 60 a second): the degrader has had several chances to act by then ...
BACKLOG_SECONDS_PER_LAG = 4
# ... and at most this many bytes of it.
BACKLOG_BYTES = 64 * 1024 * 1024


class Worker(Protocol):
    def send(self, command: Command | None) -> None:
        """Queue a command; None stops the worker after what is queued."""

    def clear_feeds(self) -> list[Feed]:
        """Take back the samples still queued; they will not be transcoded."""

    async def join(self, within: float) -> None:
        """Wait (at most ``within`` seconds) until the worker has stopped."""


class _Inbox:
    """A deque with a condition: the event loop appends, one worker thread takes."""

    def __init__(self) -> None:
        self._items: deque[Command | None] = deque()
        self._cond = threading.Condition()

    def put(self, item: Command | None) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def take(self) -> Command | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()

    def clear_feeds(self) -> list[Feed]:
        with self._cond:
            feeds = [c for c in self._items if isinstance(c, Feed)]
            kept = [c for c in self._items if not isinstance(c, Feed)]
            self._items.clear()
            self._items.extend(kept)
        return feeds


def _deliverer(loop: asyncio.AbstractEventLoop, deliver: Deliver) -> Deliver:
    def emit(events: list[Event]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(deliver, events)

    return emit


def lower_priority(nice: int, tid: int = 0) -> None:
    """Make thread ``tid`` (0: this one) an ordinary time-shared thread with the given nice
    value. On Linux both are per thread and inherited by the threads it starts, such as x264's
    and the decoder's.

    The policy is reset first because a thread inherits its creator's: an SVT-AV1 encoder
    (libsvtav1) opened in the process switches its caller to SCHED_FIFO 99 when it may, and
    a real-time ladder would then take the cores from the event loop whatever its nice value.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        if os.sched_getscheduler(tid) != os.SCHED_OTHER:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
    if nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, nice)


class ThreadWorker:
    """The pipeline in a thread of this process; PyAV releases the GIL while it decodes,
    scales and encodes, so the event loop only shares it for a few Python lines a frame."""

    def __init__(self, deliver: Deliver, *, nice: int, name: str) -> None:
        self._inbox = _Inbox()
        emit = _deliverer(asyncio.get_running_loop(), deliver)

        def run() -> None:
            lower_priority(nice, threading.get_native_id())
            serve(self._inbox.take, emit)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def send(self, command: Command | None) -> None:
        self._inbox.put(command)

    def clear_feeds(self) -> list[Feed]:
        return self._inbox.clear_feeds()

    async def join(self, within: float) -> None:
        await asyncio.to_thread(self._thread.join, within)


class ProcessWorker:
    """The pipeline in a child process: commands and events as framed pickles on its stdin
    and stdout, written and read by two threads of this process so the loop never blocks on
    a full pipe."""

    def __init__(self, deliver: Deliver, *, nice: int, name: str) -> None:
        self._inbox = _Inbox()
        self._emit = _deliverer(asyncio.get_running_loop(), deliver)
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, args=(nice,), name=name)
        self._sender.daemon = True
        self._sender.start()

    def _send_loop(self, nice: int) -> None:
        # Started here, not on the event loop: fork and exec take milliseconds.
        cmd = [sys.executable, "-m", "golive.transcode", str(nice)]
        proc = self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._started.set()
        assert proc.stdin is not None
        receiver = threading.Thread(target=self._receive_loop, args=(proc,), daemon=True)
        receiver.start()
        try:
            while (command := self._inbox.take()) is not None:
                write_message(proc.stdin, command)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            receiver.join()
            proc.wait()

    def _receive_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            try:
                while (events := read_message(proc.stdout)) is not None:
                    self._emit(events)
            except Exception as exc:
                self._emit([Failed(f"reading from the worker process: {exc!r}")])
                proc.kill()
                return
        code = proc.wait()
        if code != 0:
            self._emit([Failed(f"the worker process exited with code {code}")])

    def send(self, command: Command | None) -> None:
        self._inbox.put(command)

    def clear_feeds(self) -> list[Feed]:
        return self._inbox.clear_feeds()

    async def join(self, within: float) -> None:
        await asyncio.to_thread(self._sender.join, within)
        if self._sender.is_alive() and self._proc is not None:
            self._proc.kill()


@dataclass
class LadderStatus:
    """What the ladder is doing, for the stream's status."""

    worker: str
    planned: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    dropped: list[dict[str, object]] = field(default_factory=list)
    lag: float = 0.0  # seconds behind real time, as of the last sample
    restarts: int = 0  # times the inbox overflowed or samples were lost upstream
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error:
            return "failed"
        if not self.planned:
            return "idle"
        if self.dropped:
            return "degraded"
        return "running"

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "worker": self.worker,
            "planned": list(self.planned),
            "active": list(self.active),
            "dropped": list(self.dropped),
            "lag": round(self.lag, 3),
            "restarts": self.restarts,
            "error": self.error,
        }


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
            log.warning("room %s: no ladder, unreadable video configuration: %s", self.room, exc)
            info = None
        planned = plan(self.ladder, info.width, info.height, fps) if info else ()
        if not planned and info is not None:
            log.info(
                "room %s: no transcoded renditions below the source's %dx%d",
                self.room,
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
                self.room,
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
                self.room,
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
                log.warning(
                    "room %s: the ladder is %.1f s behind real time; dropped rendition %s "
                    "(still made: %s)",
                    self.room,
                    event.lag,
                    name,
                    ", ".join(self.status.active) or "none",
                )
            elif isinstance(event, Failed):
                self.status.error = event.message
                self.status.active = []
                log.error("room %s: transcoding stopped: %s", self.room, event.message)
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
            log.warning("room %s: the ladder did not drain in %.0f s", self.room, within)
        await worker.join(within)

    def abort(self) -> None:
        """Stop at once (the task was cancelled): nothing more is delivered."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.clear_feeds()
            worker.send(None)
