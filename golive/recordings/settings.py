"""The recorder's settings, ``[recordings]`` in the config file (README, "Recordings").

Recording is on by default, within limits that keep a server run with no configuration from
filling its disk: the newest 20 recordings per streamer, 10 GiB in all, 30 days, and never
below 1 GiB of free space on the recordings' file system. The oldest recordings go first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    # Record every live stream as it is packaged, under data_dir/recordings; defaults to true.
    enabled: bool = True
    # Record the transcoded renditions too, not only the source copy; defaults to false.
    ladder: bool = False
    # Recordings kept per streamer, the newest; older ones are deleted. Defaults to 20; 0 keeps
    # any number.
    keep: int = 20
    # Bytes all recordings may take together; the oldest go first past it, and a recording
    # that alone would exceed it pauses. Defaults to 10 GiB; 0 for no limit.
    max_bytes: int = 10 * 1024**3
    # Days a recording is kept after it ended; defaults to 30; 0 keeps them for ever.
    max_age_days: float = 30.0
    # Bytes that must stay free on the recordings' file system: below it (or when the disk is
    # full) recording pauses, with a log line, and resumes once there is room again, while
    # live streaming goes on. Defaults to 1 GiB.
    min_free_bytes: int = 1024**3
    # Bytes of segments waiting for the writer thread, all streams together; past it a
    # recording pauses as on a full disk (a disk too slow for the streams). Defaults to 64 MiB.
    queue_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("keep", "max_bytes", "max_age_days", "min_free_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is negative")
        if self.queue_bytes <= 0:
            raise ValueError("queue_bytes must be positive")
