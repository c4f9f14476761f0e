"""What the ladder gives up when the machine cannot keep up with real time.

The lag is how long ago the sample the worker just finished had arrived from the publisher:
a few tens of milliseconds while the ladder keeps up, and growing by the second when it does
not. Once it passes ``max_lag`` the most expensive rendition still made (pixels per second:
width x height x frame rate) is dropped, for the rest of the publish. The next one goes only
if, ``settle`` seconds later, the lag is still above ``max_lag`` and has not shrunk by at least
10% of the time waited: a ladder that is catching up is left to catch up. The source copy is
never part of this: it does not go through the transcoder.

The clock is passed in, so the order and timing of the drops are tested without waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Degrader", "Drop"]


@dataclass(frozen=True, slots=True)
class Drop:
    index: int  # position of the rendition in the plan
    lag: float  # seconds behind real time when it was dropped


class Degrader:
    def __init__(self, costs: Sequence[float], *, max_lag: float, settle: float | None = None):
        self.max_lag = max_lag
        self.settle = max_lag if settle is None else settle
        # Most expensive first; the plan's order breaks ties (later renditions are smaller).
        self._order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
        self.active: set[int] = set(range(len(costs)))
        self.dropped: list[Drop] = []
        self.lag = 0.0
        self._watch: tuple[float, float] | None = None  # (when, lag) of the last decision

    def observe(self, lag: float, now: float) -> Drop | None:
        """Record the lag of the sample just finished; the rendition to drop, if any."""
        self.lag = lag
        if lag <= self.max_lag or not self.active:
            self._watch = None
            return None
        if self._watch is not None:
            since, lag_then = self._watch
            waited = now - since
            if waited < self.settle:
                return None
            if lag < lag_then - 0.1 * waited:
                self._watch = (now, lag)  # catching up: give it another while
                return None
        index = next(i for i in self._order if i in self.active)
        self.active.discard(index)
        drop = Drop(index, lag)
        self.dropped.append(drop)
        self._watch = (now, lag)
        return drop
