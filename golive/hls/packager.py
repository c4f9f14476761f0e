"""Ties the stream hub to HLS: one room per publisher name, a segmenter and a rendition per
variant, kept across a publisher's reconnect and removed a while after the stream ends.

The source copy is packaged here; with a non-empty ladder, the transcoded renditions are made
beside it by ``golive.hls.transcoded`` from their own subscription, so a slow ladder can only
fall behind (and degrade) itself, never the source copy."""

from __future__ import annotations

import asyncio
import logging

from ..hub import Gap, LiveStream, StreamHub, Subscription
from ..media import Sample, TrackConfig
from ..transcode.ladder import NO_LADDER, Ladder
from ..transcode.session import LadderStatus
from .muxer import Rendition
from .segmenter import Segmenter
from .settings import HlsSettings
from .transcoded import LadderPackager

log = logging.getLogger("golive.hls")


class HlsRoom:
    def __init__(self, name: str, settings: HlsSettings) -> None:
        self.name = name
        self.settings = settings
        self.source = Rendition(
            "source",
            part_target=settings.part_target,
            segment_target=settings.segment_target,
            window=settings.window,
        )
        # In multivariant playlist order: the source copy, then the ladder's, largest first.
        self.renditions: dict[str, Rendition] = {"source": self.source}
        self.stream: LiveStream | None = None
        self.task: asyncio.Task[None] | None = None
        self.removal: asyncio.TimerHandle | None = None
        self.ladder: LadderStatus | None = None  # the transcoder's status, when there is one
        self.ladder_task: asyncio.Task[None] | None = None
        self.ladder_packager: LadderPackager | None = None

    @property
    def live(self) -> bool:
        return self.stream is not None and not self.stream.ended


class Packager:
    """Packages every live stream of the hub: the source copy, and the ``ladder``'s renditions
    (the empty ladder, the default, transcodes nothing)."""

    def __init__(
        self, hub: StreamHub, settings: HlsSettings | None = None, ladder: Ladder = NO_LADDER
    ) -> None:
        self.settings = settings or HlsSettings()
        self.ladder = ladder
        self.rooms: dict[str, HlsRoom] = {}
        hub.on_stream_started(self._started)

    def _started(self, stream: LiveStream) -> None:
        room = self.rooms.get(stream.room)
        if room is None:
            room = self.rooms[stream.room] = HlsRoom(stream.room, self.settings)
        if room.removal is not None:
            room.removal.cancel()
            room.removal = None
        room.stream = stream
        sub = stream.subscribe()
        loop = asyncio.get_running_loop()
        room.task = loop.create_task(self._package(room, sub))
        if self.ladder:
            if room.ladder_packager is not None:
                room.ladder_packager.detach()  # a takeover: the old publish lets go
            ladder = room.ladder_packager = LadderPackager(room, self.ladder, self.settings)
            room.ladder_task = loop.create_task(ladder.run(stream.subscribe()))

    async def _package(self, room: HlsRoom, sub: Subscription) -> None:
        rendition = room.source
        segmenter = Segmenter(
            part_target=self.settings.part_target, segment_target=self.settings.segment_target
        )
        rendition.begin()
        try:
            async for item in sub:
                if isinstance(item, Gap):
                    # Frames were lost: close what we have and restart at the keyframe that
                    # follows, marked as a discontinuity.
                    rendition.feed(segmenter.finish())
                    segmenter = Segmenter(
                        part_target=self.settings.part_target,
                        segment_target=self.settings.segment_target,
                    )
                    rendition.begin()
                elif isinstance(item, TrackConfig | Sample):
                    rendition.feed(segmenter.push(item))
            rendition.feed(segmenter.finish())
        except Exception:
            log.exception("room %s: packaging failed; the stream goes on without HLS", room.name)
            sub.close()
        finally:
            rendition.end()
            if room.stream is sub.stream:
                room.stream = None
                loop = asyncio.get_running_loop()
                room.removal = loop.call_later(self.settings.linger, self._remove, room)

    def _remove(self, room: HlsRoom) -> None:
        if self.rooms.get(room.name) is room and not room.live:
            del self.rooms[room.name]
            log.info("room %s: HLS playlist removed", room.name)

    async def close(self) -> None:
        for room in self.rooms.values():
            if room.task is not None:
                room.task.cancel()
            if room.ladder_task is not None:
                room.ladder_task.cancel()
            if room.removal is not None:
                room.removal.cancel()
