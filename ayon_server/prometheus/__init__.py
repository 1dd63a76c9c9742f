"""Prometheus metrics of one server process, exposed at GET /metrics.

Every app gets its own registry (`ServerMetrics`), never prometheus_client's global one, so
several apps (tests, or a process serving two) do not share or collide on time series.
"""

from ayon_server.prometheus.registry import ServerMetrics

__all__ = ["ServerMetrics"]
