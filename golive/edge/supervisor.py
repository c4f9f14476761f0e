"""The primary starts its HTTP workers, starts again any that dies, and stops them with itself.

Each worker is ``python -m golive.edge`` (golive.edge.worker), in a session of its own so that
a Ctrl-C in the terminal reaches the primary alone, which then stops the workers in order
(SIGTERM, then SIGKILL after a grace period). Its settings go on its standard input as one
line, and the pipe stays open: its end tells the worker to stop, and PR_SET_PDEATHSIG stops
it if the primary is killed outright, so no worker outlives the primary.

A worker that dies is started again after a pause that doubles while it keeps dying early
(0.5 s up to 30 s), so a worker that cannot start does not spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable

from .worker import WorkerConfig

log = logging.getLogger("golive.edge")

FIRST_PAUSE = 0.5  # seconds before a dead worker is started again
LONGEST_PAUSE = 30.0
STEADY = 10.0  # seconds a worker must live for its restart pause to start over
STOP_GRACE = 5.0  # seconds a worker has to stop after SIGTERM before SIGKILL


class Supervisor:
    """Keeps ``count`` workers running, each started with ``config_for(index)``."""

    def __init__(self, count: int, config_for: Callable[[int], WorkerConfig]) -> None:
        self.count = count
        self.config_for = config_for
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.returncode is None]

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep(i)) for i in range(1, self.count + 1)]

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "golive.edge",
            stdin=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(self.config_for(index).line())
        return proc

    async def _keep(self, index: int) -> None:
        pause = FIRST_PAUSE
        while not self._stopping:
            started = time.monotonic()
            try:
                proc = await self._spawn(index)
            except OSError as exc:
                log.error("cannot start HTTP worker %d: %s", index, exc)
            else:
                self._procs[index] = proc
                code = await proc.wait()
                if self._stopping:
                    return
                log.warning("HTTP worker %d (pid %d) exited with %s", index, proc.pid, code)
            if time.monotonic() - started > STEADY:
                pause = FIRST_PAUSE
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    async def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to those still there after the grace period."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        procs = [p for p in self._procs.values() if p.returncode is None]
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                log.warning("HTTP worker pid %d did not stop: killed", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
