"""Publishers that send a file to golive over RTMP as real encoders do: the ffmpeg
command-line tool, and PyAV (FFmpeg's libraries, 8.x) in a process of its own:
``python -m tests.harness.publishers FILE URL``.

PyAV publishes from a separate process because it holds the GIL while FFmpeg's RTMP client
blocks on the socket, which would freeze an event loop in the same process.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.harness.paths import require


def ffmpeg_publisher(
    source: Path,
    url: str,
    *,
    realtime: bool = False,
    loop: bool = False,
    copy: bool = True,
    nostdin: bool = False,
    input_args: Sequence[str] = (),
    output_args: Sequence[str] = (),
    ffmpeg: str = "ffmpeg",
) -> list[str]:
    """The ffmpeg command that sends ``source`` as FLV to the RTMP ``url``, as an encoder does.

    ``realtime`` paces it at the file's own rate (-re), ``loop`` repeats the file for ever
    (-stream_loop -1), ``copy`` sends the coded samples as they are (-c copy); ``input_args``
    go just before -i, ``output_args`` just before -f flv.
    """
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error"]
    cmd += ["-nostdin"] if nostdin else []
    cmd += ["-re"] if realtime else []
    cmd += ["-stream_loop", "-1"] if loop else []
    cmd += [*input_args, "-i", str(source)]
    cmd += ["-c", "copy"] if copy else []
    return [*cmd, *output_args, "-f", "flv", url]


async def start_publisher(
    path: Path,
    url: str,
    *,
    loop: bool = False,
    stderr: int = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """ffmpeg -re -c copy of the file to the RTMP URL, at the file's own pace; ``loop`` sends
    it again and again until the test stops it."""
    cmd = ffmpeg_publisher(path, url, realtime=True, loop=loop, ffmpeg=require("ffmpeg"))
    return await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
    )


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
