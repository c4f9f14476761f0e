"""Strings a peer chooses reach golive's log escaped, on one line; malformed HTTP requests are
one INFO line each, without aiohttp's traceback. Over real sockets, in the test's process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.bootstrap import Stores, build_app
from golive.config import Settings
from golive.http_errors import QuietMalformedRequests, quiet_malformed_requests
from golive.logs import EscapeControlCharacters
from tests.harness.ingest import GoliveFactory
from tests.harness.log_forging import (
    BIDI,
    BIDI_ESCAPED,
    ESCAPED,
    FORGED,
    MALFORMED,
    UNSAFE,
    exchange,
    hostile_get,
)
from tests.harness.rtmp_client import TestPublisher


def assert_one_safe_line_each(records: list[logging.LogRecord]) -> None:
    for record in records:
        message = record.getMessage()
        assert not UNSAFE.search(message), message
        assert not message.startswith("2026-12-01") and "\n2026-12-01" not in message


async def test_rtmp_strings_reach_the_log_escaped(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    room = "room" + FORGED + BIDI
    publisher = await TestPublisher.connect(
        golive.port, app="live" + FORGED + BIDI, flash_ver="FMLE/3.0" + FORGED + BIDI
    )
    await publisher.publish(room)
    await publisher.expect_status("NetStream.Publish.Start")
    # A second publisher into the same room is refused, and the refusal names the room.
    second = await TestPublisher.connect(golive.port)
    await second.publish(room)
    await second.expect_status("NetStream.Publish.BadName")
    publisher.close()
    second.close()
    await golive.wait_streams(1)

    records = [r for r in caplog.records if r.name.startswith("golive")]
    lines = [r.getMessage() for r in records]
    assert_one_safe_line_each(records)
    connected = [line for line in lines if "connected to app 'live" in line]
    assert connected[0].endswith(
        f"connected to app 'live{ESCAPED}{BIDI_ESCAPED}' (FMLE/3.0{ESCAPED}{BIDI_ESCAPED})"
    )
    shown = f"room{ESCAPED}{BIDI_ESCAPED}"
    assert any(line.endswith(f"room {shown} is live") for line in lines), lines
    assert any(f"publish refused: room {shown} is already live" in line for line in lines)


async def test_a_long_flash_ver_is_cut(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    client = await TestPublisher.connect(golive.port, flash_ver="F" * 5000)
    client.close()
    [line] = [r.getMessage() for r in caplog.records if "connected to app" in r.getMessage()]
    assert line.endswith("(" + "F" * 200 + "...[4800 more characters])")


@pytest.fixture
def http_log() -> Iterator[io.StringIO]:
    """aiohttp's and golive's log lines as ``golive serve`` writes them (its handler filter and
    its aiohttp.server filter), the access log included."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(EscapeControlCharacters())
    loggers = [logging.getLogger(name) for name in ("aiohttp", "golive")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    quiet_malformed_requests()
    yield out
    server = logging.getLogger("aiohttp.server")
    for f in [f for f in server.filters if isinstance(f, QuietMalformedRequests)]:
        server.removeFilter(f)
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextlib.asynccontextmanager
async def http_server(tmp_path: Path) -> AsyncIterator[int]:
    """golive's HTTP application behind a trusted proxy at 127.0.0.1; its port."""
    settings = Settings(
        host="127.0.0.1", rtmp_port=0, data_dir=str(tmp_path), trusted_proxies="127.0.0.1"
    )
    app = build_app(settings, Stores(MemoryUsers(), MemorySessions(), MemoryRooms()))
    server = TestServer(app, host="127.0.0.1")
    # The access log (off in ``golive serve``) with the headers a client chooses in it.
    await server.start_server(access_log_format='%a "%r" %s "%{User-Agent}i" "%{X-Forwarded-For}i"')
    try:
        assert server.port is not None
        yield server.port
    finally:
        await server.close()


async def test_http_headers_reach_the_log_escaped(tmp_path: Path, http_log: io.StringIO) -> None:
    async with http_server(tmp_path) as port:
        for path in (b"/api/health", b"/api/%0A2026-12-01", b"/api/me"):
            answer = await exchange(port, hostile_get(path))
            assert answer.startswith(b"HTTP/1.1 "), answer
        await asyncio.sleep(0.1)
    text = http_log.getvalue()
    assert not UNSAFE.search(text.replace("\n", "")), text
    assert all(line.startswith(("INFO ", "WARNING ")) for line in text.splitlines()), text
    assert f'"curl{BIDI_ESCAPED}{ESCAPED}"' in text
    assert f'"fe80::1%{BIDI_ESCAPED}"' in text


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_is_one_info_line(
    tmp_path: Path, http_log: io.StringIO, request_bytes: bytes
) -> None:
    async with http_server(tmp_path) as port:
        answer = await exchange(port, request_bytes)
        await asyncio.sleep(0.1)
    assert re.fullmatch(rb"HTTP/1\.[01] (400|405) .*", answer), answer
    lines = [line for line in http_log.getvalue().splitlines() if "aiohttp.server" in line]
    assert len(lines) == 1, http_log.getvalue()
    assert lines[0].startswith("INFO aiohttp.server: malformed HTTP request from 127.0.0.1: ")
    assert "Traceback" not in http_log.getvalue() and "ERROR" not in http_log.getvalue()


async def test_a_stream_key_in_the_app_never_reaches_the_log(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A streamer who pasted the whole URL with the key into OBS's server field.
    golive = await golive_rtmp()
    key = "live_1234_SeCrEtStReAmKeY"
    for app in (f"live/{key}", f"live?key={key}"):
        client = await TestPublisher.connect(golive.port, app=app)
        client.close()
    await asyncio.sleep(0.1)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("connected to app 'live/...'" in line for line in lines) == 2
    assert not [line for line in lines if key in line]
