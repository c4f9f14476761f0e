"""What shared caches are told about each kind of HLS answer, over a real socket against the
aiohttp application (docs/caching.md): blocking reloads are kept a few target durations,
plain playlists are checked every time, media is immutable, errors are kept a second or never.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.hls import answers, routes
from golive.hls.packager import Packager
from golive.hls.room import HlsRoom
from golive.hls.segmenter import Segmenter
from golive.hls.settings import HlsSettings
from golive.hls.window import LiveWindow
from golive.hub import StreamHub
from golive.media import Sample, TrackConfig
from tests.harness.streams import av_stream

Client = TestClient[web.Request, web.Application]
BASE = "/hls/r/source"


@dataclass
class Live:
    client: Client
    window: LiveWindow
    segmenter: Segmenter
    rest: Iterator[TrackConfig | Sample]

    def next_part(self) -> None:
        """Feed the stream until the window has one part more."""
        before = self.window.next_part
        while self.window.next_part == before:
            self.window.feed(self.segmenter.push(next(self.rest)))


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    settings = HlsSettings()
    packager = Packager(StreamHub(takeover_after=5.0), settings)
    room = packager.rooms["r"] = HlsRoom("r", settings)
    segmenter = Segmenter()
    room.source.begin()
    items = iter(av_stream(20.0))
    for _ in range(300):  # about 5 s: two complete segments and parts of the third
        room.source.feed(segmenter.push(next(items)))
    app = web.Application()
    routes.setup_hls_routes(app, packager)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Live(client, room.source, segmenter, items)


def blocking_url(msn: int, part: int, skip: bool = False) -> str:
    return f"{BASE}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}" + ("&_HLS_skip=YES" if skip else "")


async def headers_of(client: Client, url: str, status: int = 200) -> dict[str, str]:
    async with client.get(url) as resp:
        assert resp.status == status, await resp.text()
        await resp.read()
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        # One representation per URL: CORS allows every origin, nothing is compressed.
        assert "Vary" not in resp.headers
        return dict(resp.headers)


async def test_plain_playlists_are_checked_every_time(live: Live) -> None:
    assert (await headers_of(live.client, f"{BASE}/index.m3u8"))["Cache-Control"] == "no-cache"
    assert (await headers_of(live.client, "/hls/r/index.m3u8"))["Cache-Control"] == "no-cache"
    assert (await headers_of(live.client, "/hls/r/status.json"))["Cache-Control"] == "no-cache"


async def test_a_blocking_reload_is_kept_three_target_durations(live: Live) -> None:
    assert live.window.target_duration == 2
    msn, part = live.window.last_part()
    kept = "public, max-age=6"
    # The version exists already, or comes while the request is held: the same answer.
    assert (await headers_of(live.client, blocking_url(msn, part)))["Cache-Control"] == kept
    pending = asyncio.ensure_future(live.client.get(blocking_url(msn, part + 1)))
    pending_delta = asyncio.ensure_future(live.client.get(blocking_url(msn, part + 1, True)))
    await asyncio.sleep(0.1)
    assert not pending.done()
    live.next_part()
    for request in (pending, pending_delta):
        async with await request as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == kept
            assert f"part-{live.window.next_part - 1}.m4s" in await resp.text()


async def test_a_reload_answered_by_the_end_of_the_stream_is_kept_a_second(live: Live) -> None:
    msn, part = live.window.last_part()
    pending = asyncio.ensure_future(live.client.get(blocking_url(msn, part + 1)))
    await asyncio.sleep(0.1)
    live.window.end()
    async with await pending as resp:
        assert resp.status == 200
        assert "#EXT-X-ENDLIST" in await resp.text()
        assert resp.headers["Cache-Control"] == "max-age=1"
    # Even the version it asked for: a publisher reconnecting takes the ENDLIST back.
    headers = await headers_of(live.client, blocking_url(msn, part))
    assert headers["Cache-Control"] == "max-age=1"


async def test_a_blocking_reload_that_times_out_is_kept_a_second(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "BLOCKING_WAIT_LIMIT", 0.2)
    msn, part = live.window.last_part()
    headers = await headers_of(live.client, blocking_url(msn, part + 1), status=503)
    assert headers["Cache-Control"] == "max-age=1"


async def test_media_is_immutable_and_the_hinted_part_too_once_it_exists(live: Live) -> None:
    immutable = "public, max-age=3600, immutable"
    first = live.window.segments[0]
    for name in (f"seg-{first.msn}.m4s", f"part-{first.parts[0].number}.m4s", "init-1.mp4"):
        assert (await headers_of(live.client, f"{BASE}/{name}"))["Cache-Control"] == immutable
    hinted = asyncio.ensure_future(live.client.get(f"{BASE}/part-{live.window.next_part}.m4s"))
    await asyncio.sleep(0.1)
    assert not hinted.done()
    live.next_part()
    async with await hinted as resp:
        assert resp.status == 200
        assert (await resp.read())[4:8] == b"moof"
        assert resp.headers["Cache-Control"] == immutable


async def test_errors_are_kept_a_second_or_never(live: Live) -> None:
    second = "max-age=1"
    # Gone, not there yet or not live yet: a burst of players is answered from one copy.
    for url in (
        "/hls/nobody/index.m3u8",
        "/hls/r/720p/index.m3u8",
        f"{BASE}/part-{live.window.next_part + 5}.m4s",
        f"{BASE}/seg-{live.window.last_part()[0]}.m4s",  # in progress
        f"{BASE}/nothing.txt",
    ):
        assert (await headers_of(live.client, url, 404))["Cache-Control"] == second
    live.window.end()
    assert live.window.next_part not in live.window.parts
    headers = await headers_of(live.client, f"{BASE}/part-{live.window.next_part}.m4s", 404)
    assert headers["Cache-Control"] == second
    # A query that is malformed, or valid only later, is never stored.
    msn, _ = live.window.last_part()
    for url in (f"{BASE}/index.m3u8?_HLS_msn=x", f"{BASE}/index.m3u8?_HLS_msn={msn + 5}"):
        assert (await headers_of(live.client, url, 400))["Cache-Control"] == "no-store"
    async with live.client.post(f"{BASE}/index.m3u8") as resp:
        assert resp.status == 405
        assert resp.headers["Cache-Control"] == "no-store"


async def test_the_quick_routes_answer_as_the_sub_application_does(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same requests, resolved by HlsPaths and then by the sub-application's own routes
    # (HlsPaths declining): the same answers, HEAD without the body.
    quick: list[bool] = [True]
    taken: list[str] = []
    resolve = routes.HlsPaths.resolve

    async def switched(self: routes.HlsPaths, request: web.Request) -> Any:
        if not quick[0]:
            return None, set()
        found = await resolve(self, request)
        if found[0] is not None:
            taken.append(request.path_qs)
        return found

    monkeypatch.setattr(routes.HlsPaths, "resolve", switched)
    msn, part = live.window.last_part()
    first = live.window.segments[0]
    for path in (
        "/index.m3u8",
        "/status.json",
        "/source/index.m3u8",
        f"/source/index.m3u8?_HLS_msn={msn}&_HLS_part={part}",
        f"/source/part-{first.parts[0].number}.m4s",
        f"/source/seg-{first.msn}.m4s",
        "/source/init-1.mp4",
        "/source/part-x.m4s",
        "/nothing/index.m3u8",
        "/source/status.json",
    ):
        answers = []
        for quick[0] in (True, False):
            for method in ("GET", "HEAD"):
                async with live.client.request(method, f"/hls/r{path}") as resp:
                    headers = {k: v for k, v in resp.headers.items() if k != "Date"}
                    answers.append((method, resp.status, headers, await resp.read()))
        assert answers[:2] == answers[2:], path
        get, head = answers[:2]
        assert head[:3] == ("HEAD", *get[1:3]) and head[3] == b"", path
        assert taken == [f"/hls/r{path}"] * 2, path
        taken.clear()
