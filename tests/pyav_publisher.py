"""Publish a file to RTMP with PyAV (FFmpeg's libraries, 8.x): ``python -m tests.pyav_publisher
FILE URL``.

A separate process, because PyAV holds the GIL while FFmpeg's RTMP client blocks on the socket,
which would freeze an event loop in the same process.
"""

from __future__ import annotations

import sys

import av


def publish(path: str, url: str) -> None:
    with av.open(path) as src, av.open(url, "w", format="flv") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


if __name__ == "__main__":
    publish(sys.argv[1], sys.argv[2])
