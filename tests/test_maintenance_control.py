"""Controlling a maintenance run: cancel from any replica or process, window, pacing, progress.

Everything runs against the real database and Redis: runs in this process, in a second app on
the same database (another replica), in the scheduler of a server, and in a CLI subprocess.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.events.stream import EVENTS_CHANNEL
from ayon_server.maintenance.cancel import request_cancel
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.lock import is_running
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.maintenance import (
    add_old_logs,
    count_logs,
    cron_at,
    finish,
    killed_on_exit,
    maintenance_events,
    only_tasks,
    start_cli,
)
from tests.helpers.server import free_port, server_app, serving
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

SLOW_ROWS = 3000  # one row a batch, 2 ms pause: clean_logs runs 6 s or more, time to cancel it


@pytest.fixture
async def admin(runtime: Runtime) -> str:
    return await make_user(runtime, isAdmin=True)


async def slow_logs(runtime: Runtime, **config: Any) -> None:
    await save_config(runtime, {"batchSize": 1, "batchPauseMs": 2, **config})
    await add_old_logs(runtime.db, SLOW_ROWS)


async def deleting_logs(runtime: Runtime) -> bool:
    events = await maintenance_events(runtime.db)
    return bool(
        events
        and events[-1]["description"] == "Clean-up logs"
        and await count_logs(runtime.db) < SLOW_ROWS
    )


async def ended(runtime: Runtime) -> Any:
    events = await maintenance_events(runtime.db)
    return events[-1] if events and events[-1]["status"] not in ("pending", "in_progress") else None


def assert_cancelled_by(event: Any, user: str, remaining_logs: int) -> None:
    """The contract's cancel record: aborted run, aborted task with counts, the rest skipped."""
    description = f"Maintenance cancelled by {user}"
    assert (event["status"], event["description"]) == ("aborted", description)
    tasks = {task["name"]: task for task in event["summary"]["tasks"]}
    logs = tasks["clean_logs"]
    assert logs["status"] == "aborted"
    assert logs["result"]["stoppedBy"] == "cancelled"
    assert logs["result"]["deleted"] == SLOW_ROWS - remaining_logs > 0
    assert tasks["clean_events"]["status"] == "skipped"
    assert tasks["clean_events"]["result"] == {"reason": "cancelled"}
    assert "current" not in event["summary"]


async def test_cancel_without_a_run_is_409_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    headers = await login(client, admin)

    response = await client.post("/api/maintenance/cancel", headers=headers)

    assert response.status_code == 409
    assert response.json() == {"code": 409, "detail": "No maintenance run is in progress"}
    assert await maintenance_events(runtime.db) == []


async def test_cancel_is_for_admins_only(client: httpx.AsyncClient, runtime: Runtime) -> None:
    assert (await client.post("/api/maintenance/cancel")).status_code == 401
    manager = await login(client, await make_user(runtime, isManager=True))
    assert (await client.post("/api/maintenance/cancel", headers=manager)).status_code == 403


async def test_a_run_started_over_http_is_cancelled_at_a_batch_boundary(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    await slow_logs(runtime)
    headers = await login(client, admin)
    started = await client.post(
        "/api/maintenance/run", json={"tasks": ["clean_logs", "clean_events"]}, headers=headers
    )
    assert started.status_code == 202
    await wait_until(lambda: deleting_logs(runtime), what="the run to delete logs")

    response = await client.post("/api/maintenance/cancel", headers=headers)

    assert response.status_code == 202
    run_id = started.json()["id"]
    assert response.json() == {"id": run_id, "eventId": run_id}
    event = await wait_until(lambda: ended(runtime), what="the cancelled run to end")
    assert event["id"].hex == run_id
    assert_cancelled_by(event, admin, await count_logs(runtime.db))
    stored = await runtime.events.get(run_id)
    assert stored is not None and stored.payload["cancelRequest"]["user"] == admin
    assert not await is_running(runtime.db)


async def test_a_cli_run_in_another_process_cancelled_over_the_api_exits_1(
    client: httpx.AsyncClient, settings: Settings, runtime: Runtime, admin: str
) -> None:
    await slow_logs(runtime)
    process = await start_cli(settings, "--task", "clean_logs", "--task", "clean_events")
    async with killed_on_exit(process):
        await wait_until(lambda: deleting_logs(runtime), what="the CLI run to delete logs")
        response = await client.post("/api/maintenance/cancel", headers=await login(client, admin))
        assert response.status_code == 202
        cli = await finish(process, timeout=30)

    assert cli.returncode == 1, cli.stderr
    assert f"Maintenance cancelled by {admin}" in cli.stdout
    (event,) = await maintenance_events(runtime.db)
    assert_cancelled_by(event, admin, await count_logs(runtime.db))


async def test_a_run_of_one_replicas_scheduler_is_cancelled_from_another_replica(
    settings: Settings, runtime: Runtime, admin: str
) -> None:
    await slow_logs(
        runtime,
        schedule=cron_at(await runtime.db.fetchval("SELECT now() - interval '10 minutes'")),
        tasks=only_tasks("clean_logs", "clean_events"),
    )
    scheduler_replica = server_app(settings, run_maintenance=True)
    async with serving(scheduler_replica), serving(server_app(settings)) as other_replica:
        # The missed run starts with the scheduler.
        await wait_until(lambda: deleting_logs(runtime), what="the scheduled run to delete logs")
        headers = await login(other_replica, admin)

        running = (await other_replica.get("/api/maintenance", headers=headers)).json()
        assert running["running"] is True
        assert running["current"]["name"] == "clean_logs"
        response = await other_replica.post("/api/maintenance/cancel", headers=headers)
        assert response.status_code == 202
        event = await wait_until(lambda: ended(runtime), what="the cancelled run to end")
        after = (await other_replica.get("/api/maintenance", headers=headers)).json()

    assert event["summary"]["trigger"] == "schedule"
    assert_cancelled_by(event, admin, await count_logs(runtime.db))
    # The disabled tasks are listed as such, also in a cancelled run.
    vacuum = next(t for t in event["summary"]["tasks"] if t["name"] == "vacuum_db")
    assert vacuum["result"] == {"reason": "disabled"}
    assert (after["running"], after["current"], after["lastRun"]["status"]) == (
        False,
        None,
        "aborted",
    )


async def test_the_runner_learns_a_cancel_from_the_database_when_redis_cannot_tell_it(
    settings: Settings, runtime: Runtime
) -> None:
    await slow_logs(runtime)
    run_id, run = await MaintenanceRunner(runtime).start(["clean_logs", "clean_events"])
    await wait_until(lambda: deleting_logs(runtime), what="the run to delete logs")

    no_redis = Runtime.create(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    try:
        assert await request_cancel(no_redis, "ops-script") == run_id
    finally:
        await no_redis.close()
    result = await asyncio.wait_for(run, 30)

    assert (result.status, result.cancelled_by) == ("aborted", "ops-script")
    (event,) = await maintenance_events(runtime.db)
    assert_cancelled_by(event, "ops-script", await count_logs(runtime.db))


async def test_a_window_that_closes_mid_task_keeps_its_counts_and_skips_the_rest(
    runtime: Runtime,
) -> None:
    # A window of 3 s; one row a batch with a 5 ms pause makes clean_logs take 15 s or more,
    # however fast the machine is.
    await slow_logs(runtime, windowMinutes=0.05, batchPauseMs=5)

    result = await MaintenanceRunner(runtime).run(["clean_logs", "clean_events", "vacuum_db"])

    remaining = await count_logs(runtime.db)
    assert 0 < remaining < SLOW_ROWS
    logs, events, vacuum = result.tasks
    assert (logs.status, logs.result["stoppedBy"]) == ("finished", "window")
    assert logs.result["deleted"] == SLOW_ROWS - remaining
    assert (events.status, events.result) == ("skipped", {"reason": "window"})
    assert (vacuum.status, vacuum.result) == ("skipped", {"reason": "window"})
    assert result.status == "finished"
    (event,) = await maintenance_events(runtime.db)
    assert event["status"] == "finished"
    assert event["description"] == "Maintenance finished: 3 tasks, 2 skipped; the window closed"

    # The next run goes on where this one stopped.
    await save_config(runtime, {"windowMinutes": None, "batchSize": 5000})
    await MaintenanceRunner(runtime).run(["clean_logs"])
    assert await count_logs(runtime.db) == 0


async def test_batch_pause_is_slept_between_batches_and_a_cancel_cuts_it_short(
    runtime: Runtime,
) -> None:
    # A minute between two batches: after the first one the task sits in its pause.
    await slow_logs(runtime, batchPauseMs=60_000)
    _, run = await MaintenanceRunner(runtime).start(["clean_logs"])

    async def first_batch_done() -> bool:
        return await count_logs(runtime.db) == SLOW_ROWS - 1

    await wait_until(first_batch_done, what="the first batch")
    await request_cancel(runtime, "pacer")
    result = await asyncio.wait_for(run, 30)

    # Without the pause the task would have gone on deleting until the cancel arrived.
    assert await count_logs(runtime.db) == SLOW_ROWS - 1
    (logs,) = result.tasks
    assert (logs.status, logs.result["deleted"]) == ("aborted", 1)


@pytest.fixture
async def old_sites(runtime: Runtime) -> AsyncIterator[int]:
    """Sites not seen for decades, for a clean_sites that knows its total from the start."""
    prefix = f"ctl-{secrets.token_hex(3)}-"
    count = 40
    await runtime.db.execute(
        "INSERT INTO public.sites (id, platform, hostname, version, last_seen) "
        "SELECT $1 || g, 'linux', 'host', '1.0', '2000-01-01' FROM generate_series(1, $2) g",
        prefix,
        count,
    )
    yield count
    await runtime.db.execute("DELETE FROM public.sites WHERE starts_with(id, $1)", prefix)


async def test_progress_is_published_at_most_once_a_second_and_shown_by_the_state(
    client: httpx.AsyncClient, runtime: Runtime, admin: str, old_sites: int
) -> None:
    # One site a batch, 100 ms apart: four seconds of clean_sites with a known total.
    await save_config(runtime, {"batchSize": 1, "batchPauseMs": 100})
    headers = await login(client, admin)
    pubsub = runtime.redis.pubsub()
    await runtime.redis.subscribe(pubsub, EVENTS_CHANNEL)
    loop = asyncio.get_running_loop()
    try:
        started_at = loop.time()
        started = await client.post(
            "/api/maintenance/run", json={"tasks": ["clean_sites"]}, headers=headers
        )
        assert started.status_code == 202

        async def halfway() -> dict | None:
            state = (await client.get("/api/maintenance", headers=headers)).json()
            current = state["current"]
            return state if current and 0 < (current["progress"] or 0) < 100 else None

        state = await wait_until(halfway, what="GET /api/maintenance to show the progress")
        messages: list[dict] = []
        deadline = loop.time() + 60
        while not messages or messages[-1]["status"] == "in_progress":
            assert loop.time() < deadline, "the run's final event never came"
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:  # nothing yet, or the subscription's confirmation
                continue
            event = json.loads(message["data"])
            if event["topic"] == MAINTENANCE_TOPIC:
                messages.append(event)
        duration = loop.time() - started_at
    finally:
        await pubsub.aclose()

    assert state["running"] is True
    assert state["current"]["runId"] == started.json()["id"]
    assert (state["current"]["name"], state["current"]["title"]) == (
        "clean_sites",
        "Remove old site records",
    )
    assert 0 < state["progress"] < 100
    progress = [m["progress"] for m in messages if "progress" in m]
    assert len({p for p in progress if 0 < p < 100}) >= 2
    assert progress == sorted(progress) and all(0 <= p <= 100 for p in progress)
    # A rate, not a latency: never more progress messages than seconds the run took, plus one.
    assert len(progress) <= math.ceil(duration) + 1
    final = messages[-1]
    assert final["status"] == "finished" and "progress" not in final
    assert final["summary"]["tasks"][0]["result"]["deleted"] == old_sites
    assert "current" not in final["summary"]
