"""Ties the stream hub to HLS: one room per publisher name, a segmenter and a live window per
rendition, kept across a publisher's reconnect and removed a while after the stream ends.

The source copy is packaged here; with a non-empty ladder, the transcoded renditions are made
beside it by ``golive.hls.ladder_packager`` from their own subscription, so a slow ladder can only
fall behind (and degrade) itself, never the source copy."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ..hub import Gap, LiveStream, StreamHub, Subscription
from ..logs import escape_for_log
from ..media import Sample, TrackConfig
from ..transcode.ladder import NO_LADDER, Ladder
from .ladder_packager import LadderPackager
from .room import HlsRoom, RoomVariants
from .settings import HlsSettings

log = logging.getLogger("golive.hls")


class RoomObserver(Protocol):
    """Told when a room's HLS begins (its first publish) and when it is removed, a linger
    after its last publish ended (golive.recordings records between the two)."""

    def room_opened(self, room: HlsRoom) -> None: ...

    def room_closed(self, room: HlsRoom) -> None: ...


class Packager:
    """Packages every live stream of the hub: the source copy, and the ``ladder``'s renditions
    (the empty ladder, the default, transcodes nothing)."""

    def __init__(
        self, hub: StreamHub, settings: HlsSettings | None = None, ladder: Ladder = NO_LADDER
    ) -> None:
        self.settings = settings or HlsSettings()
        self.ladder = ladder
        self.rooms: dict[str, HlsRoom] = {}
        # The ladder packaging each room's current publish; an older one is detached when a
        # new publish takes the room over.
        self._ladders: dict[str, LadderPackager] = {}
        self._observers: list[RoomObserver] = []
        hub.on_stream_started(self._started)

    def observe(self, observer: RoomObserver) -> None:
        self._observers.append(observer)

    def describe(self, name: str) -> RoomVariants | None:
        """What room ``name`` serves, or None when it has no HLS or nothing to serve yet."""
        room = self.rooms.get(name)
        return room.describe() if room is not None else None

    def _started(self, stream: LiveStream) -> None:
        room = self.rooms.get(stream.room)
        if room is None:
            room = self.rooms[stream.room] = HlsRoom(stream.room, self.settings)
            for observer in self._observers:
                observer.room_opened(room)
        if room.removal is not None:
            room.removal.cancel()
            room.removal = None
        room.stream = stream
        sub = stream.subscribe()
        loop = asyncio.get_running_loop()
        room.task = loop.create_task(self._package(room, sub))
        if self.ladder:
            previous = self._ladders.get(room.name)
            if previous is not None:
                previous.detach()  # a takeover: the old publish lets go
            ladder = self._ladders[room.name] = LadderPackager(room, self.ladder, self.settings)
            room.ladder_task = loop.create_task(ladder.run(stream.subscribe()))

    async def _package(self, room: HlsRoom, sub: Subscription) -> None:
        window = room.source
        segmenter = window.segmenter()
        window.begin()
        try:
            async for item in sub:
                if isinstance(item, Gap):
                    # Frames were lost: close what we have and restart at the keyframe that
                    # follows, marked as a discontinuity.
                    window.feed(segmenter.finish())
                    segmenter = window.segmenter()
                    window.begin()
                elif isinstance(item, TrackConfig | Sample):
                    events = segmenter.push(item)
                    if events:
                        window.feed(events)
                if not len(sub):
                    # Read up: sleep until a sample that may close a part (or anything else).
                    sub.hold(segmenter.quiet())
            window.feed(segmenter.finish())
        except Exception:
            log.exception(
                "room %s: packaging failed; the stream goes on without HLS",
                escape_for_log(room.name),
                extra={"room": room.name, "event": "packaging_failed"},
            )
            sub.close()
        finally:
            window.end()
            if room.stream is sub.stream:
                room.stream = None
                loop = asyncio.get_running_loop()
                room.removal = loop.call_later(self.settings.linger, self._remove, room)

    def _remove(self, room: HlsRoom) -> None:
        if self.rooms.get(room.name) is room and not room.live:
            del self.rooms[room.name]
            self._ladders.pop(room.name, None)
            log.info(
                "room %s: HLS playlist removed",
                escape_for_log(room.name),
                extra={"room": room.name, "event": "playlist_removed"},
            )
            for observer in self._observers:
                observer.room_closed(room)

    async def close(self) -> None:
        for room in self.rooms.values():
            if room.task is not None:
                room.task.cancel()
            if room.ladder_task is not None:
                room.ladder_task.cancel()
            if room.removal is not None:
                room.removal.cancel()
