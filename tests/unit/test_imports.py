"""The shape of golive's imports: no cycles between modules, PyAV only where media is decoded
and encoded (the transcoder's pipeline and the previews), and the HLS packager, RTMP, the hub and
the accounts importable without PyAV."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "golive"

# The modules that may import PyAV themselves: the transcoder's pipeline (run by its workers in
# a thread or a child process) and the previews.
PYAV_USERS = ("golive.transcode.pipeline", "golive.previews")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _nodes(tree: ast.Module, top_level: bool) -> Iterator[ast.AST]:
    """Every node, or (``top_level``) those that run on import: not inside a function."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not (top_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)):
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path, name: str, modules: set[str], top_level: bool) -> set[str]:
    """What one module imports: golive modules by name, other packages by their top name.
    ``from package import module`` names the module; relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _nodes(tree, top_level):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return {m if m in modules else m.partition(".")[0] for m in found} - {name}


def import_graph(package: Path = PACKAGE, top_level: bool = False) -> dict[str, set[str]]:
    """Every module of ``package`` and what it imports, at module level and inside functions
    (``top_level``: only the statements at module level, what importing it runs)."""
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    modules = set(paths)
    return {name: _imports(path, name, modules, top_level) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node] & graph.keys():
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for other in graph.get(todo.pop(), set()):
            if other == target:
                return True
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return False


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert cycles(import_graph()) == []


def test_only_the_transcoder_and_the_previews_import_pyav() -> None:
    users = sorted(name for name, imported in import_graph().items() if "av" in imported)
    assert users, "the graph finds PyAV's users"
    assert [u for u in users if u not in PYAV_USERS] == []


def test_the_core_imports_without_pyav() -> None:
    """Every module whose import does not reach PyAV (the HLS packager and its routes, RTMP, the
    hub, the accounts...) imports with PyAV missing: the transcoder loads it only in the
    thread or the process that runs the pipeline."""
    graph = import_graph(top_level=True)
    # (``__main__`` modules are programs: importing one runs it.)
    core = sorted(
        name for name in graph if not name.endswith("__main__") and not reaches(graph, name, "av")
    )
    for name in (
        "golive.hls.packager",
        "golive.hls.routes",
        "golive.rtmp.server",
        "golive.hub",
        "golive.pages",
    ):
        assert name in core, f"{name} would import PyAV"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYAV, *core], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


# Imports the modules named in argv with PyAV made unimportable. A driver that is an optional
# extra (MongoDB, Redis) may be missing: that module is skipped, PyAV missing is a failure.
WITHOUT_PYAV = """
import importlib, sys
sys.modules["av"] = None
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in ("av", "golive"):
            raise
"""


# The layer map of docs/architecture.md, as data: what each part of golive may import from the
# rest of golive. A part is a top-level module or package; imports within a part are free.
LAYERS: dict[str, set[str]] = {
    "golive.media": set(),
    "golive.logs": set(),
    "golive.metrics": set(),
    "golive.codecs": {"golive.media"},
    "golive.formats": {"golive.media", "golive.codecs"},
    "golive.hub": {"golive.media", "golive.logs"},
    "golive.rtmp": {"golive.media", "golive.hub", "golive.logs"},
    "golive.transcode": {"golive.media", "golive.codecs", "golive.logs", "golive.metrics"},
    "golive.hls": {
        "golive.media", "golive.codecs", "golive.formats", "golive.hub", "golive.transcode",
        "golive.http_errors", "golive.logs", "golive.metrics", "golive.fasthttp",
    },
    "golive.accounts": set(),
    "golive.adapters": {"golive.accounts", "golive.hub", "golive.hls", "golive.users"},
    "golive.users": set(),  # generated from the .proto (scripts/gen_grpc.sh)
    "golive.rpc": {"golive.accounts", "golive.users", "golive.logs"},
    "golive.http_errors": {"golive.logs"},
    "golive.viewers": {"golive.hls"},
    "golive.previews": {"golive.media", "golive.hub", "golive.logs"},
    "golive.ingest": {"golive.accounts", "golive.rtmp"},
    "golive.api": {"golive.accounts", "golive.http_errors", "golive.hub", "golive.logs"},
    "golive.pages": {"golive.accounts"},
    "golive.live_figures": {"golive.api", "golive.hls", "golive.previews", "golive.viewers"},
    "golive.recordings": {"golive.hls", "golive.http_errors", "golive.logs"},
    "golive.config": {"golive.rtmp", "golive.hls", "golive.transcode", "golive.recordings"},
    "golive.proxies": {"golive.config"},
    "golive.tls": set(),
    "golive.fasthttp": set(),
    "golive.edge": {
        "golive.fasthttp", "golive.http_errors", "golive.logs", "golive.metrics",
        "golive.proxies", "golive.tls", "golive.viewers",
    },
    "golive.node_metrics": {
        "golive.accounts", "golive.hls", "golive.http_errors", "golive.hub", "golive.metrics",
        "golive.proxies", "golive.rtmp", "golive.viewers",
    },
    "golive.bootstrap": {
        "golive.accounts", "golive.adapters", "golive.api", "golive.config", "golive.edge",
        "golive.fasthttp", "golive.hls",
        "golive.hub", "golive.ingest", "golive.live_figures", "golive.metrics",
        "golive.node_metrics", "golive.pages", "golive.previews", "golive.proxies",
        "golive.recordings", "golive.rpc", "golive.rtmp", "golive.tls",
        "golive.viewers",
    },
    "golive.cli": {
        "golive", "golive.bootstrap", "golive.config", "golive.edge", "golive.fasthttp",
        "golive.http_errors",
        "golive.logs",
    },
    "golive.__main__": {"golive.cli"},
    "golive": set(),
}  # fmt: skip

# Edges of the layer map that only some modules of a part may take.
NARROW: dict[tuple[str, str], set[str]] = {
    # The port through which the use cases stop a live publish is implemented over the hub.
    ("golive.adapters", "golive.hub"): {"golive.adapters.hub"},
    # ... and the one through which they learn what a room's stream carries, over the packager.
    ("golive.adapters", "golive.hls"): {"golive.adapters.packager"},
    # ... and the users of another node, over its gRPC service's generated stubs.
    ("golive.adapters", "golive.users"): {"golive.adapters.grpc_users"},
}
# Modules a part must never import, though the part may import others of their package: HLS
# runs the ladder through the session, whose workers load PyAV where they run.
NEVER: dict[str, set[str]] = {
    "golive.hls": {"golive.transcode.pipeline", "golive.transcode.workers"},
}

# Sans-I/O cores inside a part: they take bytes or samples and give events or bytes back, so
# they import no part of the asyncio shell and no web framework.
CORES = (
    "golive.rtmp.handshake", "golive.rtmp.chunk", "golive.rtmp.messages", "golive.rtmp.amf0",
    "golive.rtmp.flv", "golive.rtmp.timeline", "golive.rtmp.connection", "golive.rtmp.errors",
    "golive.rtmp.limits", "golive.hls.settings", "golive.hls.segmenter", "golive.hls.playlist",
    "golive.hls.playlist_parser", "golive.hls.reload", "golive.recordings.playlist",
    "golive.recordings.retention", "golive.recordings.settings",
    "golive.formats.fmp4", "golive.media",
)  # fmt: skip
SHELL = {"asyncio", "aiohttp", "socket", "golive.hub", "golive.http_errors", "golive.config"}
# What the accounts core may import from outside the standard library: nothing.
DRIVERS = {
    "aiohttp", "aiosqlite", "pymongo", "redis", "argon2", "av", "uvloop", "grpc", "google",
    "grpc_health", "grpc_reflection",
}  # fmt: skip


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_every_part_imports_only_the_layers_below_it() -> None:
    graph = import_graph()
    parts = {_part(name) for name in graph}
    assert parts == set(LAYERS), "a part of golive is missing from the layer map, or gone"
    wrong = sorted(
        f"{name} imports {other}"
        for name, imported in graph.items()
        for other in imported
        if other.startswith("golive")
        and _part(other) != _part(name)
        and (
            _part(other) not in LAYERS[_part(name)]
            or name not in NARROW.get((_part(name), _part(other)), {name})
            or other in NEVER.get(_part(name), set())
        )
    )
    assert wrong == []


def test_the_sans_io_cores_import_nothing_of_the_shell() -> None:
    graph = import_graph()
    assert set(CORES) <= graph.keys()
    wrong = sorted(f"{c} imports {m}" for c in CORES for m in graph[c] if _part(m) in SHELL)
    assert wrong == []


def test_the_accounts_core_knows_no_framework_and_no_store() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{name} imports {other}"
        for name, imported in graph.items()
        if name.startswith("golive.accounts")
        for other in imported
        if other in DRIVERS or (other.startswith("golive") and _part(other) != "golive.accounts")
    )
    assert wrong == []
