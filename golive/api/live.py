"""What the API shows of this node's live streams beyond the room registry: viewer counts,
bitrate and preview images.

The registry (golive.accounts.ports.RoomRegistry) knows which rooms are live on any node; how
many players watch one, how fast its media arrives and what it looks like are known only to the
node that ingests and serves it. The API reads them through this narrow port, set on the root
application by whoever provides them (golive.live_figures, set by golive.bootstrap) and seen
from the API's sub-application through the chain of applications; without one, a room shows no
viewers, no bitrate and no preview, which is also the truth for rooms served by another node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


@dataclass(frozen=True, slots=True)
class LiveFigures:
    viewers: int = 0  # distinct players that fetched the room's playlists recently
    bitrate: int | None = None  # bits per second of the source copy, once measured


class LiveDetails(Protocol):
    def figures(self, room: str) -> LiveFigures:
        """This node's figures for ``room`` (zeros for a room it does not serve)."""
        ...

    async def preview(self, room: str) -> bytes | None:
        """A recent JPEG of the room's video, or None when there is none to show."""
        ...


LIVE_DETAILS: web.AppKey[LiveDetails] = web.AppKey("live_details")


def live_details(request: web.Request) -> LiveDetails | None:
    """The live figures set on the request's application or any application it is mounted in."""
    return request.config_dict.get(LIVE_DETAILS)
