"""nginx-rtmp's HTTP callbacks, as the original design's rooms service answered them.

nginx-rtmp (ngx_rtmp_notify_module) POSTs an application/x-www-form-urlencoded body with
``call``, ``app``, ``name`` (the stream name), ``addr``, ``clientid`` and the publish URL's
query arguments (here ``key``); any 2xx lets the publish go on, anything else drops it::

    application live {
        on_publish      http://golive:8080/rooms/create;
        on_update       http://golive:8080/rooms/update;
        on_publish_done http://golive:8080/rooms/delete;
        notify_update_timeout 30s;
    }

The streamer publishes to ``rtmp://nginx/live/<username>?key=<stream key>``. Those rooms
belong to the node ``nginx-rtmp`` in the registry, so this node's own RTMP publishes and
nginx's never end each other's rooms. nginx's periodic ``on_update`` is their heartbeat: they
live three room TTLs (90 s by default) past the last one, so the rooms of an nginx that died
without calling on_publish_done go away. The key is never logged.

The callbacks are an aiohttp sub-application mounted at ``/rooms``, answering their errors
with the API's middleware (golive.api.errors), so nginx and its logs see the API's error shape.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..accounts.domain import InvalidInput, RoomAlreadyLive, UnknownStreamKey, User, room_name
from ..accounts.services import LiveRooms
from .body import form_fields
from .errors import error_middleware

log = logging.getLogger("golive.api")

CALLBACKS_PREFIX = "/rooms"
NGINX_NODE = "nginx-rtmp"
NGINX_ROOMS = web.AppKey("nginx_rooms", LiveRooms)


async def _publisher(request: web.Request, rooms: LiveRooms) -> tuple[User, str]:
    fields = await form_fields(request)
    name = fields.get("name")
    if not name:
        raise InvalidInput("name", "required")
    key = fields.get("key")
    if not key:
        raise UnknownStreamKey("publish with ?key=<stream key>")
    return await rooms.authorize_publish(key), name


def setup_nginx_callbacks(app: web.Application, rooms: LiveRooms) -> None:
    """Mount ``POST /rooms/create`` (on_publish), ``/rooms/update`` (on_update) and
    ``/rooms/delete`` (on_publish_done) on ``app``."""
    # A LiveRooms of its own, so that the rooms it puts name nginx-rtmp as their node. Its
    # TTL spans nginx's update interval (30 s by default) with room to spare.
    nginx = LiveRooms(
        rooms.users,
        rooms.registry,
        rooms.publishes,
        node=NGINX_NODE,
        ttl=3 * rooms.ttl,
        clock=rooms.clock,
    )
    callbacks = web.Application(middlewares=[error_middleware("no such callback")])
    callbacks[NGINX_ROOMS] = nginx

    async def create(request: web.Request) -> web.Response:
        user, name = await _publisher(request, nginx)
        if room_name(name) != user.name:
            # The same answer as a wrong key: a caller learns nothing about whose key it is.
            raise UnknownStreamKey("unknown stream key for this stream name")
        if await nginx.registry.get(user.name) is not None:
            raise RoomAlreadyLive(f"{user.name} is already live")
        await nginx.go_live(user)
        return web.Response(text="OK")

    async def update(request: web.Request) -> web.Response:
        user, name = await _publisher(request, nginx)
        if room_name(name) != user.name:
            raise UnknownStreamKey("unknown stream key for this stream name")
        room = await nginx.registry.get(user.name)
        if room is None:
            # Expired (a long pause, a restarted registry) while nginx still streams.
            await nginx.go_live(user)
        elif room.node != NGINX_NODE:
            # Live elsewhere now: a non-2xx answer makes nginx drop this publisher.
            raise RoomAlreadyLive(f"{user.name} is live on another node")
        else:
            await nginx.registry.refresh(room, nginx.ttl)
        return web.Response(text="OK")

    async def delete(request: web.Request) -> web.Response:
        user, _name = await _publisher(request, nginx)
        room = await nginx.registry.get(user.name)
        # Only a room nginx put: the user may be live through this node's own RTMP listener.
        if room is not None and room.node == NGINX_NODE:
            await nginx.end_live(room.name, room.publish_id)
        return web.Response(text="OK")

    callbacks.router.add_post("/create", create)
    callbacks.router.add_post("/update", update)
    callbacks.router.add_post("/delete", delete)
    app.add_subapp(CALLBACKS_PREFIX, callbacks)
