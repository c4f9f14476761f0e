"""Settings: built-in defaults, then a TOML file, then ``GOLIVE_*`` variables, then flags.

Every setting documents its default where it is declared: the server's own in ``Settings``,
the others in the section of the part they configure (``RtmpLimits``, ``HlsSettings``, the
transcoding ``Ladder``), which ``Settings`` holds as ``rtmp``, ``hls`` and ``transcode``. A
section's setting is named by the section and the field: ``[rtmp] idle_timeout = 5`` in the
file, ``GOLIVE_RTMP_IDLE_TIMEOUT``, ``rtmp_idle_timeout``. With nothing configured at all,
``golive serve`` runs: embedded defaults only.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .hls.settings import HlsSettings
from .recordings.settings import RecordingSettings
from .rtmp.limits import RtmpLimits
from .transcode.ladder import TRAIL_WITH_LOOKAHEAD, Ladder, LadderError, ladder_from_table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


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
    # RTMPS listener (RTMP over TLS, "rtmps://host:port/live" in OBS); 0 (the default) for
    # none. Needs tls_cert and tls_key. 443 is what some platforms use; 1936 is common.
    rtmps_port: int = 0
    # Serve the HTTP port over TLS (HTTPS) with tls_cert and tls_key; defaults to false, as
    # most deployments end TLS at a reverse proxy or a CDN in front of golive.
    https: bool = False
    # PEM files of the certificate chain and its private key, for rtmps_port and https. Both
    # are read again on SIGHUP: a renewed certificate needs no restart.
    tls_cert: str = ""
    tls_key: str = ""
    # Processes that serve the HTTP port: "auto" (the default) for one per core this process
    # may run on, or a number. With more than one, the primary (RTMP, packaging, accounts)
    # starts workers - 1 HTTP workers beside it (golive.edge); 1 is a single process.
    workers: str = "auto"
    # Where accounts and other state live; defaults to $XDG_DATA_HOME/golive.
    data_dir: str = field(default_factory=_default_data_dir)
    # Log level name; defaults to INFO.
    log_level: str = "INFO"
    # How log lines are written: "text" (the default), or "json" for one JSON object a line
    # (time, level, logger, message, and the room, peer and event when the line has them).
    log_format: str = "text"
    # Where /metrics (Prometheus) is served: 0 (the default) on the HTTP port; another port
    # for a listener of its own on host, serving /metrics alone.
    metrics_port: int = 0
    # Clients that may read /metrics, as comma-separated addresses or networks; defaults to
    # loopback. Empty: nobody (metrics off). The client is the one trusted_proxies names;
    # through a proxy that is not trusted, /metrics is refused.
    metrics_allow: str = "127.0.0.0/8, ::1"
    # A bearer token /metrics asks for as well ("Authorization: Bearer TOKEN"); empty (the
    # default): none asked.
    metrics_token: str = ""
    # Seconds a live publisher may stay silent before a new publisher of the same room may
    # take over; defaults to 5.
    takeover_after: float = 5.0
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
    # The public base URL of this node's HTTP server ("https://node-a.example.org"): its rooms
    # carry it in the registry, and other nodes send their viewers there (a redirect for HLS,
    # absolute URLs in the API). Defaults to "http://<host>:<http_port>", the hostname when
    # host is every interface; set it behind a load balancer, a reverse proxy or a CDN.
    public_url: str = ""
    # Seconds a live room outlives its node's last heartbeat; defaults to 30.
    room_ttl: float = 30.0
    # Where this node's users come from: empty (the default) for the accounts in `database`;
    # "grpc://host:port" or "grpcs://host:port" (TLS) for another node's users service, which
    # then authorizes every publish here; such a node keeps no accounts (docs/grpc.md).
    users: str = ""
    # Seconds one call to a remote users service may take before it is tried again (three
    # tries in all, with back-off); defaults to 2.
    users_timeout: float = 2.0
    # Port of the users service over gRPC (golive.users.v1); 0 (the default) serves none.
    grpc_port: int = 0
    # Address the users service binds; defaults to 127.0.0.1. Any other address needs TLS.
    grpc_host: str = "127.0.0.1"
    # The secret that callers of the users service present (authorization: Bearer <secret>),
    # and that this node presents to a remote one; required by both. Defaults to none.
    grpc_secret: str = ""
    # PEM certificate chain and private key of the users service: with both, it speaks TLS
    # only. Default: none (plain TCP, allowed on a loopback grpc_host only).
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    # PEM certificates trusted for a grpcs:// users service; default: the system's roots.
    grpc_tls_ca: str = ""
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
    # The RTMP listener's limits, [rtmp] in the config file: every field of RtmpLimits
    # (golive/rtmp/limits.py), each with its default there.
    rtmp: RtmpLimits = field(default_factory=RtmpLimits)
    # The HLS packager, [hls]: every field of HlsSettings (golive/hls/settings.py).
    hls: HlsSettings = field(default_factory=HlsSettings)
    # Transcoding, [transcode]: renditions made beside the source copy, never at or above the
    # source's height, as [[transcode.rendition]] tables (name, height, bitrate, fps), and
    # preset, tune, max_lag, worker and nice, each defaulting as Ladder declares it;
    # enabled = false (golive serve --no-transcode) or rendition = [] makes no rendition.
    transcode: Ladder = field(default_factory=Ladder)
    # Recordings of every live stream, [recordings]: every field of RecordingSettings
    # (golive/recordings/settings.py): on by default, within limits.
    recordings: RecordingSettings = field(default_factory=RecordingSettings)


class _Setting(NamedTuple):
    section: str  # "" for a field of Settings itself
    key: str  # the field, or the key of the section's table
    kind: type  # what the value is coerced to: the type of its default


def _settings_of(section: str, defaults: DataclassInstance, *skip: str) -> dict[str, _Setting]:
    """The settings of a section's fields, found in its dataclass (``section`` "" for the
    server's own): named "<section>_<field>", typed by their defaults."""
    prefix = f"{section}_" if section else ""
    return {
        f"{prefix}{f.name}": _Setting(section, f.name, type(getattr(defaults, f.name)))
        for f in dataclasses.fields(defaults)
        if f.name not in skip
    }


# The sections built from their fields; the ladder is built by its own parser.
_SECTIONS: dict[str, type[DataclassInstance]] = {
    "rtmp": RtmpLimits,
    "hls": HlsSettings,
    "recordings": RecordingSettings,
}
# Every setting by the name the file (flattened), GOLIVE_* variables and flags give it.
_SETTINGS: dict[str, _Setting] = {
    **_settings_of("", Settings(), *_SECTIONS, "transcode"),
    **{n: s for name, cls in _SECTIONS.items() for n, s in _settings_of(name, cls()).items()},
    # [[transcode.rendition]] tables are the ladder's renditions; enabled = false empties it.
    **_settings_of("transcode", Ladder(), "renditions"),
    "transcode_enabled": _Setting("transcode", "enabled", bool),
    "transcode_rendition": _Setting("transcode", "rendition", list),
}
# Settings that flags and GOLIVE_* variables may set: all but the tables of renditions.
SCALAR_SETTINGS = [name for name in _SETTINGS if name != "transcode_rendition"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def worker_count(workers: str) -> int:
    """The number of HTTP processes ``workers`` asks for ("auto": one per usable core)."""
    if workers != "auto":
        return int(workers)
    if hasattr(os, "sched_getaffinity"):  # a container's or taskset's cores, not the host's
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _workers(value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, int | str) else ""
    number = text.isdigit() and 1 <= int(text) <= 256
    if isinstance(value, bool) or not (text == "auto" or number):
        raise ConfigError(f"setting 'workers': {value!r} is neither auto nor a number 1 to 256")
    return text


def _coerce(name: str, value: Any) -> Any:
    if name == "workers":
        return _workers(value)
    if name == "log_format":
        text = value.strip().lower() if isinstance(value, str) else ""
        if text not in ("text", "json"):
            raise ConfigError(f"setting 'log_format': {value!r} is neither text nor json")
        return text
    if name == "transcode_rendition":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        raise ConfigError(f"setting {name!r}: write [[transcode.rendition]] tables")
    kind = _SETTINGS[name].kind
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
        if isinstance(value, dict) and name not in _SETTINGS:
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def _settings(values: dict[str, Any]) -> Settings:
    """The settings from coerced values by name; ConfigError for a ladder that cannot be used
    (so that a bad [transcode] table stops `golive serve` before it listens)."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {"transcode": {}, **{name: {} for name in _SECTIONS}}
    for name, value in values.items():
        setting = _SETTINGS[name]
        if setting.section:
            sections[setting.section][setting.key] = value
        else:
            top[name] = value
    try:
        transcode = ladder_from_table(sections.pop("transcode"))
    except LadderError as exc:
        raise ConfigError(str(exc)) from None
    parts: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        try:
            parts[name] = cls(**sections[name])
        except ValueError as exc:  # the section's own check of its values
            raise ConfigError(f"[{name}] {exc}") from None
    settings = Settings(**top, **parts, transcode=transcode)
    _check_tls(settings)
    return settings


def _check_tls(settings: Settings) -> None:
    wanted = [n for n, on in (("rtmps_port", settings.rtmps_port), ("https", settings.https)) if on]
    if not 0 <= settings.rtmps_port <= 65535:
        raise ConfigError(f"setting 'rtmps_port': {settings.rtmps_port} is not a TCP port")
    if settings.rtmps_port and settings.rtmps_port == settings.rtmp_port:
        raise ConfigError("settings 'rtmps_port' and 'rtmp_port' name the same port")
    if wanted and not (settings.tls_cert and settings.tls_key):
        raise ConfigError(f"setting {wanted[0]!r} needs both 'tls_cert' and 'tls_key'")


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
            if name not in _SETTINGS:
                raise ConfigError(f"config file {path}: unknown setting {name!r}")
            values[name] = _coerce(name, value)
    for name in SCALAR_SETTINGS:
        env = environ.get(f"GOLIVE_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    return _settings(values)


def short_hold_back(settings: Settings) -> str | None:
    """Why the players of a ladder would stall on switching variants, if they would: a
    player sits PART-HOLD-BACK behind the source copy's live edge (RFC 8216bis, 4.4.3.8) and
    keeps that position when it moves to a variant, whose parts come out later."""
    hold_back = settings.hls.part_hold_back * settings.hls.part_target
    trail = TRAIL_WITH_LOOKAHEAD + settings.hls.part_target  # and a part of margin
    if not settings.transcode.lookahead or hold_back >= trail:
        return None
    parts = math.ceil(trail / settings.hls.part_target)
    return (
        f"transcode tune {settings.transcode.tune!r} keeps x264's lookahead: the variants "
        f"trail the source copy by about {TRAIL_WITH_LOOKAHEAD} s, more than PART-HOLD-BACK "
        f"({hold_back:.2f} s), so players stall when they switch to one; set [hls] "
        f'part_hold_back = {parts}, or [transcode] tune = "zerolatency"'
    )
