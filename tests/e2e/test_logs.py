"""`golive serve`'s log under a hostile peer: every line is one of golive's own, whatever the
peer puts in RTMP strings and HTTP headers, and a malformed HTTP request is one INFO line
without a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import log_forging as hostile
from tests.harness.golive import golive_serve
from tests.harness.rtmp_client import TestPublisher

pytestmark = pytest.mark.e2e

# How every line golive writes begins (logging's asctime has milliseconds; the forged line not).
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) [\w.]+: ")


async def test_the_log_holds_only_golive_lines_under_a_hostile_peer(tmp_path: Path) -> None:
    sneaky = hostile.FORGED + hostile.BIDI
    shown = hostile.ESCAPED + hostile.BIDI_ESCAPED
    env = {"GOLIVE_TRUSTED_PROXIES": "127.0.0.1"}
    with golive_serve(tmp_path, "--open-publish", "--no-transcode", env=env) as srv:
        publisher = await TestPublisher.connect(
            srv.rtmp_port, app="live" + sneaky, flash_ver="FMLE/3.0" + sneaky
        )
        await publisher.publish("room" + sneaky)
        await publisher.expect_status("NetStream.Publish.Start")
        publisher.close()
        for path in (b"/api/health", b"/api/%0A2026-12-01", b"/hls/%E2%80%AE/index.m3u8"):
            answer = await hostile.exchange(srv.http_port, hostile.hostile_get(path))
            assert answer.startswith(b"HTTP/1.1 "), answer
        for request in hostile.MALFORMED.values():
            answer = await hostile.exchange(srv.http_port, request)
            assert re.fullmatch(rb"HTTP/1\.[01] (400|405) .*", answer), answer
    text = srv.log.read_text(encoding="utf-8")
    # Split on "\n" alone: what a viewer may also break lines at must not be there at all.
    lines = text.removesuffix("\n").split("\n")
    strangers = [line for line in lines if not LINE.match(line) or hostile.UNSAFE.search(line)]
    assert strangers == [], text
    assert f"(FMLE/3.0{shown})" in text
    assert f"room room{shown} is live" in text
    malformed = [line for line in lines if "malformed HTTP request from 127.0.0.1: " in line]
    assert len(malformed) == len(hostile.MALFORMED), text
    assert all(" INFO aiohttp.server: " in line for line in malformed)
