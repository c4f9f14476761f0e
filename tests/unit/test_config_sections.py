"""The settings' sections: the RTMP limits, the HLS settings and the transcoding ladder,
set by the same names as every other setting."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

from golive import config
from golive.api.routes import setup_api
from golive.hls.segmenter import Segmenter
from golive.hls.settings import HlsSettings
from golive.hls.window import LiveWindow
from golive.hub import StreamHub
from golive.previews import Previews
from golive.rtmp.chunk import ChunkReader
from golive.rtmp.connection import RtmpConnection
from golive.rtmp.limits import RtmpLimits
from golive.transcode.ladder import Ladder, RenditionSpec


def test_sections_default_to_their_own_dataclasses() -> None:
    s = config.load(environ={})
    assert s.rtmp == RtmpLimits() and s.hls == HlsSettings() and s.transcode == Ladder()
    assert s == config.Settings(data_dir=s.data_dir)


def _default(call: Callable[..., object], parameter: str) -> object:
    return inspect.signature(call).parameters[parameter].default


def test_the_parts_made_without_settings_use_the_settings_defaults() -> None:
    """A part made bare (by a test or a benchmark) behaves as an unconfigured golive does: its
    defaults are the settings' own, or it has none and must be given the setting."""
    s = config.Settings()
    assert _default(ChunkReader, "max_message_size") == s.rtmp.max_message_size
    assert _default(RtmpConnection, "max_message_size") == s.rtmp.max_message_size
    for limit in ("max_pending_bytes", "max_chunk_streams"):
        assert _default(ChunkReader, limit) == getattr(s.rtmp, limit)
        assert _default(RtmpConnection, limit) == getattr(s.rtmp, limit)
    assert _default(Segmenter, "part_target") == s.hls.part_target
    assert _default(Segmenter, "segment_target") == s.hls.segment_target
    assert _default(LiveWindow, "window") == s.hls.window
    assert _default(LiveWindow, "max_segment") == s.hls.max_segment
    assert _default(LiveWindow, "max_bytes") == s.hls.max_window_bytes
    assert _default(LiveWindow, "part_hold_back") == s.hls.part_hold_back
    required = [
        _default(StreamHub, "takeover_after"),
        _default(Previews, "interval"),
        _default(setup_api, "rtmp_port"),
        _default(setup_api, "nginx_callbacks"),
    ]
    assert required == [inspect.Parameter.empty] * len(required)


def test_sections_from_file_environment_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "golive.toml"
    path.write_text(
        "hls_part_target = 0.5\n"
        "[rtmp]\nmax_connections = 7\nport = 1940\n"
        "[hls]\nwindow = 12\n"
        '[transcode]\npreset = "fast"\n'
        '[[transcode.rendition]]\nheight = 480\nbitrate = "1500k"\n'
    )
    env = {
        "GOLIVE_RTMP_IDLE_TIMEOUT": "4.5",
        "GOLIVE_HLS_WINDOW": "18",
        "GOLIVE_HLS_MAX_WINDOW_BYTES": "1048576",
        "GOLIVE_TRANSCODE_MAX_LAG": "2",
        "GOLIVE_TRANSCODE_TUNE": "zerolatency",
    }
    s = config.load(str(path), environ=env)
    assert s.rtmp_port == 1940  # [rtmp] port is the server's own rtmp_port
    assert s.rtmp == RtmpLimits(idle_timeout=4.5, max_connections=7)
    assert s.hls == HlsSettings(part_target=0.5, window=18.0, max_window_bytes=1 << 20)
    assert s.transcode == Ladder(
        (RenditionSpec("480p", 480, 1_500_000),), preset="fast", tune="zerolatency", max_lag=2.0
    )
    # --no-transcode, like GOLIVE_TRANSCODE_ENABLED=false, keeps the options, not the renditions.
    s = config.load(str(path), environ=env, overrides={"transcode_enabled": False})
    assert not s.transcode and s.transcode.preset == "fast"
    assert not config.load(environ={"GOLIVE_TRANSCODE_ENABLED": "false"}).transcode


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GOLIVE_HLS_LINGER": "soon"}, "setting 'hls_linger': 'soon' is not a valid float"),
        ({"GOLIVE_RTMP_MAX_MESSAGE_SIZE": "1.5"}, "'rtmp_max_message_size'"),
        ({"GOLIVE_TRANSCODE_WORKER": "gpu"}, "transcode worker 'gpu'"),
        ({"GOLIVE_TRANSCODE_ENABLED": "perhaps"}, "'transcode_enabled'"),
        ({"GOLIVE_HLS_PART_HOLD_BACK": "1.5"}, r"\[hls\] part_hold_back is 1.5 part targets"),
    ],
)
def test_section_errors_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load(environ=environ)


def test_unknown_section_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "golive.toml"
    path.write_text("[hls]\nwindw = 3\n")
    with pytest.raises(config.ConfigError, match="unknown setting 'hls_windw'"):
        config.load(str(path), environ={})
    path.write_text("[[transcode.rendition]]\nheight = 100000\nbitrate = 1\n")
    with pytest.raises(config.ConfigError, match=r"transcode rendition 100000p: height"):
        config.load(str(path), environ={})
