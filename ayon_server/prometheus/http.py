"""HTTP request count and latency, labelled by method, route template and status.

Labels use the route template (`/api/system/sites/{site_id}`), never the raw path, so ids in
URLs cannot grow the number of time series without bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# A client can send any method; unusual ones share one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# Requests no route matched (404s of scanners, typos) share one label value.
UNMATCHED_ROUTE = "unmatched"

_LABELS = ("method", "route", "status")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "ayon_http_requests",
            "HTTP requests answered, by method, route template and status code",
            _LABELS,
            registry=registry,
        )
        self.duration = Histogram(
            "ayon_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response",
            _LABELS,
            registry=registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        labels = (
            method if method in KNOWN_METHODS else OTHER_METHOD,
            route or UNMATCHED_ROUTE,
            str(status),
        )
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)
