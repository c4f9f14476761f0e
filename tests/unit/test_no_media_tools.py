"""The unit tier's guard (tests/unit/conftest.py) refuses the ffmpeg, ffprobe and GStreamer
command-line tools however a test would start them, and lets other programs run."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

REFUSED = pytest.raises(AssertionError, match="move it to tests/integration")

WAYS: dict[str, Callable[[], Any]] = {
    "Popen argv": lambda: subprocess.Popen(["ffmpeg", "-version"]),
    "run argv with a path": lambda: subprocess.run(["/usr/bin/ffprobe", "-version"]),
    "Popen executable=": lambda: subprocess.Popen(["x", "-version"], executable="ffmpeg"),
    "run shell line": lambda: subprocess.run("ffmpeg -version", shell=True),
    "run shell line with an assignment": lambda: subprocess.run(
        "AV_LOG_FORCE_NOCOLOR=1 ffprobe -version", shell=True
    ),
    "check_output shell list": lambda: subprocess.check_output(["gst-launch-1.0 -h"], shell=True),
    "os.popen": lambda: os.popen("ffmpeg -version"),
    "os.system": lambda: os.system("ffmpeg -version"),
    "os.posix_spawnp": lambda: os.posix_spawnp("ffmpeg", ["ffmpeg", "-version"], os.environ),
    "os.posix_spawn": lambda: os.posix_spawn("/usr/bin/ffmpeg", ["ffmpeg"], os.environ),
    "os.spawnlp": lambda: os.spawnlp(os.P_WAIT, "ffprobe", "ffprobe", "-version"),
    "os.spawnv": lambda: os.spawnv(os.P_WAIT, "/usr/bin/ffmpeg", ["ffmpeg", "-version"]),
}


@pytest.mark.parametrize("way", WAYS)
def test_refused(way: str) -> None:
    with REFUSED:
        WAYS[way]()


async def test_refused_by_asyncio() -> None:
    with REFUSED:
        await asyncio.create_subprocess_exec("ffmpeg", "-version")
    with REFUSED:
        await asyncio.create_subprocess_shell("ffprobe -version")


def test_other_programs_run() -> None:
    assert subprocess.run(["true"]).returncode == 0
    assert subprocess.run("true ffmpeg", shell=True).returncode == 0
    assert os.system("true") == 0


async def test_other_programs_run_from_asyncio() -> None:
    proc = await asyncio.create_subprocess_shell("true")
    assert await proc.wait() == 0
