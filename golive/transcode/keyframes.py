"""Where the ladder's keyframes go: one decision per source frame, for every rendition.

Every transcoded rendition gets its keyframes at the same presentation times, so its segments
and parts start at the same instants (RFC 8216bis, 6.2.4: a client switching variants needs
aligned segment boundaries to switch cleanly). Two modes:

- The publisher's keyframes are regular (the last two intervals agree within 2% + 5 ms): the
  ladder keeps a keyframe on each of them, so the transcoded segments also start where the
  source copy's do, and divides a long interval (OBS's default of 250 frames, say) into equal
  steps of at least the GOP, ``floor(interval / gop)`` of them.
- Otherwise (OBS's "auto" keyframes at scene cuts, a publisher that changes its GOP): a constant
  GOP equal to the segment target, counted from the last keyframe the ladder placed.

The planner sees presentation times in milliseconds and never reads a clock.
"""

from __future__ import annotations

from collections import deque

__all__ = ["KeyframePlanner"]


class KeyframePlanner:
    def __init__(self, gop_ms: int) -> None:
        if gop_ms <= 0:
            raise ValueError("the GOP must be positive")
        self.gop_ms = gop_ms
        self._source_keys: deque[int] = deque(maxlen=3)
        self._last_forced: int | None = None
        self._last_pts: int | None = None
        self._frame_ms = 33.0  # measured from the frames seen; for rounding to the nearest frame
        self._interval: int | None = None  # the publisher's regular interval, when aligned
        self._next: float | None = None  # presentation time of the next planned keyframe
        self._step = 0.0  # aligned: the equal step a publisher interval is divided into
        self._step_end = 0.0  # aligned: no planned step at or after this; the publisher's comes

    @property
    def aligned(self) -> bool:
        """True while the keyframes follow the publisher's regular ones."""
        return self._interval is not None

    def decide(self, pts: int, source_key: bool) -> bool:
        """Whether the frame at ``pts`` (in presentation order) is a keyframe in every rendition."""
        if self._last_pts is not None and pts > self._last_pts:
            self._frame_ms = 0.8 * self._frame_ms + 0.2 * min(pts - self._last_pts, 1000)
        self._last_pts = pts
        if source_key:
            self._source_keys.append(pts)
        if self._last_forced is None:
            return self._force(pts)
        if source_key:
            self._check_regularity()
            if self._interval is not None:
                return self._force(pts)
        elif self._interval is not None and pts > self._source_keys[-1] + self._interval + (
            self._tolerance(self._interval)
        ):
            self._leave_alignment()  # the publisher's keyframe did not come
        if self._next is not None and pts >= self._next - self._frame_ms / 2:
            return self._force(pts)
        return False

    @staticmethod
    def _tolerance(interval: int) -> float:
        return 5 + 0.02 * interval

    def _check_regularity(self) -> None:
        keys = self._source_keys
        if len(keys) < 3:
            return
        first, second = keys[1] - keys[0], keys[2] - keys[1]
        if first > 0 and abs(first - second) <= self._tolerance(max(first, second)):
            self._interval = second
        elif self._interval is not None:
            self._leave_alignment()

    def _leave_alignment(self) -> None:
        assert self._last_forced is not None
        self._interval = None
        self._next = self._last_forced + self.gop_ms

    def _force(self, pts: int) -> bool:
        if self._interval is None:
            self._next = pts + self.gop_ms
        elif pts == self._source_keys[-1]:
            # Divide the publisher's interval into equal steps of at least the GOP; the last
            # step ends on the publisher's next keyframe, forced when it arrives.
            steps = max(1, int(self._interval / self.gop_ms + 0.05))
            self._step = self._interval / steps
            self._step_end = pts + self._interval - self._step / 2
            self._next = pts + self._step if steps > 1 else None
        elif self._next is not None:
            # Planned times, not the frames' own, so rounding to frames does not accumulate.
            following = self._next + self._step
            self._next = following if following < self._step_end else None
        self._last_forced = pts
        return True
