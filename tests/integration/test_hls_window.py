"""The default live window as players see it over HTTP, checked at every part against
RFC 8216bis, 6.2.2: how long the playlist is, how long parts outlive their EXT-X-PART lines, and
segments served as their parts' bytes."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from golive.hls import playlist_parser
from golive.hls.packager import Packager
from golive.hls.routes import setup_hls_routes
from golive.hls.settings import HlsSettings
from golive.hub import StreamHub
from tests.harness.streams import av_stream


def part_number(uri: str) -> int:
    return int(uri.removeprefix("part-").removesuffix(".m4s"))


async def test_the_default_window_keeps_rfc_8216bis_6_2_2_over_http() -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings())
    app = web.Application()
    setup_hls_routes(app, packager)
    base = "/hls/r/source"
    durations: dict[int, float] = {}  # every part listed so far, by number
    listed: set[int] = set()
    delisted_at: dict[int, float] = {}  # media seconds packaged when its EXT-X-PART left
    compared: set[int] = set()  # segments fetched whole and compared with their parts
    checks = 0
    first_msn: int | None = None  # rooms number their segments from the wall clock
    async with TestClient(TestServer(app)) as client:
        stream = hub.open("r")
        seen = 0
        for item in av_stream(30.0, gop=2.0):
            stream.push(item)
            await asyncio.sleep(0)
            room = packager.rooms.get("r")
            if room is None or not room.ready or room.source.next_part == seen:
                continue
            seen = room.source.next_part
            async with client.get(f"{base}/index.m3u8") as resp:
                assert resp.status == 200
                pl = playlist_parser.parse_media(await resp.text())
            target = pl.target_duration
            checks += 1
            if first_msn is None:
                first_msn = pl.media_sequence
            # Never shorter than three target durations once a segment has been removed.
            if pl.media_sequence > first_msn:
                assert sum(s.duration for s in pl.segments) >= 3 * target
            # EXT-X-PART lines only for the newest complete segment and the one in progress.
            assert all(not s.parts for s in pl.segments[:-1])
            parts = [*(p for s in pl.segments for p in s.parts), *pl.trailing_parts]
            now_listed = {part_number(p.uri) for p in parts}
            durations.update((part_number(p.uri), p.duration) for p in parts)
            clock = sum(durations.values())
            for number in listed - now_listed:
                delisted_at[number] = clock
            listed = now_listed
            # A part left the playlist less than three target durations ago: still served.
            for number, when in delisted_at.items():
                if clock - when < 3 * target - 0.01:
                    async with client.get(f"{base}/part-{number}.m4s") as resp:
                        assert resp.status == 200, (number, clock - when)
                        assert (await resp.read())[4:8] == b"moof"
            # Every listed segment is served; the newest complete one is its parts' bytes.
            newest = pl.segments[-1] if pl.segments else None
            if newest is not None and newest.parts and newest.msn not in compared:
                async with client.get(f"{base}/{newest.uri}") as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"] == "video/mp4"
                    whole = await resp.read()
                    assert int(resp.headers["Content-Length"]) == len(whole)
                pieces = b""
                for p in newest.parts:
                    async with client.get(f"{base}/{p.uri}") as resp:
                        pieces += await resp.read()
                assert whole == pieces
                compared.add(newest.msn)
            for s in pl.segments:
                async with client.head(f"{base}/{s.uri}") as resp:
                    assert resp.status == 200
        hub.close(stream)
        await asyncio.sleep(0.05)
        # Parts and segments that slid out are gone (404, as RFC 8216bis, 6.2.6 suggests).
        async with client.get(f"{base}/part-{min(durations)}.m4s") as resp:
            assert resp.status == 404
        async with client.get(f"{base}/seg-{first_msn}.m4s") as resp:
            assert resp.status == 404
    assert checks > 60 and len(compared) > 8 and len(delisted_at) > 50
    await packager.close()
