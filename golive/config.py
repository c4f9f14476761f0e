"""Settings: built-in defaults, then a TOML file, then ``GOLIVE_*`` variables, then flags.

Every setting documents its default where it is declared. With nothing configured at all,
``golive serve`` runs: embedded defaults only.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .transcode.ladder import Ladder, LadderError, ladder_from_table


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(base, "golive")


@dataclass(slots=True)
class Settings:
    # Address both listeners bind; defaults to every interface so OBS on another machine can
    # reach the RTMP port.
    host: str = "0.0.0.0"
    # RTMP listener; defaults to 1935, the port every encoder assumes.
    rtmp_port: int = 1935
    # HTTP listener for HLS, the API and the pages; defaults to 8080.
    http_port: int = 8080
    # Where accounts and other state live; defaults to $XDG_DATA_HOME/golive.
    data_dir: str = field(default_factory=_default_data_dir)
    # Log level name; defaults to INFO.
    log_level: str = "INFO"
    # Seconds to wait for handshake and connect; defaults to 10.
    rtmp_handshake_timeout: float = 10.0
    # Seconds without a byte before a connection is closed; defaults to 30.
    rtmp_idle_timeout: float = 30.0
    # Largest RTMP message accepted, in bytes; defaults to 16 MiB (RTMP's own maximum).
    rtmp_max_message_size: int = 16 * 1024 * 1024
    # Connections accepted at once; defaults to 1000.
    rtmp_max_connections: int = 1000
    # Seconds a live publisher may stay silent before a new publisher of the same room may
    # take over; defaults to 5.
    takeover_after: float = 5.0
    # LL-HLS part target in seconds; defaults to 0.333.
    hls_part_target: float = 0.333
    # Shortest HLS segment in seconds (segments end at the first keyframe after it); defaults
    # to 2.
    hls_segment_target: float = 2.0
    # Seconds of segments listed in a live playlist; defaults to 36.
    hls_window: float = 36.0
    # Seconds an ended stream's playlist stays readable before it is removed; defaults to 60.
    hls_linger: float = 60.0
    # Where accounts and sessions live: empty (the default) for an SQLite file golive.db in
    # data_dir; "sqlite:///path/to/file.db"; or a "mongodb://" URL for several nodes.
    database: str = ""
    # A "redis://" URL: the live-room registry that several nodes share (and sessions, with
    # sessions_in_redis). Empty (the default): rooms are kept in this process's memory.
    redis: str = ""
    # Keep sessions in Redis instead of the database; defaults to false.
    sessions_in_redis: bool = False
    # This node's name in the room registry; defaults to "<hostname>:<http_port>".
    node: str = ""
    # Seconds a live room outlives its node's last heartbeat; defaults to 30.
    room_ttl: float = 30.0
    # Days a login session lasts; defaults to 30.
    session_days: float = 30.0
    # Let anyone who reaches the RTMP port publish, the room being the stream name, with no
    # accounts involved: for a trusted network or a test bench only. Defaults to false.
    open_publish: bool = False
    # Reverse proxies or load balancers in front of golive, as comma-separated addresses or
    # networks ("10.0.0.0/8, ::1"): from them, X-Forwarded-For names the client for login
    # throttles and viewer counts. Empty (the default): the header is never believed.
    trusted_proxies: str = ""
    # Answer nginx-rtmp's on_publish / on_update / on_publish_done under /rooms/, for a
    # deployment with nginx-rtmp in front; defaults to false (the routes are not there).
    nginx_callbacks: bool = False
    # Folder of the built web pages; empty (the default) for the static/ folder inside the
    # golive package, where `npm run build` writes them and a wheel carries them.
    web_dir: str = ""
    # Seconds a room's preview image is served before a newer keyframe is decoded (only while
    # someone asks for it); defaults to 5.
    preview_interval: float = 5.0
    # Transcoding (issue 5): renditions made beside the source copy, never at or above the
    # source's height. False (golive serve --no-transcode) makes none; defaults to true.
    transcode_enabled: bool = True
    # x264 preset of every rendition; defaults to "veryfast" (1080p30 to 720p, 480p and 360p
    # in real time on two cores, scripts/bench_transcode.py).
    transcode_preset: str = "veryfast"
    # x264 tune; defaults to none ("zerolatency": less delay behind the source, worse picture).
    transcode_tune: str = ""
    # Seconds the ladder may fall behind real time before it drops its most expensive
    # rendition; defaults to 3.
    transcode_max_lag: float = 3.0
    # Where decoding, scaling and encoding run: "thread" (the default) or "process".
    transcode_worker: str = "thread"
    # The renditions: [[transcode.rendition]] tables in the config file (name, height,
    # bitrate, fps). None (the default): 720p 3000k, 480p 1500k, 360p 800k; an empty list
    # (rendition = []) makes none.
    transcode_rendition: list[dict[str, Any]] | None = None


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Settings that flags and GOLIVE_* variables may set: all but the tables of renditions.
SCALAR_SETTINGS = [name for name in _FIELDS if name != "transcode_rendition"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any) -> Any:
    if name == "transcode_rendition":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        raise ConfigError(f"setting {name!r}: write [[transcode.rendition]] tables")
    default = getattr(Settings(), name)
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise TypeError
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"setting {name!r}: {value!r} is not a valid {kind.__name__}")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``[rtmp] idle_timeout = 5`` in the file is the setting ``rtmp_idle_timeout``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in _FIELDS:
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def load(
    config_file: str | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the settings from the file, the environment and explicit overrides (flags)."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or environ.get("GOLIVE_CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            table = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for name, value in _flatten(table).items():
            if name not in _FIELDS:
                raise ConfigError(f"config file {path}: unknown setting {name!r}")
            values[name] = _coerce(name, value)
    for name in SCALAR_SETTINGS:
        env = environ.get(f"GOLIVE_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    settings = Settings(**values)
    ladder(settings)  # a bad [transcode] table stops `golive serve` before it listens
    return settings


def ladder(settings: Settings) -> Ladder:
    """The transcoding ladder the settings describe; ConfigError when it cannot be used."""
    table: dict[str, Any] = {
        "preset": settings.transcode_preset,
        "tune": settings.transcode_tune,
        "max_lag": settings.transcode_max_lag,
        "worker": settings.transcode_worker,
    }
    if settings.transcode_rendition is not None:
        table["rendition"] = settings.transcode_rendition
    try:
        return ladder_from_table(table, enabled=settings.transcode_enabled)
    except LadderError as exc:
        raise ConfigError(str(exc)) from None
