"""The recordings in the API: a streamer's past broadcasts, one of them, deleting one.

::

    GET    /api/users/{name}/recordings   a streamer's recordings, newest first
    GET    /api/recordings/{id}           one recording
    DELETE /api/recordings/{id}           delete one (its owner only)

The recordings live on disk, kept by golive.recordings; the API reads them through this
narrow port, set on the root application by golive.bootstrap. Without one, a streamer has no
recordings.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from ..accounts.domain import USERNAME_RE, NotFound, room_name
from ..accounts.services import Accounts
from ..http_errors import HttpError
from . import auth

# A recording's playlist changes while it is written, and a deletion is seen at once.
_NO_CACHE = {"Cache-Control": "no-cache"}


class RecordingLibrary(Protocol):
    def describe(self, recording_id: str) -> dict[str, Any] | None:
        """The recording as JSON (``owner`` is its room name), or None."""
        ...

    def describe_all(self, owner: str) -> list[dict[str, Any]]:
        """The recordings of the room ``owner``, newest first."""
        ...

    async def delete(self, recording_id: str) -> bool:
        """Delete it with its files; False when there was none."""
        ...


RECORDINGS: web.AppKey[RecordingLibrary] = web.AppKey("recordings")


def _library(request: web.Request) -> RecordingLibrary | None:
    return request.config_dict.get(RECORDINGS)


def setup_recordings(api_app: web.Application, accounts: Accounts) -> None:
    async def of_user(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not USERNAME_RE.fullmatch(name):
            raise NotFound("no such user")
        library = _library(request)
        found = library.describe_all(room_name(name)) if library is not None else []
        return web.json_response({"recordings": found}, headers=_NO_CACHE)

    def _one(request: web.Request) -> tuple[RecordingLibrary, dict[str, Any]]:
        library = _library(request)
        found = library.describe(request.match_info["id"]) if library is not None else None
        if library is None or found is None:
            raise NotFound("no such recording")
        return library, found

    async def one(request: web.Request) -> web.Response:
        return web.json_response(_one(request)[1], headers=_NO_CACHE)

    async def delete(request: web.Request) -> web.Response:
        user = await auth.current_user(request, accounts)
        library, found = _one(request)
        if found["owner"] != room_name(user.name):
            raise HttpError(403, "forbidden", "only its streamer may delete a recording")
        if not await library.delete(found["id"]):
            raise NotFound("no such recording")
        return web.Response(status=204)

    api_app.router.add_get("/users/{name}/recordings", of_user)
    api_app.router.add_get("/recordings/{id}", one)
    api_app.router.add_delete("/recordings/{id}", delete)
