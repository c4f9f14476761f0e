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

from aiohttp import web

from ..accounts.domain import InvalidInput, UnknownStreamKey
from ..accounts.services import LiveRooms
from .body import form_fields
from .errors import error_middleware

CALLBACKS_PREFIX = "/rooms"
NGINX_NODE = "nginx-rtmp"
NGINX_ROOMS = web.AppKey("nginx_rooms", LiveRooms)
# nginx's rooms outlive three of this node's room TTLs past nginx's last on_update: that spans
# nginx's update interval (30 s by default) with room to spare.
NGINX_TTLS = 3

OK = "OK"


async def _stream_and_key(request: web.Request) -> tuple[str, str]:
    """The stream name and the stream key of a callback's form."""
    fields = await form_fields(request)
    name = fields.get("name")
    if not name:
        raise InvalidInput("name", "required")
    key = fields.get("key")
    if not key:
        raise UnknownStreamKey("publish with ?key=<stream key>")
    return name, key


def setup_nginx_callbacks(app: web.Application, rooms: LiveRooms) -> None:
    """Mount ``POST /rooms/create`` (on_publish), ``/rooms/update`` (on_update) and
    ``/rooms/delete`` (on_publish_done) on ``app``."""
    nginx = rooms.for_node(NGINX_NODE, ttl=NGINX_TTLS * rooms.ttl)
    callbacks = web.Application(middlewares=[error_middleware("no such callback")])
    callbacks[NGINX_ROOMS] = nginx

    async def create(request: web.Request) -> web.Response:
        name, key = await _stream_and_key(request)
        await nginx.outside_publish_start(key, name)
        return web.Response(text=OK)

    async def update(request: web.Request) -> web.Response:
        name, key = await _stream_and_key(request)
        # A refusal (live on another node now) is a non-2xx answer: nginx drops the publisher.
        await nginx.outside_publish_update(key, name)
        return web.Response(text=OK)

    async def delete(request: web.Request) -> web.Response:
        _name, key = await _stream_and_key(request)
        await nginx.outside_publish_done(key)
        return web.Response(text=OK)

    callbacks.router.add_post("/create", create)
    callbacks.router.add_post("/update", update)
    callbacks.router.add_post("/delete", delete)
    app.add_subapp(CALLBACKS_PREFIX, callbacks)
