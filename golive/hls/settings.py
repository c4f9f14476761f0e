"""The HLS packager's settings: LL-HLS part and segment targets, the longest segment, the playlist
window, the bytes a window may hold and how long an ended stream stays readable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HlsSettings:
    # seconds; LL-HLS part target, defaults to 0.2 s: a whole number of frames at 25, 30, 50
    # and 60 fps, so that a keyframe every second starts a part (docs/protocol-notes.md,
    # "Latency")
    part_target: float = 0.2
    # PART-HOLD-BACK in part targets: how far behind the live edge players start. RFC 8216bis,
    # 4.4.3.8: at least 2, and 3 recommended; 3 by default (0.6 s): with 2, a player moved to a
    # transcoded rendition, whose parts come out of the encoder a little after the source
    # copy's, runs out of buffer and stalls (docs/protocol-notes.md, "Latency")
    part_hold_back: float = 3.0
    segment_target: float = 2.0  # seconds; shortest segment, cut at the next keyframe after it
    # Seconds of complete segments listed after the oldest one; defaults to 8, what LL-HLS
    # needs with 2 s segments. Never less than three target durations plus a segment, whatever
    # is set here (RFC 8216bis, 6.2.2; golive/hls/window.py, LiveWindow._slide). The window is
    # in memory: a longer one (36 for a DVR window players can seek back in) costs the
    # stream's bitrate times the seconds added, per rendition.
    window: float = 8.0
    linger: float = 60.0  # seconds an ended stream's playlist stays readable; defaults to 60
    # seconds; bounds EXT-X-TARGETDURATION and so every segment, whatever the publisher's
    # keyframes and timestamps: a longer one is split at a frame (a timestamp jump is a
    # discontinuity instead). Defaults to 10, which takes OBS's default 250-frame keyframe
    # interval (8.3 s at 30 fps) as it is.
    max_segment: float = 10.0
    # Bytes of media one rendition's window may hold; past it the oldest segments go early,
    # with a log line, so that a publisher's bitrate burst cannot grow memory without bound.
    # Defaults to 64 MiB: 50 Mbit/s for the default window.
    max_window_bytes: int = 64 * 1024 * 1024
    # Part targets a plain media playlist request (no _HLS_msn) may be held for the next part,
    # so that it is answered as a part completes and players that take the time since the
    # answer as the playlist's age start where they mean to (golive/hls/answers.py,
    # PLAIN_FRESH; about 0.1 s less latency in hls.js). Defaults to 1.5; 0 answers at once.
    plain_wait: float = 1.5

    def __post_init__(self) -> None:
        if not 0 <= self.plain_wait <= 10:
            raise ValueError(f"plain_wait is {self.plain_wait} part targets; 0 to 10")
        if self.part_hold_back < 2:
            raise ValueError(
                f"part_hold_back is {self.part_hold_back} part targets; "
                "RFC 8216bis, 4.4.3.8 wants at least 2"
            )
