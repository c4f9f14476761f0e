"""The client's address behind trusted reverse proxies and load balancers.

Behind a proxy, ``request.remote`` is the proxy: login throttles and viewer counts would
lump every client together. When the direct peer is one of the configured proxies, the
client is the rightmost address in ``X-Forwarded-For`` that is not itself a trusted proxy
(each proxy appends the address it received the request from, so only the entries added by
trusted proxies can be believed; anything left of the first untrusted one is the client's
own claim). From any other peer the header is ignored, so a client cannot choose its
address.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .config import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str, setting: str = "trusted_proxies") -> list[Network]:
    """``"10.0.0.0/8, ::1"`` to networks; ConfigError naming ``setting`` on a bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"setting {setting!r}: {item!r} is no address or network") from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(remote: str, forwarded_for: list[str], trusted: list[Network]) -> str:
    peer = _address(remote)
    if peer is None or not any(peer in net for net in trusted):
        return remote
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # a malformed entry: nothing left of it can be trusted either
        client = str(address)
        if not any(address in net for net in trusted):
            break
    return client


def forwarded_for_middleware(trusted: list[Network]) -> Middleware:
    @web.middleware
    async def real_client(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = request.remote or ""
        client = client_address(remote, request.headers.getall("X-Forwarded-For", []), trusted)
        if client != remote:
            request = request.clone(remote=client)
        return await handler(request)

    return real_client
