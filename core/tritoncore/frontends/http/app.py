"""The HTTP application: routes a parsed request to its endpoint, checking restrictions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tritoncore.frontends.http import routes
from tritoncore.frontends.http.endpoints import Endpoints
from tritoncore.frontends.http.responses import error_body
from tritoncore.frontends.restricted_api import Restriction, denied_message

if TYPE_CHECKING:
    from tritoncore.frontends.http.connection import Exchange, HttpConnection
    from tritoncore.server import Server

_ROUTE_CACHE_SIZE = 4096


class HttpApp:
    """State shared by every connection of one HTTP frontend."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop,
                 restrictions: dict[str, Restriction], max_input_size: int) -> None:
        self.server = server
        self.loop = loop
        self.restrictions = restrictions
        self.max_input_size = max_input_size
        self.endpoints = Endpoints(server, max_input_size)
        self.endpoints.loop = loop  # type: ignore[assignment]
        self.connections: set[HttpConnection] = set()
        self._routes: dict[bytes, tuple[routes.Route | None, Any]] = {}

    def _route(self, url: bytes) -> tuple[routes.Route | None, Any]:
        cached = self._routes.get(url)
        if cached is not None:
            return cached
        path = url.split(b"?", 1)[0].decode("utf-8", "replace")
        route = routes.match(path)
        handler = getattr(self.endpoints, route.handler) if route else None
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
        self._routes[url] = (route, handler)
        return route, handler

    def dispatch(self, ex: Exchange) -> None:
        """Run the endpoint for ``ex``; any error becomes its ``{"error": ...}`` answer."""
        route, handler = self._route(ex.url)
        if route is None:
            ex.reply(404, error_body("Not Found"))
            return
        if ex.method not in route.methods:
            ex.reply(405, error_body("Method Not Allowed"))
            return
        if self.restrictions:
            restriction = self.restrictions.get(route.group)
            if restriction is not None and \
                    ex.headers.get(restriction.key.encode("latin-1"), b"").decode(
                        "latin-1") != restriction.value:
                ex.reply(403, error_body(denied_message(restriction)))
                return
        try:
            handler(ex, *route.args)
        except Exception as exc:  # noqa: BLE001 - every failure is an HTTP answer
            ex.reply_error(exc)

    def abandon(self, ex: Exchange) -> None:
        """The client left: cancel its request if one is in flight."""
        if ex.request is not None:
            ex.request.cancelled.set()
