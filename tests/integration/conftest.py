"""Fixtures of the integration tier: golive's parts together in the test's process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.ingest import GoliveFactory, rtmp_ingest


@pytest.fixture
async def golive_rtmp() -> AsyncIterator[GoliveFactory]:
    """Start an RTMP server on a free loopback port with a consumer that records every item."""
    async with rtmp_ingest() as start:
        yield start
