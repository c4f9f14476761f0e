"""Where things are: the repository, and the tools the tests drive."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def require(tool: str) -> str:
    """The path of an installed tool; a test fails, not skips, without it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; scripts/test.sh installs it")
    return path
