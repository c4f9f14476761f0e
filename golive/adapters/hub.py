"""The live publishes port over this node's stream hub."""

from __future__ import annotations

from ..hub import StreamHub


class HubPublishes:
    """LivePublishes port over the stream hub: stopping a room's publish ends its stream and
    hands the reason to its publisher's connection, which then closes (``StreamHub.evict``)."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub

    def stop(self, room: str, reason: str) -> bool:
        return self.hub.evict(room, reason)
