"""Reading golive's HLS and API over HTTP while a stream is live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp


async def wait_playlist(http: aiohttp.ClientSession, url: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(url) as resp:
            if resp.status == 200:
                return await resp.text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never appeared")


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)
