"""The transcoding ladder: which renditions to make beside the source copy, and how.

A ladder is configured once (defaults here, or ``[transcode]`` in the config file) and planned
per publish against the source's picture size: renditions at or above the source height are
skipped (never upscale), widths keep the source's aspect ratio rounded to even numbers (4:2:0
chroma needs even sizes), and a frame rate above the source's is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "NO_LADDER",
    "Ladder",
    "LadderError",
    "PlannedRendition",
    "RenditionSpec",
    "ladder_from_table",
    "parse_bitrate",
    "plan",
]

# Rendition names become URL path segments (/hls/{room}/{name}/index.m3u8).
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
WORKERS: Final = ("thread", "process")


class LadderError(ValueError):
    """The ladder configuration cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class RenditionSpec:
    """One configured rendition."""

    name: str
    height: int  # pixels; the width follows the source's aspect ratio
    video_bitrate: int  # bits per second, the x264 target (maxrate too, VBV of 2 s)
    fps: float | None = None  # None (the default): the source's frame rate

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name == "source":
            raise LadderError(
                f"transcode rendition name {self.name!r}: use 1 to 32 of a-z, 0-9, _ and -, "
                "not 'source'"
            )
        if not 16 <= self.height <= 4320:
            raise LadderError(
                f"transcode rendition {self.name}: height {self.height} not in 16..4320"
            )
        if not 16_000 <= self.video_bitrate <= 200_000_000:
            raise LadderError(
                f"transcode rendition {self.name}: bitrate {self.video_bitrate} not in 16k..200M"
            )
        if self.fps is not None and not 1.0 <= self.fps <= 240.0:
            raise LadderError(f"transcode rendition {self.name}: fps {self.fps} not in 1..240")


@dataclass(frozen=True, slots=True)
class Ladder:
    """The renditions and the encoder settings shared by all of them; ``Ladder()`` is the
    default ladder."""

    # Renditions beside the source copy, made only below the source's height; defaults to
    # 720p at 3 Mbps, 480p at 1.5 Mbps and 360p at 800 kbps, at the source's frame rate.
    # Empty (NO_LADDER): no transcoding at all.
    renditions: tuple[RenditionSpec, ...] = (
        RenditionSpec("720p", 720, 3_000_000),
        RenditionSpec("480p", 480, 1_500_000),
        RenditionSpec("360p", 360, 800_000),
    )
    # x264 preset; defaults to "veryfast", which makes 1080p30 -> 720p/480p/360p in real time
    # on two cores (scripts/bench_transcode.py).
    preset: str = "veryfast"
    # x264 tune; defaults to "zerolatency" (no B-frames, no lookahead): the variants' parts
    # come out about one part after the source copy's. Without it ("", or "film", ...) the
    # picture is better at the same bitrate, but the variants trail the source copy by about
    # 0.7 s, more than the default PART-HOLD-BACK (0.6 s), so a player that switches to a
    # variant stalls unless [hls] part_hold_back is raised (see TRAIL_WITH_LOOKAHEAD).
    tune: str = "zerolatency"
    # Seconds the ladder may fall behind real time before the most expensive rendition is
    # dropped; defaults to 3.
    max_lag: float = 3.0
    # "thread" (the default) or "process": where decoding, scaling and encoding run. Both are
    # off the event loop; docs/benchmarks.md has the measurement behind the default.
    worker: str = "thread"
    # Nice value of the worker (its threads or its process): a busy machine serves ingest and
    # the source copy first. Defaults to 10.
    nice: int = 10

    def __post_init__(self) -> None:
        names = [r.name for r in self.renditions]
        if len(set(names)) != len(names):
            raise LadderError(f"transcode renditions: duplicate names in {names}")
        if not re.fullmatch(r"[a-z]{1,16}", self.preset):
            raise LadderError(f"transcode preset {self.preset!r} is not an x264 preset name")
        if self.tune and not re.fullmatch(r"[a-z,]{1,32}", self.tune):
            raise LadderError(f"transcode tune {self.tune!r} is not an x264 tune name")
        if not 0.5 <= self.max_lag <= 60:
            raise LadderError(f"transcode max_lag {self.max_lag} not in 0.5..60 seconds")
        if self.worker not in WORKERS:
            raise LadderError(f"transcode worker {self.worker!r}: use one of {WORKERS}")
        if not 0 <= self.nice <= 19:
            raise LadderError(f"transcode nice {self.nice} not in 0..19")

    def __bool__(self) -> bool:
        return bool(self.renditions)

    @property
    def lookahead(self) -> bool:
        """Whether x264 holds frames back (B-frames, rate-control lookahead): every tune but
        zerolatency does, and the variants then trail the source copy by about
        ``TRAIL_WITH_LOOKAHEAD``."""
        return bool(self.renditions) and "zerolatency" not in self.tune.split(",")


# Seconds the variants' parts come out after the source copy's when x264 keeps its lookahead
# (veryfast: 10 frames of rate-control lookahead, B-frames, frame threads, at 30 fps), as
# measured on the development machine; with zerolatency it is about one part.
TRAIL_WITH_LOOKAHEAD: Final = 0.75


NO_LADDER: Final = Ladder(())  # the source copy only


@dataclass(frozen=True, slots=True)
class PlannedRendition:
    """A rendition as it will be made from one source."""

    name: str
    width: int
    height: int
    video_bitrate: int
    fps: float | None  # None: every source frame; else at most this many frames per second
    cost: float = field(compare=False)  # pixels per second to scale and encode

    @property
    def resolution(self) -> tuple[int, int]:
        return self.width, self.height


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def plan(
    ladder: Ladder, width: int, height: int, source_fps: float | None = None
) -> tuple[PlannedRendition, ...]:
    """The renditions to make from a ``width`` x ``height`` source, in the ladder's order.

    A rendition at or above the source height is skipped (never upscale), as is one that
    would repeat the size and frame rate of another. An unknown source size (0) plans nothing.
    """
    if width <= 0 or height <= 0:
        return ()
    planned: list[PlannedRendition] = []
    seen: set[tuple[int, int, float | None]] = set()
    for spec in ladder.renditions:
        if spec.height >= height:
            continue
        h = _even(spec.height)
        w = _even(width * h / height)
        fps = spec.fps
        if fps is not None and source_fps is not None and fps >= source_fps * 0.99:
            fps = None  # never more frames than the source has
        if (w, h, fps) in seen:
            continue
        seen.add((w, h, fps))
        rate = fps or source_fps or 30.0
        planned.append(PlannedRendition(spec.name, w, h, spec.video_bitrate, fps, w * h * rate))
    return tuple(planned)


def parse_bitrate(value: object, what: str = "bitrate") -> int:
    """``3000000``, ``"3000k"``, ``"3M"`` or ``"3000 kbps"`` to bits per second."""
    if isinstance(value, bool):
        raise LadderError(f"{what}: {value!r} is not a bitrate")
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str):
        raise LadderError(f"{what}: {value!r} is not a bitrate")
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)(?:bps|b/s)?\s*", value)
    if m is None:
        raise LadderError(f"{what}: {value!r} is not a bitrate (e.g. 3000k or 3M)")
    scale = {"": 1, "k": 1000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


_RENDITION_KEYS: Final = {"name", "height", "bitrate", "video_bitrate", "fps"}
_LADDER_KEYS: Final = {"rendition", "preset", "tune", "max_lag", "worker", "nice", "enabled"}


def _rendition(table: Mapping[str, Any], index: int) -> RenditionSpec:
    where = f"transcode.rendition[{index}]"
    if not isinstance(table, Mapping):
        raise LadderError(f"{where}: expected a table")
    unknown = set(table) - _RENDITION_KEYS
    if unknown:
        raise LadderError(f"{where}: unknown key(s) {sorted(unknown)}")
    height = table.get("height")
    if not isinstance(height, int) or isinstance(height, bool):
        raise LadderError(f"{where}: 'height' (an integer) is required")
    raw = table.get("video_bitrate", table.get("bitrate"))
    if raw is None:
        raise LadderError(f"{where}: 'bitrate' is required (e.g. \"1500k\")")
    fps = table.get("fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, int | float)):
        raise LadderError(f"{where}: 'fps' must be a number")
    name = table.get("name", f"{height}p")
    if not isinstance(name, str):
        raise LadderError(f"{where}: 'name' must be a string")
    return RenditionSpec(
        name, height, parse_bitrate(raw, f"{where}.bitrate"), None if fps is None else float(fps)
    )


def ladder_from_table(table: Mapping[str, Any] | None, *, enabled: bool = True) -> Ladder:
    """The ladder from the config file's ``[transcode]`` table (None or a key left out: its
    default in ``Ladder``).

    ::

        [transcode]
        preset = "veryfast"             # x264 preset
        max_lag = 3.0                   # seconds behind real time before degrading
        worker = "thread"               # or "process"
        [[transcode.rendition]]
        name = "720p"                   # optional, defaults to "<height>p"
        height = 720
        bitrate = "3000k"
        fps = 30                        # optional, defaults to the source's

    ``rendition = []`` or ``enabled = false`` (or ``enabled=False``, from
    ``golive serve --no-transcode``) gives the empty ladder: no transcoding at all.
    """
    table = dict(table or {})
    unknown = set(table) - _LADDER_KEYS
    if unknown:
        raise LadderError(f"transcode: unknown key(s) {sorted(unknown)}")
    switch = table.pop("enabled", True)
    if not isinstance(switch, bool):
        raise LadderError("transcode.enabled must be true or false")
    renditions: Sequence[Any] | None = table.pop("rendition", None)
    options: dict[str, Any] = {}
    if isinstance(renditions, list):
        options["renditions"] = tuple(_rendition(r, i) for i, r in enumerate(renditions))
    elif renditions is not None:
        raise LadderError(
            "transcode.rendition must be an array of tables ([[transcode.rendition]])"
        )
    if not (enabled and switch):
        options["renditions"] = ()
    for key, kind in (("preset", str), ("tune", str), ("worker", str), ("nice", int)):
        if key in table:
            if not isinstance(table[key], kind) or isinstance(table[key], bool):
                raise LadderError(f"transcode.{key} must be a {kind.__name__}")
            options[key] = table[key]
    if "max_lag" in table:
        lag = table["max_lag"]
        if isinstance(lag, bool) or not isinstance(lag, int | float):
            raise LadderError("transcode.max_lag must be a number of seconds")
        options["max_lag"] = float(lag)
    return Ladder(**options)
