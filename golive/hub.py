"""The stream hub: one publisher per room, many consumers per stream.

Ingest pushes decoder configurations and samples into a ``LiveStream``; each consumer (the HLS
packager, the transcoder, a recorder, a test) reads from its own ``Subscription``. Pushing never
waits: a consumer that falls behind its bound is cut back to the next video keyframe and told so
with a ``Gap``, so a slow consumer can stall only itself, and memory per stream stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .logs import escape_for_log
from .media import Kind, Sample, TrackConfig

log = logging.getLogger("golive.hub")


@dataclass(frozen=True, slots=True)
class Gap:
    """Items were dropped because the consumer fell behind; what follows starts afresh at a
    keyframe, after the current decoder configurations."""

    dropped: int


StreamItem = TrackConfig | Sample | Gap

DEFAULT_MAX_ITEMS = 2048
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class StreamBusyError(Exception):
    """The room already has a live publisher that is still sending."""


class Subscription:
    """A bounded queue of one stream's items for one consumer."""

    def __init__(self, stream: LiveStream, max_items: int, max_bytes: int) -> None:
        self.stream = stream
        self._items: deque[StreamItem] = deque()
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._waiter: asyncio.Future[None] | None = None
        self._resync = False
        self._dropped = 0
        self.ended = False
        self.gaps = 0
        # Samples the consumer does not need to be woken for (``hold``): (kind, low, high).
        self._hold: tuple[Kind, int, int] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, item: StreamItem) -> None:
        if self._resync:
            self._dropped += 1
            if not (
                isinstance(item, Sample)
                and (item.keyframe or self.stream.video is None)
                and (item.kind is Kind.VIDEO or self.stream.video is None)
            ):
                return
            self._resync = False
            self._append(Gap(self._dropped - 1))
            self._dropped = 0
            for config in self.stream.configs():
                self._append(config)
        elif len(self._items) >= self._max_items or self._bytes >= self._max_bytes:
            self._dropped = len(self._items)
            self._items.clear()
            self._bytes = 0
            self._resync = True
            self.gaps += 1
            log.warning(
                "room %s: a consumer fell behind; dropped %d items, resuming at a keyframe",
                escape_for_log(self.stream.room),
                self._dropped,
                extra={"room": self.stream.room, "event": "consumer_behind"},
            )
            self._push(item)
            return
        self._append(item)

    def holding(self) -> tuple[Kind, int, int] | None:
        """The hold the consumer sleeps on, or None when it takes every item as it comes or
        is not asleep (woken, or still reading: its hold may be out of date)."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return None
        return self._hold

    def hold(self, until: tuple[Kind, int, int] | None) -> None:
        """Wake the consumer only for an item that may matter to it at once: not for a sample
        of another kind than ``kind``, nor for one of ``kind`` with a decode time in
        [``low``, ``high``); those are queued and read with the next item that wakes it.
        Anything else (a configuration, a gap, the end) wakes it, and so does a full queue.
        None wakes it for every item. The consumer sets it afresh whenever it has read what
        is queued: a consumer that acts per part is woken once per part, not per frame.
        """
        self._hold = until

    def _append(self, item: StreamItem) -> None:
        self._items.append(item)
        if isinstance(item, Sample):
            self._bytes += len(item.data)
            hold = self._hold
            if (
                hold is not None
                and (item.codec.kind is not hold[0] or hold[1] <= item.dts < hold[2])
                and len(self._items) < self._max_items
                and self._bytes < self._max_bytes
            ):
                return
        self._wake()

    def _end(self) -> None:
        self.ended = True
        self._wake()

    def get_nowait(self) -> StreamItem | None:
        """The next item, or None when nothing is queued."""
        if not self._items:
            return None
        item = self._items.popleft()
        if isinstance(item, Sample):
            self._bytes -= len(item.data)
        return item

    async def get(self) -> StreamItem | None:
        """The next item; None once the stream has ended and everything was read."""
        while not self._items:
            if self.ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()

    def close(self) -> None:
        self.stream.unsubscribe(self)
        self._items.clear()
        self._bytes = 0
        self._end()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamItem:
        item = await self.get()
        if item is None:
            raise StopAsyncIteration
        return item


class LiveStream:
    """A publication in progress in one room."""

    def __init__(self, room: str, on_takeover: Callable[[str], None] | None = None) -> None:
        self.room = room
        self.started_at = time.time()
        self.last_activity = time.monotonic()
        self.video: TrackConfig | None = None
        self.audio: TrackConfig | None = None
        self.metadata: dict[str, Any] = {}
        self.samples = 0
        self.bytes = 0
        self.ended = False
        self.on_takeover = on_takeover
        self._subscriptions: list[Subscription] = []
        # Decode time (ms) of the newest sample of each kind, for ``quiet_for``.
        self._newest: dict[Kind, int] = {}

    def configs(self) -> list[TrackConfig]:
        return [c for c in (self.video, self.audio) if c is not None]

    def subscribe(
        self, max_items: int = DEFAULT_MAX_ITEMS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> Subscription:
        """A new consumer; it first receives the current decoder configurations."""
        sub = Subscription(self, max_items, max_bytes)
        for config in self.configs():
            sub._append(config)
        if self.ended:
            sub._end()
        else:
            self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def push(self, item: TrackConfig | Sample) -> None:
        """Hand an item to every consumer. Never waits."""
        if isinstance(item, Sample):
            self.samples += 1
            self.bytes += len(item.data)
            self._newest[item.codec.kind] = item.dts
        elif item.kind is Kind.VIDEO:
            self.video = item
        else:
            self.audio = item
        self.last_activity = time.monotonic()
        for sub in self._subscriptions:
            sub._push(item)

    @property
    def newest_ms(self) -> int | None:
        """Decode time (ms) of the newest sample, of any kind; None before the first."""
        return max(self._newest.values()) if self._newest else None

    def quiet_for(self) -> float:
        """Seconds of media, after the newest sample, before any consumer needs another one
        at once: the least of their holds (Subscription.hold), measured from the newest
        sample of the kind each holds for. 0 when one takes every sample as it comes (no
        hold), or is not asleep on its hold (woken, or still reading)."""
        if not self._subscriptions:
            return 0.0
        least = 1 << 30
        for sub in self._subscriptions:
            hold = sub.holding()
            if hold is None:
                return 0.0
            newest = self._newest.get(hold[0])
            if newest is None:
                return 0.0
            least = min(least, hold[2] - newest)
        return max(least, 0) / 1000

    def end(self) -> None:
        self.ended = True
        for sub in self._subscriptions:
            sub._end()
        self._subscriptions.clear()


StreamListener = Callable[[LiveStream], None]


class StreamHub:
    """The live streams of this node, by room."""

    def __init__(self, *, takeover_after: float) -> None:
        # A publisher silent this long (the takeover_after setting) is taken to be a dead TCP
        # connection, and a new publisher for the same room may take over
        # (docs/protocol-notes.md, "RTMP session").
        self.takeover_after = takeover_after
        self.streams: dict[str, LiveStream] = {}
        self._listeners: list[StreamListener] = []

    def on_stream_started(self, listener: StreamListener) -> None:
        """Call ``listener`` with every stream that goes live from now on."""
        self._listeners.append(listener)

    def open(self, room: str, on_takeover: Callable[[str], None] | None = None) -> LiveStream:
        current = self.streams.get(room)
        if current is not None:
            silent = time.monotonic() - current.last_activity
            if silent < self.takeover_after:
                raise StreamBusyError(room)
            log.info(
                "room %s: publisher silent for %.1f s, the new one takes over",
                escape_for_log(room),
                silent,
                extra={"room": room, "event": "takeover"},
            )
            self.close(current)
            if current.on_takeover is not None:
                current.on_takeover("silent publisher replaced by a new one")
        stream = LiveStream(room, on_takeover)
        self.streams[room] = stream
        for listener in self._listeners:
            listener(stream)
        return stream

    def evict(self, room: str, reason: str) -> bool:
        """End the room's publish from outside (its stream key was regenerated): the stream
        ends and its publisher is told, through ``on_takeover``, to go."""
        stream = self.streams.get(room)
        if stream is None:
            return False
        log.info(
            "room %s: publisher removed: %s",
            escape_for_log(room),
            escape_for_log(reason),
            extra={"room": room, "event": "publisher_removed"},
        )
        self.close(stream)
        if stream.on_takeover is not None:
            stream.on_takeover(reason)
        return True

    def close(self, stream: LiveStream) -> None:
        if self.streams.get(stream.room) is stream:
            del self.streams[stream.room]
        stream.end()
