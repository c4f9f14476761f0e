"""Processes in a session of their own: started, measured and stopped as one process group."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.harness.ports import wait_port


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes, every thread, in ns precision (/proc/PID/task/*/schedstat).

    /proc/PID/stat counts in 10 ms ticks, too coarse for a server that needs tens of ms.
    """
    total = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total / 1e9


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def stop_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> list[int]:
    """SIGTERM to every process still running, then wait for each; a process group still there
    after ``timeout`` gets SIGKILL. Returns the exit codes.

    SIGTERM goes to the leader alone: golive stops its own workers on SIGTERM (and the tests
    check that it exits cleanly), as nginx's master stops its workers.
    """
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            codes.append(proc.wait(5))
    return codes


async def stop(proc: asyncio.subprocess.Process) -> None:
    """Stop an asyncio subprocess (a publisher, nginx) and reap it."""
    if proc.returncode is None:
        proc.terminate()
    await proc.wait()


class ProcessGroup:
    """A process in a session of its own, its output in ``log`` (or dropped)."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        with open(log, "wb") if log is not None else open(os.devnull, "wb") as err:
            self.proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env=None if env is None else dict(env),
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The process and its children."""
        return [self.proc.pid, *children(self.proc.pid)]

    def log_tail(self) -> str:
        """The end of its log ("" without one)."""
        return self.log.read_text(errors="replace")[-2000:] if self.log else ""

    def check(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, and the exit code; SIGKILL to the group if it outlives ``timeout``."""
        return stop_all([self.proc], timeout)[0]


class Server(ProcessGroup):
    """A server on loopback ports, returned once it listens on every one of them."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        rtmp_port: int | None = None,
        http_port: int | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        timeout: float = 15.0,
    ) -> None:
        super().__init__(name, cmd, cwd=cwd, env=env, log=log)
        self.rtmp_port = rtmp_port or 0
        self.http_port = http_port or 0
        # The folder where nginx-rtmp writes HLS, for a benchmark to check that it does.
        self.hls_dir: Path | None = None
        try:
            for port in (http_port, rtmp_port):
                if port is not None:
                    wait_port(port, self.proc, timeout)
        except RuntimeError:
            self.stop(timeout=1.0)
            tail = log.read_text(errors="replace") if log is not None else ""
            raise RuntimeError(f"{name} did not start:\n{tail}") from None

    @property
    def rtmp(self) -> str:
        """The RTMP application URL; a stream key follows it."""
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"
