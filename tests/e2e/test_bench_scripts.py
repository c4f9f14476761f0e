"""The benchmark scripts run end to end in their quick mode and print their tables: their
figures are not checked (speed is the benchmarks' own business), that they work is."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.harness.paths import ROOT, require

pytestmark = pytest.mark.e2e


def test_bench_viewers_quick_prints_its_table() -> None:
    require("ffmpeg")
    script = ROOT / "scripts" / "bench_viewers.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--viewers", "20", "--edges", "direct"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    summary = out.split("Summary", 1)
    assert len(summary) == 2, out
    header, row = summary[1].splitlines()[2:4]
    assert header.split()[:4] == ["workers", "in", "front", "viewers"], out
    # workers, in front, viewers, joined: viewers got the playlist and followed it (all of
    # them unless the machine is so busy that some could not connect in time).
    match = re.match(r"\s*- direct\s+20\s+(\d+)\s", row)
    assert match is not None and int(match.group(1)) > 0, out
    assert "direct, one HTTP process, 1,000 viewers: not measured" in out


def test_bench_grpc_quick_prints_its_ratios() -> None:
    script = ROOT / "scripts" / "bench_grpc.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The table: a row per protocol with checks/s, p50, p99, ... and no failure.
    for protocol in ("JSON API", "gRPC"):
        row = re.search(rf"^{protocol}\s+(\d+)\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+0$",
                        done.stdout, re.MULTILINE)  # fmt: skip
        assert row is not None and int(row.group(1)) > 0, done.stdout
    assert re.search(r"gRPC / JSON API: checks/s [\d.]+x, p99 [\d.]+x", done.stdout), done.stdout
