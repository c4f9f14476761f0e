"""The primary's HLS fast path (golive.hls.fastpath) against aiohttp's routes, byte for byte.

One application, one runner, two listeners on loopback: one whose connections start with the
fast protocol, as ``golive serve`` listens, and one that is aiohttp's alone. The same raw
requests go to both, at the same moment, and the answers must be the same bytes but the Date:
status, every header in order, the body; blocking reloads and hinted parts held and released
together; odd requests (HEAD, POST, Expect, a head over 8 KiB, escapes) answered by aiohttp on
both. Players are counted the same way too, behind trusted proxies."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from golive.bootstrap import player_counter
from golive.fasthttp import RESPONDERS, Listeners
from golive.hls import answers
from golive.hls.answers import CORS
from golive.hls.elsewhere import elsewhere_middleware
from golive.hls.fastpath import HlsFastPath
from golive.hls.packager import Packager
from golive.hls.room import HlsRoom
from golive.hls.segmenter import Segmenter
from golive.hls.settings import HlsSettings
from golive.hls.window import LiveWindow
from golive.hub import StreamHub
from golive.media import Sample, TrackConfig
from golive.viewers import Audience, audience_middleware
from tests.harness.ports import free_port
from tests.harness.streams import av_stream

BASE = "/hls/r/source"
_DATE = re.compile(rb"\r\nDate: [^\r]*")
_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
TRUSTED = [ipaddress.ip_network("127.0.0.0/8")]


@dataclass
class Servers:
    fast: int  # the port whose connections start with the fast protocol
    plain: int  # aiohttp's alone
    window: LiveWindow
    segmenter: Segmenter
    rest: Iterator[TrackConfig | Sample]
    packager: Packager
    fast_audience: Audience
    plain_audience: Audience
    listeners: Listeners

    def next_part(self) -> None:
        before = self.window.next_part
        while self.window.next_part == before:
            self.window.feed(self.segmenter.push(next(self.rest)))


async def _elsewhere(room: str) -> str | None:
    return "http://other.example:8080" if room == "away" else None


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    settings = HlsSettings()
    packager = Packager(StreamHub(takeover_after=5.0), settings)
    room = packager.rooms["r"] = HlsRoom("r", settings)
    packager.rooms["waiting"] = HlsRoom("waiting", settings)  # no part yet: not ready
    segmenter = Segmenter()
    room.source.begin()
    items = iter(av_stream(30.0))
    for _ in range(300):  # about 5 s: two complete segments and parts of the third
        room.source.feed(segmenter.push(next(items)))
    # Two audiences: the fast listener counts in one, aiohttp's routes in the other.
    fast_audience, plain_audience = Audience(key=b"k" * 16), Audience(key=b"k" * 16)
    app = web.Application()
    elsewhere = elsewhere_middleware(packager, _elsewhere, headers=CORS)
    from golive.hls.routes import setup_hls_routes
    from golive.proxies import forwarded_for_middleware

    app.middlewares.append(forwarded_for_middleware(TRUSTED))
    setup_hls_routes(app, packager, [elsewhere, audience_middleware(plain_audience)])
    app[RESPONDERS] = (HlsFastPath(packager, player_counter(fast_audience, TRUSTED)), None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listeners = Listeners(runner)
    fast = free_port()
    await listeners.start("127.0.0.1", fast)
    plain_site = web.TCPSite(runner, "127.0.0.1", 0)
    await plain_site.start()
    plain = plain_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Servers(
            fast,
            plain,
            room.source,
            segmenter,
            items,
            packager,
            fast_audience,
            plain_audience,
            listeners,
        )
    finally:
        listeners.close_connections()
        await runner.cleanup()


async def exchange(port: int, data: bytes, answers_expected: int = 1) -> bytes:
    """Send ``data`` on a new connection; read ``answers_expected`` answers (by their
    Content-Length, none for a HEAD), or until the server closes."""
    methods = re.findall(rb"(?:^|\r\n\r\n)([A-Z]+) /", data)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    try:
        for index in range(answers_expected):
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 100"):
                got += head
                head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            body = b""
            if length and methods[index : index + 1] != [b"HEAD"]:
                body = await reader.readexactly(int(length.group(1)))
            got += head + body
    except asyncio.IncompleteReadError as exc:
        got += exc.partial
    finally:
        writer.close()
    return got


def same(a: bytes, b: bytes) -> None:
    assert _DATE.sub(b"\r\nDate: -", a) == _DATE.sub(b"\r\nDate: -", b)


async def both(servers: Servers, data: bytes, answers_expected: int = 1) -> bytes:
    fast, plain = await asyncio.wait_for(
        asyncio.gather(
            exchange(servers.fast, data, answers_expected),
            exchange(servers.plain, data, answers_expected),
        ),
        10,
    )
    same(fast, plain)
    return fast


def get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def last_part(window: LiveWindow) -> tuple[int, int]:
    return window.last_part()


@pytest.mark.parametrize(
    "target",
    [
        f"{BASE}/index.m3u8",
        f"{BASE}/index.m3u8?_HLS_skip=YES",
        "/hls/r/index.m3u8",
        f"{BASE}/init-1.mp4",
        f"{BASE}/init-9.mp4",
        f"{BASE}/seg-999999.m4s",
        f"{BASE}/part-999999.m4s",
        f"{BASE}/other.txt",
        f"{BASE}/index.m3u8?_HLS_msn=x",
        f"{BASE}/index.m3u8?_HLS_part=1",
        f"{BASE}/index.m3u8?_HLS_msn=99999999999999",
        f"{BASE}/index.m3u8?_HLS_msn=1&_HLS_msn=x",
        f"{BASE}/index.m3u8?_HLS_msn=%31",
        f"{BASE}/index.m3u8?a+b=1",
        "/hls/r/other/index.m3u8",
        "/hls/r/status.json",
        "/hls/waiting/index.m3u8",
        "/hls/waiting/source/index.m3u8",
        "/hls/nowhere/source/index.m3u8",
        "/hls/away/source/index.m3u8?_HLS_msn=3",
        "/hls/r/source/../source/index.m3u8",
        "/hls/r//source/index.m3u8",
        "/hls/r/source/",
        "/hls/%72/source/index.m3u8",
        "/hls/r/source/index.m3u8/more",
    ],
)
async def test_a_get_is_answered_as_aiohttp_answers_it(servers: Servers, target: str) -> None:
    await both(servers, get(target, "User-Agent: player"))


async def test_a_last_request_is_answered_then_the_connection_closed(servers: Servers) -> None:
    """ffmpeg's HLS client opens a playlist so (``Connection: close``, a Range that golive
    ignores, as aiohttp's routes do)."""
    ffmpeg = get(
        f"{BASE}/index.m3u8",
        "User-Agent: Lavf/59.27.100",
        "Accept: */*",
        "Range: bytes=0-",
        "Connection: close",
        "Icy-MetaData: 1",
    )
    answer = await both(servers, ffmpeg, answers_expected=2)
    assert answer.count(b"HTTP/1.1 ") == 1 and b"\r\nConnection: close\r\n" in answer
    assert servers.listeners.handed_over == 0
    # A request after the last one (RFC 9112, 9.6 forbids it): aiohttp refuses the whole.
    answer = await both(servers, ffmpeg + get(f"{BASE}/init-1.mp4"), answers_expected=2)
    assert answer.startswith(b"HTTP/1.0 400") and servers.listeners.handed_over == 1
    answer = await both(servers, get(f"{BASE}/init-1.mp4", "Connection: close"))
    assert answer.startswith(b"HTTP/1.1 200 OK")
    msn, part = last_part(servers.window)
    held = f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part + 1}"
    waiting = asyncio.ensure_future(both(servers, get(held, "Connection: close")))
    await asyncio.sleep(0.1)
    servers.next_part()
    assert (await waiting).startswith(b"HTTP/1.1 200 OK")
    assert servers.listeners.handed_over == 1


async def test_media_now_is_answered_as_aiohttp_answers_it(servers: Servers) -> None:
    window = servers.window
    msn, part = last_part(window)
    first = window.segments[0]
    for target in (
        f"{BASE}/part-{window.next_part - 1}.m4s",
        f"{BASE}/part-{first.parts[0].number}.m4s",
        f"{BASE}/seg-{first.msn}.m4s",
        f"{BASE}/seg-{msn}.m4s",  # in progress: 404
        f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}",
        f"{BASE}/index.m3u8?_HLS_msn={first.msn}",
        f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}&_HLS_skip=YES",
        f"{BASE}/index.m3u8?_HLS_msn={msn + 3}",  # too far ahead: 400
    ):
        answer = await both(servers, get(target))
        assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 404", b"HTTP/1.1 400")), target


async def test_held_requests_are_released_together_with_the_same_answer(
    servers: Servers,
) -> None:
    window = servers.window
    msn, part = last_part(window)
    hinted = f"{BASE}/part-{window.next_part}.m4s"
    reload = f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part + 1}"
    held = asyncio.ensure_future(
        asyncio.gather(both(servers, get(hinted)), both(servers, get(reload)))
    )
    await asyncio.sleep(0.2)
    assert not held.done()
    servers.next_part()
    part_answer, playlist_answer = await asyncio.wait_for(held, 5)
    assert part_answer.startswith(b"HTTP/1.1 200") and b"video/mp4" in part_answer
    assert playlist_answer.startswith(b"HTTP/1.1 200") and b"max-age=6" in playlist_answer


async def test_a_reload_that_times_out_is_the_same_503(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "BLOCKING_WAIT_LIMIT", 0.3)
    msn, part = last_part(servers.window)
    answer = await both(servers, get(f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part + 1}"))
    assert answer.startswith(b"HTTP/1.1 503")
    answer = await both(servers, get(f"{BASE}/part-{servers.window.next_part}.m4s"))
    assert answer.startswith(b"HTTP/1.1 404")


async def test_an_ended_stream_answers_the_same(servers: Servers) -> None:
    msn, _ = last_part(servers.window)
    held = asyncio.ensure_future(
        both(servers, get(f"{BASE}/index.m3u8?_HLS_msn={msn + 1}&_HLS_part=0"))
    )
    await asyncio.sleep(0.1)
    servers.window.end()
    answer = await asyncio.wait_for(held, 5)
    assert b"#EXT-X-ENDLIST" in answer and b"max-age=1" in answer


@pytest.mark.parametrize(
    "data",
    [
        b"HEAD /hls/r/source/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /hls/r/source/index.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /hls/r/source/index.m3u8 HTTP/1.0\r\n\r\n",
        b"GET /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        b"GET /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\nCookie: "
        + b"a" * 9 * 1024
        + b"\r\n\r\n",
        b"GET /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"OPTIONS /hls/r/source/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_odd_requests_get_aiohttps_answers(servers: Servers, data: bytes) -> None:
    await both(servers, data)


async def test_pipelined_requests_are_answered_in_order(servers: Servers) -> None:
    """Plain GETs, then one the fast path leaves to aiohttp, then plain GETs again: three
    answers in order on both, whichever answers each."""
    msn, part = last_part(servers.window)
    data = (
        get(f"{BASE}/init-1.mp4")
        + get(f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}")
        + b"HEAD /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\n\r\n"
        + get(f"{BASE}/part-{servers.window.next_part - 1}.m4s")
    )
    answer = await both(servers, data, answers_expected=3)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


async def test_players_are_counted_alike_behind_a_trusted_proxy(servers: Servers) -> None:
    for forwarded in ("203.0.113.7", "198.51.100.1, 203.0.113.8"):
        for agent in ("hls.js", "AppleCoreMedia"):
            data = get(
                f"{BASE}/index.m3u8", f"User-Agent: {agent}", f"X-Forwarded-For: {forwarded}"
            )
            await both(servers, data)
    await both(servers, get("/hls/r/index.m3u8", "User-Agent: other"))
    await both(servers, get(f"{BASE}/init-1.mp4", "User-Agent: not counted"))
    assert servers.fast_audience.count("r") == servers.plain_audience.count("r") == 5
    fast = servers.fast_audience._rooms["r"].addresses
    plain = servers.plain_audience._rooms["r"].addresses
    assert fast == plain
    assert set(fast.values()) == {"203.0.113.7", "203.0.113.8", "127.0.0.1"}


async def test_the_fast_listener_does_answer_itself(servers: Servers) -> None:
    """The fast path is in use: its connection is still its own after a plain GET, and handed
    to aiohttp after a HEAD."""
    reader, writer = await asyncio.open_connection("127.0.0.1", servers.fast)
    writer.write(get(f"{BASE}/init-1.mp4"))
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(0.05)
    assert len(servers.listeners.connections) == 1
    assert servers.listeners.handed_over == 0
    writer.write(b"HEAD /hls/r/source/init-1.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.05)
    assert len(servers.listeners.connections) == 0
    assert servers.listeners.handed_over == 1
    writer.close()
