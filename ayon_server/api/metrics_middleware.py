"""HTTP request metrics: count and latency of every request, by method, route template and status.

`install_metrics(app)` builds the app's own ServerMetrics (served by GET /metrics) and adds the
middleware. The route template is read from the scope after routing, where Starlette leaves the
matched route; a request no route matched is counted as "unmatched".
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ayon_server.api.state import ServerState
from ayon_server.metrics import ServerMetrics
from ayon_server.metrics.http import HttpMetrics


def install_metrics(app: FastAPI) -> None:
    """Give the app its own metrics registry (`app.state.metrics`) and count its requests."""
    state: ServerState = app.state.server
    app.state.metrics = ServerMetrics(runtime=lambda: state.runtime, workers=lambda: state.workers)
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.metrics.http)


def route_template(scope: Scope) -> str | None:
    """The path template of the route that handled the request, e.g. /api/users/{user_name}."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None)


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        finally:
            self.metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )
