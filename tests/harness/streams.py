"""Synthetic streams as ingest hands them over: an H.264 and an AAC configuration and samples
in FLV order, with no encoder."""

from __future__ import annotations

from collections.abc import Iterator

from golive.media import Codec, Sample, TrackConfig

_SPS = bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
_PPS = bytes.fromhex("68ebe3cb22c0")
AVC = TrackConfig(
    Codec.H264,
    bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1]) + len(_SPS).to_bytes(2, "big") + _SPS
    + b"\x01" + len(_PPS).to_bytes(2, "big") + _PPS,
)  # fmt: skip
AAC = TrackConfig(Codec.AAC, bytes.fromhex("1190"))  # AAC LC, 48 kHz, stereo


def av_stream(
    seconds: float,
    *,
    gop: float = 2.0,
    start: int = 0,
    video: bool = True,
    audio: bool = True,
    bframes: bool = False,
) -> Iterator[TrackConfig | Sample]:
    """Samples in FLV order (by DTS), times in ms, as ingest produces them."""
    if audio:
        yield AAC
    if video:
        yield AVC
    items: list[tuple[int, int, Sample]] = []
    if video:
        n = int(seconds * 30)
        for i in range(n):
            dts = start + round(i * 1000 / 30)
            cts = (67 if i % 3 == 0 else (100 if i % 3 == 1 else 0)) - 33 if bframes else 0
            key = i % round(gop * 30) == 0
            items.append((dts, 1, Sample(Codec.H264, dts, cts, key, bytes([i % 256]) * 50)))
    if audio:
        n = int(seconds * 48000 / 1024)
        for i in range(n):
            dts = start + round(i * 1024 * 1000 / 48000)
            items.append((dts, 0, Sample(Codec.AAC, dts, 0, True, b"a" * 10)))
    for _, _, s in sorted(items, key=lambda x: (x[0], x[1])):
        yield s
