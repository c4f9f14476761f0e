"""Publish authorization for the RTMP ingest: stream keys checked by the accounts use cases.

OBS and every RTMP encoder send the stream key as the stream name of ``publish``; the room is
the key owner's. This module only translates between the use cases (``LiveRooms.publish``)
and the RTMP server's authorizer hooks, including the domain's refusals into onStatus codes.
"""

from __future__ import annotations

from .accounts.domain import AccountsUnavailable, RateLimited, RoomAlreadyLive, UnknownStreamKey
from .accounts.services import LiveRooms, Publish
from .rtmp.server import Authorizer, PublishGrant, PublishRefusedError


class _RoomGrant(PublishGrant):
    """A publish into a user's room: the room goes live once the hub gives it to this
    publisher, and ends with the publish."""

    def __init__(self, publish: Publish) -> None:
        super().__init__(publish.room)
        self._publish = publish

    async def start(self) -> None:
        try:
            await self._publish.start()
        except RoomAlreadyLive:
            raise PublishRefusedError(
                "this room is live on another node", "NetStream.Publish.BadName", "live_elsewhere"
            ) from None

    async def release(self) -> None:
        await self._publish.end()


def accounts_authorizer(rooms: LiveRooms) -> Authorizer:
    """Publish authorization by stream key: OBS sends the key as the stream name."""

    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        try:
            publish = await rooms.publish(key, client=address)
        except UnknownStreamKey:
            raise PublishRefusedError("unknown stream key", kind="unknown_key") from None
        except AccountsUnavailable as exc:
            # A remote users service that is down: the publisher is told why at once, and the
            # log line names the reason (the key never).
            raise PublishRefusedError(exc.message, kind="users_unavailable") from None
        except RateLimited as exc:
            # The users service throttles this publisher's failed keys.
            raise PublishRefusedError(exc.message, kind="throttled") from None
        return _RoomGrant(publish)

    return authorize
