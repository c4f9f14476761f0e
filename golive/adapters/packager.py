"""The stream descriptions port over this node's HLS packager."""

from __future__ import annotations

from ..accounts.domain import RoomDescription
from ..hls.packager import Packager


class PackagerDescriptions:
    """DescribeStream port over the HLS packager: what a room's stream carries (the source's
    codecs and picture size, the renditions ready to play), once its source copy is ready to
    play; None before, and for a room the packager does not hold."""

    def __init__(self, packager: Packager) -> None:
        self.packager = packager

    def __call__(self, name: str) -> RoomDescription | None:
        described = self.packager.describe(name)
        if described is None:
            return None
        return RoomDescription(
            codecs=described.codecs,
            renditions=described.renditions,
            width=described.width,
            height=described.height,
        )
