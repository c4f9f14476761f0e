"""The ladder's renditions in the live window: transcoded video and the source's audio, through
the same segmenter and fMP4 writer as the source copy.

The audio is the publisher's, copied into every variant (RFC 8216bis, 4.4.6.2: each variant
carries the whole presentation). It arrives as soon as the publisher sends it while the video
comes back from the encoders later, so each variant holds the audio back and hands the segmenter
only what is not later than the video it has: the segmenter then sees the two interleaved as
they are at ingest, and cuts audio at the video part boundaries as it does for the source copy.

Live windows are kept per rendition name in the room across a publisher's reconnect, so media
sequence numbers continue and the join is a discontinuity, as for the source copy. A rendition
the ladder drops (the machine is too slow) ends and leaves the multivariant playlist; requests
for it get a 404, which makes players switch to another variant.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ..hub import Gap, LiveStream, Subscription
from ..logs import escape_for_log
from ..media import Kind, Sample, TrackConfig
from ..transcode.events import Dropped, Encoded, Event, Failed, Flushed, Opened
from ..transcode.ladder import Ladder, PlannedRendition
from ..transcode.session import LadderSession
from .room import SOURCE, HlsRoom
from .segmenter import Segmenter
from .settings import HlsSettings
from .window import LiveWindow

log = logging.getLogger("golive.hls")

# Audio held back per variant while its video is being encoded: 21 s of AAC at 48 kHz, far more
# than the encoders' delay; a variant that falls this far behind is dropped anyway.
AUDIO_HOLD = 1000


def _source_fps(stream: LiveStream) -> float | None:
    """The frame rate the publisher announced in onMetaData, if any (FLV 10.1, E.5)."""
    for key in ("framerate", "fps", "videoframerate"):
        value = stream.metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value <= 240:
            return float(value)
    return None


class _VariantWriter:
    """Writes one transcoded rendition into its live window: the encoder's video, with the
    source's audio held back until the video has caught up with it."""

    def __init__(self, planned: PlannedRendition, window: LiveWindow, settings: HlsSettings):
        self.planned = planned
        self.window = window
        self.settings = settings
        self.audio: deque[Sample] = deque(maxlen=AUDIO_HOLD)
        self.segmenter = self._segmenter()
        self.video_config: TrackConfig | None = None
        self.has_video = False  # the segmenter has had a picture (finish() needs one)

    def _segmenter(self) -> Segmenter:
        return self.window.segmenter()

    def push(self, item: TrackConfig | Sample) -> None:
        self.window.feed(self.segmenter.push(item))

    def video(self, sample: Sample) -> None:
        audio = self.audio
        while audio and audio[0].dts <= sample.dts:
            self.push(audio.popleft())
        self.push(sample)
        self.has_video = True

    def _close(self) -> None:
        if self.has_video:
            self.window.feed(self.segmenter.finish())

    def restart(self, audio_config: TrackConfig | None) -> None:
        """What follows is after a gap: close the current part and mark a discontinuity."""
        self._close()
        self.segmenter = self._segmenter()
        self.video_config = None
        self.has_video = False
        self.window.begin()
        if audio_config is not None:
            self.push(audio_config)

    def finish(self) -> None:
        # Without its video the variant stays empty rather than turning audio-only.
        while self.audio and self.has_video:
            self.push(self.audio.popleft())
        self._close()
        self.window.end()


class LadderPackager:
    """Runs one publish's ladder and packages what it makes into the room's renditions."""

    def __init__(self, room: HlsRoom, ladder: Ladder, settings: HlsSettings) -> None:
        self.room = room
        self.ladder = ladder
        self.settings = settings
        self.session = self._session()
        self.variants: dict[int, _VariantWriter] = {}  # by position in the session's plan
        self.audio_config: TrackConfig | None = None
        self.detached = False  # a newer publish took over the room's renditions

    def _session(self) -> LadderSession:
        made: list[LadderSession] = []

        def on_events(events: list[Event]) -> None:
            # A replaced session whose drain timed out may still deliver: its rendition
            # indices belong to the old plan and must not reach the new variants.
            if made and made[0] is self.session:
                self._events(events)

        session = LadderSession(
            self.ladder,
            room=self.room.name,
            gop=self.settings.segment_target,
            on_events=on_events,
        )
        made.append(session)
        self.room.ladder = session.status
        return session

    async def run(self, sub: Subscription) -> None:
        try:
            async for item in sub:
                if isinstance(item, Gap):
                    self.session.gap()
                elif isinstance(item, TrackConfig):
                    if item.kind is Kind.VIDEO:
                        await self._configure(item, sub.stream)
                    elif item != self.audio_config:
                        self.audio_config = item
                        for v in self.variants.values():
                            v.push(item)
                elif item.kind is Kind.VIDEO:
                    self.session.feed(item)
                else:
                    for v in self.variants.values():
                        v.audio.append(item)
            await self.session.close()
        except asyncio.CancelledError:
            self.session.abort()
            raise
        except Exception:
            log.exception(
                "room %s: the ladder failed; the source copy goes on",
                escape_for_log(self.room.name),
            )
            self.session.abort()
            sub.close()
        finally:
            self._finish_all()

    def detach(self) -> None:
        """A new publish in this room owns the renditions from now on."""
        self.detached = True
        self.session.abort()

    async def _configure(self, video: TrackConfig, stream: LiveStream) -> None:
        if video == self.session.video or self.detached:
            return  # re-sent unchanged (with keyframes, or after a gap), or no longer ours
        if self.session.plan:
            # A new picture size mid-stream: drain what the old codecs hold, then plan afresh.
            await self.session.close()
            self._finish_all()
            self.session = self._session()
        planned = self.session.configure(video, _source_fps(stream))
        names = {p.name for p in planned}
        for name in [n for n in self.room.windows if n != SOURCE and n not in names]:
            self.room.windows.pop(name).end()
        for index, p in enumerate(planned):
            window = self.room.windows.get(p.name)
            if window is None:
                window = LiveWindow(
                    p.name,
                    part_target=self.settings.part_target,
                    segment_target=self.settings.segment_target,
                    window=self.settings.window,
                    max_bytes=self.settings.max_window_bytes,
                    max_segment=self.settings.max_segment,
                    part_hold_back=self.settings.part_hold_back,
                    clock=self.room.source,
                    room=self.room.name,
                    first_number=self.room.first_number,
                )
                self.room.windows[p.name] = window
                self.room.window_added(window)
            window.begin()
            variant = _VariantWriter(p, window, self.settings)
            if self.audio_config is not None:
                variant.push(self.audio_config)
            self.variants[index] = variant
        # Multivariant playlist order: the source copy, then the ladder's, largest first, also
        # when a rendition dropped in an earlier publish comes back.
        ordered = {SOURCE: self.room.source} | {p.name: self.room.windows[p.name] for p in planned}
        self.room.windows.clear()
        self.room.windows.update(ordered)

    def _events(self, events: list[Event]) -> None:
        if self.detached:
            return
        for event in events:
            if isinstance(event, Encoded):
                for index, sample in event.samples:
                    variant = self.variants.get(index)
                    if variant is not None and variant.video_config is not None:
                        variant.video(sample)
            elif isinstance(event, Opened):
                variant = self.variants.get(event.index)
                if variant is not None:
                    variant.video_config = event.config
                    variant.push(event.config)
            elif isinstance(event, Flushed):
                if event.restart:
                    for variant in self.variants.values():
                        variant.restart(self.audio_config)
            elif isinstance(event, Dropped):
                self._drop(event.index)
            elif isinstance(event, Failed):
                for index in list(self.variants):
                    self._drop(index)

    def _drop(self, index: int) -> None:
        variant = self.variants.pop(index, None)
        if variant is None:
            return
        variant.finish()
        if self.room.windows.get(variant.planned.name) is variant.window:
            del self.room.windows[variant.planned.name]

    def _finish_all(self) -> None:
        variants, self.variants = self.variants, {}
        if self.detached:
            return
        for variant in variants.values():
            variant.finish()
