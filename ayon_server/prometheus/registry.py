"""ServerMetrics: one app's Prometheus registry with its HTTP metrics and state collectors."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from ayon_server.lib.workers import WorkerGroup
from ayon_server.prometheus.collectors import (
    DatabasePoolCollector,
    MaintenanceCollector,
    WorkerCollector,
)
from ayon_server.prometheus.http import HttpMetrics
from ayon_server.runtime import Runtime


class ServerMetrics:
    """Built with the app; `runtime` and `workers` are read at scrape time, as they change."""

    def __init__(
        self, runtime: Callable[[], Runtime | None], workers: Callable[[], WorkerGroup]
    ) -> None:
        self._runtime = runtime
        self.registry = CollectorRegistry()
        # The process, Python and garbage-collector series operators expect from any exporter.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http = HttpMetrics(self.registry)
        self.maintenance = MaintenanceCollector()
        self.registry.register(self.maintenance)
        self.registry.register(WorkerCollector(workers))
        self.registry.register(DatabasePoolCollector(runtime))

    async def scrape(self) -> bytes:
        """The registry in Prometheus text format, with the maintenance state read just now."""
        await self.maintenance.refresh(self._runtime())
        return generate_latest(self.registry)
