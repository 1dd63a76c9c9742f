"""Collectors that read the server's state when Prometheus scrapes, instead of polling loops.

prometheus_client calls `collect()` synchronously, so what needs PostgreSQL is read first, in
`MaintenanceCollector.refresh()`, by the /metrics request itself. A dependency that is down only
removes its own metric families from that scrape; the scrape itself still succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import asyncpg
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from ayon_server.events.stream import EventModel
from ayon_server.lib.postgres import CONNECTION_ERRORS
from ayon_server.lib.workers import WorkerGroup
from ayon_server.maintenance.runs import ACTIVE_STATUSES, last_run
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# The task statuses of a run's summary (DESIGN §9).
TASK_STATUSES = ("finished", "failed", "skipped")
# A scrape waits at most this long for PostgreSQL; Prometheus' own default timeout is 10 s.
READ_TIMEOUT = 2.0
LOG_COLLECTOR = "log_collector"


class MaintenanceCollector:
    """The newest maintenance run: when, whether it succeeded, each task's result."""

    def __init__(self) -> None:
        self._read = False
        self._run: EventModel | None = None

    async def refresh(self, runtime: Runtime | None) -> None:
        """Read the newest run for the next `collect()`; on failure that family is left out."""
        self._read = False
        if runtime is None:
            return
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                self._run = await last_run(runtime)
        except (TimeoutError, asyncpg.PostgresError, *CONNECTION_ERRORS) as exc:
            log.debug("maintenance metrics left out of this scrape: %r", exc)
            return
        self._read = True

    def collect(self) -> Iterator[Metric]:
        available = GaugeMetricFamily(
            "ayon_maintenance_scrape_success",
            "1 when the last maintenance run could be read from PostgreSQL for this scrape",
        )
        available.add_metric([], 1 if self._read else 0)
        yield available
        if not self._read or self._run is None:
            return
        run = self._run
        yield _gauge(
            "ayon_maintenance_last_run_timestamp",
            "Start of the newest maintenance run, in seconds since the epoch",
            run.created_at.timestamp(),
        )
        yield _gauge(
            "ayon_maintenance_running",
            "1 while the newest maintenance run is still in progress",
            1 if run.status in ACTIVE_STATUSES else 0,
        )
        if run.status not in ACTIVE_STATUSES:
            # Left out while a run is in progress: it has not succeeded or failed yet.
            yield _gauge(
                "ayon_maintenance_last_run_success",
                "1 when every task of the newest finished maintenance run succeeded, else 0",
                1 if run.status == "finished" else 0,
            )
        yield from _task_families(run.summary.get("tasks"))


def _task_families(tasks: Any) -> Iterator[Metric]:
    duration = GaugeMetricFamily(
        "ayon_maintenance_task_duration_seconds",
        "How long each task of the newest maintenance run took",
        labels=["task"],
    )
    status = GaugeMetricFamily(
        "ayon_maintenance_task_status",
        "Outcome of each task of the newest maintenance run: 1 for its status, 0 for the others",
        labels=["task", "status"],
    )
    # The summary is JSON from the database: entries that do not have the expected shape are
    # skipped rather than failing the scrape.
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict) or not isinstance(task.get("name"), str):
            continue
        name = task["name"]
        if isinstance(task.get("durationMs"), int | float):
            duration.add_metric([name], task["durationMs"] / 1000)
        for candidate in TASK_STATUSES:
            status.add_metric([name, candidate], 1 if task.get("status") == candidate else 0)
    yield duration
    yield status


@runtime_checkable
class ReportsQueueMetrics(Protocol):
    """What the log collector worker exposes: `queue_depth` and `dropped_total` always,
    `queue_capacity` and `written_total` when it has them."""

    def metrics(self) -> dict[str, float]: ...


class WorkerCollector:
    """Health of the background workers and the log collector's queue."""

    def __init__(self, workers: Callable[[], WorkerGroup]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        workers = self._workers()
        up = GaugeMetricFamily(
            "ayon_background_worker_up",
            "1 while a background worker runs, 0 while it restarts, failed or stopped",
            labels=["worker"],
        )
        restarts = CounterMetricFamily(
            "ayon_background_worker_restarts",
            "Restarts of a background worker after a crash, since the process started",
            labels=["worker"],
        )
        for worker in workers:
            up.add_metric([worker.name], 1 if worker.state == "running" else 0)
            restarts.add_metric([worker.name], worker.restarts)
        yield up
        yield restarts

        collector = workers.get(LOG_COLLECTOR)
        if isinstance(collector, ReportsQueueMetrics):
            yield from _log_collector_families(collector.metrics())


def _log_collector_families(figures: dict[str, float]) -> Iterator[Metric]:
    yield _gauge(
        "ayon_log_collector_queue_depth",
        "Log records waiting in memory to be written to public.logs",
        figures["queue_depth"],
    )
    yield _counter(
        "ayon_log_collector_dropped",
        "Log records dropped because the log collector's queue was full",
        figures["dropped_total"],
    )
    if "queue_capacity" in figures:
        yield _gauge(
            "ayon_log_collector_queue_capacity",
            "Log records the in-memory queue holds before it drops new ones",
            figures["queue_capacity"],
        )
    if "written_total" in figures:
        yield _counter(
            "ayon_log_collector_written",
            "Log records written to public.logs",
            figures["written_total"],
        )


class DatabasePoolCollector:
    """Connections of this process' PostgreSQL pool; read from memory, no query."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime()
        if runtime is None:
            return
        in_use, size = runtime.db.pool_usage()
        yield _gauge("ayon_db_pool_in_use", "PostgreSQL pool connections in use", in_use)
        yield _gauge("ayon_db_pool_size", "PostgreSQL pool connections open", size)
        yield _gauge(
            "ayon_db_pool_max_size",
            "Most PostgreSQL connections the pool opens",
            runtime.db.max_size,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
