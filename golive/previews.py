"""Preview images of live rooms: a JPEG decoded with PyAV from a recent video keyframe.

Nothing is done for a room until someone asks for its preview. Then a small consumer follows
the stream, keeping only the newest video decoder configuration and the newest keyframe (one
frame's bytes per room, however long the stream), for as long as someone asked within ``idle``
seconds; after that it lets go of the stream, so rooms nobody browses cost nothing. Decoding
happens only on a request, at most once per ``interval`` per room and only for a keyframe newer
than the last one decoded, in a worker thread (decoding and scaling burn CPU and must not
stall the event loop), a bounded number at a time. A room's preview goes with its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
from av.video.codeccontext import VideoCodecContext

from .hub import LiveStream, StreamHub
from .logs import escape_for_log
from .media import Codec, Kind, Sample, TrackConfig

log = logging.getLogger("golive.previews")

# FFmpeg decoder names, software ones first (FFmpeg's own "av1" needs a hardware device).
_DECODERS: dict[Codec, tuple[str, ...]] = {
    Codec.H264: ("h264",),
    Codec.H265: ("hevc",),
    Codec.AV1: ("libdav1d", "av1"),
    Codec.VP9: ("vp9", "libvpx-vp9"),
}
MAX_WIDTH = 640  # pixels; a card on the home page is never wider
# The consumer keeps up with ingest by design; these bounds only cap a stalled one, which the
# hub then resumes at a keyframe, harmless for a still image.
_MAX_ITEMS = 256
_MAX_BYTES = 8 * 1024 * 1024


class PreviewError(Exception):
    """The keyframe could not be turned into a JPEG."""


def _decoder(codec: Codec) -> VideoCodecContext:
    for name in _DECODERS.get(codec, ()):
        try:
            return cast(VideoCodecContext, av.CodecContext.create(name, "r"))
        except (av.FFmpegError, ValueError):
            continue
    raise PreviewError(f"no decoder for {codec.value}")


def _scaled(width: int, height: int, max_width: int) -> tuple[int, int]:
    """At most ``max_width`` wide with the aspect kept; even sizes for 4:2:0 chroma."""
    if width > max_width:
        height = round(height * max_width / width)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def keyframe_to_jpeg(config: TrackConfig, keyframe: Sample, max_width: int = MAX_WIDTH) -> bytes:
    """Decode one keyframe with its decoder configuration and encode it as a baseline JPEG.

    Blocking and CPU-bound: call it from a worker thread. The configuration record is the
    decoder's extradata (ISO/IEC 14496-15 avcC/hvcC, AV1-ISOBMFF av1C), which also tells the
    H.264 and H.265 decoders that NAL units are length-prefixed as in ``Sample.data``.
    """
    try:
        decoder = _decoder(config.codec)
        if config.record:
            decoder.extradata = config.record
        packet = av.Packet(keyframe.data)
        packet.pts, packet.dts = keyframe.pts, keyframe.dts
        packet.time_base = Fraction(1, 1000)
        # Flushing (None) hands back a frame the decoder holds for reordering.
        frames = [*decoder.decode(packet), *decoder.decode(None)]
        if not frames:
            raise PreviewError("the keyframe decoded to no picture")
        frame = frames[0]
        width, height = _scaled(frame.width, frame.height, max_width)
        # JPEG's full-range YUV (JFIF); the scaler converts from the video's limited range.
        picture = frame.reformat(width=width, height=height, format="yuvj420p")
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuvj420p"
        encoder.time_base = Fraction(1, 25)
        # A fixed quantizer (2 best, 31 worst): about 30 to 60 kB for 640x360.
        encoder.qscale = True
        encoder.global_quality = 4 * 118  # FF_QP2LAMBDA * q
        packets = [*encoder.encode(picture), *encoder.encode(None)]
    except av.FFmpegError as exc:
        raise PreviewError(f"FFmpeg: {exc}") from None
    if not packets:
        raise PreviewError("the encoder produced no JPEG")
    return bytes(packets[0])


@dataclass(eq=False)
class _Room:
    stream: LiveStream
    asked: float
    config: TrackConfig | None = None
    keyframe: Sample | None = None
    keyframes: int = 0  # counts keyframes seen, so a new one is told from the decoded one
    first_keyframe: asyncio.Event = field(default_factory=asyncio.Event)
    jpeg: bytes | None = None
    decoded: int = -1  # the ``keyframes`` count of the keyframe in ``jpeg``
    decoded_at: float = float("-inf")
    pending: asyncio.Task[bytes | None] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Previews:
    """A recent JPEG of each live stream of the hub that someone asks about."""

    def __init__(
        self,
        hub: StreamHub,
        *,
        interval: float,
        idle: float = 30.0,
        first_wait: float = 3.0,
        max_width: int = MAX_WIDTH,
        concurrency: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.interval = interval  # seconds a preview is served before a newer one is made
        self.idle = idle  # seconds without a request after which a stream is let go
        # Seconds the first request waits for a keyframe: a GOP of 1 or 2 s, as the pages
        # tell streamers to set, always brings one.
        self.first_wait = first_wait
        self.max_width = max_width
        self._clock = clock
        self._decoding = asyncio.Semaphore(concurrency)
        self._rooms: dict[str, _Room] = {}

    @property
    def following(self) -> frozenset[str]:
        """The rooms whose streams are followed now."""
        return frozenset(self._rooms)

    def _follow_stream(self, stream: LiveStream) -> _Room:
        room = self._rooms.get(stream.room)
        if room is not None and room.stream is stream:
            return room
        if room is not None and room.task is not None:
            room.task.cancel()  # a new publish (or a takeover): its frames only
        room = self._rooms[stream.room] = _Room(stream, asked=self._clock())
        room.task = asyncio.get_running_loop().create_task(self._follow(room))
        return room

    async def _follow(self, room: _Room) -> None:
        sub = room.stream.subscribe(max_items=_MAX_ITEMS, max_bytes=_MAX_BYTES)
        try:
            async for item in sub:
                if isinstance(item, TrackConfig):
                    if item.kind is Kind.VIDEO:
                        room.config = item
                elif isinstance(item, Sample) and item.keyframe and item.kind is Kind.VIDEO:
                    room.keyframe = item
                    room.keyframes += 1
                    room.first_keyframe.set()
                    if self._clock() - room.asked > self.idle:
                        break
        finally:
            sub.close()
            if self._rooms.get(room.stream.room) is room:
                del self._rooms[room.stream.room]

    async def jpeg(self, name: str) -> bytes | None:
        """The room's preview, refreshed when it is older than ``interval`` and a newer
        keyframe has arrived; None when the room is not live here or has no video yet."""
        stream = self.hub.streams.get(name)
        if stream is None or stream.ended:
            return None
        room = self._follow_stream(stream)
        room.asked = self._clock()
        if room.keyframe is None:
            try:
                await asyncio.wait_for(room.first_keyframe.wait(), self.first_wait)
            except TimeoutError:
                return None
        fresh = self._clock() - room.decoded_at < self.interval
        if room.decoded == room.keyframes or (fresh and room.jpeg is not None):
            return room.jpeg  # nothing newer to decode (or this keyframe failed), or recent
        if room.pending is None:
            # Requests that arrive while a decode runs share it.
            room.pending = asyncio.get_running_loop().create_task(self._refresh(room))
        # shield: one impatient client that goes away must not cancel the others' decode.
        return await asyncio.shield(room.pending)

    async def _refresh(self, room: _Room) -> bytes | None:
        try:
            config, keyframe, number = room.config, room.keyframe, room.keyframes
            if config is None or keyframe is None:
                return room.jpeg
            async with self._decoding:
                try:
                    jpeg = await asyncio.to_thread(
                        keyframe_to_jpeg, config, keyframe, self.max_width
                    )
                except PreviewError as exc:
                    # Once per keyframe at most, and only the room's name: never the key.
                    log.warning(
                        "room %s: no preview: %s",
                        escape_for_log(room.stream.room),
                        escape_for_log(exc),
                    )
                    room.decoded, room.decoded_at = number, self._clock()
                    return room.jpeg
            room.jpeg, room.decoded, room.decoded_at = jpeg, number, self._clock()
            return jpeg
        finally:
            room.pending = None

    async def close(self) -> None:
        tasks: list[asyncio.Task[Any]] = [r.task for r in self._rooms.values() if r.task]
        tasks += [r.pending for r in self._rooms.values() if r.pending is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._rooms.clear()
