"""Collectors that read the server's state when Prometheus scrapes, instead of polling loops.

prometheus_client calls `collect()` synchronously, so what needs PostgreSQL is read first, in
`MaintenanceCollector.refresh()`, by the /metrics request itself. A dependency that is down only
removes its own metric families from that scrape; the scrape itself still succeeds.

Maintenance figures come from the runs' events, never from the process that ran them: a run
may be executed by any replica, by the standalone scheduler or by a CLI run in a CronJob, and
the last two have no /metrics at all. So:

* gauges (the newest run, when a run of each status last ended) are read from the database
  and every replica reports the same values: alert on `max()` over the replicas;
* counters and the histogram (runs, rows removed, task durations) count the runs that ended
  since this process started, read from the events in order, each once: every replica counts
  every run, so aggregate them with `max()` (or pick one replica), never `sum()`. A counter
  derived from the history itself would go down when clean_events prunes old runs, which
  Prometheus would take for a reset.

Dry runs delete nothing and are left out of the counters and the per-status timestamps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import asyncpg
from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from ayon_server.events.stream import EventModel
from ayon_server.lib.postgres import CONNECTION_ERRORS
from ayon_server.lib.workers import WorkerGroup
from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.maintenance.runs import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    MaintenanceRun,
    RunPosition,
    last_real_run_ends,
    last_run,
    real_runs_ended_after,
    run_position_now,
)
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# The task statuses of a run's summary.
TASK_STATUSES = ("finished", "failed", "skipped", "aborted")
# From a second to a couple of hours: what maintenance tasks take.
TASK_DURATION_BUCKETS = (0.1, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200)
# A scrape waits at most this long for PostgreSQL; Prometheus' own default timeout is 10 s.
READ_TIMEOUT = 2.0
LOG_COLLECTOR = "log_collector"


class MaintenanceCollector:
    """The newest maintenance run, when runs last ended by status, and what runs did."""

    def __init__(self) -> None:
        self._read = False
        self._run: EventModel | None = None
        self._last_ends: dict[str, float] = {}
        # Where the counters stand in the history; None until the first successful read.
        self._position: RunPosition | None = None
        self._runs = Counter(
            "ayon_maintenance_runs",
            "Maintenance runs (not dry runs) that ended since this process started, by status",
            ["status"],
            registry=None,
        )
        self._removed = Counter(
            "ayon_maintenance_rows_removed",
            "What each task deleted (its result's `deleted` count) in the runs counted by "
            "ayon_maintenance_runs_total",
            ["task"],
            registry=None,
        )
        self._durations = Histogram(
            "ayon_maintenance_task_run_duration_seconds",
            "How long each task took in the runs counted by ayon_maintenance_runs_total",
            ["task"],
            buckets=TASK_DURATION_BUCKETS,
            registry=None,
        )
        for status in ENDED_STATUSES:
            self._runs.labels(status)
        for name in TASK_NAMES:
            self._removed.labels(name)

    async def refresh(self, runtime: Runtime | None) -> None:
        """Read the runs for the next `collect()`; on failure those families are left out."""
        self._read = False
        if runtime is None:
            return
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                self._run = await last_run(runtime)
                ends = await last_real_run_ends(runtime.db)
                await self._count_ended_runs(runtime)
        except (TimeoutError, asyncpg.PostgresError, *CONNECTION_ERRORS) as exc:
            log.debug("maintenance metrics left out of this scrape: %r", exc)
            return
        self._last_ends = {status: moment.timestamp() for status, moment in ends.items()}
        self._read = True

    async def _count_ended_runs(self, runtime: Runtime) -> None:
        if self._position is None:
            # Runs that ended before this process started are not counted by it.
            self._position = await run_position_now(runtime.db)
            return
        while True:
            ended = await real_runs_ended_after(runtime.db, self._position)
            for run, position in ended:
                self._count(run)
                self._position = position
            if len(ended) < 100:
                return

    def _count(self, run: MaintenanceRun) -> None:
        if run.status in ENDED_STATUSES:
            self._runs.labels(run.status).inc()
        for task in run.tasks:
            name = task.get("name")
            if name not in TASK_NAMES or task.get("status") == "skipped":
                continue  # an unknown name would grow the series; a skipped task did nothing
            result, duration = task.get("result"), task.get("durationMs")
            deleted = result.get("deleted") if isinstance(result, dict) else None
            if isinstance(deleted, int) and not isinstance(deleted, bool) and deleted > 0:
                self._removed.labels(name).inc(deleted)
            if isinstance(duration, int | float) and duration >= 0:
                self._durations.labels(name).observe(duration / 1000)

    def collect(self) -> Iterator[Metric]:
        available = GaugeMetricFamily(
            "ayon_maintenance_scrape_success",
            "1 when the last maintenance run could be read from PostgreSQL for this scrape",
        )
        available.add_metric([], 1 if self._read else 0)
        yield available
        if not self._read:
            return
        yield from self._runs.collect()
        yield from self._removed.collect()
        yield from self._durations.collect()
        last_end = GaugeMetricFamily(
            "ayon_maintenance_last_run_end_timestamp_seconds",
            "When the newest maintenance run (not a dry run) of each status ended, in seconds "
            'since the epoch; alert on status="finished" growing old',
            labels=["status"],
        )
        for status, moment in sorted(self._last_ends.items()):
            last_end.add_metric([status], moment)
        yield last_end
        if self._run is None:
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
