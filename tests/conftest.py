"""What every tier needs. Each tier's fixtures live in its own conftest.py; the code the tests
and the benchmarks share lives in tests/harness/."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _golive_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="golive")
