"""HTTP routes of the JSON API: accounts, sessions, stream keys and live rooms.

::

    GET    /api/health                 liveness
    GET    /api/openapi.json           the OpenAPI 3.1 document (golive.api.openapi)
    POST   /api/users                  sign up
    POST   /api/sessions               log in: cookies + token
    DELETE /api/sessions/current       log out
    GET    /api/me                     the logged-in user
    PATCH  /api/me                     set the room title
    GET    /api/me/stream-key          the stream key and RTMP URL
    POST   /api/me/stream-key          regenerate the stream key
    GET    /api/rooms                  live rooms
    GET    /api/rooms/{name}           one live room
    GET    /api/rooms/{name}/preview.jpg  a recent frame of a live room (golive.previews)
    GET    /api/users/{name}/recordings, GET and DELETE /api/recordings/{id}
                                       past broadcasts (golive.api.recordings)
    POST   /rooms/create, /rooms/update, /rooms/delete  nginx-rtmp callbacks
                                       (golive.api.nginx_callbacks, a sub-application of its own)

The API is an aiohttp sub-application mounted at ``/api``. Handlers raise domain errors; its
middleware, ``golive.api.errors.error_middleware``, answers them and every other failure under
``/api``. The API sends no CORS headers: other sites' scripts are not meant to call it (see
golive.api.auth).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from aiohttp import web

from ..accounts.domain import USERNAME_RE, AccountsElsewhere, InvalidInput, NotFound, Room
from ..accounts.services import Accounts, LiveRooms
from ..hub import StreamHub
from . import auth
from .body import json_object, string_field
from .errors import error_middleware
from .live import LiveFigures, live_details
from .nginx_callbacks import setup_nginx_callbacks
from .openapi import OPENAPI
from .recordings import setup_recordings
from .views import JsonObject, room_json, user_json

API_PREFIX = "/api"
# RFC 9110, 7.2 and RFC 3986, 3.2.2: a reg-name (unreserved characters only: what DNS and
# container service names use, never a character that could change the URL's shape) or a
# bracketed IPv6 literal, then an optional port that the RTMP URL replaces.
_HOST_RE = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]{1,253})(?::[0-9]{0,5})?")
NO_STORE = {"Cache-Control": "no-store"}
# Live figures change by the second: caches must ask again, but may keep the bytes.
NO_CACHE = {"Cache-Control": "no-cache"}


def _setup_health(app: web.Application, hub: StreamHub) -> None:
    async def health(request: web.Request) -> web.Response:
        """Liveness for load balancers: 200 while the process serves, with the live count."""
        return web.json_response({"status": "ok", "live_streams": len(hub.streams)})

    app.router.add_get("/health", health)


class _Api:
    def __init__(
        self, accounts: Accounts, rooms: LiveRooms, rtmp_port: int, rtmps_port: int = 0
    ) -> None:
        self.accounts = accounts
        self.rooms = rooms
        self.rtmp_port = rtmp_port
        self.rtmps_port = rtmps_port  # 0: no RTMPS listener

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def sign_up(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        user = await self.accounts.sign_up(
            string_field(body, "username"),
            string_field(body, "email"),
            string_field(body, "password"),
            request.remote or "",
        )
        return web.json_response(user_json(user), status=201)

    async def log_in(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        username = string_field(body, "username")
        user, token = await self.accounts.log_in(
            username,
            string_field(body, "password"),
            request.remote or "",
            device=auth.device_cookie(request, username),
        )
        csrf = auth.new_csrf_token()
        response = web.json_response(
            {"token": token, "csrf_token": csrf, "user": user_json(user)},
            status=201,
            headers=NO_STORE,
        )
        max_age = int(self.accounts.session_ttl.total_seconds())
        auth.set_session_cookies(response, request, token, csrf, max_age)
        device = await self.accounts.new_device_cookie(user)
        auth.set_device_cookie(response, request, user, device)
        return response

    async def log_out(self, request: web.Request) -> web.Response:
        # Revoking needs only the token, not a live session: an ended session logs out too.
        creds = auth.presented(request)
        await self.accounts.log_out(creds.token)
        response = web.Response(status=204)
        if creds.via_cookie:
            auth.clear_session_cookies(response, request)
        return response

    async def me(self, request: web.Request) -> web.Response:
        user = await auth.current_user(request, self.accounts)
        return web.json_response(user_json(user), headers=NO_STORE)

    async def update_me(self, request: web.Request) -> web.Response:
        user = await auth.current_user(request, self.accounts)
        body = await json_object(request)
        title = await self.accounts.set_title(user, string_field(body, "title"))
        await self.rooms.retitle(user.name, title)  # a live room shows it at once
        return web.json_response(user_json(replace(user, title=title)), headers=NO_STORE)

    def _stream_key(self, request: web.Request, key: str) -> web.Response:
        match = _HOST_RE.fullmatch(request.host)
        if match is None:
            raise InvalidInput("Host", "the Host header names no host")
        host = match["host"]
        answer = {
            "stream_key": key,
            "rtmp_url": f"rtmp://{host}:{self.rtmp_port}/live",
            "rtmps_url": f"rtmps://{host}:{self.rtmps_port}/live" if self.rtmps_port else None,
        }
        return web.json_response(answer, headers=NO_STORE)

    async def stream_key(self, request: web.Request) -> web.Response:
        user = await auth.current_user(request, self.accounts)
        return self._stream_key(request, user.stream_key)

    async def new_stream_key(self, request: web.Request) -> web.Response:
        user = await auth.current_user(request, self.accounts)
        self._stream_key(request, "")  # refuse a bad Host before the old key is replaced
        key = await self.accounts.regenerate_stream_key(user)
        self.rooms.key_replaced(user)  # whoever publishes with the old key stops now
        return self._stream_key(request, key)

    @staticmethod
    def _figures(request: web.Request, name: str) -> LiveFigures | None:
        details = live_details(request)
        return details.figures(name) if details is not None else None

    def _room_json(self, request: web.Request, room: Room) -> JsonObject:
        # A room of another node: its figures are that node's, its media on that node.
        return room_json(room, self._figures(request, room.name), self.rooms.url_of(room))

    async def all_rooms(self, request: web.Request) -> web.Response:
        rooms = await self.rooms.all()
        body = {"rooms": [self._room_json(request, room) for room in rooms]}
        return web.json_response(body, headers=NO_CACHE)

    @staticmethod
    def _room_name(request: web.Request) -> str:
        name = request.match_info["name"]
        # No room can have another name; the check also keeps odd strings out of the registry.
        if not USERNAME_RE.fullmatch(name):
            raise NotFound("no live room by that name")
        return name

    async def room(self, request: web.Request) -> web.Response:
        room = await self.rooms.get(self._room_name(request))
        return web.json_response(self._room_json(request, room), headers=NO_CACHE)

    async def preview(self, request: web.Request) -> web.Response:
        """A JPEG of a recent keyframe of a room live on this node (golive.previews)."""
        room = await self.rooms.get(self._room_name(request))
        details = live_details(request)
        jpeg = await details.preview(room.name) if details is not None else None
        if jpeg is None:
            raise NotFound("no preview of this room yet")
        return web.Response(body=jpeg, content_type="image/jpeg", headers=NO_CACHE)


def _refuse_with(
    error: AccountsElsewhere,
) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
    async def refuse(request: web.Request) -> web.Response:
        raise error

    return refuse


def setup_api(
    app: web.Application,
    hub: StreamHub,
    accounts: Accounts,
    rooms: LiveRooms,
    *,
    rtmp_port: int,
    nginx_callbacks: bool,
    rtmps_port: int = 0,
    accounts_elsewhere: str | None = None,
) -> None:
    """Mount the JSON API at ``/api`` and (``nginx_callbacks``) the nginx-rtmp callbacks at
    ``/rooms`` on ``app``, each a sub-application with its own error middleware.

    With ``accounts_elsewhere`` (a node whose users are another node's, docs/grpc.md) the
    account routes answer 421 Misdirected Request with that message, before any work."""
    api_app = web.Application(middlewares=[error_middleware("no such API endpoint")])
    _setup_health(api_app, hub)
    api = _Api(accounts, rooms, rtmp_port, rtmps_port)
    router = api_app.router
    router.add_get("/openapi.json", api.openapi)
    account_routes: tuple[
        tuple[str, str, Callable[[web.Request], Coroutine[Any, Any, web.Response]]], ...
    ] = (
        ("POST", "/users", api.sign_up),
        ("POST", "/sessions", api.log_in),
        ("DELETE", "/sessions/current", api.log_out),
        ("GET", "/me", api.me),
        ("PATCH", "/me", api.update_me),
        ("GET", "/me/stream-key", api.stream_key),
        ("POST", "/me/stream-key", api.new_stream_key),
    )
    for method, path, handler in account_routes:
        if accounts_elsewhere is not None:
            handler = _refuse_with(AccountsElsewhere(accounts_elsewhere))
        router.add_route(method, path, handler)
    router.add_get("/rooms", api.all_rooms)
    router.add_get("/rooms/{name}", api.room)
    router.add_get("/rooms/{name}/preview.jpg", api.preview)
    setup_recordings(api_app, accounts)
    app.add_subapp(API_PREFIX, api_app)
    if nginx_callbacks:
        setup_nginx_callbacks(app, rooms)
