"""The unit tier: the pure cores, in the test's process, with no network and no outside
program. PyAV (FFmpeg's libraries, in this process) is fine here; the ffmpeg, ffprobe and
GStreamer command-line tools are not: a test that needs one belongs in tests/integration."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

MEDIA_TOOLS = frozenset({"ffmpeg", "ffprobe", "ffplay", "gst-launch-1.0", "gst-inspect-1.0"})


class _NoMediaTools(subprocess.Popen):
    def __init__(self, args: Any, *rest: Any, **kw: Any) -> None:
        program = args if isinstance(args, str | bytes | os.PathLike) else args[0]
        if os.path.basename(os.fsdecode(program)) in MEDIA_TOOLS:
            raise AssertionError(
                f"a unit test ran {os.fsdecode(program)}: move it to tests/integration"
            )
        super().__init__(args, *rest, **kw)


@pytest.fixture(autouse=True)
def _no_media_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _NoMediaTools)
