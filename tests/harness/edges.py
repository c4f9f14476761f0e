"""golive behind a caching edge, as deploy/ configures one: Debian's nginx with
deploy/nginx/golive-edge.conf, or Debian's Varnish with deploy/varnish/golive.vcl, each started
from the shipped file on loopback ports with everything under a temporary folder, and asked
how many requests it sent to golive."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.harness.nginx import http_block, nginx_conf, prepare
from tests.harness.paths import ROOT
from tests.harness.ports import free_port
from tests.harness.processes import Server

NGINX_EDGE = ROOT / "deploy" / "nginx" / "golive-edge.conf"
VARNISH_VCL = ROOT / "deploy" / "varnish" / "golive.vcl"
VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
VARNISHSTAT = shutil.which("varnishstat") or "/usr/bin/varnishstat"


def _replace_once(text: str, old: str, new: str) -> str:
    """``text`` with its one ``old`` replaced: the shipped file must still say what the
    harness expects to change, or the edge under test would not be the shipped one."""
    assert text.count(old) == 1, f"{old!r} must appear once in the shipped edge configuration"
    return text.replace(old, new)


class Edge:
    """A caching edge in front of golive: where players ask, and what reached golive."""

    def __init__(self, kind: str, server: Server, workdir: Path) -> None:
        self.kind = kind
        self.server = server
        self.workdir = workdir

    @property
    def http(self) -> str:
        return self.server.http

    def origin_requests(self) -> int:
        """Requests the edge sent to golive since it started."""
        if self.kind.startswith("nginx"):
            log = self.workdir / "logs" / "edge.log"
            lines = log.read_text().splitlines() if log.exists() else []
            return sum(1 for line in lines if "upstream=-" not in line)
        return varnish_counter(self.workdir, "MAIN.backend_req")

    def stop(self) -> int:
        return self.server.stop()


def start_nginx_edge(workdir: Path, origin_port: int, *, lock: bool = True) -> Edge:
    """Debian's nginx with deploy/nginx/golive-edge.conf in front of golive on
    ``origin_port``; its cache, logs and temporary files under ``workdir``. ``lock=False``
    turns the cache lock off, the trade the file's comments describe."""
    port = free_port()
    prefix = workdir
    cmd = prepare(prefix)
    cache = prefix / "cache"
    cache.mkdir(exist_ok=True)
    cache.chmod(0o777)  # nginx's workers run as nobody when it is started as root
    conf = NGINX_EDGE.read_text()
    conf = _replace_once(conf, "server 127.0.0.1:8080;", f"server 127.0.0.1:{origin_port};")
    conf = _replace_once(conf, "listen 80;", f"listen 127.0.0.1:{port};")
    conf = _replace_once(conf, "path /var/cache/nginx/golive ", f"path {cache} ")
    if not lock:
        conf = _replace_once(conf, "proxy_cache_lock on;", "proxy_cache_lock off;")
    conf = _replace_once(conf, "/var/log/nginx/golive-edge.log", str(prefix / "logs/edge.log"))
    # Debian's own nginx.conf around it: the sendfile and tcp_nopush the edge must undo.
    head = ["sendfile on", "tcp_nopush on"]
    # Started as root, nginx would run its workers as nobody, who cannot reach a temporary
    # folder (0700) to write the cache.
    user = "user root;\n" if os.geteuid() == 0 else ""
    # Two connections per viewer of a benchmark's thousands (scripts/bench_viewers.py), and one
    # to golive for each request it passes on.
    (prefix / "nginx.conf").write_text(
        user + nginx_conf(prefix, http_block(prefix, conf, head), worker_connections=16384)
    )
    kind = "nginx" if lock else "nginx-nolock"
    return Edge(kind, Server("nginx-edge", cmd, http_port=port), prefix)


# varnishd's parameters for golive, as docs/caching.md recommends them: a worker thread stays
# with a connection for a second after each answer, where the next request of an LL-HLS player
# comes (a part later at most), instead of handing it to the waiter after 50 ms.
VARNISH_PARAMS = ("timeout_linger=1",)


def start_varnish_edge(workdir: Path, origin_port: int, *, tuned: bool = True) -> Edge:
    """Debian's varnishd with deploy/varnish/golive.vcl in front of golive on
    ``origin_port``, in the foreground, as the current user, its work folder ``workdir``.
    ``tuned=False`` leaves varnishd's parameters at their defaults instead of
    ``VARNISH_PARAMS``, to compare."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    vcl = _replace_once(VARNISH_VCL.read_text(), '.port = "8080";', f'.port = "{origin_port}";')
    (workdir / "golive.vcl").write_text(vcl)
    cmd = [
        VARNISHD, "-F", "-j", "none", "-n", str(workdir / "varnish"),
        "-a", f"127.0.0.1:{port}", "-f", str(workdir / "golive.vcl"),
        "-s", "malloc,128m", "-T", "none",
    ]  # fmt: skip
    for param in VARNISH_PARAMS if tuned else ():
        cmd += ["-p", param]
    server = Server("varnish-edge", cmd, http_port=port, log=workdir / "varnishd.log")
    return Edge("varnish" if tuned else "varnish-stock", server, workdir)


def varnish_counter(workdir: Path, name: str) -> int:
    """One of varnishd's counters (varnishstat -1)."""
    out = subprocess.run(
        [VARNISHSTAT, "-n", str(workdir / "varnish"), "-1", "-f", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(rf"^{re.escape(name)}\s+(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else 0


EDGES = ("nginx", "nginx-nolock", "varnish", "varnish-stock")


def start_edge(kind: str, workdir: Path, origin_port: int) -> Edge:
    """One of ``EDGES``: the shipped nginx edge, the same without its cache lock, the
    shipped Varnish edge, or the same with varnishd's default parameters."""
    if kind.startswith("varnish"):
        return start_varnish_edge(workdir, origin_port, tuned=kind == "varnish")
    return start_nginx_edge(workdir, origin_port, lock=kind == "nginx")
