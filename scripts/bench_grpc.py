#!/usr/bin/env python3
"""Stream-key checks over gRPC against the same check over the JSON API, on one golive.

One `golive serve` (one process, the benchmark arguments but with accounts) keeps an account
in SQLite, serves the users service over gRPC (``grpc_port``) and answers nginx-rtmp's
callbacks (``nginx_callbacks``). The same number of clients, each one call at a time on
a connection of its own, then check the account's stream key for the same time:

- gRPC: ``golive.users.v1.Users/AuthenticateStreamKey`` with the key, the shared secret in
  metadata (grpc.aio, one channel per client);
- JSON API: ``POST /rooms/update`` (nginx-rtmp's on_update) with the stream name and the key
  as a form, which checks the key with the same use case (``LiveRooms.authorize_publish``)
  and refreshes the room (aiohttp, one keep-alive connection per client).

A third row shows the floor of the gRPC figure: the same calls to a grpc.aio server on uvloop
(as golive runs) in a process of its own, whose servicer answers a fixed user at once: no
secret, no throttle, no store. Rounds alternate so that a change of the machine's load falls
on all of them. The
figures: checks per second, p50 and p99 latency as the clients saw it, and golive's CPU per
check (its process's user + system time over the checks answered). The ratios are gRPC's
over the JSON API's. Only loopback is used.

Expectation: gRPC at least as fast (a ratio of checks per second at least 1.0, of p99 at most
1.0).

    .venv/bin/python scripts/bench_grpc.py [--clients 8] [--seconds 5] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import grpc  # noqa: E402

from golive.users.v1 import users_pb2, users_pb2_grpc  # noqa: E402
from tests.harness.api import sign_up  # noqa: E402
from tests.harness.golive import start_golive  # noqa: E402
from tests.harness.ports import free_port, wait_port  # noqa: E402
from tests.harness.processes import ProcessGroup, Server, cpu_seconds  # noqa: E402

SECRET = "bench-secret"
USER = "bencher"


@dataclass
class Round:
    protocol: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    failures: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _grpc_client(target: str, key: str, until: float, out: Round) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = users_pb2_grpc.UsersStub(channel)
        request = users_pb2.AuthenticateStreamKeyRequest(stream_key=key)
        metadata = (("authorization", f"Bearer {SECRET}"),)
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                reply = await stub.AuthenticateStreamKey(request, metadata=metadata, timeout=5)
            except grpc.aio.AioRpcError:
                out.failures += 1
                continue
            out.latencies.append(time.perf_counter() - start)
            assert reply.username == USER


async def _json_client(base: str, key: str, until: float, out: Round) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        form = {"call": "update", "app": "live", "name": USER, "key": key}
        while time.perf_counter() < until:
            start = time.perf_counter()
            async with http.post(f"{base}/rooms/update", data=form) as resp:
                await resp.read()
                if resp.status != 200:
                    out.failures += 1
                    continue
            out.latencies.append(time.perf_counter() - start)


class _EmptyUsers(users_pb2_grpc.UsersServicer):
    """A servicer that does nothing but answer: what grpc.aio costs by itself."""

    def __init__(self) -> None:
        self.reply = users_pb2.User(id="0", username=USER)

    async def AuthenticateStreamKey(
        self, request: users_pb2.AuthenticateStreamKeyRequest, context: object
    ) -> users_pb2.User:
        return self.reply


async def _serve_empty(port: int) -> None:
    server = grpc.aio.server()
    users_pb2_grpc.add_UsersServicer_to_server(_EmptyUsers(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


EMPTY = "gRPC, empty"


async def _round(protocol: str, srv: Server, ports: dict[str, int], pids: dict[str, int],
                 key: str, clients: int, seconds: float) -> Round:  # fmt: skip
    out = Round(protocol)
    pid = pids.get(protocol, srv.pid)
    cpu0, own0 = cpu_seconds([pid]), _own_cpu()
    start = time.perf_counter()
    until = start + seconds
    if protocol in ports:
        target = f"127.0.0.1:{ports[protocol]}"
        tasks = [_grpc_client(target, key, until, out) for _ in range(clients)]
    else:
        tasks = [_json_client(srv.http, key, until, out) for _ in range(clients)]
    await asyncio.gather(*tasks)
    out.seconds = time.perf_counter() - start
    out.server_cpu = cpu_seconds([pid]) - cpu0
    out.client_cpu = _own_cpu() - own0
    return out


def _summary(rounds: list[Round]) -> dict[str, float]:
    latencies = [x for r in rounds for x in r.latencies]
    checks = len(latencies)
    return {
        "rate": statistics.median(r.rate for r in rounds),
        "p50": _percentile(latencies, 0.50) * 1e3,
        "p99": _percentile(latencies, 0.99) * 1e3,
        "server_us": sum(r.server_cpu for r in rounds) / checks * 1e6 if checks else 0.0,
        "client_us": sum(r.client_cpu for r in rounds) / checks * 1e6 if checks else 0.0,
        "failures": sum(r.failures for r in rounds),
    }


async def main_async(clients: int, seconds: float, rounds: int) -> None:
    grpc_port = free_port()
    env = {
        "GOLIVE_GRPC_PORT": str(grpc_port),
        "GOLIVE_GRPC_SECRET": SECRET,
        "GOLIVE_NGINX_CALLBACKS": "true",
    }
    args = ("--log-level", "WARNING", "--no-transcode", "--workers", "1")
    empty_port = free_port()
    empty = ProcessGroup(
        "empty gRPC server", [sys.executable, __file__, "--serve-empty", str(empty_port)]
    )
    ports = {"gRPC": grpc_port, EMPTY: empty_port}
    pids = {EMPTY: empty.pid}
    protocols = ("JSON API", "gRPC", EMPTY)
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        srv = start_golive(Path(tmp), *args, env=env, name="golive")
        try:
            wait_port(empty_port, empty.proc, 15)
            async with aiohttp.ClientSession() as http:
                key = (await sign_up(http, srv.http, USER))["stream_key"]
            # Warm every path (connections, the first room put, imports) before measuring.
            for protocol in protocols:
                await _round(protocol, srv, ports, pids, key, clients, min(1.0, seconds))
            results: dict[str, list[Round]] = {protocol: [] for protocol in protocols}
            for index in range(rounds):
                order = protocols[::-1] if index % 2 else protocols
                for protocol in order:
                    done = await _round(protocol, srv, ports, pids, key, clients, seconds)
                    results[protocol].append(done)
                    print(
                        f"round {index + 1} {protocol:11}: {done.rate:8.0f} checks/s, "
                        f"p99 {_percentile(done.latencies, 0.99) * 1e3:6.2f} ms",
                        flush=True,
                    )
        finally:
            srv.stop()
            empty.stop()
    load = os.getloadavg()
    print()
    print(
        f"Stream-key checks, {clients} clients one call at a time, {rounds} x {seconds:g} s "
        f"each (load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; {os.cpu_count()} "
        "cores)"
    )
    print()
    header = f"{'':11} {'checks/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'golive µs/check':>16}"
    print(header + f" {'client µs/check':>16} {'failures':>9}")
    summaries = {name: _summary(done) for name, done in results.items()}
    for name, s in summaries.items():
        print(
            f"{name:11} {s['rate']:10.0f} {s['p50']:8.2f} {s['p99']:8.2f} "
            f"{s['server_us']:16.0f} {s['client_us']:16.0f} {s['failures']:9.0f}"
        )
    g, j = summaries["gRPC"], summaries["JSON API"]
    print()
    print(
        f"gRPC / JSON API: checks/s {g['rate'] / j['rate']:.2f}x, p99 {g['p99'] / j['p99']:.2f}x, "
        f"golive CPU per check {g['server_us'] / j['server_us']:.2f}x"
    )
    e = summaries[EMPTY]
    print(
        f"grpc.aio alone (an empty servicer on uvloop): {e['server_us']:.0f} µs of CPU per "
        f"call, {e['server_us'] / j['server_us']:.2f}x the JSON API's whole check"
    )
    if g["failures"] or j["failures"] or e["failures"]:
        raise SystemExit("some checks failed")


def main() -> None:
    parser = argparse.ArgumentParser(description="stream-key checks: gRPC against the JSON API")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one short round of each")
    parser.add_argument("--serve-empty", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_empty:
        import uvloop

        uvloop.run(_serve_empty(args.serve_empty))
        return
    if args.quick:
        args.seconds, args.rounds = 0.5, 1
    asyncio.run(main_async(args.clients, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
