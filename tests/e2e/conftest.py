"""Fixtures of the end-to-end tier: golive as a subprocess or a listener, fed by real
publishers and read by real players."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness.golive import golive_serve
from tests.harness.processes import Server
from tests.harness.samples import sample


@pytest.fixture(scope="session")
def h264_aac_flv() -> Path:
    return sample(duration=4.0, size="320x240", fps=30, bitrate="400k")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    """golive with open publishing: the room is the stream name, no account needed."""
    with golive_serve(tmp_path, "--open-publish") as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
