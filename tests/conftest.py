"""What more than one tier needs. Each tier's own fixtures live in its conftest.py; the code the
tests and the benchmarks share lives in tests/harness/."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

from tests.harness.ingest import GoliveFactory, rtmp_ingest

# Property tests check what is computed, not how fast: a busy machine (the test command runs
# beside whatever else the machine does) must not fail them on hypothesis' per-example
# deadline.
settings.register_profile("golive", deadline=None)
settings.load_profile("golive")


@pytest.fixture(autouse=True)
def _golive_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="golive")


@pytest.fixture
async def golive_rtmp() -> AsyncIterator[GoliveFactory]:
    """Start an RTMP server on a free loopback port with a consumer that records every item
    (the integration and end-to-end tiers)."""
    async with rtmp_ingest() as start:
        yield start
