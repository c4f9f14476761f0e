"""RTMP time (32-bit milliseconds, wrapping every 49.7 days) unwrapped into a 64-bit timeline."""

from __future__ import annotations

_WRAP = 1 << 32
_HALF = 1 << 31


class Unwrapper:
    """Turns successive 32-bit timestamps into an unbounded, continuous timeline.

    Each value is placed at the point nearest the previous one modulo 2^32 (RTMP 1.0, 5.3.1:
    "timestamps ... wrap around after 2^32 ms"), so audio that runs slightly behind video stays
    behind instead of jumping 49.7 days ahead, and the wrap itself costs nothing.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, timestamp: int) -> int:
        last = self._last
        if last is None:
            self._last = timestamp
            return timestamp
        delta = (timestamp - last) & 0xFFFFFFFF
        if delta >= _HALF:
            delta -= _WRAP
        value = last + delta
        self._last = value
        return value
