"""Where a ladder's pipeline runs, off the event loop: a thread of this process (the default)
or a child process (``python -m golive.transcode``), behind one interface.

Either runs at a higher nice value than the event loop, so on a busy machine the kernel gives
ingest and the source copy the CPU first. PyAV is loaded by the thread or the child process that
runs the pipeline, not when this module is imported: the event loop's side of the ladder (the
session, the HLS packager) never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any, Protocol

from ..logs import escape_every_handler
from .events import Command, Event, Failed, Feed

Deliver = Callable[[list[Event]], None]


class Worker(Protocol):
    def send(self, command: Command | None) -> None:
        """Queue a command; None stops the worker after what is queued."""

    def clear_feeds(self) -> list[Feed]:
        """Take back the samples still queued; they will not be transcoded."""

    async def join(self, within: float) -> None:
        """Wait (at most ``within`` seconds) until the worker has stopped."""


class _Inbox:
    """A deque with a condition: the event loop appends, one worker thread takes."""

    def __init__(self) -> None:
        self._items: deque[Command | None] = deque()
        self._cond = threading.Condition()

    def put(self, item: Command | None) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def take(self) -> Command | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()

    def clear_feeds(self) -> list[Feed]:
        with self._cond:
            feeds = [c for c in self._items if isinstance(c, Feed)]
            kept = [c for c in self._items if not isinstance(c, Feed)]
            self._items.clear()
            self._items.extend(kept)
        return feeds


def _deliverer(loop: asyncio.AbstractEventLoop, deliver: Deliver) -> Deliver:
    def emit(events: list[Event]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(deliver, events)

    return emit


def lower_priority(nice: int, tid: int = 0) -> None:
    """Make thread ``tid`` (0: this one) an ordinary time-shared thread with the given nice
    value. On Linux both are per thread and inherited by the threads it starts, such as x264's
    and the decoder's.

    The policy is reset first because a thread inherits its creator's: an SVT-AV1 encoder
    (libsvtav1) opened in the process switches its caller to SCHED_FIFO 99 when it may, and
    a real-time ladder would then take the cores from the event loop whatever its nice value.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        if os.sched_getscheduler(tid) != os.SCHED_OTHER:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
    if nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, nice)


class ThreadWorker:
    """The pipeline in a thread of this process; PyAV releases the GIL while it decodes,
    scales and encodes, so the event loop only shares it for a few Python lines a frame."""

    def __init__(self, deliver: Deliver, *, nice: int, name: str) -> None:
        self._inbox = _Inbox()
        emit = _deliverer(asyncio.get_running_loop(), deliver)

        def run() -> None:
            from .pipeline import serve  # the pipeline and PyAV, imported where they run

            lower_priority(nice, threading.get_native_id())
            serve(self._inbox.take, emit)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def send(self, command: Command | None) -> None:
        self._inbox.put(command)

    def clear_feeds(self) -> list[Feed]:
        return self._inbox.clear_feeds()

    async def join(self, within: float) -> None:
        await asyncio.to_thread(self._thread.join, within)


class ProcessWorker:
    """The pipeline in a child process: commands and events as framed pickles on its stdin
    and stdout, written and read by two threads of this process so the loop never blocks on
    a full pipe."""

    def __init__(self, deliver: Deliver, *, nice: int, name: str) -> None:
        self._inbox = _Inbox()
        self._emit = _deliverer(asyncio.get_running_loop(), deliver)
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, args=(nice,), name=name)
        self._sender.daemon = True
        self._sender.start()

    def _send_loop(self, nice: int) -> None:
        # Started here, not on the event loop: fork and exec take milliseconds.
        cmd = [sys.executable, "-m", "golive.transcode", str(nice)]
        proc = self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._started.set()
        assert proc.stdin is not None
        receiver = threading.Thread(target=self._receive_loop, args=(proc,), daemon=True)
        receiver.start()
        try:
            while (command := self._inbox.take()) is not None:
                write_message(proc.stdin, command)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            receiver.join()
            proc.wait()

    def _receive_loop(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            try:
                while (events := read_message(proc.stdout)) is not None:
                    self._emit(events)
            except Exception as exc:
                self._emit([Failed(f"reading from the worker process: {exc!r}")])
                proc.kill()
                return
        code = proc.wait()
        if code != 0:
            self._emit([Failed(f"the worker process exited with code {code}")])

    def send(self, command: Command | None) -> None:
        self._inbox.put(command)

    def clear_feeds(self) -> list[Feed]:
        return self._inbox.clear_feeds()

    async def join(self, within: float) -> None:
        await asyncio.to_thread(self._sender.join, within)
        if self._sender.is_alive() and self._proc is not None:
            self._proc.kill()


# --- the child process: commands on stdin, events on stdout, both as framed pickles ----------

_FRAME = struct.Struct(">I")


def write_message(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=5)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    # Only the server that started this process writes here (a pipe it holds).
    return pickle.loads(data)


def child_main(argv: list[str]) -> None:
    """``python -m golive.transcode [NICE]``: the worker process of ``ProcessWorker``."""
    from .pipeline import serve  # the child loads PyAV, not the server that starts it

    lower_priority(int(argv[0]) if argv else 0)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    escape_every_handler()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Nothing else may write to the event pipe.
    sys.stdout = sys.stderr
    serve(lambda: read_message(stdin), lambda events: write_message(stdout, events))
