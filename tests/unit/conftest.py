"""The unit tier: the pure cores, in the test's process, with no network and no outside
program. PyAV (FFmpeg's libraries, in this process) is fine here; the ffmpeg, ffprobe and
GStreamer command-line tools are not: a test that needs one belongs in tests/integration.

The guard sits under every way Python starts a program: ``subprocess.Popen`` (which
``subprocess.run``, ``os.popen`` and asyncio's subprocesses go through), ``os.system``,
``os.posix_spawn``/``os.posix_spawnp`` and the ``os.spawn*`` family. A shell command line is
judged by its first word."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

MEDIA_TOOLS = frozenset({"ffmpeg", "ffprobe", "ffplay", "gst-launch-1.0", "gst-inspect-1.0"})


def program_of(command: Any, shell: bool) -> str:
    """The program a command runs: an argv's first item, or a shell line's first word after
    any ``NAME=value`` assignments."""
    if isinstance(command, str | bytes | os.PathLike):
        line = os.fsdecode(command)
    else:
        line = os.fsdecode(next(iter(command)))
    if not shell:
        return line
    try:
        words = shlex.split(line)
    except ValueError:  # unbalanced quotes: the shell will refuse it; judge the raw words
        words = line.split()
    while words and "=" in words[0] and not words[0].startswith("="):
        words.pop(0)
    return words[0] if words else ""


def refuse_media_tool(command: Any, shell: bool = False) -> None:
    program = program_of(command, shell)
    if os.path.basename(program) in MEDIA_TOOLS:
        raise AssertionError(f"a unit test ran {program}: move it to tests/integration")


class _NoMediaTools(subprocess.Popen):
    def __init__(self, args: Any, *rest: Any, **kw: Any) -> None:
        refuse_media_tool(args, shell=bool(kw.get("shell")))
        if kw.get("executable") is not None:
            refuse_media_tool(kw["executable"])
        super().__init__(args, *rest, **kw)


def _guarded(run: Callable[..., Any], at: int, shell: bool = False) -> Callable[..., Any]:
    """``run`` with the guard on its positional argument ``at`` (the command or the file)."""

    def guarded(*args: Any, **kw: Any) -> Any:
        refuse_media_tool(args[at], shell)
        return run(*args, **kw)

    return guarded


# The os functions that start a program, and which argument names it.
SPAWNERS = {"system": 0, "posix_spawn": 0, "posix_spawnp": 0}
SPAWNERS |= {f"spawn{form}": 1 for form in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")}


@pytest.fixture(autouse=True)
def _no_media_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _NoMediaTools)
    for name, at in SPAWNERS.items():
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _guarded(getattr(os, name), at, shell=name == "system"))
