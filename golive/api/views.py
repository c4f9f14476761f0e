"""What the API shows of the domain: the public user and the live room, as JSON values that
match the ``User`` and ``Room`` schemas of the OpenAPI document. The password hash and the
stream key are left out on purpose: only the stream-key endpoints ever send the key.

A room is shown with this node's live figures (golive.api.live): its viewer count and bitrate.
Its media (HLS, preview) is named by a path on this node, or, for a room that another node
serves, by an absolute URL on that node (its public URL from the room registry), so that a
viewer's player goes there without a detour.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..accounts.domain import Room, User
from .live import LiveFigures

JsonObject = dict[str, object]


def iso_utc(when: datetime) -> str:
    """ISO 8601 / RFC 3339, 5.6, in UTC with a ``Z``; a naive time is taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_json(user: User) -> JsonObject:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "created_at": iso_utc(user.created_at),
        "title": user.title,
    }


def hls_url(name: str, base: str = "") -> str:
    return f"{base}/hls/{name}/index.m3u8"


def preview_url(name: str, base: str = "") -> str:
    return f"{base}/api/rooms/{name}/preview.jpg"


def room_json(room: Room, figures: LiveFigures | None = None, base: str = "") -> JsonObject:
    """``base``: the public URL of the node that serves the room when that is another one."""
    figures = figures or LiveFigures()
    return {
        "name": room.name,
        "streamer": room.streamer,
        "title": room.title,
        "started_at": iso_utc(room.started_at),
        "codecs": list(room.description.codecs),
        "renditions": list(room.description.renditions),
        "width": room.description.width,
        "height": room.description.height,
        "hls_url": hls_url(room.name, base),
        "preview_url": preview_url(room.name, base),
        "viewers": figures.viewers,
        "bitrate": figures.bitrate,
    }
