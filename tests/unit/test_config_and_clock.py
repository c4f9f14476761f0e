"""Settings layering, the handshake and the 64-bit timeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from golive import config
from golive.rtmp.errors import ProtocolError
from golive.rtmp.handshake import ServerHandshake
from golive.rtmp.timeline import Unwrapper


def test_defaults_need_nothing() -> None:
    s = config.load(environ={})
    assert (s.host, s.rtmp_port, s.http_port) == ("0.0.0.0", 1935, 8080)
    assert s.data_dir.endswith("golive")


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "golive.toml"
    path.write_text(
        'rtmp_port = 1936\nhttp_port = 8081\nopen_publish = true\nredis = "redis://127.0.0.1:6379/0"\n'
        "[rtmp]\nidle_timeout = 5\n"
    )
    env = {
        "GOLIVE_HTTP_PORT": "8082",
        "GOLIVE_HOST": "127.0.0.1",
        "GOLIVE_SESSIONS_IN_REDIS": "yes",
    }
    s = config.load(str(path), environ=env, overrides={"host": "::1", "rtmp_port": None})
    assert s.rtmp_port == 1936  # from the file
    assert s.http_port == 8082  # the environment beats the file
    assert s.host == "::1"  # a flag beats the environment
    assert s.rtmp.idle_timeout == 5.0
    assert s.open_publish is True and s.sessions_in_redis is True
    assert s.redis == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bool_setting_refuses_other_words(value: str) -> None:
    with pytest.raises(config.ConfigError, match="open_publish"):
        config.load(environ={"GOLIVE_OPEN_PUBLISH": value})


def test_workers_default_to_one_per_core_and_take_a_number_anywhere(tmp_path: Path) -> None:
    auto = config.load(environ={})
    assert auto.workers == "auto" and config.worker_count(auto.workers) >= 1
    path = tmp_path / "golive.toml"
    path.write_text("workers = 3\n")  # a TOML integer
    assert config.load(str(path), environ={}).workers == "3"
    assert config.load(str(path), environ={"GOLIVE_WORKERS": "AUTO"}).workers == "auto"
    flagged = config.load(str(path), environ={}, overrides={"workers": "1"})
    assert config.worker_count(flagged.workers) == 1


@pytest.mark.parametrize("value", ["0", "-1", "many", "true", "2.5", "257"])
def test_workers_refuse_what_is_not_auto_or_a_count(value: str) -> None:
    with pytest.raises(config.ConfigError, match="'workers'"):
        config.load(environ={"GOLIVE_WORKERS": value})


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "golive.toml"
    path.write_text("rtmp_prot = 1\n")
    with pytest.raises(config.ConfigError, match="unknown setting 'rtmp_prot'"):
        config.load(str(path), environ={})
    with pytest.raises(config.ConfigError, match="'rtmp_port'"):
        config.load(environ={"GOLIVE_RTMP_PORT": "many"})
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.toml"), environ={})


def test_handshake_fed_one_byte_at_a_time() -> None:
    hs = ServerHandshake()
    c1 = bytes(range(256)) * 6
    for b in b"\x03" + c1:
        assert hs.receive(bytes([b])) == b""
    assert len(hs.outgoing) == 1 + 1536 * 2
    assert hs.outgoing[1 + 1536 :] == c1[:4] + bytes(4) + c1[8:]
    c2 = hs.outgoing[1 : 1 + 1536]
    assert hs.receive(c2[:1000]) == b""
    assert hs.receive(c2[1000:] + b"rest") == b"rest"
    assert hs.done


@pytest.mark.parametrize(
    ("first", "reason"),
    [(b"GET / HTTP/1.1", "HTTP request"), (b"\x16\x03\x01", "TLS"), (b"\x06", "version 6")],
)
def test_handshake_names_what_came_instead(first: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        ServerHandshake().receive(first)


def test_unwrap_across_2_24_and_2_32() -> None:
    u = Unwrapper()
    assert [u.unwrap(t) for t in (0xFFFFF0, 0x1000010)] == [0xFFFFF0, 0x1000010]
    u = Unwrapper()
    # Audio a little behind video right after the wrap stays a little behind.
    seq = [0xFFFFFFF0, 0x5, 0x3, 0x40]
    assert [u.unwrap(t) for t in seq] == [0xFFFFFFF0, 0x100000005, 0x100000003, 0x100000040]


@given(st.integers(0, 1 << 40), st.lists(st.integers(-5000, 100_000), max_size=200))
def test_unwrap_recovers_any_timeline(start: int, steps: list[int]) -> None:
    u = Unwrapper()
    t = start
    assert u.unwrap(t & 0xFFFFFFFF) == t & 0xFFFFFFFF
    offset = t - (t & 0xFFFFFFFF)
    for step in steps:
        t += step
        assert u.unwrap(t & 0xFFFFFFFF) + offset == t
