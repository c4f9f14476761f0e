"""HTTP routes of the JSON API."""

from __future__ import annotations

from aiohttp import web

from ..hub import StreamHub


def setup_routes(app: web.Application, hub: StreamHub) -> None:
    async def health(request: web.Request) -> web.Response:
        """Liveness for load balancers: 200 while the process serves, with the live count."""
        return web.json_response({"status": "ok", "live_streams": len(hub.streams)})

    app.router.add_get("/api/health", health)
