"""The worker's connections: plain HLS GETs answered straight from the cache, the rest by aiohttp.

A worker's traffic is nearly all ``GET /hls/... HTTP/1.1``: each connection starts with
golive's own small protocol (golive.fasthttp), which serves that shape itself: a cache hit is
written at once from bytes prepared when the answer was kept, a miss waits on the collapsing
cache, one request at a time, in order. Anything else, or a target the cache must never keep
(``cacheable``), hands the connection with every byte not yet answered to aiohttp's own
protocol, and the worker's pass-through (golive.edge.worker) handles it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from ..fasthttp import (
    MAX_AHEAD,
    MAX_HEAD,
    Clock,
    FastConnection,
    Pieces,
    Reply,
    SimpleGet,
    parse_get,
)
from .cache import Answer, cacheable

__all__ = ["DATE", "MAX_AHEAD", "MAX_HEAD", "Answers", "FastProtocol", "parse_simple"]

DATE = Clock()


def parse_simple(head: bytes) -> SimpleGet | None:
    """The request if ``head`` (up to, not with, the blank line) is a plain GET of a target the
    cache may answer; None for anything else, which aiohttp is to judge."""
    request = parse_get(head)
    return request if request is not None and cacheable(request.target) else None


class Answers(Protocol):
    """What the protocol needs of the worker (golive.edge.worker.Worker)."""

    def hit(self, target: str) -> Answer | None: ...

    async def answer(self, target: str) -> Answer: ...

    def seen(self, target: str, remote: str, user_agent: str, forwarded_for: list[str]) -> None:
        """A player fetched ``target`` with this answer being 200 (viewer counting)."""


class _FromCache:
    """The worker's answers as the shared protocol asks for them."""

    __slots__ = ("answers",)

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def respond(self, request: SimpleGet, remote: str) -> Reply:
        if not cacheable(request.target):
            return None
        answer = self.answers.hit(request.target)
        if answer is None:
            return self._miss(request, remote)
        return self._pieces(request, remote, answer)

    async def _miss(self, request: SimpleGet, remote: str) -> Pieces:
        answer = await self.answers.answer(request.target)
        return self._pieces(request, remote, answer)

    def _pieces(self, request: SimpleGet, remote: str, answer: Answer) -> Pieces:
        if answer.status == 200 and ".m3u8" in request.target:
            self.answers.seen(request.target, remote, request.user_agent, request.forwarded_for)
        return (answer.wire, DATE.line(request.close), answer.body)


class FastProtocol(FastConnection):
    """One worker connection while its requests are plain HLS GETs (see the module)."""

    def __init__(
        self,
        answers: Answers,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[FastConnection],
    ) -> None:
        super().__init__(_FromCache(answers), fallback, connections)
