"""MongoDB for the contract tests: the server that GOLIVE_TEST_MONGODB_URL names, or else
nx-27017, a MongoDB wire-protocol server on SQLite (a Python package of the test extras; MongoDB
itself is no Debian or PyPI package), started on a free loopback port.

nx-27017 speaks the protocol, so PyMongo's async client, BSON and the indexes cross a real
connection; it is not MongoDB, and the tests that see a difference say which
(``MongoServer.emulated``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.ports import free_port, wait_port
from tests.harness.processes import ProcessGroup

MONGO_ENV = "GOLIVE_TEST_MONGODB_URL"


@dataclass(frozen=True)
class MongoServer:
    url: str
    # nx-27017 rather than MongoDB: duplicate keys and index names differ (the tests say how).
    emulated: bool


@contextlib.contextmanager
def nx_27017(workdir: Path) -> Iterator[str]:
    """nx-27017 on a free loopback port, its databases in memory only; yields its
    ``mongodb://`` URL, and stops it after."""
    # The command pip installs beside this interpreter (.venv/bin), or else one on PATH.
    command = shutil.which("nx-27017", path=str(Path(sys.executable).parent)) or shutil.which(
        "nx-27017"
    )
    if command is None:
        pytest.fail("nx-27017 is not installed; pip install -e '.[test]' (scripts/test.sh) does")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    server = ProcessGroup(
        "nx-27017",
        [
            command, "--host", "127.0.0.1", "--port", str(port),
            # One isolated in-memory SQLite database per MongoDB database: nothing on disk.
            "--data-dir", "memory",
            # Its defaults are /tmp/nx_27017.log and .pid, shared by every run on the machine.
            "--log-file", str(workdir / "nx-27017.log"),
            "--pid-file", str(workdir / "nx-27017.pid"),
        ],
        log=workdir / "nx-27017.stderr",
    )  # fmt: skip
    try:
        try:
            wait_port(port, server.proc, 15.0)
        except RuntimeError as exc:
            raise RuntimeError(f"nx-27017 did not start ({exc}):\n{server.log_tail()}") from None
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def mongo_server(workdir: Path) -> Iterator[MongoServer]:
    """A real MongoDB when GOLIVE_TEST_MONGODB_URL is set, else nx-27017 started here."""
    url = os.environ.get(MONGO_ENV)
    if url:
        yield MongoServer(url, emulated=False)
        return
    with nx_27017(workdir) as url:
        yield MongoServer(url, emulated=True)
