"""A real Prometheus (Debian's prometheus package) that scrapes golive every second, on a free
loopback port with its storage in a temporary folder, and its HTTP query API."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness.paths import require
from tests.harness.ports import free_port
from tests.harness.processes import Server


@contextlib.contextmanager
def prometheus_scraping(workdir: Path, target: str) -> Iterator[Prometheus]:
    """Prometheus scraping http://``target``/metrics every second, job "golive"."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: golive\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    server = Server(
        "prometheus",
        [
            require("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        http_port=port,
        cwd=workdir,
        log=workdir / "prometheus.log",
        timeout=30.0,
    )
    try:
        # Prometheus listens before its storage is open and answers 503 until then: wait for
        # its readiness endpoint, as an operator's probe would.
        _wait_ready(f"http://127.0.0.1:{port}/-/ready", server, workdir / "prometheus.log", 60.0)
        yield Prometheus(f"http://127.0.0.1:{port}", server)
    finally:
        server.stop()


def _wait_ready(url: str, server: Server, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"prometheus did not become ready:\n{tail}")
        time.sleep(0.1)


class Prometheus:
    def __init__(self, url: str, server: Server) -> None:
        self.url = url
        self.server = server

    async def query(self, http: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now (/api/v1/query): each series' labels and value."""
        async with http.get(f"{self.url}/api/v1/query", params={"query": expr}) as resp:
            answer = await resp.json()
        assert answer["status"] == "success", answer
        return [
            {"labels": r["metric"], "value": float(r["value"][1])} for r in answer["data"]["result"]
        ]

    async def names(self, http: aiohttp.ClientSession) -> set[str]:
        """Every metric name Prometheus has stored."""
        async with http.get(f"{self.url}/api/v1/label/__name__/values") as resp:
            answer = await resp.json()
        assert answer["status"] == "success", answer
        return set(answer["data"])

    async def value(self, http: aiohttp.ClientSession, expr: str) -> float | None:
        """The value of a one-series ``expr``, or None while it has none."""
        result = await self.query(http, expr)
        assert len(result) <= 1, result
        return result[0]["value"] if result else None
