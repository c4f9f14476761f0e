"""Which recordings retention deletes (README, "Recordings"): sans-I/O, a list in, ids out.

In order: recordings that ended more than ``max_age_days`` ago; per streamer, all but the
newest ``keep``; then the oldest, whoever they belong to, until all together fit in
``max_bytes``. A recording still being written is never deleted: it counts against the
limits, and another one goes in its place."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .settings import RecordingSettings

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Kept:
    """What retention needs to know of a recording."""

    id: str
    owner: str
    started: float  # Unix time
    ended: float | None  # Unix time, None while it is written
    size: int  # bytes


def to_delete(recordings: list[Kept], settings: RecordingSettings, now: float) -> list[str]:
    """The ids of the recordings to delete, oldest first."""
    ordered = sorted(recordings, key=lambda r: (r.started, r.id))
    doomed: dict[str, Kept] = {}
    if settings.max_age_days:
        limit = now - settings.max_age_days * _DAY
        for r in ordered:
            if r.ended is not None and r.ended < limit:
                doomed[r.id] = r
    if settings.keep:
        by_owner: dict[str, list[Kept]] = defaultdict(list)
        for r in ordered:
            if r.id not in doomed:
                by_owner[r.owner].append(r)
        for owned in by_owner.values():
            extra = len(owned) - settings.keep
            for r in owned:
                if extra <= 0:
                    break
                if r.ended is not None:
                    doomed[r.id] = r
                    extra -= 1
    if settings.max_bytes:
        total = sum(r.size for r in ordered if r.id not in doomed)
        for r in ordered:
            if total <= settings.max_bytes:
                break
            if r.id not in doomed and r.ended is not None:
                doomed[r.id] = r
                total -= r.size
    return [r.id for r in ordered if r.id in doomed]
