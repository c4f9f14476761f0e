"""The collapsing cache an HTTP worker keeps of the primary's HLS.

A worker answers HLS from what the primary answered before. The first request for a URL goes
to the primary; every identical request that arrives while it is on its way waits on the same
future (request collapsing), and the answer is kept by what the URL names:

- a part, segment or initialization section never changes once it exists (RFC 8216bis,
  6.2.5.2 lets caches keep them): a 200 is kept until the cache, bounded by bytes, needs the
  room (least recently used first);
- a blocking playlist reload (``_HLS_msn``, RFC 8216bis, 6.2.5.2) names one version of the
  playlist: any playlist that holds that part is a right answer, so a 200 is kept a few
  seconds, long enough for every player of the worker that asks for the same part;
- a plain playlist (the multivariant one, a media playlist without ``_HLS_msn``, the room's
  status) changes with every part: kept for a fraction of a part, which only merges a burst;
- an error is not kept, except the 404 of a plain playlist (a room that is not live), for as
  long as a plain playlist; a 503 of a blocking reload or the 404 of a part asked for too
  early must be asked again.

So a blocking reload, or the preload-hinted part (RFC 8216bis, 4.4.5.3), costs the primary one
request per worker per part, not one per player. The cache is plain asyncio, with no HTTP in
it: ``fetch`` is whatever brings an answer from the primary.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from ..fasthttp import head_bytes

# What an answer costs the cache beyond its body: the entry, its key, its headers.
ENTRY_OVERHEAD = 512


class Kind(enum.Enum):
    """What an HLS URL names, for how long its answer is kept."""

    MEDIA = "media"  # part-N.m4s, seg-N.m4s, init-N.mp4: immutable
    BLOCKING = "blocking"  # a media playlist with _HLS_msn: one version of the playlist
    PLAYLIST = "playlist"  # any other playlist or status: changes every part


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer of the primary as the worker repeats it: the status, the headers that are
    the resource's own (no Date, Content-Length or connection headers), the body; and, made
    once, its HTTP/1.1 status line and headers but the Date (RFC 9112, 4), which the worker's
    fast path writes before each copy of the body (golive.edge.fastpath)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = [*self.headers.items(), ("Content-Length", str(len(self.body)))]
        object.__setattr__(self, "wire", head_bytes(self.status, headers))

    @property
    def size(self) -> int:
        return len(self.body) + len(self.wire) + ENTRY_OVERHEAD


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long answers are kept, and how much of them; the defaults suit the default HLS
    settings (1/3 s parts, 2 s segments, a 36 s window)."""

    # Seconds a blocking reload's answer is kept: a player that is on time asks for the part
    # within a part target of the others; a slow one gets a playlist that still holds it.
    blocking_ttl: float = 3.0
    # Seconds a plain playlist is kept: well under a part target (1/3 s), so that a player
    # that reloads without blocking still sees each part when it is listed.
    playlist_ttl: float = 0.05
    # The bound on the bytes kept (bodies and an allowance per entry): a few windows of a
    # 6 Mbps stream's parts and segments, or many rooms' newest parts.
    max_bytes: int = 96 * 1024 * 1024
    # An answer above this share of max_bytes is served but not kept (it would evict too much).
    max_share: float = 0.125

    def ttl(self, kind: Kind, status: int) -> float | None:
        """Seconds to keep an answer: None until evicted, 0 not at all."""
        if status == 200:
            if kind is Kind.MEDIA:
                return None
            return self.blocking_ttl if kind is Kind.BLOCKING else self.playlist_ttl
        if status == 404 and kind is Kind.PLAYLIST:
            return self.playlist_ttl
        return 0.0


def cacheable(target: str) -> bool:
    """Whether a request target (path and query, as sent) is one of HLS's: under ``/hls/``,
    with no dot segment, plain or percent-encoded, that could make it name another path once
    normalised (RFC 3986, 5.2.4) — the cache must never keep an answer of the API."""
    path = target.partition("?")[0]
    if not path.startswith("/hls/"):
        return False
    lowered = path.lower().replace("%2e", ".")
    return not any(segment in (".", "..") for segment in lowered.split("/"))


def classify(path: str, query: str) -> Kind:
    """What an HLS path names (``query`` is the raw query string, without the ``?``)."""
    if path.endswith((".m4s", ".mp4")):
        return Kind.MEDIA
    if path.endswith(".m3u8") and "_HLS_msn=" in query:
        return Kind.BLOCKING
    return Kind.PLAYLIST


@dataclass(slots=True)
class _Entry:
    answer: Answer
    expires: float | None  # the clock's time; None: until evicted


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0  # requests that went to the primary
    collapsed: int = 0  # requests that waited on another's trip to the primary
    evicted: int = 0


@dataclass
class CollapsingCache:
    """Answers by URL from memory, or from ``fetch`` once for all who ask at the same time.

    ``fetch(url)`` brings the primary's answer; it should answer errors (an unreachable
    primary as a 502) rather than raise, but an exception is answered as a 502 too, and
    neither is kept.
    """

    fetch: Callable[[str], Awaitable[Answer]]
    policy: CachePolicy = field(default_factory=CachePolicy)
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _pending: dict[str, asyncio.Future[Answer]] = field(default_factory=dict)
    _bytes: int = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, url: str) -> Answer | None:
        """The kept answer for ``url`` if it is still fresh (no waiting: the hot path)."""
        entry = self._entries.get(url)
        if entry is None:
            return None
        if entry.expires is not None and entry.expires <= self.clock():
            self._drop(url)
            return None
        self._entries.move_to_end(url)
        self.stats.hits += 1
        return entry.answer

    async def get(self, url: str, kind: Kind) -> Answer:
        """The answer for ``url``: kept, or in flight for another request, or fetched now."""
        answer = self.cached(url)
        if answer is not None:
            return answer
        pending = self._pending.get(url)
        if pending is None:
            self.stats.misses += 1
            # The trip to the primary is a task of its own: a player that hangs up must not
            # cancel it for the others waiting on it.
            pending = asyncio.ensure_future(self._fetch(url, kind))
            self._pending[url] = pending
        else:
            self.stats.collapsed += 1
        return await asyncio.shield(pending)

    async def _fetch(self, url: str, kind: Kind) -> Answer:
        try:
            answer = await self.fetch(url)
        except Exception:
            answer = BAD_GATEWAY
        finally:
            del self._pending[url]
        self._keep(url, kind, answer)
        return answer

    def _keep(self, url: str, kind: Kind, answer: Answer) -> None:
        ttl = self.policy.ttl(kind, answer.status)
        if ttl == 0.0 or answer.size > self.policy.max_bytes * self.policy.max_share:
            return
        if url in self._entries:
            self._drop(url)
        expires = None if ttl is None else self.clock() + ttl
        self._entries[url] = _Entry(answer, expires)
        self._bytes += answer.size
        while self._bytes > self.policy.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.stats.evicted += 1

    def _drop(self, url: str) -> None:
        entry = self._entries.pop(url)
        self._bytes -= entry.answer.size


# What a worker answers when the primary cannot be reached: golive's error shape
# (golive.http_errors), never kept.
BAD_GATEWAY = Answer(
    502,
    {"Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": "*"},
    b'{"error": {"code": "bad_gateway", "message": "the server is restarting"}}',
)
