"""What the event loop and a transcoding worker say to each other, and what the ladder reports.

Commands go from the event loop to the worker, events come back; all are small picklable
dataclasses, so the same ones cross a thread's queue or a child process's pipes. Nothing here
needs PyAV: the HLS packager and the session read and write these without loading the codecs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..media import Sample, TrackConfig
from .ladder import PlannedRendition

# --- commands (event loop -> worker) and events (worker -> event loop) ---------------------


@dataclass(frozen=True, slots=True)
class EncoderParams:
    preset: str
    tune: str
    gop_ms: int  # the constant GOP used when the publisher's keyframes are irregular
    max_lag: float  # seconds behind real time before a rendition is dropped


@dataclass(frozen=True, slots=True)
class Start:
    """(Re)build the pipeline for a source; what was in flight is flushed first."""

    video: TrackConfig
    plan: tuple[PlannedRendition, ...]
    params: EncoderParams
    fps: float | None  # the source's frame rate, when the publisher said


@dataclass(frozen=True, slots=True)
class Feed:
    sample: Sample
    arrived: float  # time.monotonic() when the sample came from the stream hub


@dataclass(frozen=True, slots=True)
class Flush:
    """Drain every encoder. ``restart``: samples were lost, continue with fresh codecs."""

    restart: bool


Command = Start | Feed | Flush


@dataclass(frozen=True, slots=True)
class Opened:
    """A rendition's encoder is open; ``config`` is its avcC."""

    index: int
    config: TrackConfig


@dataclass(frozen=True, slots=True)
class Encoded:
    samples: tuple[tuple[int, Sample], ...]  # (rendition index, coded picture), decode order
    lag: float  # seconds behind real time after this batch
    feeds: int = 0  # samples this batch answers (1 for a Feed, 0 for a Flush)
    fed_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Dropped:
    index: int
    lag: float


@dataclass(frozen=True, slots=True)
class Flushed:
    restart: bool


@dataclass(frozen=True, slots=True)
class Failed:
    message: str


Event = Opened | Encoded | Dropped | Flushed | Failed


# --- the ladder's state, for the stream's status ------------------------------------------


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
