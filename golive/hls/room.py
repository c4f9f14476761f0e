"""One room's HLS: the live window of every rendition (the source copy, then the ladder's), and
how the room describes what it serves to the HTTP routes, the API and the room registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..hub import LiveStream
from ..transcode.events import LadderStatus
from .settings import HlsSettings
from .window import LiveWindow

SOURCE = "source"  # the source copy's rendition name, first in the multivariant playlist
# Numbers a room may use per second of its life: parts are at least a frame (10 ms at 100 fps).
_NUMBERS_PER_SECOND = 100


def first_number(now: float | None = None) -> int:
    """Where a new room starts its media sequence and part numbers: the wall clock in
    hundredths of a second. A room counts more slowly than that (a part lasts at least a
    frame), so a later room of the same name starts above every number an earlier one used,
    and ``seg-N.m4s`` or ``part-N.m4s`` never names two different things: caches keep them for
    an hour (docs/caching.md, "Numbers"). Twelve digits, which the routes accept, last until
    the year 2286."""
    return int((time.time() if now is None else now) * _NUMBERS_PER_SECOND)


@dataclass(frozen=True, slots=True)
class VariantDescription:
    """One listed variant, with the attributes of its EXT-X-STREAM-INF tag (RFC 8216bis,
    4.4.6.2)."""

    name: str
    codecs: str  # CODECS, RFC 6381 strings joined by commas
    resolution: tuple[int, int] | None
    frame_rate: float | None
    bandwidth: int  # peak segment bit rate, bits per second
    average_bandwidth: int  # over the live window, bits per second
    ended: bool


@dataclass(frozen=True, slots=True)
class RoomVariants:
    """What a room serves: its ready variants in multivariant playlist order, the source
    copy first."""

    name: str
    live: bool
    variants: tuple[VariantDescription, ...]

    @property
    def source(self) -> VariantDescription:
        return self.variants[0]

    @property
    def codecs(self) -> tuple[str, ...]:
        """The source copy's codecs, one RFC 6381 string each."""
        return tuple(c for c in self.source.codecs.split(",") if c)

    @property
    def width(self) -> int | None:
        return self.source.resolution[0] if self.source.resolution else None

    @property
    def height(self) -> int | None:
        return self.source.resolution[1] if self.source.resolution else None

    @property
    def renditions(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)


class HlsRoom:
    """A room's live windows, kept across a publisher's reconnect, and the publish that feeds
    them; the packagers write here, the routes read through ``describe`` and ``window``."""

    def __init__(self, name: str, settings: HlsSettings) -> None:
        self.name = name
        self.settings = settings
        self.first_number = first_number()
        self.source = LiveWindow(
            SOURCE,
            part_target=settings.part_target,
            segment_target=settings.segment_target,
            window=settings.window,
            max_bytes=settings.max_window_bytes,
            max_segment=settings.max_segment,
            part_hold_back=settings.part_hold_back,
            room=name,
            first_number=self.first_number,
        )
        # In multivariant playlist order: the source copy, then the ladder's, largest first.
        self.windows: dict[str, LiveWindow] = {SOURCE: self.source}
        self.stream: LiveStream | None = None
        self.task: asyncio.Task[None] | None = None
        self.removal: asyncio.TimerHandle | None = None
        self.ladder: LadderStatus | None = None  # the transcoder's status, when there is one
        self.ladder_task: asyncio.Task[None] | None = None
        # Told of every window the ladder adds (golive.recordings records the renditions too).
        self.window_observers: list[Callable[[LiveWindow], None]] = []

    def window_added(self, window: LiveWindow) -> None:
        for observer in self.window_observers:
            observer(window)

    @property
    def live(self) -> bool:
        return self.stream is not None and not self.stream.ended

    @property
    def ready(self) -> bool:
        """The source copy has a part to serve: the room's playlists can be read."""
        return self.source.ready

    def window(self, rendition: str) -> LiveWindow | None:
        """The live window of a rendition that has a part to serve."""
        window = self.windows.get(rendition)
        return window if window is not None and window.ready else None

    def ready_windows(self) -> list[tuple[str, LiveWindow]]:
        return [(name, w) for name, w in self.windows.items() if w.ready]

    def describe(self) -> RoomVariants | None:
        """The room's ready variants, or None while the source copy has nothing to serve."""
        if not self.source.ready:
            return None
        variants = tuple(
            VariantDescription(
                name=name,
                codecs=w.codecs,
                resolution=w.resolution,
                frame_rate=w.frame_rate,
                bandwidth=w.peak_bandwidth,
                average_bandwidth=w.average_bandwidth,
                ended=w.ended,
            )
            for name, w in self.ready_windows()
        )
        return RoomVariants(self.name, self.live, variants)
