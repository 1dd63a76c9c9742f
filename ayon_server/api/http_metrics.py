"""HTTP request metrics: count and latency of every request, by method, route template and status.

`install_metrics(app)` builds the app's own ServerMetrics (served by GET /metrics);
`http_metrics_observer` feeds it from the request observer middleware. The route template is
read from the scope after routing, where Starlette leaves the matched route; a request no route
matched is counted as "unmatched".
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Scope

from ayon_server.api.request_observer import RequestObserver
from ayon_server.api.state import ServerState
from ayon_server.prometheus import ServerMetrics
from ayon_server.prometheus.http import HttpMetrics


def install_metrics(app: FastAPI) -> ServerMetrics:
    """Give the app its own metrics registry (`app.state.metrics`), served by GET /metrics."""
    state: ServerState = app.state.server
    app.state.metrics = ServerMetrics(runtime=lambda: state.runtime, workers=lambda: state.workers)
    return app.state.metrics


def route_template(scope: Scope) -> str | None:
    """The path template of the route that handled the request, e.g. /api/users/{user_name}."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None)


def http_metrics_observer(metrics: HttpMetrics) -> RequestObserver:
    """Count and time a request under its route template (bounded label values)."""

    def observe(scope: Scope, status: int, seconds: float) -> None:
        metrics.observe(scope["method"], route_template(scope), status, seconds)

    return observe
