"""The HTTP worker's collapsing cache (golive.edge.cache): one trip to the primary for everyone
who asks at once, and each kind of answer kept as long as it stays right."""

from __future__ import annotations

import asyncio

import pytest

from golive.edge.cache import Answer, CachePolicy, CollapsingCache, Kind, cacheable, classify

PART = "/hls/r/source/part-7.m4s"
BLOCKING = "/hls/r/source/index.m3u8?_HLS_msn=3&_HLS_part=1"
PLAIN = "/hls/r/source/index.m3u8"


class Primary:
    """A fake upstream: answers ``status`` with a body naming the URL and the trip's number,
    after ``gate`` opens."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.trips: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self, url: str) -> Answer:
        self.trips.append(url)
        await self.gate.wait()
        return Answer(
            self.status, {"Content-Type": "video/mp4"}, f"{url}#{len(self.trips)}".encode()
        )


async def settle() -> None:
    """Let every task that can run, run (the trips to the primary are tasks of their own)."""
    for _ in range(5):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache_of(primary: Primary, clock: Clock, **policy: float) -> CollapsingCache:
    return CollapsingCache(primary.fetch, CachePolicy(**policy), clock)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "query", "kind"),
    [
        ("/hls/r/source/part-7.m4s", "", Kind.MEDIA),
        ("/hls/r/source/seg-2.m4s", "", Kind.MEDIA),
        ("/hls/r/source/init-0.mp4", "", Kind.MEDIA),
        ("/hls/r/source/index.m3u8", "_HLS_msn=3&_HLS_part=1", Kind.BLOCKING),
        ("/hls/r/source/index.m3u8", "_HLS_skip=YES", Kind.PLAYLIST),
        ("/hls/r/index.m3u8", "", Kind.PLAYLIST),
        ("/hls/r/status.json", "", Kind.PLAYLIST),
    ],
)
def test_what_a_url_names(path: str, query: str, kind: Kind) -> None:
    assert classify(path, query) is kind


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("/hls/r/source/part-7.m4s", True),
        ("/hls/r/source/index.m3u8?_HLS_msn=3", True),
        ("/hls/r.x/index.m3u8", True),
        ("/api/health", False),
        ("/hlsx/r/index.m3u8", False),
        ("/hls/../api/me", False),
        ("/hls/%2E%2e/api/me", False),
        ("/hls/r/./index.m3u8", False),
        ("/hls/r/source/..", False),
    ],
)
def test_only_hls_paths_that_stay_hls_are_cached(target: str, ok: bool) -> None:
    assert cacheable(target) is ok


async def test_requests_at_once_make_one_trip_and_share_its_answer() -> None:
    primary, clock = Primary(), Clock()
    cache = cache_of(primary, clock)
    primary.gate.clear()  # the hinted part: held by the primary until it exists
    waiting = [asyncio.ensure_future(cache.get(PART, Kind.MEDIA)) for _ in range(50)]
    await settle()
    assert primary.trips == [PART]
    primary.gate.set()
    answers = await asyncio.gather(*waiting)
    assert {a.body for a in answers} == {f"{PART}#1".encode()}
    assert cache.stats.misses == 1 and cache.stats.collapsed == 49


async def test_a_player_that_hangs_up_does_not_cancel_the_trip_of_the_others() -> None:
    primary, clock = Primary(), Clock()
    cache = cache_of(primary, clock)
    primary.gate.clear()
    first = asyncio.ensure_future(cache.get(BLOCKING, Kind.BLOCKING))
    second = asyncio.ensure_future(cache.get(BLOCKING, Kind.BLOCKING))
    await settle()
    first.cancel()
    primary.gate.set()
    assert (await second).status == 200
    assert first.cancelled() and primary.trips == [BLOCKING]


async def test_media_is_kept_until_the_byte_bound_evicts_the_least_recently_used() -> None:
    primary, clock = Primary(), Clock()
    size = Answer(200, {"Content-Type": "video/mp4"}, f"{PART}#1".encode()).size
    cache = cache_of(primary, clock, max_bytes=3 * size + 10, max_share=1.0)
    for n in range(3):
        await cache.get(f"/hls/r/source/part-{n}.m4s", Kind.MEDIA)
    clock.now += 3600  # immutable: time does not matter
    assert cache.cached("/hls/r/source/part-0.m4s") is not None  # now the most recent
    await cache.get("/hls/r/source/part-3.m4s", Kind.MEDIA)  # evicts part-1, the oldest use
    assert cache.cached("/hls/r/source/part-1.m4s") is None
    assert cache.cached("/hls/r/source/part-0.m4s") is not None
    assert len(cache) == 3 and cache.bytes <= 3 * size + 10 and cache.stats.evicted == 1


async def test_a_blocking_reload_is_kept_seconds_a_plain_playlist_a_fraction_of_a_part() -> None:
    primary, clock = Primary(), Clock()
    cache = cache_of(primary, clock, blocking_ttl=3.0, playlist_ttl=0.05)
    await cache.get(BLOCKING, Kind.BLOCKING)
    await cache.get(PLAIN, Kind.PLAYLIST)
    clock.now += 0.04
    assert cache.cached(PLAIN) is not None and cache.cached(BLOCKING) is not None
    clock.now += 0.02
    assert cache.cached(PLAIN) is None and cache.cached(BLOCKING) is not None
    clock.now += 3.0
    assert cache.cached(BLOCKING) is None
    assert (await cache.get(PLAIN, Kind.PLAYLIST)).body.endswith(b"#3")  # asked again


@pytest.mark.parametrize(("url", "kind"), [(PART, Kind.MEDIA), (BLOCKING, Kind.BLOCKING)])
@pytest.mark.parametrize("status", [404, 503, 400])
async def test_errors_of_media_and_blocking_reloads_are_not_kept(
    url: str, kind: Kind, status: int
) -> None:
    """A part asked for too early, a reload that timed out: the next request asks again."""
    primary, clock = Primary(status), Clock()
    cache = cache_of(primary, clock)
    assert (await cache.get(url, kind)).status == status
    assert cache.cached(url) is None
    await cache.get(url, kind)
    assert len(primary.trips) == 2


async def test_a_room_that_is_not_live_is_kept_as_briefly_as_a_plain_playlist() -> None:
    primary, clock = Primary(404), Clock()
    cache = cache_of(primary, clock, playlist_ttl=0.05)
    await cache.get(PLAIN, Kind.PLAYLIST)
    assert cache.cached(PLAIN) is not None
    clock.now += 0.06
    assert cache.cached(PLAIN) is None


async def test_an_unreachable_primary_is_a_502_that_is_not_kept() -> None:
    async def refuse(url: str) -> Answer:
        raise ConnectionRefusedError(url)

    cache = CollapsingCache(refuse, clock=Clock())
    assert (await cache.get(PART, Kind.MEDIA)).status == 502
    assert cache.cached(PART) is None and len(cache) == 0


async def test_an_answer_too_big_for_its_share_is_served_but_not_kept() -> None:
    primary, clock = Primary(), Clock()
    cache = cache_of(primary, clock, max_bytes=4096, max_share=0.125)
    big = "/hls/r/source/seg-1.m4s" + "x" * 600
    assert (await cache.get(big, Kind.MEDIA)).status == 200
    assert cache.cached(big) is None and cache.bytes == 0
