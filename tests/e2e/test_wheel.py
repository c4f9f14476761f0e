"""The package as users get it: `python -m build`, installed into a fresh virtual environment,
run as `golive serve` from a folder outside the checkout, serves the built web pages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.harness.golive import golive_command, golive_serve
from tests.harness.paths import ROOT
from tests.harness.ports import free_port

pytestmark = pytest.mark.e2e

PAGES = ROOT / "golive" / "static"
BUNDLE = re.compile(r'src="(/assets/index-[\w-]+\.js)"')
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """`python -m build --wheel` on a copy of the sources: the checkout's own build/ folder
    keeps every file it ever copied (old hashed assets among them) and must not leak in."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "golive", src / "golive", ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", src, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("golive-*.whl")
    return wheel


def get(url: str) -> tuple[int, str]:
    try:
        with DIRECT.open(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_installed_wheel_serves_the_pages(tmp_path: Path) -> None:
    if not (PAGES / "index.html").is_file():
        pytest.fail("golive/static is missing; scripts/build_web.sh builds it")
    wheel = build_wheel(tmp_path)
    packaged = zipfile.ZipFile(wheel).namelist()
    assert "golive/static/index.html" in packaged
    assert any(re.fullmatch(r"golive/static/assets/index-[\w-]+\.js", n) for n in packaged)

    # Dependencies come from the wheel's own requirements: nothing of this environment leaks in.
    # This environment's pip installs into the new one, which then needs no pip of its own.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
        "--no-compile", wheel, cwd=tmp_path)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOLIVE_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    golive = [str(venv / "bin" / "golive")]

    # MongoDB and Redis are extras: asking for one without it installed says which to add.
    for setting, url, extra in (
        ("--database", "mongodb://127.0.0.1:9/golive", "golive[mongodb]"),
        ("--redis", "redis://127.0.0.1:9/0", "golive[redis]"),
    ):
        command = golive_command(
            tmp_path, free_port(), free_port(), "--no-transcode", setting, url, golive=golive
        )
        refused = subprocess.run(
            command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=30
        )
        assert refused.returncode == 2, refused.stderr
        assert extra in refused.stderr and "Traceback" not in refused.stderr, refused.stderr

    with golive_serve(
        tmp_path, "--no-transcode", golive=golive, cwd=elsewhere, environ=env, timeout=30
    ) as server:
        status, body = get(f"{server.http}/api/health")
        assert status == 200 and json.loads(body), body
        status, page = get(f"{server.http}/")
        assert status == 200, page
        bundle = BUNDLE.search(page)
        assert bundle is not None, page
        status, script = get(server.http + bundle[1])
        assert status == 200 and script, bundle[1]
