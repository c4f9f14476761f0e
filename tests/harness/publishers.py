"""Publishers that send a file to golive over RTMP as real encoders do: the ffmpeg
command-line tool, and PyAV (FFmpeg's libraries, 8.x) in a process of its own:
``python -m tests.harness.publishers FILE URL``.

PyAV publishes from a separate process because it holds the GIL while FFmpeg's RTMP client
blocks on the socket, which would freeze an event loop in the same process.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.harness.paths import require


async def start_publisher(path: Path, url: str) -> asyncio.subprocess.Process:
    """ffmpeg -re -c copy of the file to the RTMP URL, at the file's own pace."""
    return await asyncio.create_subprocess_exec(
        require("ffmpeg"), "-hide_banner", "-loglevel", "error", "-re", "-i", str(path),
        "-c", "copy", "-f", "flv", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def publish(path: str, url: str) -> None:
    import av

    with av.open(path) as src, av.open(url, "w", format="flv") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


if __name__ == "__main__":
    publish(sys.argv[1], sys.argv[2])
