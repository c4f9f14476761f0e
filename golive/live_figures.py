"""This node's live figures for the API (golive.api.live.LiveDetails): how many players watch
a room, how fast its source copy arrives, and a preview picture.

They come from three places of this node: the viewers counted from playlist requests on the
HLS sub-application (golive.viewers), the source copy's bitrate that the packager measures over
the live window (golive.hls), and the previews (golive.previews). bootstrap builds them and
sets them on the root application, where the API finds them (golive.api.live).
"""

from __future__ import annotations

from .api.live import LiveFigures
from .hls.packager import Packager
from .previews import Previews
from .viewers import Audience


class NodeLiveDetails:
    """Viewers counted from playlist requests, the source copy's bitrate from the packager,
    previews."""

    def __init__(self, audience: Audience, packager: Packager, previews: Previews) -> None:
        self.audience = audience
        self.packager = packager
        self.previews = previews

    def figures(self, room: str) -> LiveFigures:
        described = self.packager.describe(room)
        # AVERAGE-BANDWIDTH of the source copy: bytes actually packaged over the live window.
        bitrate = described.source.average_bandwidth if described and described.live else 0
        return LiveFigures(viewers=self.audience.count(room), bitrate=bitrate or None)

    async def preview(self, room: str) -> bytes | None:
        return await self.previews.jpeg(room)
