"""GET /metrics: Prometheus text format from the app's own registry, read at scrape time.

Apps run in-process with their lifespan (real workers, real database); the collector tests drive
real BackgroundWorker subclasses.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.lib.workers import BackgroundWorker, WorkerGroup
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.prometheus import ServerMetrics
from ayon_server.runtime import Runtime
from tests.helpers.prometheus import names, scrape, value
from tests.helpers.server import free_port, server_app, serving
from tests.helpers.users import login, make_user


async def test_metrics_answer_in_prometheus_text_format_without_credentials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = names(response.text)
    assert {"process_cpu_seconds_total", "python_info"} <= found
    assert "ayon_db_pool_max_size" in found


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    first = await make_user(runtime)
    second = await make_user(runtime)
    auth = await login(client, first)
    for name in (first, second):
        assert (await client.get(f"/api/users/{name}", headers=auth)).status_code == 200
    assert (await client.get("/api/users/nobody_at_all", headers=auth)).status_code == 404
    assert (await client.get(f"/api/no/such/{first}")).status_code == 404

    text = await scrape(client)

    route = "/api/users/{user_name}"
    assert value(text, "ayon_http_requests_total", method="GET", route=route, status="200") == 2
    assert value(text, "ayon_http_requests_total", method="GET", route=route, status="404") == 1
    count = "ayon_http_request_duration_seconds_count"
    assert value(text, count, method="GET", route=route, status="200") == 2
    assert value(text, "ayon_http_requests_total", method="GET", route="unmatched", status="404")
    assert first not in text and second not in text


async def test_an_unusual_method_is_counted_under_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/api/info")

    text = await scrape(client)

    labels = {"method": "other", "route": "/api/info", "status": "405"}
    assert value(text, "ayon_http_requests_total", **labels) == 1


async def test_every_app_has_its_own_registry(settings: Settings) -> None:
    async with serving(server_app(settings)) as first, serving(server_app(settings)) as second:
        for _ in range(3):
            await first.get("/api/health")

        first_text, second_text = await scrape(first), await scrape(second)

    labels = {"method": "GET", "route": "/api/health", "status": "200"}
    assert value(first_text, "ayon_http_requests_total", **labels) == 3
    assert value(second_text, "ayon_http_requests_total", **labels) is None


async def test_maintenance_gauges_reflect_the_latest_maintenance_event(
    runtime: Runtime, client: httpx.AsyncClient, clean_tables: None
) -> None:
    earlier_id = await runtime.events.dispatch(
        MAINTENANCE_TOPIC, status="finished", summary={"tasks": []}
    )
    await runtime.db.execute(  # created_at orders the runs
        "UPDATE public.events SET created_at = created_at - interval '1 hour' WHERE id = $1",
        uuid.UUID(earlier_id),
    )
    latest_id = await runtime.events.dispatch(
        MAINTENANCE_TOPIC,
        status="failed",
        summary={
            "trigger": "schedule",
            "dryRun": False,
            "tasks": [
                {"name": "clean_logs", "status": "finished", "durationMs": 1500, "result": {}},
                {"name": "clean_events", "status": "failed", "durationMs": 20, "error": "boom"},
                {"name": "clean_links", "status": "skipped", "durationMs": 0},
                "not a task",
            ],
        },
    )
    latest = await runtime.events.get(latest_id)
    assert latest is not None

    text = await scrape(client)

    assert value(text, "ayon_maintenance_scrape_success") == 1
    assert value(text, "ayon_maintenance_last_run_success") == 0
    assert value(text, "ayon_maintenance_running") == 0
    assert value(text, "ayon_maintenance_last_run_timestamp") == pytest.approx(
        latest.created_at.timestamp()
    )
    assert value(text, "ayon_maintenance_task_duration_seconds", task="clean_logs") == 1.5
    assert value(text, "ayon_maintenance_task_duration_seconds", task="clean_events") == 0.02
    expected = {
        ("clean_logs", "finished"): 1,
        ("clean_logs", "failed"): 0,
        ("clean_events", "failed"): 1,
        ("clean_events", "finished"): 0,
        ("clean_links", "skipped"): 1,
    }
    for (task, status), flag in expected.items():
        assert value(text, "ayon_maintenance_task_status", task=task, status=status) == flag


async def test_a_run_in_progress_is_running_and_has_no_success_value_yet(
    runtime: Runtime, client: httpx.AsyncClient, clean_tables: None
) -> None:
    await runtime.events.dispatch(
        MAINTENANCE_TOPIC,
        status="in_progress",
        summary={"tasks": [{"name": "auto_update", "status": "finished", "durationMs": 5}]},
    )

    text = await scrape(client)

    assert value(text, "ayon_maintenance_running") == 1
    assert "ayon_maintenance_last_run_success" not in names(text)
    assert value(text, "ayon_maintenance_task_status", task="auto_update", status="finished") == 1


async def test_without_any_maintenance_run_only_the_read_succeeded(
    client: httpx.AsyncClient, clean_tables: None
) -> None:
    text = await scrape(client)

    assert value(text, "ayon_maintenance_scrape_success") == 1
    assert "ayon_maintenance_last_run_timestamp" not in names(text)


async def test_a_scrape_succeeds_while_postgresql_is_down_without_the_database_families(
    settings: Settings,
) -> None:
    dead = settings.model_copy(
        update={"postgres_url": f"postgres://postgres@127.0.0.1:{free_port()}/nothing"}
    )
    async with serving(server_app(dead)) as client:
        await client.get("/api/health")
        text = await scrape(client)

    assert value(text, "ayon_maintenance_scrape_success") == 0
    assert not {n for n in names(text) if n.startswith("ayon_maintenance_last_run")}
    assert value(text, "ayon_db_pool_in_use") == 0
    labels = {"method": "GET", "route": "/api/health", "status": "200"}
    assert value(text, "ayon_http_requests_total", **labels) == 1
    assert value(text, "ayon_background_worker_up", worker="log_partitions") is not None


async def test_the_pool_gauges_show_the_connections_the_server_opened(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    name = await make_user(runtime)
    await client.get("/api/users/me", headers=await login(client, name))

    text = await scrape(client)

    assert value(text, "ayon_db_pool_size") >= 1  # type: ignore[operator]
    assert value(text, "ayon_db_pool_max_size") == settings.db_pool_max_size


class CrashingWorker(BackgroundWorker):
    """Crashes at once, then waits out a long backoff: restarting, never up."""

    name = "crasher"
    initial_backoff = 3600.0

    def __init__(self) -> None:
        super().__init__()
        self.crashed = asyncio.Event()

    async def run(self) -> None:
        # Waiters resume once the supervisor reaches its backoff sleep, the restart counted.
        self.crashed.set()
        raise RuntimeError("dependency gone")


class SteadyWorker(BackgroundWorker):
    name = "steady"

    async def run(self) -> None:
        await asyncio.Event().wait()


class QueueWorker(SteadyWorker):
    """Stands in for the log collector: the same name and metrics() interface."""

    name = "log_collector"

    def metrics(self) -> dict[str, Any]:
        return {"queue_depth": 42, "dropped_total": 7, "queue_capacity": 100, "written_total": 9}


async def test_worker_health_restarts_and_log_collector_queue_are_exported() -> None:
    crasher = CrashingWorker()
    workers = WorkerGroup([crasher, SteadyWorker(), QueueWorker()])
    metrics = ServerMetrics(runtime=lambda: None, workers=lambda: workers)
    workers.start()
    try:
        await asyncio.wait_for(crasher.crashed.wait(), 10)
        text = (await metrics.scrape()).decode()
    finally:
        await workers.stop(5)

    assert value(text, "ayon_background_worker_up", worker="steady") == 1
    assert value(text, "ayon_background_worker_up", worker="crasher") == 0
    assert value(text, "ayon_background_worker_restarts_total", worker="crasher") == 1
    assert value(text, "ayon_background_worker_restarts_total", worker="steady") == 0
    assert value(text, "ayon_log_collector_queue_depth") == 42
    assert value(text, "ayon_log_collector_dropped_total") == 7
    assert value(text, "ayon_log_collector_queue_capacity") == 100
    assert value(text, "ayon_log_collector_written_total") == 9
    # No runtime yet (a starting server): the database families are simply absent.
    assert value(text, "ayon_maintenance_scrape_success") == 0
    assert "ayon_db_pool_size" not in names(text)
