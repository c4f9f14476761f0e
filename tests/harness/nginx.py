"""nginx as the peer golive is measured against and deployed behind: nginx-rtmp (Debian's
libnginx-mod-rtmp) ingesting, with HLS or with golive's rooms callbacks, and nginx serving
static files. One configuration builder for the tests and the benchmarks."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from tests.harness.processes import Server

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return nginx if Path(nginx).exists() else None


def have_nginx_rtmp() -> bool:
    return nginx_binary() is not None and RTMP_MODULE.exists()


def rtmp_block(port: int, live: Sequence[str] = ()) -> str:
    """An RTMP server on the loopback port with one application, ``live``, and ``live``'s
    directives besides `live on`."""
    directives = "".join(f"\n            {d};" for d in ["live on", *live])
    return f"""rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{{directives}
        }}
    }}
}}
"""


def hls_directives(prefix: Path, playlist_length: str | None = None) -> list[str]:
    """nginx-rtmp's HLS (MPEG-TS, 2 s fragments) written under ``prefix``/hls."""
    out = ["hls on", f"hls_path {prefix}/hls", "hls_fragment 2s"]
    if playlist_length is not None:
        out.append(f"hls_playlist_length {playlist_length}")
    return out


def callback_directives(golive_http: str) -> list[str]:
    """nginx-rtmp calling golive's rooms callbacks, its on_update every second."""
    return [
        f"on_publish {golive_http}/rooms/create",
        f"on_update {golive_http}/rooms/update",
        f"on_publish_done {golive_http}/rooms/delete",
        "notify_update_timeout 1s",
    ]


def http_block(prefix: Path, server: str, head: Sequence[str] = ()) -> str:
    """An http{} block with its temporary files under ``prefix`` and the one ``server``."""
    lines = ["access_log off", *head, *(f"{k}_temp_path {prefix}/temp/{k}" for k in TEMP_KINDS)]
    settings = "".join(f"    {line};\n" for line in lines)
    return f"http {{\n{settings}{server}}}\n"


def nginx_conf(
    prefix: Path,
    *blocks: str,
    master_process: bool = True,
    log_level: str = "warn",
    worker_connections: int = 256,
) -> str:
    """The whole configuration, nginx in the foreground with everything under ``prefix``;
    the RTMP module loaded when a block needs it."""
    module = f"load_module {RTMP_MODULE};\n" if any(b.startswith("rtmp") for b in blocks) else ""
    workers = "master_process on;\nworker_processes 1;" if master_process else "master_process off;"
    return f"""{module}daemon off;
{workers}
error_log {prefix}/logs/error.log {log_level};
pid {prefix}/nginx.pid;
events {{ worker_connections {worker_connections}; }}
{"".join(blocks)}"""


def prepare(prefix: Path) -> list[str]:
    """Make the folders nginx needs under ``prefix``; return the command that runs nginx with
    ``prefix``/nginx.conf.

    nginx started as root runs its worker as nobody, which must reach the folders (a temporary
    directory is 0700) and write the HLS, or nginx-rtmp silently writes no HLS at all.
    """
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed")
    for sub in ("logs", "temp", "hls"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    for path in (prefix.parent, prefix):
        path.chmod(0o755)
    (prefix / "hls").chmod(0o777)
    return [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]


def start_nginx(
    name: str,
    prefix: Path,
    conf: str,
    *,
    rtmp_port: int | None = None,
    http_port: int | None = None,
) -> Server:
    """nginx with ``conf``, returned once it listens on its ports."""
    cmd = prepare(prefix)
    (prefix / "nginx.conf").write_text(conf)
    return Server(name, cmd, rtmp_port=rtmp_port, http_port=http_port)
